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
from functools import lru_cache

from codewalk.query.lookup import Entity, Index, group_entities
from codewalk.query.resolve.cpp import CppRules
from codewalk.query.resolve.python import PyRules
from codewalk.query.resolve.scope import Found, Row, Scope

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
        self.derived = lru_cache(maxsize=None)(self._derived)
        self.by_base_name = lru_cache(maxsize=None)(self._by_base_name)
        self.overrides = lru_cache(maxsize=None)(self._overrides)

    def _base_of(self, row: Row, text: str) -> str | None:
        """Qualified name of a base class written as `text` in class `row`."""
        if row["language"] == "python":
            return self.py.name(text, row["file_id"], (row["scope"] or ""))
        return self.cpp.type(text, row["scope"] or "")

    # ---- dispatch ---------------------------------------------------------------------
    def _by_base_name(self) -> dict[str, list[Row]]:
        """Classes with bases, by the last name of each base as written (`ns::Base<T>` ->
        `Base`, `mod.Base` -> `Base`): one scan of the table per resolver, not one per class."""
        out: dict[str, list[Row]] = {}
        rows = self.conn.execute("SELECT * FROM symbols WHERE bases != '' AND bases IS NOT NULL"
                                 " AND kind IN ('class','struct')")
        for row in sorted(rows, key=lambda r: (self.ix.paths.get(r["file_id"], ""), r["line"])):  # tree order
            for base in filter(None, row["bases"].split("\n")):
                name = base.split("<")[0].split("[")[0].replace("::", ".").rsplit(".", 1)[-1].strip()
                out.setdefault(name, []).append(row)
        return out

    def _derived(self, cls: str) -> tuple[str, ...]:
        """Classes that name cls among their resolved bases, transitively (breadth first)."""
        short = cls.replace("::", ".").rsplit(".", 1)[-1]
        out: list[str] = []
        queue, seen = [(cls, short)], {cls}
        while queue and len(out) < 256:
            base, name = queue.pop(0)
            for row in self.by_base_name().get(name, ()):
                if row["qname"] in seen:
                    continue
                if any(self.base_of(row, b) == base
                       for b in filter(None, (row["bases"] or "").split("\n"))):
                    seen.add(row["qname"])
                    out.append(row["qname"])
                    queue.append((row["qname"], row["name"]))
        return tuple(out)

    def _virtual(self, target: Row) -> bool:
        """Whether calls of target dispatch: any Python method; a C++ method declared
        `virtual`, `override` or `final` (on any of its declarations)."""
        if target["kind"] not in ("method", "operator", "destructor"):
            return False
        if target["language"] == "python":
            return True
        return any(any(w in (r["signature"] or "") for w in ("virtual ", " override", " final"))
                   for r in self.ix.by_qname(target["qname"])
                   if r["params_key"] == target["params_key"])

    def _overrides(self, target: Row) -> tuple[Row, ...]:
        """Methods of derived classes that override target (one row each, definition first)."""
        if not self._virtual(target) or not target["scope"]:
            return ()
        sep = "::" if target["language"] == "cpp" else "."
        out = []
        for cls in self.derived(target["scope"]):
            rows = [r for r in self.ix.by_qname(f"{cls}{sep}{target['name']}")
                    if r["kind"] == target["kind"] and (target["language"] == "python"
                                                        or r["params_key"] == target["params_key"])]
            if rows:
                out.append(sorted(rows, key=lambda r: -r["is_def"])[0])
        return tuple(out)

    def _overridden(self, row: Row) -> tuple[Row, ...]:
        """Base-class methods that row overrides (and that dispatch)."""
        if row["kind"] not in ("method", "operator", "destructor") or not row["scope"]:
            return ()
        sep = "::" if row["language"] == "cpp" else "."
        out = []
        for base in self.chain(row["scope"])[1:]:
            for r in self.ix.by_qname(f"{base}{sep}{row['name']}"):
                if r["kind"] == row["kind"] and (row["language"] == "python"
                                                 or r["params_key"] == row["params_key"]) \
                        and self._virtual(r):
                    out.append(r)
        return tuple(out)

    # ---- edges -------------------------------------------------------------------------
    def resolve(self, call: sqlite3.Row, caller: sqlite3.Row) -> Edge:
        """Exact targets when scope rules find them, else same-named callables (heuristic)."""
        lang = caller["language"]
        found = self.cpp.resolve(call, caller) if lang == "cpp" else self.py.resolve(call, caller)
        exact = self._by_arity(found.targets, call["nargs"])
        if len({t["params_key"] for t in exact}) > 1 and lang == "cpp":
            # Overloads the argument count cannot tell apart: an honest guess, not an edge.
            return Edge(caller, call["line"], call["name"], exact, True, "heuristic")
        if exact:
            kind = "macro" if all(t["kind"] == "macro" for t in exact) else "project"
            edge = Edge(caller, call["line"], call["name"], exact, False, "exact", kind)
            if call["kind"] not in ("super", "qualified", "init", "new"):  # `Base::f()` is static
                edge.overrides = [(o, t) for t in exact for o in self.overrides(t)]
            return edge
        if found.external:
            return Edge(caller, call["line"], call["name"], [], False, "unresolved", "external",
                        found.external)
        guesses = self.by_name(call["name"], lang) if found.guess else []
        if call["kind"] == "plain":  # a plain call never reaches another class's method
            guesses = [g for g in guesses if g["kind"] in ("function", "macro")
                       or lang == "python" and g["kind"] == "constructor"]
        guesses = guesses if len({g["qname"] for g in guesses}) <= MAX_CANDIDATES else []
        resolution = "heuristic" if guesses else "unresolved"
        return Edge(caller, call["line"], call["name"], guesses, True, resolution)

    def callees(self, entity: Entity) -> list[Edge]:
        """Call sites in the entity's bodies, resolved, in source order."""
        edges = []
        for row in entity.definitions:
            for call in self.conn.execute(
                    "SELECT * FROM calls WHERE caller_id=? ORDER BY line, rowid", (row["id"],)):  # rowid: source order
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
        # Rows of other overloads share the qname, so only classes match by name (`new X`,
        # make_shared<X> reach a class without constructors as the class itself).
        exact_qnames: set[str] = set()
        if entity.kind in ("class", "struct", "enum"):
            exact_qnames.add(entity.qname)
            if entity.language == "cpp":
                exact_qnames.add(f"{entity.qname}::{entity.name}")
        # Calls of the base methods this one overrides reach it too (dispatch, `via` the base).
        bases = {b["id"]: b for r in entity.rows for b in self._overridden(r)}
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
                elif not edge.heuristic and any(t["id"] in bases for t in edge.targets):
                    via = next(bases[t["id"]] for t in edge.targets if t["id"] in bases)
                    edges.append(Edge(caller, edge.line, edge.name, list(entity.rows), False,
                                      "dispatch", edge.kind, via=via))
        edges.sort(key=lambda e: (e.caller["qname"], e.line, e.caller["line"], e.name))
        return edges

    def target_entities(self, edge: Edge) -> list[Entity]:
        """Targets of an edge grouped into entities (declaration + definition together)."""
        rows = []
        for t in edge.targets:
            rows.extend(r for r in self.ix.by_qname(t["qname"])
                        if r["params_key"] == t["params_key"] or r["language"] == "python")
        return group_entities(rows)


    def _by_arity(self, rows: list[sqlite3.Row], nargs: int) -> list[sqlite3.Row]:
        """Among overloads keep those that can take nargs arguments (default arguments, as the
        declarations write them, lower the minimum)."""
        if len({r["params_key"] for r in rows}) <= 1:
            return rows
        fit = [r for r in rows if self._min_arity(r) <= nargs <= _arity(r["params_key"])]
        return fit or rows

    def _min_arity(self, row: sqlite3.Row) -> int:
        defaults = max((_defaults(r["signature"] or "") for r in self.ix.by_qname(row["qname"])
                        if r["params_key"] == row["params_key"]), default=0)
        return max(0, _arity(row["params_key"]) - defaults)


def _defaults(signature: str) -> int:
    """Parameters with a default value in a C++ signature (top-level `=` inside the parens)."""
    start = signature.find("(")
    if start < 0:
        return 0
    depth, count = 0, 0
    for ch in signature[start:]:
        depth += ch in "(<[{"
        depth -= ch in ")>]}"
        if depth == 0:
            break
        count += ch == "=" and depth == 1
    return count


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
