"""What the site knows about one source: its symbols, the links in each file, and who calls whom.

Built once per build from the index (`collect.py`) and read by every page writer; plain records,
so a forked page writer gets them for free.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Kinds that get a symbol panel (and a call graph) on their code page.
PANEL_KINDS = frozenset({"class", "struct", "enum", "function", "method", "constructor", "destructor",
                         "operator", "macro"})
# Kinds never listed: their "definitions" are every file that opens them.
HIDDEN_KINDS = frozenset({"namespace", "module"})


@dataclass(slots=True)
class Ref:
    """One edge end as a panel lists it: the other symbol, the call site, and `via` for dispatch."""

    sym: int
    path: str
    line: int
    via: str = ""


@dataclass(slots=True)
class Sym:
    """One entity (declarations and definitions together) of a source."""

    idx: int
    qname: str
    name: str
    kind: str
    language: str
    path: str  # where links land: the definition, else the first declaration
    line: int
    signature: str
    defs: list[tuple[str, int, int]] = field(default_factory=list)
    decls: list[tuple[str, int]] = field(default_factory=list)
    rank: int = 0  # position in `show`'s ranking among all symbols of the source
    notes: list[dict[str, Any]] = field(default_factory=list)  # show's note dicts (+ status)
    counterparts: list[dict[str, Any]] = field(default_factory=list)
    bases: list[int] = field(default_factory=list)
    base_names: list[str] = field(default_factory=list)  # bases the index could not resolve
    derived: list[int] = field(default_factory=list)
    callers: list[Ref] = field(default_factory=list)
    callees: list[Ref] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    anchor: str = ""  # the panel's element id on its code page ('' when it has no panel)

    @property
    def has_panel(self) -> bool:
        return bool(self.anchor)


@dataclass(slots=True)
class Link:
    """An exactly resolved name on one line: the target and, for dispatch, its overrides."""

    line: int
    name: str
    target: int
    overrides: list[int] = field(default_factory=list)


@dataclass(slots=True)
class FileData:
    """One source file of the index and what its code page shows."""

    path: str
    language: str
    digest: str
    links: list[Link] = field(default_factory=list)
    defined: list[int] = field(default_factory=list)  # symbols whose anchor is in this file


@dataclass(slots=True)
class SourceData:
    """Everything the site writes for one source."""

    name: str  # the folder under DIR
    notes_source: str  # the name its notes are filed under (`ksanallm`, `vllm`, `core`)
    root: str
    title: str
    builtin: bool = False  # the built-in corpus (guides find it without being told where)
    syms: list[Sym] = field(default_factory=list)
    files: dict[str, FileData] = field(default_factory=dict)

    def href(self, sym: Sym) -> str:
        """URL of a symbol's line relative to DIR."""
        return f"{self.name}/{sym.path}.html#L{sym.line}"
