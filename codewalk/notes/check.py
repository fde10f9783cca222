"""`codewalk check`: is every note still attached to the code it was written against?

Each note's symbol is looked up in its source's index and its definition fingerprinted again:
`ok` (same fingerprint), `drifted` (found, code changed: a line diff against the pinned revision
when the checkout has it, and the first commit that changed it) or `missing` (with suggestions by
name and by an identical fingerprint elsewhere, i.e. a rename or a move).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from codewalk.notes import fingerprint as fp
from codewalk.notes.schema import Note, Notes, Source
from codewalk.sources.corpus import Target
from codewalk.query.lookup import Entity, Index


@dataclass(slots=True)
class NoteStatus:
    """The verdict on one note."""

    id: str
    source: str
    symbol: str
    status: str  # ok | drifted | missing | skipped
    note: str  # file:line of the note
    expected: str = ""
    actual: str = ""
    definition: str = ""  # path:line in the checkout
    detail: str = ""
    stale_since: str = ""
    suggestions: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SymbolText:
    """Reads definition text from a checkout, parsing each file once for its comments."""

    def __init__(self, ix: Index) -> None:
        self.ix = ix
        self._files: dict[str, tuple[bytes, list[tuple[int, int]]]] = {}
        self._table: dict[str, list[str]] | None = None

    def file(self, rel: str, language: str) -> tuple[bytes, list[tuple[int, int]]]:
        if rel not in self._files:
            data = (self.ix.root / rel).read_bytes()
            data = data.decode("utf-8", "replace").encode("utf-8")  # offsets were taken on this text
            self._files[rel] = (data, fp.comment_spans(data, language))
        return self._files[rel]

    def normalized(self, row: Any) -> str:
        data, spans = self.file(self.ix.path(row), row["language"])
        return fp.normalize_clean(fp.without_comments(data, spans, row["start_byte"], row["end_byte"]), row["name"])

    def by_fingerprint(self) -> dict[str, list[str]]:
        """Fingerprint -> qualified names of every definition; built once, only when a note is missing."""
        if self._table is None:
            self._table = {}
            rows = self.ix.conn.execute(
                "SELECT * FROM symbols WHERE is_def=1 AND kind NOT IN ('namespace', 'module', 'field')")
            for row in rows:
                try:
                    key = fp.digest([self.normalized(row)])
                except OSError:
                    continue
                self._table.setdefault(key, []).append(row["qname"])
        return self._table

    def raw(self, row: Any) -> str:
        data, _ = self.file(self.ix.path(row), row["language"])
        return data[row["start_byte"]:row["end_byte"]].decode("utf-8", "replace")


def exact(ix: Index, qname: str) -> list[Entity]:
    """Entities whose qualified name is exactly qname (overloads included)."""
    return [e for e in ix.find(qname) if e.qname == qname]


def describe_row(ix: Index, entity: Entity) -> Any:
    """The row a fingerprint is taken from: the definition, else the declaration."""
    return entity.primary


def symbol_fingerprint(ix: Index, texts: SymbolText, entities: list[Entity]) -> str:
    return fp.digest([texts.normalized(describe_row(ix, e)) for e in entities])


def check_notes(notes: Notes, targets: dict[str, Target | None], indexes: dict[str, Index]) -> list[NoteStatus]:
    """A status for every note; sources without a checkout give `skipped`."""
    out: list[NoteStatus] = []
    texts = {name: SymbolText(ix) for name, ix in indexes.items()}
    for note in notes.notes:
        where = f"{note.path}:{note.line}"
        ix = indexes.get(note.source)
        if ix is None:
            out.append(NoteStatus(note.id, note.source, note.symbol, "skipped", where,
                                  detail=f"no checkout for source '{note.source}'"))
            continue
        out.append(_check_one(note, ix, texts[note.source], notes.sources.get(note.source), where))
    return out


def _check_one(note: Note, ix: Index, texts: SymbolText, source: Source | None, where: str) -> NoteStatus:
    status = NoteStatus(note.id, note.source, note.symbol, "ok", where, expected=note.fingerprint)
    entities = exact(ix, note.symbol)
    if not entities:
        status.status = "missing"
        status.suggestions = suggest(ix, texts, note)
        status.detail = f"'{note.symbol}' is not defined in {ix.root}"
        return status
    row = describe_row(ix, entities[0])
    status.definition = f"{ix.path(row)}:{row['line']}"
    status.actual = symbol_fingerprint(ix, texts, entities)
    if status.actual != note.fingerprint:
        status.status = "drifted"
        _explain_drift(status, ix, texts, entities[0], source)
    return status


def _explain_drift(status: NoteStatus, ix: Index, texts: SymbolText, entity: Entity, source: Source | None) -> None:
    """Line diff against the pinned revision and the first commit since then that changed it."""
    status.detail = "fingerprint changed"
    rev = source.revision if source and source.kind == "git" else ""
    if not rev or not (ix.root / ".git").exists():
        return
    from codewalk.notes import history

    row = describe_row(ix, entity)
    # The index's module name, not one rebuilt from the path (they differ outside packages).
    module = ix.conn.execute("SELECT module FROM files WHERE id=?", (row["file_id"],)).fetchone()[0] or None
    try:
        diff = history.diff_against(ix.root, rev, ix.path(row), entity.qname, texts.raw(row), module)
    except history.HistoryError as exc:
        status.detail = f"fingerprint changed ({exc})"
        return
    status.detail = f"fingerprint changed: {diff}"
    first = history.first_change_since(ix.root, rev, ix.path(row), entity.qname, module)
    if first:
        status.stale_since = first


def suggest(ix: Index, texts: SymbolText, note: Note, limit: int = 6) -> list[str]:
    """Where a missing symbol may have gone: same fingerprint elsewhere first, then similar names."""
    name = note.symbol.replace("::", ".").split(".")[-1]
    moved = [q for q in _same_fingerprint(ix, texts, note) if q != note.symbol]
    named: list[str] = []
    for cand in ix.suggestions(name, limit=limit):
        named += [e.qname for e in ix.find(cand)][:2]
    ranked = [f"{q} (same code)" for q in moved] + [q for q in named if q not in moved]
    return list(dict.fromkeys(ranked))[:limit]


def _same_fingerprint(ix: Index, texts: SymbolText, note: Note) -> list[str]:
    return texts.by_fingerprint().get(note.fingerprint, [])


def summary(statuses: list[NoteStatus]) -> dict[str, dict[str, int]]:
    """Counts per source and status."""
    counts: dict[str, dict[str, int]] = {}
    for s in statuses:
        counts.setdefault(s.source, {}).setdefault(s.status, 0)
        counts[s.source][s.status] += 1
    return counts


def relative(path: str, base: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(base.resolve()))
    except ValueError:
        return path


def short_rev(revision: str) -> str:
    """A pinned revision as people write it: 12 hex digits of a commit, a version as is."""
    return revision[:12] if len(revision) == 40 else revision


def mark_drift(ix: Index, notes: Notes, matches: list[dict]) -> None:
    """Set `status` ("ok" | "drifted"), `detail` and `pinned` on every note of `show`'s matches.

    A note is drifted when its symbol's fingerprint in this checkout differs from the one it was
    pinned with (what `codewalk check` reports, without its git diff).
    """
    by_id = notes.by_id()
    texts = SymbolText(ix)
    for match in matches:
        for a in match.get("annotations", []):
            note = by_id.get(a["id"])
            if note is None:
                continue
            source = notes.sources.get(note.source)
            a["pinned"] = short_rev(source.revision) if source else ""
            a["status"], a["detail"] = _drift(ix, texts, note)


def _drift(ix: Index, texts: SymbolText, note: Note) -> tuple[str, str]:
    entities = exact(ix, note.symbol)
    if not entities:
        return "drifted", f"'{note.symbol}' is not defined here any more"
    try:
        actual = symbol_fingerprint(ix, texts, entities)
    except OSError as exc:
        return "ok", f"code not re-read ({exc.strerror or exc})"
    if actual == note.fingerprint:
        return "ok", ""
    return "drifted", f"fingerprint changed: pinned {note.fingerprint}, now {actual}"
