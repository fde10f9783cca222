"""C++/CUDA symbol, call-site and include extraction from the captures of queries/cpp.scm."""

from __future__ import annotations


import tree_sitter as ts

from codewalk.index.common import MAX_SIGNATURE, Enclosing, count_errors, leading_comment, source, squash, text, use_source
from codewalk.index.common import head as source_head
from codewalk.index.common import count_args
from codewalk.index.parse import captures, language, parse
from codewalk.index.records import FileResult, Symbol

_CLASS_TYPES = ("class_specifier", "struct_specifier", "union_specifier")
_WRAPPERS = ("pointer_declarator", "reference_declarator", "attributed_declarator",
             "parenthesized_declarator")


def _inner(node: ts.Node) -> ts.Node | None:
    """The declarator wrapped by node; reference_declarator has no field name for it."""
    inner = node.child_by_field_name("declarator")
    if inner is None and node.type == "reference_declarator" and node.named_children:
        inner = node.named_children[-1]
    return inner


def _name_parts(node: ts.Node) -> list[str]:
    """['ns', 'A', 'f'] for `ns::A<T>::f`: template arguments dropped, operators kept whole."""
    t = node.type
    if t == "qualified_identifier":
        scope = node.child_by_field_name("scope")
        name = node.child_by_field_name("name")
        head = _name_parts(scope) if scope is not None else []  # `::f` has no scope
        return head + (_name_parts(name) if name is not None else [])
    if t in ("template_type", "template_function", "template_method"):
        return _name_parts(node.child_by_field_name("name"))
    if t == "operator_cast":
        return ["operator " + squash(text(node.child_by_field_name("type")))]
    if t == "dependent_name":
        return _name_parts(node.named_children[-1]) if node.named_children else []
    s = text(node)
    if s.isidentifier() and len(s) <= MAX_SIGNATURE:  # plain name: squash would not change it
        return [s]
    return [squash(s).replace(" ", "")] if t != "operator_name" else [squash(s)]


def _unwrap(declarator: ts.Node | None) -> tuple[ts.Node | None, ts.Node | None]:
    """(name node, parameter_list) of a function declarator, or (None, None) for non-functions."""
    node = declarator
    while node is not None and node.type in _WRAPPERS:
        node = _inner(node)
    if node is None:
        return None, None
    if node.type == "function_declarator":
        return node.child_by_field_name("declarator"), node.child_by_field_name("parameters")
    cast = node if node.type == "operator_cast" else None
    if node.type == "qualified_identifier":
        inner = node
        while inner is not None and inner.type == "qualified_identifier":
            inner = inner.child_by_field_name("name")
        cast = node if inner is not None and inner.type == "operator_cast" else None
        inner_cast = inner
    else:
        inner_cast = cast
    if cast is None or inner_cast is None:
        return None, None
    abstract = inner_cast.child_by_field_name("declarator")
    params = abstract.child_by_field_name("parameters") if abstract is not None else None
    return cast, params


def _param_type(param: ts.Node) -> str:
    """Parameter text without its name and default value: the part that tells overloads apart."""
    start, end = param.start_byte, param.end_byte
    default = param.child_by_field_id(_F_DEFAULT_VALUE)
    src = source()
    if default is not None:
        end = default.start_byte
    ident = param.child_by_field_id(_F_DECLARATOR)
    while ident is not None and ident.kind_id not in _IDENT_KINDS:
        ident = _inner(ident)
    if ident is not None:
        cut = src[start: ident.start_byte] + src[ident.end_byte: end]
    else:
        cut = src[start: end]
    known = _PARAM_TYPES.get(cut)
    if known is None:
        s = squash(cut.decode("utf-8", "replace")).rstrip("= ")
        for ch in ("*", "&", ",", "<", ">", "::"):
            s = s.replace(" " + ch, ch).replace(ch + " ", ch)
        known = s
        if len(_PARAM_TYPES) < 65536:  # bounded: one process may index many repositories
            _PARAM_TYPES[cut] = s
    return known


# Normalised parameter types by raw text: the same few hundred types repeat all over a code base.
_PARAM_TYPES: dict[bytes, str] = {}


def params_key(params: ts.Node | None, declarator: ts.Node | None) -> str:
    """Normalised parameter types (+ ' const') identifying one overload."""
    if params is None:
        return ""
    types = [_param_type(p) for p in params.named_children if p.type != "comment"]
    if types == ["void"]:
        types = []
    key = ",".join(types)
    fd = declarator
    while fd is not None and fd.type in _WRAPPERS:
        fd = _inner(fd)
    if fd is not None and any(c.type == "type_qualifier" and text(c) == "const"
                              for c in fd.children):
        key += " const"
    return key


