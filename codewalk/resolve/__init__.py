"""Call resolution by scope, done at query time from stored facts.

Resolving lazily keeps re-indexing per-file (a file's rows are replaced, nothing global is
recomputed) and costs a handful of indexed lookups per call site that a query actually shows.
Each language's rules (`cpp.py`, `python.py`) mirror how a reader resolves a name: same class
and its bases, member field types, `this->`/`self.`, enclosing namespaces, imports. What they
find is *exact*; a call on a virtual/overridden method also reaches every override
(*dispatch*, with `via` = the declared target); a call that leaves the project is *external*;
anything else may fall back to same-named callables (*heuristic*) when nothing known rules
them out.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from codewalk.lookup import Entity, Index, group_entities
from codewalk.resolve.cpp import CppRules
from codewalk.resolve.python import PyRules
from codewalk.resolve.scope import Found, Row, Scope

__all__ = ["Edge", "Found", "Resolver", "MAX_CANDIDATES"]

# Above this many same-named candidates a name-only guess is noise (`size`, `get`, `append`).
MAX_CANDIDATES = 8


@dataclass(slots=True)
class Edge:
    """A call site (caller row, line) and what it resolves to.

    `resolution`: 'exact' (scope rules found the declared target), 'heuristic' (same-named
    candidates), 'unresolved' (nothing); dispatch targets ride along in `overrides` as
    (override row, declared target row) pairs. `kind`: 'project', 'external' (the call leaves
    the project: `external` names the library type or function when known) or 'macro'.
    """

    caller: sqlite3.Row
    line: int
    name: str
    targets: list[sqlite3.Row]
    heuristic: bool
    resolution: str = "exact"
    kind: str = "project"
    external: str = ""
    overrides: list[tuple[sqlite3.Row, sqlite3.Row]] = field(default_factory=list)
    via: sqlite3.Row | None = None  # for callers(): the declared target reached through dispatch


class Resolver(Scope):
    """Resolves call rows against an Index; all lookups memoised for the process lifetime."""

    def __init__(self, index: Index) -> None:
        super().__init__(index)
        self.cpp = CppRules(self)
        self.py = PyRules(self)
        self.base_of = self._base_of

    def _base_of(self, row: Row, text: str) -> str | None:
        """Qualified name of a base class written as `text` in class `row`."""
        if row["language"] == "python":
            return self.py.name(text, row["file_id"], (row["scope"] or ""))
        return self.cpp.type(text, row["scope"] or "")

    def resolve(self, call: sqlite3.Row, caller: sqlite3.Row) -> Edge:
        """Exact targets when scope rules find them, else same-named callables (heuristic)."""
        lang = caller["language"]
        found = self.cpp.resolve(call, caller) if lang == "cpp" else self.py.resolve(call, caller)
        exact = _by_arity(found.targets, call["nargs"])
        if exact:
            kind = "macro" if all(t["kind"] == "macro" for t in exact) else "project"
            return Edge(caller, call["line"], call["name"], exact, False, "exact", kind)
        if found.external:
            return Edge(caller, call["line"], call["name"], [], False, "unresolved", "external",
                        found.external)
        guesses = self.by_name(call["name"], lang) if found.guess else []
        guesses = guesses if len({g["qname"] for g in guesses}) <= MAX_CANDIDATES else []
        resolution = "heuristic" if guesses else "unresolved"
        return Edge(caller, call["line"], call["name"], guesses, True, resolution)

    def callees(self, entity: Entity) -> list[Edge]:
        """Call sites in the entity's bodies, resolved, in source order."""
        edges = []
        for row in entity.definitions:
            for call in self.conn.execute(
                    "SELECT * FROM calls WHERE caller_id=? ORDER BY line", (row["id"],)):
                edges.append(self.resolve(call, row))
        return edges

    def callers(self, entity: Entity) -> list[Edge]:
        """Call sites anywhere whose resolution includes this entity (exact or heuristic)."""
        ids = {r["id"] for r in entity.rows}
        names = [entity.name]
        if entity.language == "python" and entity.name == "__init__":
            names.append(entity.qname.rsplit(".", 2)[-2])  # `Foo(...)` calls Foo.__init__
        if entity.kind == "class" and entity.language == "python":
            names = [entity.name]
        exact_qnames = {entity.qname}
        if entity.kind in ("class", "struct") and entity.language == "cpp":
            exact_qnames.add(f"{entity.qname}::{entity.name}")  # `new X`, make_shared<X>: ctors
        edges = []
        for name in names:
            for call in self.conn.execute("SELECT * FROM calls WHERE name=?", (name,)):
                caller = self.ix.symbol(call["caller_id"])
                if caller is None:
                    continue
                edge = self.resolve(call, caller)
                if any(t["id"] in ids or t["qname"] in exact_qnames and not edge.heuristic
                       for t in edge.targets):
                    edge.targets = [t for t in edge.targets if t["id"] in ids
                                    or t["qname"] in exact_qnames]
                    edges.append(edge)
        edges.sort(key=lambda e: (e.caller["qname"], e.line))
        return edges

    def target_entities(self, edge: Edge) -> list[Entity]:
        """Targets of an edge grouped into entities (declaration + definition together)."""
        rows = []
        for t in edge.targets:
            rows.extend(r for r in self.ix.by_qname(t["qname"])
                        if r["params_key"] == t["params_key"] or r["language"] == "python")
        return group_entities(rows)


def _by_arity(rows: list[sqlite3.Row], nargs: int) -> list[sqlite3.Row]:
    """Among overloads keep those whose parameter count can take nargs (defaults ignored)."""
    if len({r["params_key"] for r in rows}) <= 1:
        return rows
    fit = [r for r in rows if _arity(r["params_key"]) == nargs]
    return fit or rows


def _arity(params_key: str) -> int:
    key = params_key.removesuffix(" const")
    if not key:
        return 0
    depth, count = 0, 1
    for ch in key:
        depth += ch in "<(["
        depth -= ch in ">)]"
        count += ch == "," and depth == 0
    return count
