"""C++ call resolution: names looked up the way the compiler would, as far as stored facts allow.

Types come from what the extractor recorded as written (field types, parameter and local
types, `auto` initialisers); they are looked up from the caller's scope outwards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from codewalk.query.lookup import CALLABLE_KINDS, TYPE_KINDS
from codewalk.query.resolve.scope import Found, Row, Scope


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


# Names that are never project code when written unqualified: builtin types, casts, and the
# C library calls a C++ file makes without `std::`.
_PRIMITIVES = frozenset({
    "void", "bool", "char", "short", "int", "long", "float", "double", "unsigned", "signed",
    "size_t", "ssize_t", "int8_t", "int16_t", "int32_t", "int64_t", "uint8_t", "uint16_t",
    "uint32_t", "uint64_t", "intptr_t", "uintptr_t", "ptrdiff_t", "wchar_t", "char16_t",
    "char32_t", "half", "auto"})
_LANGUAGE_CALLS = frozenset({
    "static_cast", "dynamic_cast", "const_cast", "reinterpret_cast", "sizeof", "alignof",
    "decltype", "typeid", "static_assert", "noexcept", "offsetof"})
_STD_TYPES = frozenset({
    "vector", "string", "map", "unordered_map", "set", "unordered_set", "multimap", "multiset",
    "list", "forward_list", "deque", "queue", "priority_queue", "stack", "pair", "tuple",
    "shared_ptr", "unique_ptr", "weak_ptr", "optional", "function", "atomic", "mutex",
    "thread", "future", "promise", "condition_variable", "array", "string_view", "any",
    "variant", "bitset", "span", "lock_guard", "unique_lock", "shared_mutex", "istream",
    "ostream", "stringstream", "ostringstream", "istringstream", "ifstream", "ofstream"})
_POINTERS = ("shared_ptr", "unique_ptr", "weak_ptr", "optional")
# Members of std containers, strings, smart pointers, atomics, futures and streams.
STD_MEMBERS = frozenset("""
size empty begin end cbegin cend rbegin rend crbegin crend front back at data push_back
emplace_back pop_back push_front emplace_front pop_front insert emplace emplace_hint erase
clear find count contains lower_bound upper_bound equal_range reserve resize capacity
shrink_to_fit swap assign push pop top get reset release use_count lock expired load store
exchange fetch_add fetch_sub compare_exchange_weak compare_exchange_strong wait wait_for
wait_until notify_one notify_all valid share set_value set_exception get_future join detach
joinable unlock try_lock c_str substr append length compare starts_with ends_with str first
second value value_or has_value merge splice remove remove_if unique sort reverse max_size
key_comp value_comp bucket_count load_factor rehash what flush write read open close good
eof fail bad seekg tellg""".split())
_MAPS = ("map", "unordered_map", "multimap", "unordered_multimap", "flat_map")


_DERIVED = ("expr:", "each:", "elem:", "iter:", "of:", "iterof:")


@dataclass(frozen=True, slots=True)
class Val:
    """The static type of an expression: a type as written, the scope it was written in, and
    whether the value is an iterator over that (container) type."""

    text: str
    scope: str = ""
    iterator: bool = False


EXTERNAL = "external"  # sentinel class for values whose type is a library type


def _bare(type_text: str) -> str:
    """Drop cv-qualifiers, `typename`, references and surrounding space; keep pointers."""
    s = type_text
    for word in ("const ", "volatile ", "mutable ", "static ", "struct ", "class ", "typename ",
                 "constexpr ", "inline "):
        s = s.replace(word, "")
    return s.replace("&", "").strip()


def _args(type_text: str) -> list[str]:
    """Top-level template arguments of `X<A, B<C>>`: ['A', 'B<C>']."""
    lt = type_text.find("<")
    if lt < 0 or not type_text.endswith(">"):
        return []
    out, depth, start = [], 0, lt + 1
    for i in range(lt + 1, len(type_text) - 1):
        ch = type_text[i]
        depth += ch in "<(["
        depth -= ch in ">)]"
        if ch == "," and depth == 0:
            out.append(type_text[start:i].strip())
            start = i + 1
    out.append(type_text[start:-1].strip())
    return out


def _head(type_text: str) -> str:
    """`std::vector<int>` -> `vector` (last component of the name, template args dropped)."""
    return strip_templates(type_text).split("::")[-1]


class CppRules:
    """Scope rules for C++ call sites, and the static types of receiver expressions."""

    def __init__(self, scope: Scope) -> None:
        self.s = scope
        self.type = lru_cache(maxsize=None)(self._type)
        self.known_scope = lru_cache(maxsize=None)(self._known_scope)
        self.alias = lru_cache(maxsize=None)(self._alias)

    def _alias(self, name: str, scope: str) -> tuple[str, str] | None:
        """(aliased type, its scope) when `name` seen from scope is a `using`/`typedef`."""
        parts = scope.split("::") if scope else []
        for i in range(len(parts), -1, -1):
            qname = "::".join(parts[:i] + [name])
            if self.s.rows(qname, TYPE_KINDS):
                return None
            rows = self.s.rows(qname, ("alias",))
            if rows:
                return rows[0]["type_text"], rows[0]["scope"] or ""
        return None

    def unalias(self, val: Val | None) -> Val | None:
        """The value with aliases in its outermost type name replaced by what they stand for."""
        for _ in range(6):
            if val is None or val.iterator:
                return val
            bare = _bare(val.text)
            stars = len(bare) - len(bare.rstrip("*"))
            name = strip_templates(bare.rstrip("*").strip())
            if not name or name.split("::")[0] == "std":
                return val
            found = self.alias(name, val.scope)
            if found is None:
                return val
            val = Val(found[0] + "*" * stars, found[1])
        return val

    # ---- types -------------------------------------------------------------------------
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

    def _known_scope(self, name: str) -> bool:
        """Whether a namespace or class called `name` exists anywhere in the project."""
        return any(r["kind"] in ("namespace",) + TYPE_KINDS and r["language"] == "cpp"
                   for r in self.s.ix.by_name(name))

    def is_library(self, type_text: str, scope: str = "") -> bool:
        """A type the project does not define: std::/builtin types, and qualified names whose
        first namespace is none of the project's (`fmt::`, `nlohmann::`, `torch::`)."""
        bare = _bare(type_text).rstrip("*").strip()
        name = strip_templates(bare)
        if not name or name in _PRIMITIVES or name.split(" ")[-1] in _PRIMITIVES:
            return True
        first = name.split("::")[0]
        if first in ("std", "") and "::" in name:
            return True
        if self.type(bare, scope):
            return False
        if "::" in name:
            return not self.known_scope(first)
        return name in _STD_TYPES

    def klass(self, val: Val | None) -> str | None:
        """Project class of a value (None: unknown), or EXTERNAL for a library type."""
        val = self.unalias(val)
        if val is None or val.iterator:
            return EXTERNAL if val is not None else None
        bare = _bare(val.text)
        if bare.endswith("*"):
            return None  # `.` on a pointer: not a call a compiler accepts; say nothing
        found = self.type(bare, val.scope)
        if found:
            return found
        return EXTERNAL if self.is_library(bare, val.scope) else None

    def deref(self, val: Val | None) -> Val | None:
        """What `->` / unary `*` reach: the pointee of a pointer or smart pointer, the element
        an iterator points at; a project class's own `operator->` is followed by its return type."""
        val = self.unalias(val)
        if val is None:
            return None
        if val.iterator:
            return self.element(Val(val.text, val.scope))
        bare = _bare(val.text)
        if bare.endswith("*"):
            return Val(bare[:-1].strip(), val.scope)
        if _head(bare) in _POINTERS and bare.split("<")[0].split("::")[0] in ("std", _head(bare)):
            args = _args(bare)
            return Val(args[0], val.scope) if args else None
        owner = self.klass(val)
        if owner and owner != EXTERNAL:
            ops = self.s.member(owner, "operator->", CALLABLE_KINDS)
            if ops and ops[0]["type_text"]:
                return Val(ops[0]["type_text"], ops[0]["scope"] or "")
        # A pointer whose `*` the recorded type lost (a typedef'd pointer, a declarator we
        # did not read): the class itself is still what `->` reaches.
        return val if owner else None

    def element(self, val: Val | None) -> Val | None:
        """Element type of a container value (maps give `std::pair<K, V>`)."""
        val = self.unalias(val)
        if val is None:
            return None
        bare = _bare(val.text)
        head, args = _head(bare), _args(bare)
        if head in _MAPS and len(args) >= 2:
            return Val(f"std::pair<{args[0]}, {args[1]}>", val.scope)
        elem = element(bare)
        return Val(elem, val.scope) if elem else None

    def field(self, val: Val | None, name: str) -> Val | None:
        """Type of member `name` of a value: project fields through bases; pair's first/second."""
        val = self.unalias(val)
        if val is None:
            return None
        bare = _bare(val.text)
        if _head(bare) == "pair" and name in ("first", "second"):
            args = _args(bare)
            return Val(args[0 if name == "first" else 1], val.scope) if len(args) == 2 else None
        owner = self.klass(val)
        if not owner or owner == EXTERNAL:
            return None
        fields = self.s.member(owner, name, ("field",))
        if not fields or not fields[0]["type_text"]:
            return None
        return self.bind(Val(fields[0]["type_text"], fields[0]["scope"] or ""), owner, val)

    def bind(self, found: Val | None, owner: str, val: Val) -> Val | None:
        """A member's type with template parameters replaced: those of `owner` by the arguments
        `val` was written with (`Singleton<Env>`), those of a templated base by the arguments
        the derived class names it with (`: BaseCacheManager<Block, Request>`)."""
        if found is None:
            return None
        text = found.text
        args = _args(_bare(val.text).rstrip("*").strip())
        text = self._substitute(text, owner, args)
        for row in self.s.rows(owner, TYPE_KINDS):
            for base in filter(None, (row["bases"] or "").split("\n")):
                if "<" in base:
                    qname = self.type(base, row["scope"] or "")
                    if qname and qname == found.scope:
                        text = self._substitute(text, qname, _args(base.strip()))
        return Val(text, found.scope) if text == found.text else Val(text, owner)

    def _substitute(self, text: str, klass: str, args: list[str]) -> str:
        rows = self.s.rows(klass, TYPE_KINDS)
        params = [p for p in (rows[0]["type_text"] or "").split(",") if p] if rows else []
        if not params or len(params) != len(args):
            return text
        for param, arg in zip(params, args):
            text = re.sub(rf"\b{re.escape(param)}\b", arg, text)
        return text

    def returns(self, rows: list[Row]) -> Val | None:
        """Static type of calling one of rows: the return type, or the class for a constructor."""
        for r in rows:
            if r["kind"] in TYPE_KINDS:
                return Val(r["qname"], "")
            if r["kind"] == "constructor":
                return Val(r["scope"] or "", "")
            if r["type_text"]:
                return Val(r["type_text"], r["scope"] or "")
        return None

    def subscript(self, val: Val | None) -> Val | None:
        """`v[i]`: pointee of a pointer, element of a sequence, mapped value of a map."""
        val = self.unalias(val)
        if val is None:
            return None
        bare = _bare(val.text)
        if bare.endswith("*"):
            return Val(bare[:-1].strip(), val.scope)
        head, args = _head(bare), _args(bare)
        if head in _MAPS and len(args) >= 2:
            return Val(args[1], val.scope)
        elem = element(bare)
        if elem:
            return Val(elem, val.scope)
        owner = self.klass(val)
        if owner and owner != EXTERNAL:
            return self.returns(self.s.member(owner, "operator[]", CALLABLE_KINDS))
        return None

    def library_call(self, val: Val, name: str) -> Val | None:
        """Result of the std members that hand back what a container or pointer holds
        (`find`/`begin` iterators, `front`/`at` elements, `get`/`lock`/`value` pointees);
        None for anything else (its type is not followed)."""
        if val.iterator:
            return None
        bare = _bare(val.text)
        head, args = _head(bare), _args(bare)
        if name in ("find", "begin", "end", "cbegin", "cend", "rbegin", "rend", "lower_bound",
                    "upper_bound"):
            return Val(val.text, val.scope, iterator=True)
        if name in ("front", "back", "top"):
            return self.element(val)
        if name == "at":
            return Val(args[1], val.scope) if head in _MAPS and len(args) >= 2 else self.element(val)
        if name in ("get", "value", "lock") and head in _POINTERS and args:
            return Val(args[0] + ("*" if name == "get" else ""), val.scope) if name == "get" \
                else Val(f"std::shared_ptr<{args[0]}>" if name == "lock" else args[0], val.scope)
        return None

    def member_call(self, val: Val | None, name: str) -> Val | None:
        """Static type of `val.name()`: the member's return type, template parameters of the
        owner replaced by the arguments the value's type was written with."""
        owner = self.klass(val)
        if owner == EXTERNAL:
            return self.library_call(self.unalias(val), name)
        if not owner or val is None:
            return None
        return self.bind(self.returns(self.s.member(owner, name, CALLABLE_KINDS)), owner,
                         self.unalias(val) or val)

    # ---- receiver expressions ----------------------------------------------------------
    def info(self, info: str, cls: str | None, scope: str) -> Val | None:
        """Value of a local or parameter from the type info the extractor recorded: a type as
        written, `elem:a.b` / `iter:a.b` (element of / iterator over the container reached
        through member fields a, b), `of:T` / `iterof:T` (the same for a local's own type T),
        `expr:<tokens>` (an `auto` initialiser, evaluated like a receiver); '?' is unknown."""
        if not info or info == "?":
            return None
        if info.startswith("expr:"):
            return self.evaluate(info[5:].split("\t"), "", cls, scope)
        if info.startswith("each:"):
            return self.element(self.evaluate(info[5:].split("\t"), "", cls, scope))
        if info.startswith(("of:", "iterof:")):
            inner = info.split(":", 1)[1]
            val = self.info(inner, cls, scope) if inner.startswith(_DERIVED) else Val(inner, scope)
            if val is None:
                return None
            return self.element(val) if info[0] == "o" else Val(val.text, val.scope, iterator=True)
        if info.startswith(("elem:", "iter:")):
            parts = info.split(":", 1)[1].split(".")
            if parts[0] == "this":
                parts = parts[1:]
            val: Val | None = Val(cls, "") if cls else None
            for part in parts:  # the path was written `a->b.c`: pointers are crossed as needed
                val = self.field(val, part) or self.field(self.deref(val), part)
            if val is None:
                return None
            return Val(val.text, val.scope, iterator=True) if info[0] == "i" else self.element(val)
        return Val(info, scope)

    def evaluate(self, tokens: list[str], root_info: str, cls: str | None, scope: str) -> Val | None:
        """Static type of a receiver expression encoded by the extractor (see index/cpp._expr)."""
        if not tokens:
            return None
        root, steps = tokens[0], tokens[1:]
        val: Val | None
        if root == "this":
            val = Val(cls + "*", "") if cls else None
        elif root.startswith("L:"):
            val = self.info(root[2:], cls, scope)
        elif root.startswith("T:"):
            val = Val(root[2:], scope)
        elif root.startswith("Q:") and "<" in root.rpartition("::")[0]:
            # `Singleton<Env>::GetInstance()`: a member of a class template instance
            qualifier, _, name = root[2:-2].rpartition("::")
            val = self.member_call(Val(qualifier, scope), name)
        elif root.startswith(("F:", "Q:")):
            qualifier, _, name = root[2:-2].rpartition("::")
            kind = "qualified" if root[0] == "Q" else "plain"
            found = self.lookup(kind, name, qualifier, cls, scope)
            # What a library function returns is a library value: calls on it stay external.
            val = self.returns(found.targets) if not found.external else Val("std::__result")
        elif root_info:
            val = self.info(root_info, cls, scope)
        else:  # a member field of the enclosing class (implicit this)
            val = self.field(Val(cls, ""), root) if cls else None
        for step in steps:
            if val is None:
                return None
            if step == "[]":
                val = self.subscript(val)
            elif step == "*":
                val = self.deref(val)
            else:
                arrow = step.startswith("->")
                name = step[2:] if arrow else step[1:]
                if arrow:
                    val = self.deref(val)
                if name.endswith("()"):
                    val = self.member_call(val, name[:-2])
                else:
                    val = self.field(val, name)
        return val

    # ---- call sites --------------------------------------------------------------------
    def lookup(self, kind: str, name: str, qualifier: str, cls: str | None, scope: str) -> Found:
        """A plain (`f()`) or qualified (`A::f()`) name as the compiler finds it from scope."""
        s = self.s
        parts = scope.split("::") if scope else []
        if kind == "plain":
            if cls:
                hits = s.member(cls, name, CALLABLE_KINDS)
                if hits:
                    return Found(hits)
                if s.member(cls, name, ("field",)):  # a std::function / pointer member called
                    return Found(external="callable member field", guess=False)
            for i in range(len(parts), -1, -1):
                qname = "::".join(parts[:i] + [name])
                hits = s.rows(qname, CALLABLE_KINDS)
                if hits:
                    return Found(hits)
                if s.rows(qname, TYPE_KINDS):  # `Status(code, msg)`: a constructor call
                    return Found(s.rows(f"{qname}::{name}", CALLABLE_KINDS) or s.rows(qname, TYPE_KINDS))
            if name in _LANGUAGE_CALLS:
                return Found(external="language", guess=False)
            return Found()
        if qualifier.split("::")[0] in ("std", ""):
            if qualifier.startswith("std") or not qualifier:
                return Found(external=f"{qualifier}::{name}" if qualifier else name, guess=False)
        owner = self.type(qualifier, scope)
        if owner:
            hits = s.member(owner, name, CALLABLE_KINDS)
            if not hits and s.rows(f"{owner}::{name}", TYPE_KINDS):  # `A::B(...)`: nested class
                hits = s.rows(f"{owner}::{name}::{name}", CALLABLE_KINDS)
            return Found(hits, guess=not hits and self._open_chain(owner))
        for i in range(len(parts), -1, -1):
            qname = "::".join(parts[:i] + [qualifier, name])
            hits = s.rows(qname, CALLABLE_KINDS)
            if hits:
                return Found(hits)
            if s.rows(qname, TYPE_KINDS):
                return Found(s.rows(f"{qname}::{name}", CALLABLE_KINDS) or s.rows(qname, TYPE_KINDS))
        first = strip_templates(qualifier).split("::")[0]
        if not self.known_scope(first):
            return Found(external=f"{qualifier}::{name}", guess=False)
        return Found()

    def _open_chain(self, cls: str) -> bool:
        """Whether some base of cls could not be found (a guess may then still be right)."""
        for owner in self.s.chain(cls):
            for row in self.s.rows(owner, TYPE_KINDS):
                for base in filter(None, (row["bases"] or "").split("\n")):
                    if not self.type(base, row["scope"] or "") and not self.is_library(base):
                        return True
        return False

    def resolve(self, call: Row, caller: Row) -> Found:
        """Exact targets of one call site by C++ scope rules."""
        s = self.s
        name, kind = call["name"], call["kind"]
        cls = s.enclosing_class(caller)
        scope = caller["scope"] or ""
        if kind == "this" and cls:
            hits = s.member(cls, name, CALLABLE_KINDS)
            return Found(hits, guess=not hits and self._open_chain(cls))
        if kind in ("plain", "qualified"):
            return self.lookup(kind, name, call["qualifier"] or "", cls, scope)
        if kind == "member":
            tokens = (call["receiver"] or "").split("\t")
            if len(tokens) < 2:
                return Found()
            val = self.evaluate(tokens[:-1], call["qualifier"] or "", cls, scope)
            if tokens[-1] == "->":
                val = self.deref(val)
            owner = self.klass(val)
            if owner == EXTERNAL:
                return Found(external=_bare(val.text) if val else "library", guess=False)
            if owner:
                hits = s.member(owner, name, CALLABLE_KINDS)
                return Found(hits, guess=not hits and self._open_chain(owner))
            # Unknown receiver: a name the std containers, strings and smart pointers have is
            # far more often one of theirs than a project method that happens to share it.
            return Found(guess=name not in STD_MEMBERS)
        if kind == "init" and cls:
            if call["qualifier"]:
                owner = self.type(f"{call['qualifier']}::{name}", scope)
            else:
                owner = next((b for b in s.chain(cls)[1:] if b.split("::")[-1] == name), None)
            if owner:
                return Found(s.rows(f"{owner}::{name}", CALLABLE_KINDS) or s.rows(owner, TYPE_KINDS))
            val = self.field(Val(cls, ""), name)
            target = self.klass(val)
            if target == EXTERNAL:
                return Found(external=_bare(val.text) if val else "library", guess=False)
            if target:
                tail = target.split("::")[-1]
                return Found(s.rows(f"{target}::{tail}", CALLABLE_KINDS) or s.rows(target, TYPE_KINDS))
            return Found(guess=False)
        if kind == "new":
            owner = self.type(call["qualifier"], scope)
            if owner:  # constructors are not inherited; a class without one is its own target
                return Found(s.rows(f"{owner}::{name}", CALLABLE_KINDS) or s.rows(owner, TYPE_KINDS))
            if self.is_library(call["qualifier"], scope):
                return Found(external=call["qualifier"], guess=False)
        return Found()