class _Scopes:
    """Enclosing named namespaces/classes by byte range. Node.parent walks down from the root
    in tree-sitter >= 0.24, so climbing parents for every symbol is the slow way."""

    def __init__(self, namespaces: list[ts.Node], classes: list[ts.Node]) -> None:
        items = [(n.start_byte, -n.end_byte, n, False) for n in namespaces]
        items += [(n.start_byte, -n.end_byte, n, True) for n in classes]
        items.sort(key=lambda t: (t[0], t[1]))
        self.own: dict[int, tuple[list[str], bool]] = {}  # container id -> its enclosing scope
        ranges = []
        stack: list[tuple[int, list[str], bool]] = []  # (end_byte, parts incl. itself, is_class)
        for start, neg_end, node, is_class in items:
            end = -neg_end
            while stack and stack[-1][0] < end:
                stack.pop()
            parts, in_class = (stack[-1][1], stack[-1][2]) if stack else ([], False)
            self.own[node.id] = (parts, in_class)
            name = node.child_by_field_name("name")
            if is_class:
                added = [_name_parts(name)[-1]]
            else:
                added = text(name).replace(" ", "").split("::")
            stack.append((end, parts + added, is_class))
            ranges.append((start, end, (stack[-1][1], is_class)))
        self._enc = Enclosing(ranges)

    def of(self, node: ts.Node) -> tuple[list[str], bool]:
        """Enclosing namespace/class names, outermost first, and whether the innermost is a class."""
        known = self.own.get(node.id)
        if known is not None:
            return known
        found = self._enc.find(node.start_byte, node.end_byte)
        return (list(found[0]), found[1]) if found is not None else ([], False)


def _kind(name: str, scope_parts: list[str], member: bool) -> str:
    """constructor/destructor/operator/method/function from name and where it lives."""
    if name.startswith("~"):
        return "destructor"
    if name.startswith("operator") and (len(name) == 8 or not name[8].isalnum() and name[8] != "_"):
        return "operator"
    if scope_parts and name == scope_parts[-1]:
        return "constructor"
    return "method" if member else "function"


# Statements tree-sitter can mistake for a function when a macro hides their context.
_KEYWORDS = frozenset({"if", "for", "while", "switch", "catch", "return", "do", "else", "try",
                       "sizeof", "decltype", "static_assert", "alignof", "noexcept"})


def _template_params(parent: ts.Node | None) -> str:
    """`T,U` for a class inside `template <class T, typename U>`, '' otherwise."""
    if parent is None or parent.type != "template_declaration":
        return ""
    params = parent.child_by_field_id(_F_PARAMETERS)
    names = []
    for p in params.named_children if params is not None else ():
        ident = next((c for c in p.named_children if c.type == "type_identifier"), None)
        if ident is None:
            return ""  # a non-type or template-template parameter: do not substitute at all
        names.append(text(ident))
    return ",".join(names)


def _return_type(type_node: ts.Node | None, declarator: ts.Node | None) -> str:
    """Return type as written (`std::shared_ptr<X>`, `X*`, `const Y&`), '' when there is none."""
    if type_node is None:
        return ""
    out = squash(text(type_node), 200)
    node = declarator
    while node is not None and node.type in _WRAPPERS:
        if node.type == "pointer_declarator":
            out += "*"
        elif node.type == "reference_declarator":
            out += "&"
        node = _inner(node)
    return out


def _outer(node: ts.Node) -> ts.Node:
    """The template_declaration wrapping node, if any (comments sit above it)."""
    parent = node.parent
    return parent if parent is not None and parent.type == "template_declaration" else node


