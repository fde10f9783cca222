"""Python call resolution: the callee's expression evaluated with Python's scope rules.

The extractor stores each callee with its locals replaced by their values (parameters by
their annotations, `for` targets by the iterated expression's elements, ...); this module
evaluates that expression (python_types.Evaluator) against the index:

- a project function, method or class -> exact targets (`@overload` stubs give way to the
  implementation; a class gives its `__init__` found along the MRO);
- a builtin (`len`, unless shadowed), a name imported from outside the project (`torch`,
  `collections.deque`), a method of a builtin container/str, or anything reached from a
  library value -> external, no project edge;
- a receiver of known project type without that member -> no edge and no guess;
- an unknown receiver -> a name-only guess is allowed, except for names that methods of
  builtin types and loggers have (`append`, `get`, `items`, `info`, ...): such a receiver
  is most likely one of those, so a same-named project method would be a wrong guess.
"""

from __future__ import annotations

import ast
import collections
from functools import lru_cache

from codewalk.query.lookup import CALLABLE_KINDS
from codewalk.query.resolve.python_types import MISSING, OVERLOAD, Evaluator, Val, parse
from codewalk.query.resolve.scope import Found, Row, Scope

# Names of methods of builtin types, loggers and the stdlib's concurrency objects (futures,
# events, threads, queues): on an unknown receiver, no guess. Computed on first use, so a query
# that never resolves a Python call does not import asyncio and friends (~60 ms).
@lru_cache(maxsize=1)
def library_method_names() -> frozenset[str]:
    """dir() of the builtin and stdlib types whose method names an unknown receiver may not
    be guessed to be a project method for."""
    import asyncio
    import concurrent.futures
    import logging
    import queue
    import threading

    return frozenset(
        n for t in (list, dict, set, frozenset, str, bytes, tuple, int, float, collections.deque,
                    collections.OrderedDict, collections.defaultdict, logging.Logger, object,
                    concurrent.futures.Future, threading.Event, threading.Thread, queue.Queue,
                    asyncio.Queue, asyncio.Event, asyncio.Future, asyncio.Task)
        for n in dir(t))


_FUNCTION_KINDS = ("function", "method", "constructor")
_NEUTRAL = ("typing.", "typing_extensions.", "abc.", "builtins.object")  # no members to speak of


