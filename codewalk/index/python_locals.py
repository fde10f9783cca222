"""Local names of Python functions, rendered as type expressions the resolver can evaluate.

A call's callee is written in terms of locals (`x = make(); x.go()`, `for r in self.running:
r.step()`), which the query-time resolver cannot see. Here every local name in a callee is
replaced by the expression it was bound from, in a small language that is valid Python
syntax (so the resolver reads it with `ast`):

- `(expr)` — the local was assigned `expr` (its own locals replaced in turn);
- `_ann_(T)` — a value of annotation `T` (`x: T = ...`, an annotated parameter);
- `_elem_(expr)` — an element of iterating `expr` (`for`, comprehensions); `[i]` picks a
  position when the target is a tuple (`for i, r in enumerate(rs)` -> `_elem_(enumerate(rs))[1]`);
- `_enter_(expr)` — the target of `with expr as name`;
- `_seq_(expr)` — a list of `expr` (a comprehension or generator);
- `_or_(a, b)` — `a or b` / `a if c else b`: either value;
- `_unk_()` — a local whose value says nothing (an unannotated parameter, a lambda parameter).

Argument lists are dropped (`make()`) except for the few builtins whose result type depends
on them (`enumerate`, `zip`, `cast`, ...), which keeps expressions short.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import tree_sitter as ts

from codewalk.index.common import Enclosing, squash, text

# Callees whose arguments decide the result's type; every other call keeps `()` only.
KEEP_ARGS = frozenset((
    "cast", "enumerate", "zip", "iter", "next", "reversed", "sorted", "list", "tuple", "set",
    "frozenset", "copy", "deepcopy", "replace", "min", "max", "deque", "super", "filter"))
UNKNOWN = "_unk_()"
_EMPTY: dict[str, list] = {}
MAX_EXPR = 300  # a longer rendering is no longer a useful type expression
_SCOPED = ("for_in_clause", "lambda")  # bindings visible only inside their own node
_LITERALS = {"string": '""', "concatenated_string": '""', "integer": "0", "float": "0.0",
             "true": "True", "false": "True", "none": "None", "list": "[]",
             "dictionary": "{}", "dictionary_comprehension": "{}", "set": "set()"}


@dataclass(slots=True)
class Binding:
    """One way a local name gets its value: effective from byte `pos`, visible in
    [scope_start, scope_end) (a comprehension or lambda; the whole function otherwise)."""

    pos: int
    scope_start: int
    scope_end: int
    how: str  # expr | ann | elem | enter | unk
    node: ts.Node | None
    path: tuple[int, ...] = ()
    scoped: bool = False


class Locals:
    """Bindings of one file grouped by the innermost function (or the module) that owns them."""

    def __init__(self, callables: list[tuple[int, int, int]], functions: dict[int, ts.Node],
                 methods: set[int], container: Callable[[ts.Node], str]) -> None:
        self._find = Enclosing(callables).find
        self._container = container  # innermost class/function type around a node
        self._spans = {i: (s, e) for s, e, i in callables}
        self._functions = functions  # callable symbol index -> function_definition node
        self._methods = methods  # symbol indexes of methods (their first parameter is self/cls)
        self._names: dict[int, dict[str, list[Binding]]] = {}  # owner -> name -> bindings
        self._flat: dict[str, list[tuple[Binding, ts.Node]]] = {}  # not yet grouped by owner
        self._params_done: set[int] = set()
        self._parents: dict[int, int] = {}
        self.bound: set[str] = set()  # every name bound anywhere in the file
        self._rendered: dict[int, str] = {}
        self.module_annotated: list[ts.Node] = []  # `x: T = ...` at module level, by collect()
        self._active: set[int] = set()

    # ---- collection -------------------------------------------------------------------
    def collect(self, nodes: list[ts.Node], params: list[ts.Node]) -> None:
        """Record the bindings made by captured assignment/for/with/walrus/lambda nodes;
        params: every parameter name of the file (read in full only where looked up)."""
        self.bound.update(text(p) for p in params)
        self.bound.discard("self")  # never rebound in practice; the resolver knows it
        for node in nodes:
            kind = node.type
            if kind == "assignment":
                type_node = node.child_by_field_name("type")
                right = node.child_by_field_name("right")
                if type_node is not None and self.owner(node) == -1:
                    self.module_annotated.append(node)
                if type_node is not None:
                    self._add(node.child_by_field_name("left"),
                              Binding(node.end_byte, 0, 0, "ann", type_node))
                elif right is not None:
                    self._targets(node.child_by_field_name("left"),
                                  Binding(node.end_byte, 0, 0, "expr", right))
            elif kind == "for_statement":
                right = node.child_by_field_name("right")
                self._targets(node.child_by_field_name("left"),
                              Binding(right.end_byte, 0, 0, "elem", right))
            elif kind == "for_in_clause":
                scope = node.parent
                right = node.child_by_field_name("right")
                self._targets(node.child_by_field_name("left"), Binding(
                    scope.start_byte, scope.start_byte, scope.end_byte, "elem", right, (), True))
            elif kind == "with_item":
                pattern = node.child_by_field_name("value")
                alias = pattern.child_by_field_name("alias") if pattern is not None else None
                value = pattern.named_child(0) if pattern is not None else None
                if alias is not None and alias.named_child_count:
                    self._targets(alias.named_child(0),
                                  Binding(node.end_byte, 0, 0, "enter", value))
            elif kind == "named_expression":
                self._add(node.child_by_field_name("name"),
                          Binding(node.end_byte, 0, 0, "expr", node.child_by_field_name("value")))
            elif kind == "lambda":
                params = node.child_by_field_name("parameters")
                for p in params.named_children if params is not None else ():
                    name = p if p.type == "identifier" else p.child_by_field_name("name")
                    self._add(name, Binding(node.start_byte, node.start_byte,
                                                   node.end_byte, "unk", None, (), True))

    def owner(self, node: ts.Node) -> int:
        """Symbol index of the innermost function holding node; -1 at module level and -2 in
        a class body outside methods (class attributes are not locals of anything)."""
        found = self._find(node.start_byte, node.end_byte)
        if found is not None:
            return found
        return -2 if self._container(node) == "class_definition" else -1

    def _targets(self, target: ts.Node | None, b: Binding) -> None:
        """Bind every name in a (possibly nested tuple) target, each with its position."""
        if target is None:
            return
        if target.type in ("pattern_list", "tuple_pattern", "list_pattern", "expression_list",
                           "tuple", "list"):
            for i, item in enumerate(target.named_children):
                self._targets(item, Binding(b.pos, b.scope_start, b.scope_end, b.how,
                                            b.node, b.path + (i,), b.scoped))
        elif target.type == "parenthesized_expression" and target.named_child_count:
            self._targets(target.named_child(0), b)
        elif target.type == "identifier":
            self._add(target, b)
        elif target.type == "list_splat_pattern" and target.named_child_count:
            self._add(target.named_child(0),
                      Binding(b.pos, b.scope_start, b.scope_end, "unk", None, (), b.scoped))

    def _add(self, name: ts.Node | None, b: Binding) -> None:
        """Note a binding of name; its owner is worked out only if the name is looked up."""
        if name is None or name.type != "identifier":
            return
        ident = text(name)
        self.bound.add(ident)
        self._flat.setdefault(ident, []).append((b, name))

    def _group(self, ident: str) -> None:
        """File the bindings of ident under the function (or module) that owns each."""
        for b, name in self._flat.pop(ident, ()):
            owner = self.owner(name)
            if owner == -2:
                continue  # a class attribute, not a local of anything
            if not b.scoped and owner >= 0:
                b.scope_start, b.scope_end = self._spans[owner]
            self._names.setdefault(owner, {}).setdefault(ident, []).append(b)

    def _params(self, owner: int) -> None:
        """Parameters bind from the function's start: annotated ones to their annotation."""
        self._params_done.add(owner)
        fn = self._functions.get(owner)
        params = fn.child_by_field_name("parameters") if fn is not None else None
        if params is None:
            return
        start, end = self._spans[owner]
        skip_first = owner in self._methods and not _is_static(fn)
        for i, p in enumerate(params.named_children):
            if i == 0 and skip_first:
                continue  # self / cls: the resolver knows them from the enclosing class
            name = p if p.type == "identifier" else p.child_by_field_name("name")
            if name is None and p.named_child_count:
                name = p.named_child(0)
            type_node = p.child_by_field_name("type")
            how = "ann" if type_node is not None and p.type != "list_splat_pattern" else "unk"
            if p.type in ("list_splat_pattern", "dictionary_splat_pattern"):
                how = "unk"
            if name is not None and name.type == "identifier":
                self._names.setdefault(owner, {}).setdefault(text(name), []).append(
                    Binding(start, start, end, how, type_node))

    # ---- lookup and rendering ---------------------------------------------------------
    def lookup(self, name: str, pos: int, owner: int) -> str | None:
        """Type expression of local `name` used at byte pos in owner, None if it is not a
        local there (then it is a module-level, imported or builtin name)."""
        if name not in self.bound:
            return None  # the common case: an imported, builtin or module-level def name
        if name in self._flat:
            self._group(name)
        while owner >= 0:
            found = self._binding(owner, name, pos)
            if found is not None:
                return found
            parent = self._parent(owner)
            pos, owner = self._spans[owner][0], parent
        return self._binding(-1, name, pos) if owner == -1 else None

    def _parent(self, owner: int) -> int:
        known = self._parents.get(owner)
        if known is None:
            start, end = self._spans[owner]
            found = self._find(start - 1, end) if start > 0 else None
            known = self._parents[owner] = -1 if found is None else found
        return known

    def _binding(self, owner: int, name: str, pos: int) -> str | None:
        if owner >= 0 and owner not in self._params_done:
            self._params(owner)
        cands = self._names.get(owner, _EMPTY).get(name)
        if not cands:
            return None
        if len(cands) == 1 and not cands[0].scoped:
            return self.render_binding(cands[0], owner)
        scoped = [b for b in cands if b.scoped and b.scope_start <= pos < b.scope_end]
        if scoped:
            return self.render_binding(max(scoped, key=lambda b: b.scope_start), owner)
        plain = [b for b in cands if not b.scoped]
        if not plain:
            return None
        before = [b for b in plain if b.pos <= pos]
        chosen = max(before, key=lambda b: b.pos) if before else min(plain, key=lambda b: b.pos)
        return self.render_binding(chosen, owner)

    def render_binding(self, b: Binding, owner: int) -> str:
        key = id(b)
        done = self._rendered.get(key)
        if done is not None:
            return done
        if key in self._active:
            return UNKNOWN  # `x = x.next()` with no earlier binding: a cycle says nothing
        self._active.add(key)
        try:
            if b.how == "unk" or b.node is None:
                out = UNKNOWN
            elif b.how == "ann":
                out = f"_ann_({annotation(b.node)})"
            else:
                inner = self.render(b.node, owner)
                out = {"expr": inner, "elem": f"_elem_({inner})",
                       "enter": f"_enter_({inner})"}[b.how]
            out += "".join(f"[{i}]" for i in b.path)
            if len(out) > MAX_EXPR:
                out = UNKNOWN
        finally:
            self._active.discard(key)
        self._rendered[key] = out
        return out

    def render(self, node: ts.Node, owner: int) -> str:
        """node's expression with locals replaced by what they were bound to."""
        kind = node.type
        if kind == "identifier":
            name = text(node)
            sub = self.lookup(name, node.start_byte, owner)
            if sub is None:
                return name
            # every rendering is a primary expression; only a number needs parentheses
            return f"({sub})" if sub[:1].isdigit() else sub
        if kind == "attribute":
            obj = self.render(node.child_by_field_name("object"), owner)
            return f"{obj}.{text(node.child_by_field_name('attribute'))}"
        if kind == "call":
            fn = node.child_by_field_name("function")
            callee = self.render(fn, owner)
            args = node.child_by_field_name("arguments")
            inner = ""
            if args is not None and text(fn).rpartition(".")[2] in KEEP_ARGS:
                if args.type == "generator_expression":  # tuple(x for x in xs)
                    inner = self.render(args, owner)
                else:
                    inner = ", ".join(self.render(a, owner) if a.type not in (
                        "keyword_argument", "list_splat", "dictionary_splat") else UNKNOWN
                        for a in args.named_children if a.type != "comment")
            return f"{callee}({inner})"
        if kind == "subscript":
            value = self.render(node.child_by_field_name("value"), owner)
            index = squash(text(node.child_by_field_name("subscript")), 80)
            return f"{value}[{index}]" if index.lstrip("-").isdigit() else f"{value}[_unk_()]"
        if kind in ("parenthesized_expression", "await") and node.named_child_count:
            return self.render(node.named_child(0), owner)
        if kind in ("boolean_operator", "conditional_expression") and node.named_child_count > 1:
            # `x or Default()`, `a if c else b`: whichever is known (python_types._either)
            first, second = (node.named_child(0), node.named_child(1)) \
                if kind == "conditional_expression" else \
                (node.child_by_field_name("left"), node.child_by_field_name("right"))
            if kind == "conditional_expression":
                second = node.named_child(2) if node.named_child_count > 2 else second
            return f"_or_({self.render(first, owner)}, {self.render(second, owner)})"
        if kind == "assignment":  # `a = b = value`
            right = node.child_by_field_name("right")
            return self.render(right, owner) if right is not None else UNKNOWN
        if kind in ("list_comprehension", "generator_expression", "set_comprehension"):
            # the element expression, its names bound by the comprehension's own `for`s
            body = node.child_by_field_name("body")
            return f"_seq_({self.render(body, owner)})" if body is not None else "[]"
        if kind == "tuple":
            return "(" + "".join(self.render(c, owner) + ", " for c in node.named_children) + ")"
        literal = _LITERALS.get(kind)
        return literal if literal is not None else UNKNOWN


def annotation(node: ts.Node) -> str:
    """An annotation's source on one line (backslash continuations dropped)."""
    return squash(text(node).replace("\\\n", " "), MAX_EXPR)


def _is_static(fn: ts.Node) -> bool:
    parent = fn.parent
    return parent is not None and parent.type == "decorated_definition" and any(
        text(d).strip() in ("@staticmethod", "@builtins.staticmethod")
        for d in parent.named_children if d.type == "decorator")