class _Extractor:
    """Holds one file's tree and output lists while the capture handlers run."""

    def __init__(self, result: FileResult, root: ts.Node) -> None:
        self.result = result
        self.root = root
        self.callables: list[tuple[int, int, int]] = []
        self.scopes = _Scopes([], [])
        # callable symbol index -> local/parameter name -> [[declaration start byte, how,
        # payload]], in source order (see local_declarations, _info)
        self.locals: dict[int, dict[str, list[list]]] = {}
        self.params: dict[int, ts.Node] = {}  # callable symbol index -> its parameter_list

    def add(self, sym: Symbol, node: ts.Node, callable_body: bool = False) -> None:
        sym.start_byte, sym.end_byte = node.start_byte, node.end_byte
        if callable_body:
            self.callables.append((node.start_byte, node.end_byte, len(self.result.symbols)))
        self.result.symbols.append(sym)

    def function(self, node: ts.Node, declarator: ts.Node | None, is_def: bool) -> None:
        name_node, params = _unwrap(declarator)
        if name_node is None:
            return
        parts = _name_parts(name_node)
        if not parts or not parts[-1] or parts[-1] in _KEYWORDS:
            return
        type_node = node.child_by_field_id(_F_TYPE)
        if type_node is not None and any(c.type == "ERROR" and text(c).strip() == "~"
                                         for c in node.children):
            # `__forceinline__ ~X()`: the unknown attribute macro parses as a return type and
            # the tilde as an error, so the destructor would read as a constructor.
            parts[-1] = "~" + parts[-1]
            type_node = None
        outer, in_class = self.scopes.of(node)
        scope_parts = outer + parts[:-1]
        kind = _kind(parts[-1], scope_parts, in_class or len(parts) > 1)
        if type_node is None and kind in ("function", "method") and name_node.type != "operator_cast":
            # Only constructors, destructors and conversion operators lack a return type; this
            # is a macro invocation (`MOCK_METHOD(...);`, `FOR_RANGE(i, 0, n) {`).
            return
        body = node.child_by_field_name("body")
        head_end = body.start_byte if (is_def and body is not None) else node.end_byte
        head = source_head(node, head_end).rstrip(" ;{")
        if is_def and params is not None:
            self.params[len(self.result.symbols)] = params
        self.add(Symbol(
            name=parts[-1], qname="::".join(scope_parts + parts[-1:]), kind=kind,
            line=node.start_point.row + 1, end_line=node.end_point.row + 1, is_def=is_def,
            scope="::".join(scope_parts), signature=squash(head),
            params_key=params_key(params, declarator), comment=leading_comment(_outer(node)),
            type_text=_return_type(type_node, declarator),
        ), node, callable_body=is_def)

    def type_def(self, node: ts.Node, kind: str) -> None:
        name = node.child_by_field_name("name")
        parts = _name_parts(name) if name is not None else []
        if not parts:
            return
        outer, _ = self.scopes.of(node)
        scope_parts = outer + parts[:-1]
        bases: list[str] = []
        for child in node.named_children:
            if child.type == "base_class_clause":
                bases = [squash(text(b)) for b in child.named_children
                         if b.type not in ("access_specifier", "virtual", "comment")]
        if kind == "class" and node.type == "struct_specifier":
            kind = "struct"
        template_params = _template_params(node.parent)
        body = node.child_by_field_name("body")
        head = source_head(node, body.start_byte if body else node.end_byte)
        self.add(Symbol(
            name=parts[-1], qname="::".join(scope_parts + parts[-1:]), kind=kind,
            line=node.start_point.row + 1, end_line=node.end_point.row + 1, is_def=True,
            scope="::".join(scope_parts), signature=squash(head),
            comment=leading_comment(_outer(node)), bases=tuple(bases), type_text=template_params,
        ), node)

    def alias(self, node: ts.Node) -> None:
        """`using X = T;` / `typedef T X;` as a symbol of kind 'alias' whose type_text is T."""
        if node.type == "alias_declaration":
            name_node, target = node.child_by_field_id(_F_NAME), node.child_by_field_id(_F_TYPE)
            stars = ""
        else:
            target = node.child_by_field_id(_F_TYPE)
            decl = node.child_by_field_id(_F_DECLARATOR)
            stars = _stars(decl)
            name_node = decl
            while name_node is not None and name_node.type in _WRAPPERS:
                name_node = _inner(name_node)
            if name_node is None or name_node.type != "type_identifier":
                return
        if name_node is None or target is None:
            return
        name = text(name_node)
        outer, _ = self.scopes.of(node)
        self.add(Symbol(
            name=name, qname="::".join(outer + [name]), kind="alias",
            line=node.start_point.row + 1, end_line=node.end_point.row + 1, is_def=True,
            scope="::".join(outer), signature=squash(text(node)).rstrip(";"),
            type_text=squash(text(target), 200) + stars,
        ), node)

    def namespace(self, node: ts.Node) -> None:
        name = node.child_by_field_name("name")
        if name is None:
            return
        outer, _ = self.scopes.of(node)
        parts = outer + text(name).replace(" ", "").split("::")
        self.add(Symbol(
            name=parts[-1], qname="::".join(parts), kind="namespace",
            line=node.start_point.row + 1, end_line=node.end_point.row + 1, is_def=True,
            scope="::".join(parts[:-1]),
        ), node)

    def member(self, node: ts.Node) -> None:
        """A field_declaration in a class: method prototype(s) or data member(s)."""
        declarators = node.children_by_field_name("declarator")
        if any(_unwrap(d)[0] is not None for d in declarators):
            for d in declarators:
                self.function(node, d, is_def=False)
            return
        type_node = node.child_by_field_name("type")
        outer, _ = self.scopes.of(node)
        for d in declarators:
            ident = d
            while ident is not None and ident.type != "field_identifier":
                ident = _inner(ident)
            if ident is None:
                continue
            name = text(ident)
            self.add(Symbol(
                name=name, qname="::".join(outer + [name]), kind="field",
                line=node.start_point.row + 1, end_line=node.end_point.row + 1, is_def=True,
                scope="::".join(outer), signature=squash(text(node)).rstrip(";"),
                comment=leading_comment(node), type_text=squash(text(type_node)),
            ), node)

    def macro(self, node: ts.Node) -> None:
        name = text(node.child_by_field_name("name"))
        params = node.child_by_field_name("parameters")
        self.add(Symbol(
            name=name, qname=name, kind="macro", line=node.start_point.row + 1,
            end_line=node.end_point.row + 1, is_def=True,
            signature=squash(f"#define {name}{text(params)}"), comment=leading_comment(node),
        ), node)

    def include(self, node: ts.Node) -> None:
        path = node.child_by_field_name("path")
        target = text(path).strip('"<>')
        self.result.imports.append((target, "", node.start_point.row + 1))

    def local_declarations(self, nodes: list[ts.Node], find, wanted: set[int]) -> None:  # noqa: ANN001
        """Record every local variable of a function, in source order. A use sees the latest
        declaration of its name before it (blocks are not tracked: a use after an inner block
        that shadowed an outer name is the rare case this gets wrong). Type info is worked out
        only for locals that end up as a call's receiver (see _info). Only functions in
        `wanted` (those with a call on a plain name) are looked at."""
        locals_ = self.locals
        for node in sorted(nodes, key=_start):
            caller = find(node.start_byte, node.end_byte)
            if caller not in wanted:
                continue
            scope = locals_[caller]
            at = node.start_byte
            type_node = node.child_by_field_id(_F_TYPE)
            is_auto = type_node is not None and type_node.kind_id == _K_PLACEHOLDER
            if node.kind_id == _K_FOR_RANGE:
                name = _declared_name(node.child_by_field_id(_F_DECLARATOR))
                entry = [at, _RANGE, node] if is_auto else \
                    [at, _TYPE, type_node, _stars(node.child_by_field_id(_F_DECLARATOR))]
                if name:
                    scope.setdefault(name, []).append(entry)
                continue
            for d in node.children_by_field_id(_F_DECLARATOR):
                name = _declared_name(d)
                if not name:
                    continue
                if not is_auto:
                    entry = [at, _TYPE, type_node, _stars(d)]
                elif d.kind_id == _K_INIT_DECLARATOR:
                    entry = [at, _AUTO, d]
                else:
                    entry = [at, _DONE, "?"]
                scope.setdefault(name, []).append(entry)

    def calls(self, nodes: list[ts.Node], src: bytes, commented: list[int], find,  # noqa: ANN001
              local_nodes: list[ts.Node]) -> None:
        """Call tuples (caller, name, kind, line, receiver, qualifier, nargs) for every call
        inside a function body, classified by how the callee is written (see records.Call).
        A member call on a local or parameter (`x->f()`) carries the local's type info as
        qualifier; local declarations are only read in functions that have such calls."""
        out = self.result.calls
        append = out.append
        pending = []  # (index in out, caller, receiver, call start byte)
        # Source order: a query's captures of one name need not come in it (nested calls on a line).
        for node in sorted(nodes, key=_start):
            caller = find(node.start_byte, node.end_byte)
            if caller is None:
                continue
            call = _call(node, caller, src, commented)
            if call is None:
                continue
            if call[2] == "member" and call[4]:
                root = call[4].split("\t", 1)[0]
                if root.isidentifier() and root != "this":  # `x->f()`, `x.a->f()`
                    pending.append((len(out), caller, root, node.start_byte))
            append(call)
        if not pending:
            return
        wanted = {p[1] for p in pending}
        local_types = self.locals
        for caller in wanted:  # parameters first: they are declared before any local
            scope = local_types[caller] = {}
            params = self.params.get(caller)
            for p in params.named_children if params is not None else ():
                if p.kind_id in _PARAM_KINDS:
                    name = _declared_name(p.child_by_field_id(_F_DECLARATOR))
                    if name:
                        scope[name] = [[-1, _TYPE, p.child_by_field_id(_F_TYPE),
                                        _stars(p.child_by_field_id(_F_DECLARATOR))]]
        self.local_declarations(local_nodes, find, wanted)
        for i, caller, receiver, at in pending:
            scope = local_types[caller]
            entry = _visible(scope, receiver, at)
            if entry is not None:
                call = out[i]
                out[i] = call[:5] + (_info(scope, entry) or "?",) + call[6:]

    def constructions(self, nodes: list[ts.Node], find) -> None:  # noqa: ANN001
        """`new X(...)` as a call of X's constructor (kind 'new', qualifier = X as written)."""
        append = self.result.calls.append
        for node in nodes:
            caller = find(node.start_byte, node.end_byte)
            if caller is None:
                continue
            type_node = node.child_by_field_id(_F_TYPE)
            if type_node.kind_id == _K_PRIMITIVE:  # new char[n]
                continue
            call = _construction(text(type_node), node.child_by_field_id(_F_ARGUMENTS),
                                 caller, node)
            if call is not None:
                append(call)


    def declared_constructions(self, nodes: list[ts.Node], find) -> None:  # noqa: ANN001
        """`T x(a, b);` / `T x{a};` in a function body construct a T: a call (kind 'new') of
        T's constructor. `T x;` and `T x = y;` are left out (implicit or copy construction)."""
        append = self.result.calls.append
        for node in nodes:
            if node.kind_id != _K_DECLARATION:
                continue
            type_node = node.child_by_field_id(_F_TYPE)
            if type_node is None or type_node.kind_id in (_K_PRIMITIVE, _K_PLACEHOLDER):
                continue
            for d in node.children_by_field_id(_F_DECLARATOR):
                if d.kind_id == _K_INIT_DECLARATOR:
                    value = d.child_by_field_id(_F_VALUE)
                    if value is None or value.type not in ("argument_list", "initializer_list"):
                        continue
                    nargs = sum(1 for a in value.named_children if a.type != "comment")
                elif d.kind_id == _K_FUNCTION_DECLARATOR:  # `T x(y);` parses as a prototype
                    params = d.child_by_field_id(_F_PARAMETERS)
                    nargs = params.named_child_count if params is not None else 0
                else:
                    continue
                caller = find(node.start_byte, node.end_byte)
                if caller is None:
                    continue
                call = _construction(text(type_node), None, caller, node, nargs)
                if call is not None:
                    append(call)

    def initialisers(self, names: list[ts.Node], args: list[ts.Node], find) -> None:  # noqa: ANN001
        """`: Base(a), member_(b, c)` as calls (kind 'init') of a base or member constructor;
        the resolver tells which from the class."""
        append = self.result.calls.append
        arg_at = {a.start_byte: a for a in args}
        for node in names:
            caller = find(node.start_byte, node.end_byte)
            if caller is None:
                continue
            parts = _name_parts(node)
            if not parts:
                continue
            nxt = node.next_named_sibling
            nargs = sum(1 for a in nxt.named_children if a.type != "comment") \
                if nxt is not None and nxt.start_byte in arg_at else 0
            append((caller, parts[-1], "init", node.start_point.row + 1, "",
                    "::".join(parts[:-1]), nargs))


