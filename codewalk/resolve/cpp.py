"""C++ call resolution: names looked up the way the compiler would, as far as stored facts allow.

Types come from what the extractor recorded as written (field types, parameter and local
types, `auto` initialisers); they are looked up from the caller's scope outwards.
"""

from __future__ import annotations

from functools import lru_cache

from codewalk.lookup import CALLABLE_KINDS, TYPE_KINDS
from codewalk.resolve.scope import Found, Row, Scope


def strip_templates(text: str) -> str:
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


def pointee(type_text: str) -> str:
    """The class a value of this type gives access to: `std::shared_ptr<X>`, `const X*`, `X&` -> X."""
    from_ptr = type_text
    for word in ("const ", "volatile ", "mutable ", "static ", "struct ", "class "):
        from_ptr = from_ptr.replace(word, "")
    from_ptr = from_ptr.strip().rstrip("*& ")
    lt = from_ptr.find("<")
    if lt > 0 and from_ptr.endswith(">"):
        head = from_ptr[:lt].split("::")[-1]
        if head in ("shared_ptr", "unique_ptr", "weak_ptr", "optional", "atomic"):
            return pointee(from_ptr[lt + 1:-1].split(",")[0])
    return strip_templates(from_ptr)


_SEQUENCES = ("vector", "list", "deque", "set", "unordered_set", "multiset", "forward_list",
              "array", "span", "queue", "priority_queue", "stack")


def element(type_text: str) -> str:
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


class CppRules:
    """Scope rules for C++ call sites."""

    def __init__(self, scope: Scope) -> None:
        self.s = scope
        self.type = lru_cache(maxsize=None)(self._type)

    def _type(self, text: str, scope: str) -> str | None:
        """A type name as seen from scope: innermost enclosing namespace/class first."""
        name = strip_templates(text)
        if not name:
            return None
        parts = scope.split("::") if scope else []
        for i in range(len(parts), -1, -1):
            qname = "::".join(parts[:i] + [name])
            if self.s.rows(qname, TYPE_KINDS):
                return qname
        last = name.split("::")[-1]
        hits = {r["qname"] for r in self.s.ix.by_name(last) if r["kind"] in TYPE_KINDS
                and r["language"] == "cpp" and r["qname"].endswith(name)}
        return hits.pop() if len(hits) == 1 else None

    def resolve(self, call: Row, caller: Row) -> Found:
        """Exact targets of one call site by C++ scope rules."""
        s = self.s
        name, kind = call["name"], call["kind"]
        cls = s.enclosing_class(caller)
        scope = caller["scope"] or ""
        if kind in ("plain", "this") and cls:
            hits = s.member(cls, name, CALLABLE_KINDS)
            if hits or kind == "this":
                return Found(hits)
        if kind == "plain":
            parts = scope.split("::") if scope else []
            for i in range(len(parts), -1, -1):
                hits = s.rows("::".join(parts[:i] + [name]), CALLABLE_KINDS)
                if hits:
                    return Found(hits)
            return Found()
        if kind == "qualified":
            owner = self.type(call["qualifier"], scope)
            if owner:
                return Found(s.member(owner, name, CALLABLE_KINDS))
            parts = scope.split("::") if scope else []
            for i in range(len(parts), -1, -1):
                hits = s.rows("::".join(parts[:i] + [call["qualifier"], name]), CALLABLE_KINDS)
                if hits:
                    return Found(hits)
            return Found()
        if kind == "member" and call["qualifier"]:  # a local or parameter: its recorded type
            owner = self.local_type(call["qualifier"], cls, scope)
            return Found(s.member(owner, name, CALLABLE_KINDS) if owner else [])
        if kind == "member" and call["receiver"] and cls:
            fields = s.member(cls, call["receiver"], ("field",))
            if fields:
                owner = self.type(pointee(fields[0]["type_text"]), fields[0]["scope"] or "")
                if owner:
                    return Found(s.member(owner, name, CALLABLE_KINDS))
        if kind == "new":
            owner = self.type(call["qualifier"], scope)
            if owner:  # constructors are not inherited; a class without one is its own target
                return Found(s.rows(f"{owner}::{name}", CALLABLE_KINDS) or s.rows(owner, TYPE_KINDS))
        return Found()

    def local_type(self, info: str, cls: str | None, scope: str) -> str | None:
        """Class of a local/parameter from the type info the extractor recorded: a type as
        written (seen from the function's scope), `elem:a.b` — the element type of the
        container reached through member fields a, b of the enclosing class — or `of:T`, the
        element type of container type T; '?' (and iterators) are unknown."""
        if info == "?" or info.startswith(("iter:", "iterof:")):
            return None
        if info.startswith("of:"):  # element of a local's own container type
            elem = element(info[3:])
            return self.type(pointee(elem), scope) if elem else None
        if not info.startswith("elem:"):
            return self.type(pointee(info), scope)
        parts = info[5:].split(".")
        if parts[0] == "this":
            parts = parts[1:]
        owner, type_text, type_scope = cls, "", scope
        for part in parts:
            if not owner:
                return None
            fields = self.s.member(owner, part, ("field",))
            if not fields:
                return None
            type_text, type_scope = fields[0]["type_text"], fields[0]["scope"] or ""
            owner = self.type(pointee(type_text), type_scope)
        elem = element(type_text)
        return self.type(pointee(elem), type_scope) if elem else None