class PyRules:
    """Scope rules for Python call sites."""

    def __init__(self, scope: Scope) -> None:
        self.s = scope
        self.name = lru_cache(maxsize=None)(self._name)
        self.imports = lru_cache(maxsize=None)(self._imports)
        self.wildcards = lru_cache(maxsize=None)(self._wildcards)
        self.module_of = lru_cache(maxsize=None)(self._module_of)
        self.module_file = lru_cache(maxsize=None)(self._module_file)
        self.kinds = lru_cache(maxsize=None)(self._kinds)
        self.global_name = lru_cache(maxsize=None)(self._global_name)
        self.mro = lru_cache(maxsize=None)(self._mro)
        self.full_mro = lru_cache(maxsize=None)(self._full_mro)
        self.external_base = lru_cache(maxsize=None)(self._external_base)
        self.package_indexed = lru_cache(maxsize=None)(self._package_indexed)
        self._mro_active: set[str] = set()
        self.ev = Evaluator(self)

    # ---- facts from the index -----------------------------------------------------------
    def _imports(self, file_id: int) -> dict[str, str]:
        """alias -> imported dotted name, for one file (`*` imports: see wildcards())."""
        return {r[1]: r[0] for r in self.s.conn.execute(
            "SELECT target, alias FROM imports WHERE file_id=?", (file_id,)) if r[1] != "*"}

    def _wildcards(self, file_id: int) -> tuple[str, ...]:
        """Modules a file imports `*` from, last first (a later import shadows)."""
        rows = self.s.conn.execute(
            "SELECT target FROM imports WHERE file_id=? AND alias='*' ORDER BY line DESC",
            (file_id,))
        return tuple(r[0][:-2] for r in rows)

    def _module_of(self, file_id: int) -> str:
        row = self.s.conn.execute(
            "SELECT qname FROM symbols WHERE file_id=? AND kind='module'", (file_id,)).fetchone()
        return row[0] if row else ""

    def _module_file(self, module: str) -> int | None:
        for r in self.s.ix.by_qname(module):
            if r["kind"] == "module":
                return r["file_id"]
        return None

    def _kinds(self, qname: str) -> frozenset[str]:
        return frozenset(r["kind"] for r in self.s.ix.by_qname(qname)
                         if r["language"] == "python")

    def in_project(self, qname: str) -> bool:
        """Whether a dotted name lies under one of the index's top-level Python packages."""
        return self.package_indexed(qname.split(".")[0])

    def _package_indexed(self, top: str) -> bool:
        if "module" in self.kinds(top):
            return True
        # a namespace package (no __init__.py): any module under it; a range scan of the index
        row = self.s.conn.execute(
            "SELECT 1 FROM symbols WHERE qname >= ? AND qname < ? AND kind='module' LIMIT 1",
            (top + ".", top + "/")).fetchone()
        return row is not None

    def class_of(self, row: Row) -> str:
        """The class a method row belongs to ('' for functions)."""
        scope = row["scope"] or ""
        return scope if scope and "class" in self.kinds(scope) else ""

    # ---- names --------------------------------------------------------------------------
    def _global_name(self, ident: str, file_id: int, scope: str) -> str | None:
        """Absolute name a non-local identifier means in a function: functions and classes
        nested in enclosing functions (class bodies skipped), then imports, then the module."""
        module = self.module_of(file_id)
        while scope and scope != module and scope.startswith(module):
            if "class" not in self.kinds(scope) and self.kinds(f"{scope}.{ident}"):
                return f"{scope}.{ident}"
            scope = scope.rpartition(".")[0]
        aliases = self.imports(file_id)
        target = aliases.get(ident)
        if target is not None:
            return target
        if self.kinds(f"{module}.{ident}"):
            return f"{module}.{ident}"
        return self.from_wildcards(file_id, ident)

    def reexport(self, module: str, name: str, depth: int = 0) -> str | None:
        """What `module.name` is when module's file imports it (`from .x import Y` or
        `from .x import *` in a package `__init__`)."""
        file_id = self.module_file(module)
        if file_id is None:
            return None
        aliases = self.imports(file_id)
        if name in aliases:
            return aliases[name]
        return self.from_wildcards(file_id, name, depth)

    def from_wildcards(self, file_id: int, name: str, depth: int = 0) -> str | None:
        """`name` brought into a file by its `from x import *` lines."""
        for module in self.wildcards(file_id) if depth < 4 else ():
            candidate = f"{module}.{name}"
            if self.kinds(candidate):
                return candidate
            again = self.reexport(module, name, depth + 1)
            if again:
                return again
        return None

    def _name(self, dotted: str, file_id: int, scope: str) -> str | None:
        """Qualified name a dotted expression (a base class, a type) refers to in a file."""
        node = parse(dotted.split("[")[0].strip() or "_")
        if not isinstance(node, (ast.Name, ast.Attribute)):
            return None
        val = self.ev.eval(node, (file_id, "", scope))
        return val.name if val is not None and val.kind in ("cls", "func", "mod") else None

    def _mro(self, cls: str) -> tuple[str, ...]:
        """C3 linearisation over the project's classes (bases outside the project left out);
        the breadth-first chain when C3 fails."""
        if cls in self._mro_active:
            return (cls,)
        self._mro_active.add(cls)
        try:
            return _c3(cls, self.bases(cls), self.mro) or tuple(self.s.chain(cls))
        finally:
            self._mro_active.discard(cls)

    def bases(self, cls: str, library: bool = False) -> list[str]:
        """Project base classes of cls in order; with library, also its library bases as
        `ext:NAME` (typing/abc helpers such as Generic and Protocol left out)."""
        out: list[str] = []
        for row in self.s.rows(cls, ("class",)):
            for base in filter(None, (row["bases"] or "").split("\n")):
                resolved = self.name(base, row["file_id"], row["scope"] or "")
                if resolved and resolved != cls and resolved not in out and \
                        "class" in self.kinds(resolved):
                    out.append(resolved)
                elif library and not resolved:
                    outside = self.library_class(base, row)
                    if outside and f"ext:{outside}" not in out:
                        out.append(f"ext:{outside}")
        return out

    def library_class(self, base: str, row: Row) -> str:
        """Library name of a base class as written in class row, '' if not one."""
        node = parse(base.split("[")[0].strip() or "_")
        if not isinstance(node, (ast.Name, ast.Attribute)):
            return ""
        val = self.ev.eval(node, (row["file_id"], "", row["scope"] or ""))
        if val is None or val.kind != "ext" or val.name.startswith(_NEUTRAL):
            return ""
        return val.name

    def _full_mro(self, cls: str) -> tuple[str, ...]:
        """The MRO with library classes in place as `ext:NAME` (`class Q(deque, Base)`:
        Q, ext:collections.deque, Base)."""
        if cls.startswith("ext:") or cls in self._mro_active:
            return (cls,)
        self._mro_active.add(cls)
        try:
            return _c3(cls, self.bases(cls, library=True), self.full_mro) or (cls,)
        finally:
            self._mro_active.discard(cls)

    def _external_base(self, cls: str) -> str:
        """First library base class in cls's ancestry (`torch.nn.Module`, `logging.Logger`),
        '' if all of it is in the project (typing/abc helpers such as Protocol don't count)."""
        return next((entry[4:] for entry in self.full_mro(cls) if entry.startswith("ext:")), "")

    # ---- resolution ---------------------------------------------------------------------
    def resolve(self, call: Row, caller: Row) -> Found:
        """Exact targets, or the library the call leaves for, of one call site."""
        node = parse(_callee(call))
        if node is None:
            return Found()
        cls = self.s.enclosing_class(caller) if caller["kind"] != "module" else None
        ctx = (caller["file_id"], cls or "", caller["qname"] if caller["kind"] != "module" else "")
        if isinstance(node, ast.Attribute):
            receiver = self.ev.eval(node.value, ctx)
            if receiver is None:
                return Found(guess=call["name"] not in library_method_names())
            value = self.ev.attribute(receiver, node.attr)
            if value is MISSING:
                return Found(guess=False)
        elif isinstance(node, ast.Name):
            value = self.ev.eval(node, ctx)
        else:
            return Found(guess=False)  # a call on a local's value that says nothing
        return self.found(value)

    def found(self, value: Val | None) -> Found:
        """Found for the value a callee evaluated to."""
        if value is None:
            return Found()
        if value.kind == "func":
            return Found(self.targets(value.name))
        if value.kind == "cls":
            return Found(self.constructor(value.name))
        if value.kind == "ext":
            return Found(external=value.name)
        if value.kind == "bmeth":
            container = value.args[0]
            return Found(external=f"{container.name if container else 'builtins'}.{value.name}")
        if value.kind == "union":  # `SamplingParams | PoolingParams`: each one's method
            parts = [self.found(v) for v in value.args]
            if all(p.targets for p in parts):
                rows = {t["id"]: t for p in parts for t in p.targets}
                return Found(list(rows.values()))
            return Found(guess=False)
        if value.kind == "inst":
            call = self.ev.member(value, "__call__")
            if call is not None and call is not MISSING and call.kind == "func":
                return Found(self.targets(call.name))
        return Found(guess=False)


    def targets(self, qname: str) -> list[Row]:
        """Rows of a called function: the implementation, not its `@overload` stubs."""
        rows = self.s.rows(qname, CALLABLE_KINDS)
        impl = [r for r in rows if not (r["type_text"] or "").startswith(OVERLOAD)]
        return impl or rows

    def constructor(self, cls: str) -> list[Row]:
        """`Foo(...)`: the nearest `__init__` along the MRO, else the class itself."""
        for owner in self.mro(cls):
            hits = self.s.rows(f"{owner}.__init__", _FUNCTION_KINDS)
            if hits:
                return hits
        return self.s.rows(cls, ("class",))


def _c3(cls: str, bases: list[str], mro_of) -> tuple[str, ...] | None:
    """C3 linearisation of cls with these direct bases; None when there is none."""
    seqs = [list(mro_of(b)) for b in bases] + [list(bases)]
    out = [cls]
    while any(seqs):
        seqs = [q for q in seqs if q]
        head = next((q[0] for q in seqs if not any(q[0] in t[1:] for t in seqs)), None)
        if head is None:
            return None
        out.append(head)
        seqs = [q[1:] if q[0] == head else q for q in seqs]
    return tuple(out)


def _callee(call: Row) -> str:
    """The callee expression: the stored rendering, else rebuilt from how it was written."""
    if call["qualifier"]:
        return call["qualifier"]
    kind, name, receiver = call["kind"], call["name"], call["receiver"]
    if kind == "self":
        return f"self.{name}"
    if kind == "self_attr":
        return f"self.{receiver}.{name}"
    if kind == "super":
        return f"super().{name}"
    if kind in ("attr", "member") and receiver:
        return f"{receiver}.{name}"
    return name