def _ident(node: ts.Node, src: bytes) -> str:
    """Text of an identifier-like node; whitespace-free, so _name_parts' squash is a no-op."""
    s = src[node.start_byte:node.end_byte].decode("utf-8", "replace")
    return s if len(s) <= MAX_SIGNATURE else squash(s)


def _call(node: ts.Node, caller: int, src: bytes, commented: list[int]) -> tuple | None:
    """Classify one call_expression by how its callee is written."""
    fn = node.child_by_field_id(_F_FUNCTION)
    args = node.child_by_field_id(_F_ARGUMENTS)
    nargs = count_args(args, commented)
    t = fn.kind_id
    line = node.start_point[0] + 1
    if t == _K_TEMPLATE_FUNCTION:
        fn = fn.child_by_field_id(_F_NAME)
        t = fn.kind_id
    if t == _K_IDENTIFIER:
        return (caller, _ident(fn, src), "plain", line, "", "", nargs)
    if t == _K_QUALIFIED:
        parts = _name_parts(fn)
        if not parts:
            return None
        if parts[0] == "std" and parts[-1:] in (["make_shared"], ["make_unique"]):
            return _construction(_template_arg(fn), args, caller, node, nargs)
        # std:: calls are kept (as external calls, so `show` can count them); the resolver
        # never looks for them in the index.
        return (caller, parts[-1], "qualified", line, "", "::".join(parts[:-1]), nargs)
    if t != _K_FIELD_EXPRESSION:
        return None
    field = fn.child_by_field_id(_F_FIELD)
    if field is None:
        return None
    if field.kind_id == _K_FIELD_IDENTIFIER:
        name = _ident(field, src)
    else:
        parts = _name_parts(field)
        if not parts:
            return None
        name = parts[-1]
    arg = fn.child_by_field_id(_F_ARGUMENT)
    if arg.kind_id == _K_THIS:
        return (caller, name, "this", line, "", "", nargs)
    tokens = _expr(arg, src, 0)
    receiver = "\t".join(tokens + [_op(fn)]) if tokens else ""
    return (caller, name, "member", line, receiver, "", nargs)


