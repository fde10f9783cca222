"""Call resolution by scope, done at query time from stored facts.

Resolving lazily keeps re-indexing per-file (a file's rows are replaced, nothing global is
recomputed) and costs a handful of indexed lookups per call site that a query actually shows.
Order of attempts mirrors how a reader resolves a name: same class and its bases, member field
types, `this->`/`self.`, enclosing namespaces, imports. Anything else falls back to every callable
with that name and is marked heuristic.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from functools import lru_cache

from codewalk.lookup import CALLABLE_KINDS, TYPE_KINDS, Entity, Index, group_entities

# Above this many same-named candidates a name-only guess is noise (`size`, `get`, `append`).
MAX_CANDIDATES = 8


@dataclass(slots=True)
class Edge:
    """A call site (caller row, line) and what it resolves to."""

    caller: sqlite3.Row
    line: int
    name: str
    targets: list[sqlite3.Row]
    heuristic: bool


def _strip_templates(text: str) -> str:
    """`ns::Foo<Bar<int>>` -> `ns::Foo`."""
    out, depth = [], 0
    for ch in text:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(ch)
    return "".join(out).replace(" ", "").replace("typename", "").strip(":")


def _pointee(type_text: str) -> str:
    from_ptr = type_text
    for word in ("const ", "volatile ", "mutable ", "static ", "struct ", "class "):
        from_ptr = from_ptr.replace(word, "")
    from_ptr = from_ptr.strip().rstrip("*& ")
    lt = from_ptr.find("<")
    if lt > 0 and from_ptr.endswith(">"):
        head = from_ptr[:lt].split("::")[-1]
        if head in ("shared_ptr", "unique_ptr", "weak_ptr", "optional", "atomic"):
            return _pointee(from_ptr[lt + 1:-1].split(",")[0])
    return _strip_templates(from_ptr)


_SEQUENCES = ("vector", "list", "deque", "set", "unordered_set", "multiset", "forward_list",
              "array", "span", "queue", "priority_queue", "stack")


def _element(type_text: str) -> str:
    """Element type of a sequence container (`std::vector<std::shared_ptr<X>>` ->
    `std::shared_ptr<X>`), '' for anything else (maps yield pairs)."""
    s = type_text.replace("const ", "").strip().rstrip("*& ")
    lt = s.find("<")
    if lt <= 0 or not s.endswith(">") or s[:lt].split("::")[-1].strip() not in _SEQUENCES:
        return ""
    depth = 0
    for i, ch in enumerate(s[lt + 1:-1]):
        depth += ch == "<"
        depth -= ch == ">"
        if ch == "," and depth == 0:
            return s[lt + 1: lt + 1 + i].strip()
    return s[lt + 1:-1].strip()


class Resolver:
    """Resolves call rows against an Index; all lookups memoised for the process lifetime."""

    def __init__(self, index: Index) -> None:
        self.ix = index
        self.conn = index.conn
        self.cpp_type = lru_cache(maxsize=None)(self._cpp_type)
        self.py_name = lru_cache(maxsize=None)(self._py_name)
        self.chain = lru_cache(maxsize=None)(self._chain)
        self.imports = lru_cache(maxsize=None)(self._imports)
        self.module_of = lru_cache(maxsize=None)(self._module_of)

    # ---- shared -----------------------------------------------------------------------
    def rows(self, qname: str, kinds: tuple[str, ...]) -> list[sqlite3.Row]:
        return [r for r in self.ix.by_qname(qname) if r["kind"] in kinds]

    def _chain(self, cls: str) -> tuple[str, ...]:
        """cls followed by its resolved base classes, breadth first, cycles cut."""
        seen, order, queue = {cls}, [cls], [cls]
        while queue and len(order) < 64:
            current = queue.pop(0)
            for row in self.rows(current, TYPE_KINDS + ("class",)):
                for base in filter(None, (row["bases"] or "").split("\n")):
                    resolved = self.base(row, base)
                    if resolved and resolved not in seen:
                        seen.add(resolved)
                        order.append(resolved)
                        queue.append(resolved)
        return tuple(order)

    def base(self, row: sqlite3.Row, text: str) -> str | None:
        """Qualified name of a base class written as `text` in class `row`."""
        if row["language"] == "python":
            return self.py_name(text, row["file_id"], (row["scope"] or ""))
        return self.cpp_type(text, row["scope"] or "")

    def member(self, cls: str, name: str, kinds: tuple[str, ...]) -> list[sqlite3.Row]:
        """First class in cls's chain that has `name` of one of kinds (C++ or Python)."""
        for owner in self.chain(cls):
            sep = "." if "." in owner and "::" not in owner else "::"
            hits = self.rows(f"{owner}{sep}{name}", kinds)
            if hits:
                return hits
        return []

    def enclosing_class(self, caller: sqlite3.Row) -> str | None:
        """Class owning the caller (climbing out of nested functions), if any."""
        scope = caller["scope"] or ""
        sep = "::" if caller["language"] == "cpp" else "."
        for _ in range(8):
            if not scope:
                return None
            kinds = {r["kind"] for r in self.ix.by_qname(scope)}
            if kinds & set(TYPE_KINDS):
                return scope
            if not kinds & set(CALLABLE_KINDS) and caller["language"] == "python":
                return None
            if caller["language"] == "cpp" and not kinds:
                # out-of-line body of a class declared elsewhere under a namespace we did not see
                return scope
            scope = scope.rpartition(sep)[0]
        return None

    def by_name(self, name: str, language: str) -> list[sqlite3.Row]:
        return [r for r in self.ix.by_name(name)
                if r["kind"] in CALLABLE_KINDS and r["language"] == language]

    # ---- C++ --------------------------------------------------------------------------
    def _cpp_type(self, text: str, scope: str) -> str | None:
        """A type name as seen from scope: innermost enclosing namespace/class first."""
        name = _strip_templates(text)
        if not name:
            return None
        parts = scope.split("::") if scope else []
        for i in range(len(parts), -1, -1):
            qname = "::".join(parts[:i] + [name])
            if self.rows(qname, TYPE_KINDS):
                return qname
        last = name.split("::")[-1]
        hits = {r["qname"] for r in self.ix.by_name(last) if r["kind"] in TYPE_KINDS
                and r["language"] == "cpp" and r["qname"].endswith(name)}
        return hits.pop() if len(hits) == 1 else None

    def resolve_cpp(self, call: sqlite3.Row, caller: sqlite3.Row) -> list[sqlite3.Row]:
        name, kind = call["name"], call["kind"]
        cls = self.enclosing_class(caller)
        scope = caller["scope"] or ""
        if kind in ("plain", "this") and cls:
            hits = self.member(cls, name, CALLABLE_KINDS)
            if hits or kind == "this":
                return hits
        if kind == "plain":
            parts = scope.split("::") if scope else []
            for i in range(len(parts), -1, -1):
                hits = self.rows("::".join(parts[:i] + [name]), CALLABLE_KINDS)
                if hits:
                    return hits
            return []
        if kind == "qualified":
            owner = self.cpp_type(call["qualifier"], scope)
            if owner:
                return self.member(owner, name, CALLABLE_KINDS)
            parts = scope.split("::") if scope else []
            for i in range(len(parts), -1, -1):
                hits = self.rows("::".join(parts[:i] + [call["qualifier"], name]), CALLABLE_KINDS)
                if hits:
                    return hits
            return []
        if kind == "member" and call["qualifier"]:  # a local or parameter: its recorded type
            owner = self.local_type(call["qualifier"], cls, scope)
            return self.member(owner, name, CALLABLE_KINDS) if owner else []
        if kind == "member" and call["receiver"] and cls:
            fields = self.member(cls, call["receiver"], ("field",))
            if fields:
                owner = self.cpp_type(_pointee(fields[0]["type_text"]), fields[0]["scope"] or "")
                if owner:
                    return self.member(owner, name, CALLABLE_KINDS)
        if kind == "new":
            owner = self.cpp_type(call["qualifier"], scope)
            if owner:  # constructors are not inherited; a class without one is its own target
                return (self.rows(f"{owner}::{name}", CALLABLE_KINDS)
                        or self.rows(owner, TYPE_KINDS))
        return []

    def local_type(self, info: str, cls: str | None, scope: str) -> str | None:
        """Class of a local/parameter from the type info the extractor recorded: a type as
        written (seen from the function's scope), `elem:a.b` — the element type of the
        container reached through member fields a, b of the enclosing class — or `of:T`, the
        element type of container type T; '?' (and iterators) are unknown."""
        if info == "?" or info.startswith(("iter:", "iterof:")):
            return None
        if info.startswith("of:"):  # element of a local's own container type
            element = _element(info[3:])
            return self.cpp_type(_pointee(element), scope) if element else None
        if not info.startswith("elem:"):
            return self.cpp_type(_pointee(info), scope)
        parts = info[5:].split(".")
        if parts[0] == "this":
            parts = parts[1:]
        owner, type_text, type_scope = cls, "", scope
        for part in parts:
            if not owner:
                return None
            fields = self.member(owner, part, ("field",))
            if not fields:
                return None
            type_text, type_scope = fields[0]["type_text"], fields[0]["scope"] or ""
            owner = self.cpp_type(_pointee(type_text), type_scope)
        element = _element(type_text)
        return self.cpp_type(_pointee(element), type_scope) if element else None

    # ---- Python -----------------------------------------------------------------------
    def _imports(self, file_id: int) -> dict[str, str]:
        return {r[1]: r[0] for r in self.conn.execute(
            "SELECT target, alias FROM imports WHERE file_id=?", (file_id,))}

    def _module_of(self, file_id: int) -> str:
        row = self.conn.execute(
            "SELECT qname FROM symbols WHERE file_id=? AND kind='module'", (file_id,)).fetchone()
        return row[0] if row else ""

    def _py_name(self, dotted: str, file_id: int, scope: str) -> str | None:
        """Qualified name a dotted expression refers to in a file: imports, then module level."""
        dotted = dotted.split("[")[0].strip()
        head, _, rest = dotted.partition(".")
        aliases = self.imports(file_id)
        candidates = []
        for alias in sorted((a for a in aliases if dotted == a or dotted.startswith(a + ".")),
                            key=len, reverse=True):
            candidates.append(aliases[alias] + dotted[len(alias):])
        module = self.module_of(file_id)
        if scope:
            candidates.append(f"{scope}.{dotted}")
        candidates.append(f"{module}.{dotted}")
        for qname in candidates:
            if self.ix.by_qname(qname):
                return qname
        return None

    def resolve_py(self, call: sqlite3.Row, caller: sqlite3.Row) -> list[sqlite3.Row]:
        name, kind = call["name"], call["kind"]
        cls = self.enclosing_class(caller) if caller["kind"] != "module" else None
        if kind in ("self", "super") and cls:
            chain = self.chain(cls)
            for owner in chain[1:] if kind == "super" else chain:
                hits = self.rows(f"{owner}.{name}", CALLABLE_KINDS)
                if hits:
                    return hits
            return []
        if kind == "self_attr" and cls:
            owner = self.py_field_type(cls, call["receiver"])
            return self.member(owner, name, CALLABLE_KINDS) if owner else []
        if kind == "plain":
            for scope in (caller["qname"], caller["scope"] or ""):
                hits = self.rows(f"{scope}.{name}", CALLABLE_KINDS) if scope else []
                if hits:
                    return hits
            target = self.py_name(name, caller["file_id"], "")
            return self._callable(target) if target else []
        if kind == "attr":
            target = self.py_name(f"{call['receiver']}.{name}", caller["file_id"], "")
            if target:
                return self._callable(target)
            owner = self.py_name(call["receiver"], caller["file_id"], "")
            if owner and self.rows(owner, ("class",)):
                return self.member(owner, name, CALLABLE_KINDS)
        return []

    def py_field_type(self, cls: str, attr: str) -> str | None:
        """Class of `self.attr` in cls: the nearest class in cls's chain that gives the
        attribute a type (a subclass re-assigning it untyped does not hide the base's type)."""
        for owner in self.chain(cls):
            for f in self.rows(f"{owner}.{attr}", ("field",)):
                typed = self.py_name(f["type_text"], f["file_id"], "") if f["type_text"] else None
                if typed:
                    return typed
        return None

    def _callable(self, qname: str) -> list[sqlite3.Row]:
        """A called qname: a function/method, or a class (its constructor, else the class)."""
        hits = self.rows(qname, CALLABLE_KINDS)
        if hits:
            return hits
        if self.rows(qname, ("class",)):
            return self.member(qname, "__init__", CALLABLE_KINDS) or self.rows(qname, ("class",))
        return []

    # ---- public -----------------------------------------------------------------------
    def resolve(self, call: sqlite3.Row, caller: sqlite3.Row) -> Edge:
        """Exact targets when scope rules find them, else same-named callables (heuristic)."""
        lang = caller["language"]
        exact = self.resolve_cpp(call, caller) if lang == "cpp" else self.resolve_py(call, caller)
        exact = _by_arity(exact, call["nargs"])
        if exact:
            return Edge(caller, call["line"], call["name"], exact, False)
        guesses = self.by_name(call["name"], lang)
        guesses = guesses if len({g["qname"] for g in guesses}) <= MAX_CANDIDATES else []
        return Edge(caller, call["line"], call["name"], guesses, True)

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
