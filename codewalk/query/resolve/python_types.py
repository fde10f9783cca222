"""Values of Python expressions, computed from stored facts, for call resolution.

The extractor records each callee as an expression with locals already replaced by what
they hold (see codewalk/index/python_locals.py): `self.kv.allocate`, `_elem_(self.running).step`,
`(make_pool()).free`. This module evaluates such expressions to a `Val`: a project class, an
instance of one, a module, a function, a builtin container with its element types, or
something outside the project (`ext`). Types come from annotations (parameters, return
types, attributes) and from the values attributes are assigned; nothing is guessed.
"""

from __future__ import annotations

import ast
from functools import lru_cache

from codewalk.query.resolve.python_values import (
    _BUILTIN_SCALARS, _GENERIC_STDLIB, _MAP, _SEQ, _TRANSPARENT, _WRAP, BUILTINS, MISSING, NONE,
    OVERLOAD, Ctx, Val, container_method, either, instance, last_name, library_has, parse,
    parse_cached, union)

__all__ = ["Evaluator", "MISSING", "NONE", "OVERLOAD", "Val", "parse"]

class Evaluator:
    """Evaluates callee expressions for one PyRules (memoised per process)."""

    def __init__(self, rules) -> None:  # rules: PyRules (circular import avoided)
        self.r = rules
        self.s = rules.s
        self.field_type = lru_cache(maxsize=None)(self._field_type)
        self.returns = lru_cache(maxsize=None)(self._returns)
        self.expr = lru_cache(maxsize=None)(self._expr)
        self._depth = 0
        self._active: set[str] = set()  # fields and returns being evaluated (cycle guard)

    def _expr(self, text: str, ctx: Ctx) -> Val | None:
        node = parse_cached(text)
        return None if node is None else self.eval(node, ctx)

    def eval(self, node: ast.expr, ctx: Ctx) -> Val | None:
        """Value of an expression node in a context; None when unknown."""
        if self._depth > 40:
            return None  # pathological nesting or a cycle through attribute types
        self._depth += 1
        try:
            return self._eval(node, ctx)
        finally:
            self._depth -= 1

    def _eval(self, node: ast.expr, ctx: Ctx) -> Val | None:
        if isinstance(node, ast.Name):
            return self.name(node.id, ctx)
        if isinstance(node, ast.Attribute):
            base = self.eval(node.value, ctx)
            got = self.attribute(base, node.attr) if base is not None else None
            return None if got is MISSING else got
        if isinstance(node, ast.Call):
            return self.call(node, ctx)
        if isinstance(node, ast.Subscript):
            return self.item(self.eval(node.value, ctx), node.slice)
        if isinstance(node, ast.Constant):
            if node.value is None:
                return NONE
            return Val("ext", type(node.value).__name__)
        if isinstance(node, (ast.List, ast.ListComp)):
            return Val("seq", "list", (None,))
        if isinstance(node, (ast.Dict, ast.DictComp)):
            return Val("map", "dict", (None, None))
        if isinstance(node, (ast.Set, ast.SetComp)):
            return Val("seq", "set", (None,))
        if isinstance(node, ast.Tuple):
            return Val("tup", "tuple", tuple(self.eval(e, ctx) for e in node.elts))
        if isinstance(node, ast.JoinedStr):
            return Val("ext", "str")
        return None

    # ---- names ------------------------------------------------------------------------
    def name(self, ident: str, ctx: Ctx) -> Val | None:
        """A bare name: self/cls, functions nested in the caller, imports, module level,
        builtins. Class bodies are not scopes of their methods: a plain `get()` inside a
        method never means the method `get`."""
        file_id, cls, scope = ctx
        if ident == "self" and cls:
            return Val("inst", cls)
        if ident == "cls" and cls:
            return Val("cls", cls)
        if ident == "_unk_":
            return None
        hit = self.r.global_name(ident, file_id, scope)
        if hit is not None:
            return self.qname(hit)
        if ident == "super":
            return Val("ext", "builtins.super")
        if ident in BUILTINS:
            return Val("ext", f"builtins.{ident}")
        return None

    def qname(self, q: str, depth: int = 0) -> Val | None:
        """A dotted absolute name: a project symbol, a re-export, or a library name."""
        kinds = self.r.kinds(q)
        if "class" in kinds:
            return Val("cls", q)
        if kinds & {"function", "method", "constructor"}:
            return Val("func", q)
        if "module" in kinds:
            return Val("mod", q)
        if "field" in kinds:  # an annotated module-level variable
            return self.field_type(q, "")
        head, _, last = q.rpartition(".")
        if head and depth < 6:
            again = self.r.reexport(head, last)
            if again is not None and again != q:
                return self.qname(again, depth + 1)
            if "class" in self.r.kinds(head):
                got = self.member(Val("cls", head), last)
                return None if got is MISSING else got
        if not self.r.in_project(q):
            return Val("ext", q)
        return None

    # ---- attributes -------------------------------------------------------------------
    def attribute(self, base: Val, attr: str) -> Val | None:
        """`base.attr`; MISSING when base is a known project class without it."""
        kind = base.kind
        if kind in ("inst", "cls", "super"):
            return self.member(base, attr)
        if kind == "mod":
            return self.qname(f"{base.name}.{attr}")
        if kind == "func":  # a method read without a call in a receiver: a property
            value = self.call_value(base, ())
            return self.attribute(value, attr) if value is not None else None
        if kind == "ext":
            return Val("ext", f"{base.name}.{attr}")
        if kind in ("seq", "map", "tup"):
            return Val("bmeth", attr, (base,))
        if kind == "union":  # the classes that have attr; unknown if any can't tell
            got = [self.attribute(v, attr) for v in base.args if v is not None]
            known = [g for g in got if g is not MISSING]
            if None in known or len(got) < len(base.args):
                return None
            if not known:
                return MISSING
            funcs = [g for g in known if g.kind == "func"]
            if funcs and all(g.kind in ("func", "ext") for g in known):
                known = funcs  # a library base's unknown members give way to project methods
            distinct = tuple(dict.fromkeys(known))
            return distinct[0] if len(distinct) == 1 else Val("union", "", distinct)
        return None

    def member(self, base: Val, attr: str) -> Val | None:
        """Member of a class or instance along the MRO (after the class for super())."""
        order = self.r.full_mro(base.name)
        if base.kind == "super":
            order = order[1:]
        untyped = False
        for owner in order:
            if owner.startswith("ext:"):
                if library_has(owner[4:], attr):
                    return Val("ext", f"{owner[4:]}.{attr}")
                continue
            q = f"{owner}.{attr}"
            kinds = self.r.kinds(q)
            if not kinds:
                continue
            if kinds & {"function", "method", "constructor"}:
                bound = Val("inst", base.name) if base.kind != "cls" else None
                return Val("func", q, (bound,))
            if "class" in kinds:
                return Val("cls", q)
            if "field" in kinds:
                typed = self.field_type(q, owner)
                if typed is not None:
                    return typed
                untyped = True
        if untyped:
            return None
        outside = self.r.external_base(base.name)
        if outside:
            return Val("ext", f"{outside}.{attr}")
        return MISSING

    def _field_type(self, q: str, owner: str) -> Val | None:
        """Type of an attribute: its annotation, else the value every assignment agrees on."""
        if q in self._active:
            return None  # `self.a = self.a.next()`: the attribute's own type is not news
        self._active.add(q)
        try:
            return self._field_value(q, owner)
        finally:
            self._active.discard(q)

    def _field_value(self, q: str, owner: str) -> Val | None:
        for row in self.s.rows(q, ("field",)):
            text = row["type_text"] or ""
            ctx = (row["file_id"], owner, owner)
            if text and not text.startswith("="):
                return self.annotation(parse_cached(text), ctx)
            values = {self.expr(v[1:], ctx) for v in text.split("\n") if v.startswith("=")}
            values.discard(None)
            values.discard(NONE)
            if len(values) == 1:
                return values.pop()
        return None

    # ---- calls, items, iteration --------------------------------------------------------
    def call(self, node: ast.Call, ctx: Ctx) -> Val | None:
        fn = node.func
        if isinstance(fn, ast.Name):
            if fn.id == "_ann_" and node.args:
                return self.annotation(node.args[0], ctx)
            if fn.id == "_or_" and len(node.args) == 2:
                return either(self.eval(node.args[0], ctx), self.eval(node.args[1], ctx))
            if fn.id in ("_elem_", "_enter_", "_seq_") and node.args:
                inner = self.eval(node.args[0], ctx)
                if fn.id == "_seq_":
                    return Val("seq", "list", (inner,))
                return self.element(inner) if fn.id == "_elem_" else self.enter(inner)
            if fn.id == "super" and ctx[1]:
                return Val("super", ctx[1])
        callee = self.eval(fn, ctx)
        if callee is None:
            return None
        return self.call_value(callee, tuple(node.args), ctx)

    def call_value(self, callee: Val, args: tuple, ctx: Ctx | None = None) -> Val | None:
        """What calling callee returns."""
        kind = callee.kind
        if kind == "func":
            bound = callee.args[0] if callee.args else None
            return self.returns(callee.name, bound)
        if kind == "cls":
            return Val("inst", callee.name)
        if kind == "ext":
            return self.library_call(callee.name, args, ctx)
        if kind == "bmeth":
            return container_method(callee.args[0], callee.name)
        if kind == "union":
            results = {self.call_value(v, args, ctx) for v in callee.args if v is not None}
            return union(list(results)) if None not in results else None
        if kind == "inst":
            got = self.member(callee, "__call__")
            return self.call_value(got, ()) if got is not None and got.kind == "func" else None
        return None

    def library_call(self, name: str, args: tuple, ctx: Ctx | None) -> Val | None:
        """Builtins whose result type follows from their arguments; other library calls
        give a library value (third-party) or nothing known (stdlib: too generic to say)."""
        last = last_name(name)
        arg = self.eval(args[0], ctx) if args and ctx is not None else None
        if name.startswith(("builtins.", "collections.", "typing.", "copy.", "dataclasses.")):
            if last in ("list", "tuple", "set", "frozenset", "sorted", "reversed", "deque",
                        "iter", "filter"):
                return Val("seq", last, (self.element(arg),))
            if last in ("dict", "defaultdict", "OrderedDict", "Counter"):
                return Val("map", last, (None, None))
            if last == "next":
                return self.element(arg)
            if last in ("min", "max"):
                return self.element(arg) if len(args) == 1 else arg
            if last == "enumerate":
                return Val("seq", "enumerate", (Val("tup", "tuple", (Val("ext", "int"),
                                                                     self.element(arg))),))
            if last == "zip" and ctx is not None:
                items = tuple(self.element(self.eval(a, ctx)) for a in args)
                return Val("seq", "zip", (Val("tup", "tuple", items),))
            if last == "cast" and len(args) == 2 and ctx is not None:
                return self.annotation(args[0], ctx)
            if last in ("copy", "deepcopy", "replace"):
                return arg
            if last == "type" and arg is not None and arg.kind == "inst":
                return Val("cls", arg.name)
            if last in _BUILTIN_SCALARS:
                return Val("ext", last)
        if last[:1].isupper():
            return Val("ext", name)  # an instance of a library class (`threading.Event()`)
        if name.split(".")[0] in _GENERIC_STDLIB:
            return None  # functools.reduce, heapq.heappop, ...: the result can be anything
        return Val("ext", f"{name}()")

    def _returns(self, q: str, bound: Val | None) -> Val | None:
        """Return type of function q from its annotation (an overload implementation's,
        else the stubs' when they agree); `Self` is the receiver's class."""
        key = f"{q}()"
        if key in self._active:
            return None
        self._active.add(key)
        try:
            return self._return_value(q, bound)
        finally:
            self._active.discard(key)

    def _return_value(self, q: str, bound: Val | None) -> Val | None:
        rows = self.s.rows(q, ("function", "method", "constructor"))
        impl = [r for r in rows if not (r["type_text"] or "").startswith(OVERLOAD)]
        stubs = [r for r in rows if (r["type_text"] or "").startswith(OVERLOAD)]
        for group in (impl, stubs):
            vals = set()
            for row in group:
                text = (row["type_text"] or "").removeprefix(OVERLOAD)
                if not text:
                    continue
                owner = bound.name if bound is not None else self.r.class_of(row)
                vals.add(self.annotation(parse_cached(text), (row["file_id"], owner or "", q)))
            if len(vals) == 1:
                return vals.pop()
        return None

    def item(self, base: Val | None, index: ast.expr) -> Val | None:
        if base is None:
            return None
        if base.kind == "seq":
            return base.args[0]
        if base.kind == "map":
            return base.args[1]
        if base.kind == "tup":
            if isinstance(index, ast.Constant) and isinstance(index.value, int):
                i = index.value
                return base.args[i] if -len(base.args) <= i < len(base.args) else None
            return None
        if base.kind == "inst":
            got = self.member(base, "__getitem__")
            return self.call_value(got, ()) if got is not None and got.kind == "func" else None
        if base.kind == "ext":
            return Val("ext", f"{base.name}[]")
        return None

    def element(self, base: Val | None) -> Val | None:
        """What iterating base yields."""
        if base is None:
            return None
        if base.kind in ("seq", "map"):
            return base.args[0]
        if base.kind == "tup":
            items = set(base.args)
            return items.pop() if len(items) == 1 else None
        if base.kind == "inst":
            got = self.member(base, "__iter__")
            if got is not None and got.kind == "func":
                return self.element(self.call_value(got, ()))
            return None
        if base.kind == "ext":
            return Val("ext", f"{base.name}[]")
        return None

    def enter(self, base: Val | None) -> Val | None:
        """The `as` target of `with base`: what `__enter__` returns, when annotated."""
        if base is None:
            return None
        if base.kind == "inst":
            for method in ("__enter__", "__aenter__"):
                got = self.member(base, method)
                if got is not None and got.kind == "func":
                    return self.call_value(got, ())
            return None
        return base if base.kind == "ext" else None

    # ---- annotations ------------------------------------------------------------------
    def annotation(self, node: ast.expr | None, ctx: Ctx) -> Val | None:
        """The value an annotation describes: `Optional[X]`/`X | None` -> X, `list[X]` ->
        a list of X, `"X"` -> X, `type[X]` -> the class X."""
        if node is None or self._depth > 40:
            return None
        self._depth += 1
        try:
            return self._annotation(node, ctx)
        finally:
            self._depth -= 1

    def _annotation(self, node: ast.expr, ctx: Ctx) -> Val | None:
        if isinstance(node, ast.Constant):
            if node.value is None:
                return NONE
            if not isinstance(node.value, str):
                return None
            return self.annotation(parse_cached(node.value), ctx)  # a string annotation
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return union([self.annotation(node.left, ctx), self.annotation(node.right, ctx)])
        if isinstance(node, ast.Subscript):
            return self._generic(node, ctx)
        if isinstance(node, (ast.Name, ast.Attribute)):
            if isinstance(node, ast.Name) and node.id == "Self" and ctx[1]:
                return Val("inst", ctx[1])
            head = self.eval(node, ctx)
            return instance(head)
        return None

    def _generic(self, node: ast.Subscript, ctx: Ctx) -> Val | None:
        head = self.eval(node.value, ctx)
        args = list(node.slice.elts) if isinstance(node.slice, ast.Tuple) else [node.slice]
        if head is None or head.kind != "ext":
            return instance(head)  # `Foo[int]` of a project class is a Foo; anything else unknown
        last = last_name(head.name)
        if last in _WRAP:
            return self.annotation(args[0], ctx)
        if last == "Union":
            return union([self.annotation(a, ctx) for a in args])
        if last in _SEQ:
            return Val("seq", last, (self.annotation(args[0], ctx),))
        if last in _MAP and len(args) == 2:
            return Val("map", last, (self.annotation(args[0], ctx), self.annotation(args[1], ctx)))
        if last in ("tuple", "Tuple"):
            if len(args) == 2 and isinstance(args[1], ast.Constant) and args[1].value is ...:
                return Val("seq", "tuple", (self.annotation(args[0], ctx),))
            return Val("tup", "tuple", tuple(self.annotation(a, ctx) for a in args))
        if last in ("type", "Type"):
            inner = self.annotation(args[0], ctx)
            return Val("cls", inner.name) if inner is not None and inner.kind == "inst" else None
        if last in ("Coroutine",):
            return self.annotation(args[-1], ctx)
        if last in _TRANSPARENT or head.name.startswith(("typing.", "typing_extensions.")):
            return None
        return Val("ext", head.name)