def _op(field_expression: ts.Node) -> str:
    """'->' or '.' of a field_expression."""
    op = field_expression.child_by_field_id(_F_OPERATOR)
    return "->" if op is not None and op.type == "->" else "."


_CASTS = ("static_cast", "dynamic_cast", "const_cast", "reinterpret_cast")
_POINTER_CASTS = ("static_pointer_cast", "dynamic_pointer_cast", "const_pointer_cast",
                  "reinterpret_pointer_cast")


def _expr(node: ts.Node, src: bytes, depth: int) -> list[str]:
    """An object expression as tokens the resolver evaluates to a type at query time, [] when
    it is not one it can follow. Root: a name (local, parameter or member field), `this`,
    `F:f()` (a plain call), `Q:A<B>::f()` (a qualified call), `T:type` (a cast); then steps
    `->x` / `.x` (field), `->f()` / `.f()` (member call), `[]` (subscript), `*` (dereference).
    Depth-capped: receivers are short, and nothing may recurse with the nesting of the file."""
    if depth > 12:
        return []
    k = node.kind_id
    if k == _K_IDENTIFIER:
        return [_ident(node, src)]
    if k == _K_THIS:
        return ["this"]
    if k == _K_FIELD_EXPRESSION:
        field = node.child_by_field_id(_F_FIELD)
        if field is None or field.kind_id != _K_FIELD_IDENTIFIER:
            return []
        inner = _expr(node.child_by_field_id(_F_ARGUMENT), src, depth + 1)
        return inner + [_op(node) + _ident(field, src)] if inner else []
    if k == _K_CALL:
        fn = node.child_by_field_id(_F_FUNCTION)
        fk = fn.kind_id
        if fk == _K_FIELD_EXPRESSION:
            field = fn.child_by_field_id(_F_FIELD)
            if field is None or field.kind_id != _K_FIELD_IDENTIFIER:
                return []
            inner = _expr(fn.child_by_field_id(_F_ARGUMENT), src, depth + 1)
            return inner + [_op(fn) + _ident(field, src) + "()"] if inner else []
        if fk == _K_IDENTIFIER:
            return ["F:" + _ident(fn, src) + "()"]
        if fk == _K_TEMPLATE_FUNCTION:
            name = text(fn.child_by_field_id(_F_NAME))
            if name in _CASTS:
                return ["T:" + _first_template_arg(fn)]
            return ["F:" + name + "()"]
        if fk == _K_QUALIFIED:
            parts = _name_parts(fn)
            if parts[:1] == ["std"] and parts[-1:] and parts[-1] in _POINTER_CASTS:
                return ["T:std::shared_ptr<" + _template_arg(fn) + ">"]
            if parts[:1] == ["std"] and parts[-1:] in (["make_shared"], ["make_unique"]):
                return ["T:std::shared_ptr<" + _template_arg(fn) + ">"]
            scope = fn.child_by_field_id(_F_SCOPE)
            if scope is None:
                return []
            return ["Q:" + squash(text(scope)).replace(" ", "") + "::" + parts[-1] + "()"]
        return []
    if k == _K_SUBSCRIPT:
        inner = _expr(node.child_by_field_id(_F_ARGUMENT), src, depth + 1)
        return inner + ["[]"] if inner else []
    if k == _K_PARENTHESIZED and node.named_child_count:
        return _expr(node.named_child(0), src, depth + 1)
    if k == _K_POINTER_EXPRESSION and node.child(0).type == "*":
        inner = _expr(node.child_by_field_id(_F_ARGUMENT), src, depth + 1)
        return inner + ["*"] if inner else []
    if k == _K_CAST:
        return ["T:" + squash(text(node.child_by_field_id(_F_TYPE)))]
    return []


