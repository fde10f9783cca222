"""Study notes anchored to symbols: `annotations/sources.yaml` and `annotations/**/*.yaml`.

Loading validates the schema documented in `docs/annotations.md` and reports every problem as
`file:line: message`; a broken file never stops the others from loading. Only
`yaml.safe_load`-level parsing is used (`yaml.compose` with the safe loader, for line numbers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

NOTE_KEYS = {"id", "source", "symbol", "fingerprint", "title", "title_zh", "en", "zh", "concepts",
             "see_also", "lines"}
REQUIRED = ("id", "source", "symbol", "fingerprint", "title", "en", "zh")
SOURCE_KEYS = {"title", "language", "kind", "upstream", "revision", "env", "subtrees"}
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_CONCEPT = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_FINGERPRINT = re.compile(r"^[0-9a-f]{16}$")


@dataclass(slots=True)
class SeeAlso:
    """A link to another note (`note`) or to a symbol of another source (`source` + `symbol`)."""

    note: str = ""
    source: str = ""
    symbol: str = ""


@dataclass(slots=True)
class Note:
    """One annotation attached to a symbol of one source."""

    id: str
    symbol: str
    title: str = ""
    source: str = ""
    path: str = ""
    line: int = 0
    fingerprint: str = ""
    fingerprint_line: int = 0
    en: str = ""
    zh: str = ""
    title_zh: str = ""
    concepts: list[str] = field(default_factory=list)
    see_also: list[SeeAlso] = field(default_factory=list)
    lines: tuple[int, int] | None = None

    def text(self, lang: str = "en") -> str:
        """The note's body in `lang` ('en' or 'zh'), falling back to the other language, reflowed."""
        return reflow((self.zh or self.en) if lang == "zh" else (self.en or self.zh))

    def heading(self, lang: str = "en") -> str:
        return self.title_zh if lang == "zh" and self.title_zh else self.title


_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")
_CJK_PUNCT = re.compile(r"[\u3000-\u303f\uff00-\uffef]")  # full-width punctuation: never followed by a space


def reflow(text: str) -> str:
    """Join the hard-wrapped lines of each paragraph (YAML `|` blocks keep them); blank lines stay.

    Chinese text is joined without a space, other text with one.
    """
    paragraphs = []
    for para in re.split(r"\n\s*\n", text.strip()):
        lines = [line.strip() for line in para.splitlines() if line.strip()]
        out = ""
        for line in lines:
            if out and not (_CJK.match(out[-1]) and _CJK.match(line[0])) and not _CJK_PUNCT.match(out[-1]):
                out += " "
            out += line
        paragraphs.append(out)
    return "\n\n".join(p for p in paragraphs if p)


@dataclass(slots=True)
class Source:
    """A named code base the notes are written against (sources.yaml)."""

    name: str
    language: str = ""
    kind: str = ""
    upstream: str = ""
    revision: str = ""
    env: str = ""
    title: str = ""
    subtrees: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Notes:
    """Loaded notes and sources plus every problem found, as `file:line: message`."""

    notes: list[Note] = field(default_factory=list)
    sources: dict[str, Source] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def by_id(self) -> dict[str, Note]:
        return {n.id: n for n in self.notes}

    def for_symbol(self, qualified_name: str, source: str | None = None) -> list[Note]:
        return [n for n in self.notes if n.symbol == qualified_name and (source is None or n.source == source)]


def annotations_dir(repo_root: Path | None = None) -> Path | None:
    """`annotations/` of the given checkout, else the one shipped with codewalk; None if none."""
    here = Path(__file__).resolve().parent.parent  # codewalk/notes/schema.py -> codewalk/
    candidates = [repo_root / "annotations"] if repo_root else []
    candidates += [here / "_annotations", here.parent / "annotations"]
    return next((c for c in candidates if (c / "sources.yaml").is_file() or c.is_dir()), None)


def checkout_root(start: Path | None = None) -> Path | None:
    """The codewalk source checkout that contains `start` (default: the current folder), if any.

    A checkout has `annotations/sources.yaml` beside the `codewalk/` package and `pyproject.toml`;
    inside one, `codewalk check` reads that checkout's notes rather than the installed ones.
    """
    try:
        here = (start or Path.cwd()).resolve()
    except OSError:  # the current folder was deleted
        return None
    for d in (here, *here.parents):
        if ((d / "annotations" / "sources.yaml").is_file() and (d / "codewalk" / "cli").is_dir()
                and (d / "pyproject.toml").is_file()):
            return d
    return None


