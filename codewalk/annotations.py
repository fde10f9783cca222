"""Minimal loader for study notes in `annotations/**/*.yaml` (the full schema comes later).

A file holds one note (a mapping) or a list of notes; a note needs at least `id` and `symbol`
(a qualified name). Broken files are reported with their name, never raised to the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(slots=True)
class Note:
    """One annotation attached to a symbol."""

    id: str
    symbol: str
    title: str = ""
    source: str = ""
    path: str = ""
    extra: dict = field(default_factory=dict)


@dataclass(slots=True)
class Notes:
    """Loaded notes plus human-readable problems (file name first)."""

    notes: list[Note] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def annotations_dir(repo_root: Path | None = None) -> Path | None:
    """`annotations/` of the checkout (or of repo_root); None when there is none."""
    candidates = [repo_root / "annotations"] if repo_root else []
    candidates.append(Path(__file__).resolve().parent.parent / "annotations")
    return next((c for c in candidates if c.is_dir()), None)


def load(directory: Path | None) -> Notes:
    """Every note under directory; an absent directory is simply empty."""
    result = Notes()
    if directory is None or not directory.is_dir():
        return result
    import yaml  # lazy: only paid when notes exist
    for path in sorted(directory.rglob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            result.errors.append(f"{path}: cannot read annotation: {exc}".splitlines()[0])
            continue
        for item in data if isinstance(data, list) else [data]:
            if not isinstance(item, dict) or "id" not in item or "symbol" not in item:
                result.errors.append(f"{path}: a note needs a mapping with 'id' and 'symbol'")
                continue
            result.notes.append(Note(
                id=str(item["id"]), symbol=str(item["symbol"]), title=str(item.get("title", "")),
                source=str(item.get("source", "")), path=str(path),
                extra={k: v for k, v in item.items() if k not in ("id", "symbol", "title", "source")}))
    return result


def notes_for_symbol(qualified_name: str, notes: Notes | None = None,
                     directory: Path | None = None) -> list[Note]:
    """Notes whose `symbol` is this qualified name (C++ `::` or Python dotted)."""
    notes = notes if notes is not None else load(directory or annotations_dir())
    return [n for n in notes.notes if n.symbol == qualified_name]
