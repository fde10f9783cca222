"""Python call resolution: `self.`, `super()`, typed attributes, imports and module scope."""

from __future__ import annotations

from functools import lru_cache

from codewalk.lookup import CALLABLE_KINDS
from codewalk.resolve.scope import Found, Row, Scope


class PyRules:
    """Scope rules for Python call sites."""

    def __init__(self, scope: Scope) -> None:
        self.s = scope
        self.name = lru_cache(maxsize=None)(self._name)
        self.imports = lru_cache(maxsize=None)(self._imports)
        self.module_of = lru_cache(maxsize=None)(self._module_of)

    def _imports(self, file_id: int) -> dict[str, str]:
        """alias -> imported dotted name, for one file."""
        return {r[1]: r[0] for r in self.s.conn.execute(
            "SELECT target, alias FROM imports WHERE file_id=?", (file_id,))}

    def _module_of(self, file_id: int) -> str:
        row = self.s.conn.execute(
            "SELECT qname FROM symbols WHERE file_id=? AND kind='module'", (file_id,)).fetchone()
        return row[0] if row else ""

    def _name(self, dotted: str, file_id: int, scope: str) -> str | None:
        """Qualified name a dotted expression refers to in a file: imports, then module level."""
        dotted = dotted.split("[")[0].strip()
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
            if self.s.ix.by_qname(qname):
                return qname
        return None

    def resolve(self, call: Row, caller: Row) -> Found:
        """Exact targets of one call site by Python scope rules."""
        s = self.s
        name, kind = call["name"], call["kind"]
        cls = s.enclosing_class(caller) if caller["kind"] != "module" else None
        if kind in ("self", "super") and cls:
            chain = s.chain(cls)
            for owner in chain[1:] if kind == "super" else chain:
                hits = s.rows(f"{owner}.{name}", CALLABLE_KINDS)
                if hits:
                    return Found(hits)
            return Found()
        if kind == "self_attr" and cls:
            owner = self.field_type(cls, call["receiver"])
            return Found(s.member(owner, name, CALLABLE_KINDS) if owner else [])
        if kind == "plain":
            for scope in (caller["qname"], caller["scope"] or ""):
                hits = s.rows(f"{scope}.{name}", CALLABLE_KINDS) if scope else []
                if hits:
                    return Found(hits)
            target = self.name(name, caller["file_id"], "")
            return Found(self.callable(target) if target else [])
        if kind == "attr":
            target = self.name(f"{call['receiver']}.{name}", caller["file_id"], "")
            if target:
                return Found(self.callable(target))
            owner = self.name(call["receiver"], caller["file_id"], "")
            if owner and s.rows(owner, ("class",)):
                return Found(s.member(owner, name, CALLABLE_KINDS))
        return Found()

    def field_type(self, cls: str, attr: str) -> str | None:
        """Class of `self.attr` in cls: the nearest class in cls's chain that gives the
        attribute a type (a subclass re-assigning it untyped does not hide the base's type)."""
        for owner in self.s.chain(cls):
            for f in self.s.rows(f"{owner}.{attr}", ("field",)):
                typed = self.name(f["type_text"], f["file_id"], "") if f["type_text"] else None
                if typed:
                    return typed
        return None

    def callable(self, qname: str) -> list[Row]:
        """A called qname: a function/method, or a class (its constructor, else the class)."""
        hits = self.s.rows(qname, CALLABLE_KINDS)
        if hits:
            return hits
        if self.s.rows(qname, ("class",)):
            return self.s.member(qname, "__init__", CALLABLE_KINDS) or self.s.rows(qname, ("class",))
        return []