def _first_template_arg(fn: ts.Node) -> str:
    """`T*` of `static_cast<T*>`."""
    targs = fn.child_by_field_id(_F_ARGUMENTS)
    first = targs.named_child(0) if targs is not None and targs.named_child_count else None
    return squash(text(first)) if first is not None else ""


def _construction(type_text: str, args: ts.Node | None, caller: int, node: ts.Node,
                  nargs: int | None = None) -> tuple | None:
    """A constructor call of the class written as type_text: name X, qualifier `ns::X<T>`."""
    parts = _strip_args(type_text).split("::")
    name = parts[-1].strip()
    if not name.isidentifier() or parts[0] == "std":
        return None
    if nargs is None:
        nargs = 0 if args is None else sum(1 for a in args.named_children if a.type != "comment")
    return (caller, name, "new", node.start_point[0] + 1, "", squash(type_text), nargs)


def _strip_args(type_text: str) -> str:
    """`ns::X<A<B>>` -> `ns::X`."""
    out, depth = [], 0
    for ch in type_text:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        elif depth == 0 and not ch.isspace():
            out.append(ch)
    return "".join(out).lstrip(":")


def _template_arg(fn: ts.Node) -> str:
    """First template argument of `std::make_shared<X, ...>` ('' if none)."""
    name = fn.child_by_field_id(_F_NAME)
    while name is not None and name.kind_id == _K_QUALIFIED:
        name = name.child_by_field_id(_F_NAME)
    if name is None or name.kind_id != _K_TEMPLATE_FUNCTION:
        return ""
    targs = name.child_by_field_id(_F_ARGUMENTS)
    first = targs.named_child(0) if targs is not None and targs.named_child_count else None
    return text(first) if first is not None else ""


def _start(node: ts.Node) -> int:
    return node.start_byte


def _declared_name(d: ts.Node | None) -> str:
    """Variable name under a (pointer/reference/init/array) declarator; `T x(a)` parses as a
    function declarator, whose name is the variable's."""
    while d is not None and d.kind_id not in _IDENT_KINDS:
        if d.kind_id in (_K_INIT_DECLARATOR, _K_FUNCTION_DECLARATOR, _K_ARRAY_DECLARATOR):
            d = d.child_by_field_id(_F_DECLARATOR)
        elif d.type in _WRAPPERS:
            d = _inner(d)
        else:
            return ""
    return text(d) if d is not None else ""


def _stars(declarator: ts.Node | None) -> str:
    """`*` for `T* x`, `&` for `T& x`: the part of a variable's type its declarator holds."""
    out = ""
    node = declarator
    while node is not None and node.kind_id != _K_IDENTIFIER:
        if node.type == "pointer_declarator":
            out += "*"
        elif node.type == "reference_declarator":
            out += "&"
        elif node.kind_id not in (_K_INIT_DECLARATOR,) and node.type not in _WRAPPERS:
            break
        node = node.child_by_field_id(_F_DECLARATOR) if node.kind_id == _K_INIT_DECLARATOR \
            else _inner(node)
    return out


# How a local's type info is obtained (entry = [declaration start, how, payload]).
_TYPE, _AUTO, _RANGE, _DONE = 0, 1, 2, 3


def _visible(scope: dict[str, list[list]], name: str, at: int) -> list | None:
    """Entry of the latest declaration of name before byte `at` (None: not a local)."""
    for entry in reversed(scope.get(name, ())):
        if entry[0] < at:
            return entry
    return None


