"""Resolve a guide's steps against the code at hand: where each symbol is and its source text.

A step names a symbol of one source. When that source has a checkout (registered, `--source
NAME=PATH`, or its environment variable) the excerpt comes from there. A KsanaLLM step without a
checkout falls back to the built-in core, whose C++ mirrors KsanaLLM's names, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codewalk.notes.schema import Note, Notes
from codewalk.sources.corpus import Target
from codewalk.guides.schema import Guide, Step

MAX_EXCERPT_LINES = 60


@dataclass(slots=True)
class Located:
    """A symbol found in some checkout."""

    source: str  # the source the code actually came from
    root: Path
    path: str
    line: int
    end_line: int
    language: str
    code: str
    qname: str
    fallback: bool = False  # shown from the core because the named source had no checkout
    callees: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ResolvedStep:
    step: Step
    note: Note | None
    located: Located | None
    missing: str = ""  # why there is no code to show


@dataclass(slots=True)
class ResolvedGuide:
    guide: Guide
    steps: list[ResolvedStep]
    sources: dict[str, str]  # source name -> root used ('' when none)


class Checkouts:
    """Opens (and caches) one index per source; None for a source without a checkout."""

    def __init__(self, notes: Notes, overrides: dict[str, Path], only: bool = False) -> None:
        self.notes = notes
        self.overrides = overrides
        self.only = only  # no registry or environment: the overrides (and the core) are all there is
        self._indexes: dict[str, Any] = {}

    def target(self, name: str) -> Target | None:
        from codewalk.sources import checkouts as sources

        if self.only and name not in self.overrides and name != "core":
            return None
        return sources.resolve(name, self.notes.sources.get(name), self.overrides)

    def index(self, name: str) -> Any | None:
        if name not in self._indexes:
            from codewalk.query.session import open_index

            target = self.target(name)
            self._indexes[name] = open_index(target) if target is not None and target.root.is_dir() else None
        return self._indexes[name]


def resolve_guide(guide: Guide, notes: Notes, overrides: dict[str, Path] | None = None,
                  only: bool = False) -> ResolvedGuide:
    """Every step with its note and, where a checkout allows, its code. `only`: read no checkout
    but the overrides and the core (a site links excerpts only into the sources it contains)."""
    checkouts = Checkouts(notes, overrides or {}, only)
    by_id = notes.by_id()
    steps = [_resolve_step(s, by_id.get(s.note) if s.note else None, checkouts) for s in guide.steps]
    used = {name: str(ix.root) if ix is not None else "" for name, ix in checkouts._indexes.items()}
    return ResolvedGuide(guide, steps, used)


def _resolve_step(step: Step, note: Note | None, checkouts: Checkouts) -> ResolvedStep:
    if not step.symbol:
        return ResolvedStep(step, note, None)
    ix = checkouts.index(step.source)
    if ix is not None:
        located = locate(ix, step.symbol, step.source, note)
        if located is not None:
            return ResolvedStep(step, note, located)
        return ResolvedStep(step, note, None, missing=f"{step.symbol} is not in {ix.root}")
    if step.source == "ksanallm":
        core = checkouts.index("core")
        # The note's `lines` focus is relative to KsanaLLM's text, so it does not apply here.
        located = locate(core, step.symbol, "core", None) if core is not None else None
        if located is not None:
            located.fallback = True
            return ResolvedStep(step, note, located)
    return ResolvedStep(step, note, None,
                        missing=f"no checkout of '{step.source}' (codewalk source add {step.source})")


def locate(ix: Any, symbol: str, source: str, note: Note | None) -> Located | None:
    """The symbol's definition (else declaration) with its text, focused on the note's `lines`."""
    entities = [e for e in ix.find(symbol) if e.qname == symbol] or ix.find(symbol)
    if not entities:
        return None
    entity = entities[0]
    row = entity.primary
    path = ix.path(row)
    try:
        lines = (ix.root / path).read_text("utf-8", "replace").splitlines()
    except OSError:
        return None
    start, end = row["line"], row["end_line"]
    if note is not None and note.lines:
        start, end = min(end, start + note.lines[0] - 1), min(end, start + note.lines[1] - 1)
    end = min(end, start + MAX_EXCERPT_LINES - 1)
    return Located(source, ix.root, path, start, end, row["language"], "\n".join(lines[start - 1:end]),
                   entity.qname, callees=_callees(ix, entity))


def _callees(ix: Any, entity: Any, limit: int = 12) -> list[str]:
    """Exactly resolved callees of the symbol (for the step's call-graph diagram)."""
    from codewalk.query.resolve import Resolver

    resolver = Resolver(ix)
    names: list[str] = []
    for edge in resolver.callees(entity):
        if edge.heuristic:
            continue
        for target in resolver.target_entities(edge):
            if target.qname not in names and target.qname != entity.qname:
                names.append(target.qname)
    return names[:limit]


def guide_doc(rg: ResolvedGuide, lang: str) -> dict:
    """`guide ID --json`: the guide and each step with where its code was found, in `lang`."""
    steps = []
    for rs in rg.steps:
        loc = rs.located
        steps.append({"title": rs.step.title.get(lang), "note": rs.step.note, "symbol": rs.step.symbol,
                      "source": rs.step.source, "prose": rs.step.prose.get(lang), "demo": rs.step.demo,
                      "diagram": rs.step.diagram, "missing": rs.missing,
                      "location": None if loc is None else {"source": loc.source, "path": loc.path,
                                                            "line": loc.line, "fallback": loc.fallback}})
    return {"id": rg.guide.id, "title": rg.guide.title.get(lang), "summary": rg.guide.summary.get(lang),
            "requires": rg.guide.requires, "sources": rg.sources, "steps": steps}