def load(directory: Path | None) -> Notes:
    """Every source and note under directory, validated; an absent directory is simply empty."""
    result = Notes()
    if directory is None or not directory.is_dir():
        return result
    sources_file = directory / "sources.yaml"
    if sources_file.is_file():
        _load_sources(sources_file, result)
    for path in sorted(directory.rglob("*.yaml")):
        if path == sources_file or "guides" in path.relative_to(directory).parts:
            continue
        _load_notes_file(path, result)
    _check_references(result)
    return result


def notes_for_symbol(qualified_name: str, notes: Notes | None = None,
                     directory: Path | None = None) -> list[Note]:
    """Notes whose `symbol` is this qualified name (C++ `::` or Python dotted)."""
    notes = notes if notes is not None else load(directory or annotations_dir())
    return notes.for_symbol(qualified_name)


# ---------------------------------------------------------------------- YAML with line numbers


def _compose(path: Path, result: Notes) -> Any | None:
    """The YAML node tree of a file (safe loader), or None after recording why not."""
    import yaml

    try:
        text = path.read_text("utf-8")
    except UnicodeDecodeError as exc:
        result.errors.append(f"{path}:1: not UTF-8 ({exc.reason} at byte {exc.start})")
        return None
    except OSError as exc:
        result.errors.append(f"{path}:1: cannot read ({exc.strerror})")
        return None
    # LibYAML's composer when PyYAML was built with it (several times faster; same safe node tree).
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.compose(text, Loader=loader)
    except yaml.YAMLError:
        pass
    try:  # re-read with the pure-Python loader: its messages do not depend on how PyYAML was built
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        result.errors.append(f"{path}:{line}: YAML syntax error: {problem}")
        return None


def _value(node: Any) -> Any:
    """Plain Python value of a node, built by the safe constructor only."""
    if node is None:
        return None
    if node.tag == "tag:yaml.org,2002:str" and isinstance(node.value, str):
        return node.value  # the common case, without the constructor's bookkeeping
    return _constructor().construct_document(node)


_CONSTRUCTOR: list[Any] = []


def _constructor() -> Any:
    """One safe constructor for the process (a Loader per value cost a third of `show`)."""
    if not _CONSTRUCTOR:
        from yaml.constructor import SafeConstructor

        _CONSTRUCTOR.append(SafeConstructor())
    return _CONSTRUCTOR[0]


def _mapping(node: Any, path: Path, what: str, result: Notes) -> list[tuple[str, Any, int]] | None:
    import yaml

    if not isinstance(node, yaml.MappingNode):
        result.errors.append(f"{path}:{_line(node)}: {what} must be a mapping")
        return None
    return [(str(_value(k)), v, k.start_mark.line + 1) for k, v in node.value]


# Fields that are text whatever they look like: a fingerprint of digits only (or `1e5…`) must not
# become an int or a float.
_VERBATIM = {"fingerprint", "id"}


def _is_scalar(node: Any) -> bool:
    import yaml

    return isinstance(node, yaml.ScalarNode)


def _line(node: Any) -> int:
    return node.start_mark.line + 1 if node is not None else 1


# ---------------------------------------------------------------------- sources.yaml


def _load_sources(path: Path, result: Notes) -> None:
    root = _compose(path, result)
    if root is None:
        return
    top = _mapping(root, path, "sources.yaml", result)
    entries = dict((k, v) for k, v, _ in top or [])
    if top is not None and "sources" not in entries:
        result.errors.append(f"{path}:1: missing key 'sources'")
        return
    for name, node, line in _mapping(entries.get("sources"), path, "'sources'", result) or []:
        fields = _mapping(node, path, f"source '{name}'", result) or []
        values: dict[str, Any] = {}
        for key, vnode, kline in fields:
            if key not in SOURCE_KEYS:
                result.errors.append(f"{path}:{kline}: source '{name}': unknown key '{key}'")
            else:
                values[key] = _value(vnode)
        subtrees = values.pop("subtrees", None) or []
        result.sources[name] = Source(name, **{k: str(v) for k, v in values.items()},
                                      subtrees=[str(s) for s in subtrees])


# ---------------------------------------------------------------------- note files


def _load_notes_file(path: Path, result: Notes) -> None:
    root = _compose(path, result)
    if root is None:
        return
    top = _mapping(root, path, "a notes file", result)
    if top is None:
        return
    keys = {k: (v, line) for k, v, line in top}
    for k, _, line in top:
        if k not in ("notes", "topic"):
            result.errors.append(f"{path}:{line}: unknown top-level key '{k}' (expected 'topic', 'notes')")
    if "notes" not in keys:
        result.errors.append(f"{path}:1: missing key 'notes'")
        return
    import yaml

    seq, _ = keys["notes"]
    if not isinstance(seq, yaml.SequenceNode):
        result.errors.append(f"{path}:{_line(seq)}: 'notes' must be a list")
        return
    for item in seq.value:
        note = _parse_note(item, path, result)
        if note is not None:
            result.notes.append(note)