def _info(scope: dict[str, list[list]], entry: list) -> str:
    """An entry's type info, worked out once: the type as written; for `auto`, what the
    initialiser says (_auto_info) or `elem:a.b` for `for (auto& x : a->b)`; '?' unknown."""
    how, payload = entry[1], entry[2]
    if how == _DONE:
        return payload
    if how == _TYPE:
        info = squash(text(payload)) + entry[3] if payload is not None else "?"
    elif how == _RANGE:
        right = payload.child_by_field_id(_F_RIGHT)
        info = _chain_info("elem:", right, scope, entry[0])
        if info == "?":  # `for (auto& r : batch_state->queue)`: element of any receiver-like value
            whole = _expr_info(right, scope, entry[0])
            info = "each:" + whole[5:] if whole.startswith("expr:") else "?"
    else:
        value = payload.child_by_field_id(_F_VALUE)
        info = _auto_info(value, scope, entry[0]) if value is not None else "?"
    entry[1], entry[2] = _DONE, info
    return info


def _chain(node: ts.Node | None) -> list[str]:
    """['a', 'b', 'c'] for `a->b.c` / `this->a.b` made of plain names, else []."""
    parts: list[str] = []
    while node is not None and node.kind_id == _K_FIELD_EXPRESSION:
        field = node.child_by_field_id(_F_FIELD)
        if field is None or field.kind_id != _K_FIELD_IDENTIFIER:
            return []
        parts.append(text(field))
        node = node.child_by_field_id(_F_ARGUMENT)
    if node is None:
        return []
    if node.kind_id == _K_IDENTIFIER:
        parts.append(text(node))
    elif node.kind_id != _K_THIS or not parts:
        return []
    parts.reverse()
    return parts


def _chain_info(prefix: str, node: ts.Node | None, scope: dict[str, list[list]], at: int) -> str:
    """`elem:a.b` / `iter:a.b` for a chain rooted at a member field (resolved at query time
    through the fields' types); `of:T` / `iterof:T` for a local or parameter of type T itself
    (`for (auto& r : reqs)`); '?' for a longer chain from a local or any other expression."""
    parts = _chain(node)
    if not parts:
        return "?"
    entry = _visible(scope, parts[0], at)
    if entry is None:
        return prefix + ".".join(parts)
    known = _info(scope, entry)
    if len(parts) > 1 or known == "?" or known.startswith(_DERIVED):
        return "?"
    return ("of:" if prefix == "elem:" else "iterof:") + known


def _auto_info(value: ts.Node, scope: dict[str, list[list]], at: int) -> str:
    """Type info of `auto x = value`: make_shared/make_unique/new give the class; `*it` the
    element of what `it` iterates; `c.begin()`/`c.find(k)`-style calls an iterator over c."""
    k = value.kind_id
    if k == _K_NEW:
        return text(value.child_by_field_id(_F_TYPE)) or "?"
    if k == _K_POINTER_EXPRESSION and text(value)[:1] == "*":
        arg = value.child_by_field_id(_F_ARGUMENT)
        if arg is not None and arg.kind_id == _K_IDENTIFIER:
            entry = _visible(scope, text(arg), at)
            known = _info(scope, entry) if entry is not None else ""
            if known.startswith("iter:"):
                return "elem:" + known[5:]
            if known.startswith("iterof:"):
                return "of:" + known[7:]
        return "?"
    if k == _K_CALL:
        fn = value.child_by_field_id(_F_FUNCTION)
        if fn.kind_id == _K_QUALIFIED:
            parts = _name_parts(fn)
            if parts[:1] == ["std"] and parts[-1:] in (["make_shared"], ["make_unique"]):
                return _template_arg(fn) or "?"
        elif fn.kind_id == _K_FIELD_EXPRESSION:
            field = fn.child_by_field_id(_F_FIELD)
            if field is not None and text(field) in _ITERATOR_CALLS:
                return _chain_info("iter:", fn.child_by_field_id(_F_ARGUMENT), scope, at)
    return _expr_info(value, scope, at)


def _expr_info(value: ts.Node, scope: dict[str, list[list]], at: int) -> str:
    """`expr:<tokens>` for `auto x = a->b()` and the like (see _expr); a root that is itself a
    local is replaced by what is known of it, so the resolver never needs the function's locals."""
    tokens = _expr(value, source(), 0)
    if not tokens:
        return "?"
    root = tokens[0]
    if root.isidentifier() and root != "this":
        entry = _visible(scope, root, at)
        if entry is not None:
            known = _info(scope, entry)
            if known == "?":
                return "?"
            if known.startswith("expr:"):
                tokens = known[5:].split("\t") + tokens[1:]
            else:
                tokens[0] = "L:" + known
    return "expr:" + "\t".join(tokens)


_ITERATOR_CALLS = {"begin", "end", "cbegin", "cend", "rbegin", "rend", "find"}
_DERIVED = ("elem:", "iter:", "of:", "iterof:")  # type info that is not a type as written

