"""The values Python expressions evaluate to, and the pure rules over them (unions,
`a or b`, builtin containers' methods, what an annotation's head names). python_types.py
evaluates expressions to these."""

from __future__ import annotations

import ast
import builtins
import collections
from dataclasses import dataclass
from functools import lru_cache

Ctx = tuple[int, str, str]  # (file id, enclosing class qname or '', caller qname or '')


@dataclass(frozen=True, slots=True)
class Val:
    """What an expression is. kind: inst | cls | mod | func | ext | seq | map | tup |
    bmeth | super | none. `name`: a qname (inst, cls, mod, func), a library name (ext), the
    container's type name (seq, map, tup) or the method name (bmeth). `args`: element values
    (seq: elem; map: key, value; tup: items), a bound method's receiver, a bmeth's container."""

    kind: str
    name: str = ""
    args: tuple[Val | None, ...] = ()


NONE = Val("none")
MISSING = Val("missing")  # a known class without that member: no guess may contradict it

_SEQ = frozenset(("list", "List", "Sequence", "MutableSequence", "Iterable", "Iterator",
                  "Generator", "AsyncIterator", "AsyncIterable", "AsyncGenerator", "Collection",
                  "set", "Set", "frozenset", "FrozenSet", "AbstractSet", "MutableSet", "deque",
                  "Deque", "KeysView", "ValuesView", "Reversible"))
_MAP = frozenset(("dict", "Dict", "Mapping", "MutableMapping", "defaultdict", "DefaultDict",
                  "OrderedDict", "Counter", "ChainMap"))
_WRAP = frozenset(("Optional", "ClassVar", "Final", "Annotated", "Required", "NotRequired",
                   "ReadOnly", "Awaitable", "TypeGuard"))
_TRANSPARENT = frozenset(("Any", "object", "TypeVar", "Callable"))
_BUILTIN_SCALARS = frozenset(("str", "int", "float", "bool", "bytes", "bytearray", "complex",
                              "memoryview", "range", "slice", "type", "object"))
BUILTINS = frozenset(dir(builtins))
# Library modules whose functions hand back values of any type (often the caller's own).
_GENERIC_STDLIB = frozenset(("builtins", "functools", "itertools", "heapq", "operator", "copy",
                             "dataclasses", "typing", "typing_extensions", "contextlib",
                             "weakref", "collections", "bisect", "abc", "pickle", "inspect",
                             "queue", "asyncio", "concurrent", "threading", "cloudpickle",
                             "msgspec"))


def parse(expr: str) -> ast.expr | None:
    """An expression's tree, None when it is not one (a truncated or odd rendering)."""
    try:
        return ast.parse(expr, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


parse_cached = lru_cache(maxsize=65536)(parse)


def last_name(name: str) -> str:
    return name.rpartition(".")[2]


OVERLOAD = "@overload "  # matches codewalk.index.python.OVERLOAD (the index stays import-free here)


def instance(head: Val | None) -> Val | None:
    """A value of the type `head` names."""
    if head is None:
        return None
    if head.kind == "cls":
        return Val("inst", head.name)
    if head.kind != "ext":
        return None
    last = last_name(head.name)
    if last in _TRANSPARENT or last == "Self":
        return None
    if head.name.startswith(("builtins.", "typing.", "collections.")):
        if last in _SEQ:
            return Val("seq", last, (None,))
        if last in _MAP:
            return Val("map", last, (None, None))
        if last in ("tuple", "Tuple"):
            return Val("seq", "tuple", (None,))
        if head.name.startswith("typing."):
            return None
    return head


def union(parts: list[Val | None]) -> Val | None:
    """One type when all non-None alternatives agree; a `union` of classes
    (`SamplingParams | PoolingParams`, `Output | Future[Output]`); else unknown."""
    vals: set[Val] = set()
    for p in parts:
        if p is not None and p.kind == "union":
            vals.update(p.args)
        elif p != NONE:
            vals.add(p)  # type: ignore[arg-type]
    if len(vals) == 1:
        return vals.pop()
    if vals and None not in vals and (all(v.kind in ("inst", "ext") for v in vals) or
                                      all(v.kind == "cls" for v in vals)):
        return Val("union", "", tuple(sorted(vals, key=lambda v: v.name)))
    return None


def either(a: Val | None, b: Val | None) -> Val | None:
    """`a or b`: one value when both sides agree (a literal None or an empty container
    literal gives way to the other side); unknown when either side is."""
    if a is None or b is None:
        return None
    vals = [v for v in (a, b) if v != NONE]
    if len(vals) < 2:
        return vals[0] if vals else NONE
    a, b = vals
    if a == b:
        return a
    if a.kind == b.kind and a.kind in ("seq", "map"):
        return b if all(x is None for x in a.args) else a
    return union([a, b])


def library_has(name: str, attr: str) -> bool:
    """Whether builtin/collections class `name` has attr (other libraries: unknown, False)."""
    module, _, cls = name.rpartition(".")
    if module not in ("builtins", "collections", "collections.abc"):
        return False
    import collections.abc as abc_module
    owner = {"builtins": builtins, "collections": collections,
             "collections.abc": abc_module}[module]
    return hasattr(getattr(owner, cls, None), attr)


def container_method(container: Val | None, method: str) -> Val | None:
    """Result of a builtin container's method that hands back its elements."""
    if container is None:
        return None
    if container.kind == "map":
        key, value = container.args
        if method in ("get", "pop", "setdefault", "__getitem__"):
            return value
        if method == "values":
            return Val("seq", "values", (value,))
        if method == "keys":
            return Val("seq", "keys", (key,))
        if method == "items":
            return Val("seq", "items", (Val("tup", "tuple", (key, value)),))
        if method == "popitem":
            return Val("tup", "tuple", (key, value))
    if container.kind == "seq":
        if method in ("pop", "popleft", "__getitem__"):
            return container.args[0]
    if method == "copy":
        return container
    return Val("ext", f"{container.name}.{method}()")