def _parse_note(node: Any, path: Path, result: Notes) -> Note | None:
    fields = _mapping(node, path, "a note", result)
    if fields is None:
        return None
    where = f"{path}:{_line(node)}"
    values: dict[str, Any] = {}
    lines: dict[str, int] = {}
    for key, vnode, kline in fields:
        if key not in NOTE_KEYS:
            result.errors.append(f"{path}:{kline}: unknown key '{key}'")
            continue
        values[key], lines[key] = _value(vnode), kline
        if key in _VERBATIM and _is_scalar(vnode):  # `0123…` would be read as a number
            values[key] = vnode.value
    missing = [k for k in REQUIRED if values.get(k) in (None, "")]
    if missing:
        label = values.get("id", "a note")
        result.errors.append(f"{where}: {label}: missing field(s) {', '.join(missing)}")
        return None
    note = Note(id=str(values["id"]), symbol=str(values["symbol"]), title=str(values["title"]),
                source=str(values["source"]), path=str(path), line=_line(node),
                fingerprint=str(values["fingerprint"]), fingerprint_line=lines["fingerprint"],
                en=str(values["en"]).strip(), zh=str(values["zh"]).strip(),
                title_zh=str(values.get("title_zh") or ""))
    return note if _check_fields(note, values, lines, path, result) else None


def _check_fields(note: Note, values: dict[str, Any], lines: dict[str, int], path: Path,
                  result: Notes) -> bool:
    """Field-level checks; records problems and says whether the note is usable."""
    ok = True

    def bad(key: str, message: str) -> None:
        nonlocal ok
        ok = False
        result.errors.append(f"{path}:{lines.get(key, note.line)}: {note.id}: {message}")

    if not _ID.match(note.id):
        bad("id", "id must be lowercase letters, digits, '.', '_' or '-'")
    if not _FINGERPRINT.match(note.fingerprint):
        bad("fingerprint", "fingerprint must be 16 lowercase hex digits (see `codewalk annotate`)")
    concepts = values.get("concepts") or []
    if not isinstance(concepts, list) or not all(isinstance(c, str) and _CONCEPT.match(c) for c in concepts):
        bad("concepts", "concepts must be a list of lowercase-hyphen tags")
    else:
        note.concepts = list(concepts)
    note.see_also = _see_also(values.get("see_also") or [], note, lines, path, result)
    span = values.get("lines")
    if span is not None:
        if (isinstance(span, list) and len(span) == 2 and all(isinstance(x, int) for x in span)
                and 1 <= span[0] <= span[1]):
            note.lines = (span[0], span[1])
        else:
            bad("lines", "lines must be [first, last], 1-based within the symbol")
    return ok


def _see_also(items: Any, note: Note, lines: dict[str, int], path: Path, result: Notes) -> list[SeeAlso]:
    where = f"{path}:{lines.get('see_also', note.line)}: {note.id}"
    if not isinstance(items, list):
        result.errors.append(f"{where}: see_also must be a list")
        return []
    links = []
    for item in items:
        if isinstance(item, str):
            links.append(SeeAlso(note=item))
        elif isinstance(item, dict) and set(item) == {"source", "symbol"}:
            links.append(SeeAlso(source=str(item["source"]), symbol=str(item["symbol"])))
        else:
            result.errors.append(f"{where}: see_also entries are note ids or {{source, symbol}} mappings")
    return links


def _check_references(result: Notes) -> None:
    """Duplicate ids, unknown sources and see_also ids that name no note."""
    seen: dict[str, Note] = {}
    for note in result.notes:
        if note.id in seen:
            first = seen[note.id]
            result.errors.append(f"{note.path}:{note.line}: duplicate id '{note.id}' "
                                 f"(first at {first.path}:{first.line})")
        seen.setdefault(note.id, note)
        if result.sources and note.source not in result.sources:
            result.errors.append(f"{note.path}:{note.line}: {note.id}: unknown source '{note.source}'")
    for note in result.notes:
        for link in note.see_also:
            if link.note and link.note not in seen:
                result.errors.append(f"{note.path}:{note.line}: {note.id}: see_also names unknown note '{link.note}'")
            if link.source and result.sources and link.source not in result.sources:
                result.errors.append(f"{note.path}:{note.line}: {note.id}: see_also names unknown source '{link.source}'")