_LANG = language("cpp")
_F_FUNCTION = _LANG.field_id_for_name("function")
_F_ARGUMENTS = _LANG.field_id_for_name("arguments")
_F_ARGUMENT = _LANG.field_id_for_name("argument")
_F_FIELD = _LANG.field_id_for_name("field")
_F_NAME = _LANG.field_id_for_name("name")
_F_DEFAULT_VALUE = _LANG.field_id_for_name("default_value")
_F_DECLARATOR = _LANG.field_id_for_name("declarator")
_K_IDENTIFIER = _LANG.id_for_node_kind("identifier", True)
_K_FIELD_IDENTIFIER = _LANG.id_for_node_kind("field_identifier", True)
_K_QUALIFIED = _LANG.id_for_node_kind("qualified_identifier", True)
_K_TEMPLATE_FUNCTION = _LANG.id_for_node_kind("template_function", True)
_K_FIELD_EXPRESSION = _LANG.id_for_node_kind("field_expression", True)
_K_THIS = _LANG.id_for_node_kind("this", True)
_IDENT_KINDS = (_K_IDENTIFIER, _K_FIELD_IDENTIFIER)
_F_TYPE = _LANG.field_id_for_name("type")
_F_VALUE = _LANG.field_id_for_name("value")
_F_RIGHT = _LANG.field_id_for_name("right")
_K_PLACEHOLDER = _LANG.id_for_node_kind("placeholder_type_specifier", True)
_K_FOR_RANGE = _LANG.id_for_node_kind("for_range_loop", True)
_K_INIT_DECLARATOR = _LANG.id_for_node_kind("init_declarator", True)
_K_FUNCTION_DECLARATOR = _LANG.id_for_node_kind("function_declarator", True)
_K_ARRAY_DECLARATOR = _LANG.id_for_node_kind("array_declarator", True)
_K_NEW = _LANG.id_for_node_kind("new_expression", True)
_K_POINTER_EXPRESSION = _LANG.id_for_node_kind("pointer_expression", True)
_K_CALL = _LANG.id_for_node_kind("call_expression", True)
_K_PRIMITIVE = _LANG.id_for_node_kind("primitive_type", True)
_K_SUBSCRIPT = _LANG.id_for_node_kind("subscript_expression", True)
_K_DECLARATION = _LANG.id_for_node_kind("declaration", True)
_K_PARENTHESIZED = _LANG.id_for_node_kind("parenthesized_expression", True)
_K_CAST = _LANG.id_for_node_kind("cast_expression", True)
_F_OPERATOR = _LANG.field_id_for_name("operator")
_F_SCOPE = _LANG.field_id_for_name("scope")
_F_PARAMETERS = _LANG.field_id_for_name("parameters")
_PARAM_KINDS = (_LANG.id_for_node_kind("parameter_declaration", True),
                _LANG.id_for_node_kind("optional_parameter_declaration", True))


def extract(result: FileResult, source: bytes) -> FileResult:
    """Fill result with the symbols, calls and includes of one C++ source."""
    use_source(source)
    tree = parse("cpp", source)
    root = tree.root_node
    result.parse_errors = count_errors(root)
    caps = captures("cpp", root)
    ex = _Extractor(result, root)
    ex.scopes = _Scopes(caps.get("namespace", []), caps.get("class", []))
    for node in caps.get("namespace", ()):
        ex.namespace(node)
    for node in caps.get("class", ()):
        ex.type_def(node, "class")
    for node in caps.get("enum", ()):
        ex.type_def(node, "enum")
    for node in caps.get("function", ()):
        ex.function(node, node.child_by_field_name("declarator"), is_def=True)
    seen: set[int] = set()  # one node can match several patterns (template in a class body)
    in_body = Enclosing(list(ex.callables)).find
    for node in caps.get("prototype", ()):
        if node.id not in seen:
            seen.add(node.id)
            ex.function(node, node.child_by_field_name("declarator"), is_def=False)
    for node in caps.get("prototype.pp", ()):
        if node.id not in seen and in_body(node.start_byte, node.end_byte) is None:
            seen.add(node.id)
            ex.function(node, node.child_by_field_name("declarator"), is_def=False)
    for node in caps.get("member", ()):
        if node.id not in seen:
            seen.add(node.id)
            ex.member(node)
    for node in caps.get("member.pp", ()):
        if node.id not in seen and in_body(node.start_byte, node.end_byte) is None:
            seen.add(node.id)
            ex.member(node)
    for node in caps.get("macro", ()):
        ex.macro(node)
    for node in caps.get("alias", ()):
        if in_body(node.start_byte, node.end_byte) is None:
            ex.alias(node)
    for node in caps.get("include", ()):
        ex.include(node)
    commented = sorted(n.start_byte for n in caps.get("call.comment", ()))
    find = Enclosing(ex.callables).find
    ex.calls(caps.get("call", []), source, commented, find, caps.get("local", []))
    ex.constructions(caps.get("new", []), find)
    ex.initialisers(caps.get("init.name", []), caps.get("init.args", []), find)
    ex.declared_constructions(caps.get("local", []), find)
    return result
