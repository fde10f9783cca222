"""C++/CUDA symbol, call-site and include extraction from the captures of queries/cpp.scm."""

from __future__ import annotations

import tree_sitter as ts

from codewalk.index.common import Enclosing, count_errors, leading_comment, squash, text
from codewalk.index.parse import captures, parse
from codewalk.index.records import Call, FileResult, Import, Symbol

_CLASS_TYPES = ("class_specifier", "struct_specifier", "union_specifier")
_WRAPPERS = ("pointer_declarator", "reference_declarator", "attributed_declarator",
             "parenthesized_declarator")
_SMART_POINTERS = {"shared_ptr", "unique_ptr", "weak_ptr", "optional", "atomic"}


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
    return [squash(text(node)).replace(" ", "")] if t != "operator_name" else [squash(text(node))]


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
    default = param.child_by_field_name("default_value")
    src = param.text
    if default is not None:
        end = default.start_byte
    ident = param.child_by_field_name("declarator")
    while ident is not None and ident.type not in ("identifier", "field_identifier"):
        ident = _inner(ident)
    if ident is not None:
        cut = src[: ident.start_byte - start] + src[ident.end_byte - start: end - start]
    else:
        cut = src[: end - start]
    s = squash(cut.decode("utf-8", "replace")).rstrip("= ")
    for ch in ("*", "&", ",", "<", ">", "::"):
        s = s.replace(" " + ch, ch).replace(ch + " ", ch)
    return s


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


def _scope_chain(node: ts.Node) -> tuple[list[str], bool]:
    """Enclosing namespace/class names, outermost first, and whether the innermost is a class."""
    names: list[str] = []
    in_class = None
    parent = node.parent
    while parent is not None:
        if parent.type == "namespace_definition":
            name = parent.child_by_field_name("name")
            if name is not None:  # anonymous namespaces add no qualifier
                names.extend(reversed(text(name).replace(" ", "").split("::")))
            in_class = False if in_class is None else in_class
        elif parent.type in _CLASS_TYPES:
            name = parent.child_by_field_name("name")
            if name is not None:
                names.append(_name_parts(name)[-1])
                in_class = True if in_class is None else in_class
        parent = parent.parent
    names.reverse()
    return names, bool(in_class)


def _kind(name: str, scope_parts: list[str], member: bool) -> str:
    """constructor/destructor/operator/method/function from name and where it lives."""
    if name.startswith("~"):
        return "destructor"
    if name.startswith("operator") and (len(name) == 8 or not name[8].isalnum() and name[8] != "_"):
        return "operator"
    if scope_parts and name == scope_parts[-1]:
        return "constructor"
    return "method" if member else "function"


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
        if not parts or not parts[-1]:
            return
        outer, in_class = _scope_chain(node)
        scope_parts = outer + parts[:-1]
        kind = _kind(parts[-1], scope_parts, in_class or len(parts) > 1)
        body = node.child_by_field_name("body")
        head_end = body.start_byte if (is_def and body is not None) else node.end_byte
        head = node.text[: head_end - node.start_byte].decode("utf-8", "replace").rstrip(" ;{")
        self.add(Symbol(
            name=parts[-1], qname="::".join(scope_parts + parts[-1:]), kind=kind,
            line=node.start_point.row + 1, end_line=node.end_point.row + 1, is_def=is_def,
            scope="::".join(scope_parts), signature=squash(head),
            params_key=params_key(params, declarator), comment=leading_comment(_outer(node)),
        ), node, callable_body=is_def)

    def type_def(self, node: ts.Node, kind: str) -> None:
        name = node.child_by_field_name("name")
        parts = _name_parts(name) if name is not None else []
        if not parts:
            return
        outer, _ = _scope_chain(node)
        scope_parts = outer + parts[:-1]
        bases: list[str] = []
        for child in node.named_children:
            if child.type == "base_class_clause":
                bases = [squash(text(b)) for b in child.named_children
                         if b.type not in ("access_specifier", "virtual", "comment")]
        if kind == "class" and node.type == "struct_specifier":
            kind = "struct"
        body = node.child_by_field_name("body")
        head = node.text[: (body.start_byte if body else node.end_byte) - node.start_byte]
        self.add(Symbol(
            name=parts[-1], qname="::".join(scope_parts + parts[-1:]), kind=kind,
            line=node.start_point.row + 1, end_line=node.end_point.row + 1, is_def=True,
            scope="::".join(scope_parts), signature=squash(head.decode("utf-8", "replace")),
            comment=leading_comment(_outer(node)), bases=tuple(bases),
        ), node)

    def namespace(self, node: ts.Node) -> None:
        name = node.child_by_field_name("name")
        if name is None:
            return
        outer, _ = _scope_chain(node)
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
        outer, _ = _scope_chain(node)
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
        self.result.imports.append(Import(target=target, line=node.start_point.row + 1))

    def calls(self, nodes: list[ts.Node]) -> None:
        enclosing = Enclosing(self.callables)
        for node in nodes:
            caller = enclosing.find(node.start_byte, node.end_byte)
            if caller is None:
                continue
            call = _call(node, caller)
            if call is not None:
                self.result.calls.append(call)


def _call(node: ts.Node, caller: int) -> Call | None:
    """Classify one call_expression by how its callee is written."""
    fn = node.child_by_field_name("function")
    args = node.child_by_field_name("arguments")
    nargs = sum(1 for a in args.named_children if a.type != "comment") if args else 0
    line = node.start_point.row + 1
    t = fn.type
    if t == "template_function":
        fn, t = fn.child_by_field_name("name"), fn.child_by_field_name("name").type
    if t == "identifier":
        return Call(caller, text(fn), "plain", line, nargs=nargs)
    if t == "qualified_identifier":
        parts = _name_parts(fn)
        if not parts or parts[0] == "std":  # the standard library is never in the index
            return None
        return Call(caller, parts[-1], "qualified", line, qualifier="::".join(parts[:-1]),
                    nargs=nargs)
    if t != "field_expression":
        return None
    field = fn.child_by_field_name("field")
    parts = _name_parts(field) if field is not None else []
    if not parts:
        return None
    arg = fn.child_by_field_name("argument")
    if arg.type == "this":
        return Call(caller, parts[-1], "this", line, nargs=nargs)
    return Call(caller, parts[-1], "member", line, receiver=_receiver(arg), nargs=nargs)


def _receiver(arg: ts.Node) -> str:
    """`x` for x.f()/x->f()/this->x->f(); '' when the receiver is an arbitrary expression."""
    if arg.type == "identifier":
        return text(arg)
    if arg.type == "field_expression":
        inner = arg.child_by_field_name("argument")
        field = arg.child_by_field_name("field")
        if inner is not None and inner.type == "this" and field is not None:
            return text(field)
    return ""


def smart_pointee(type_text: str) -> str:
    """`X` for `std::shared_ptr<X>`, `const X*`, `X&`; template args of other types dropped."""
    s = type_text.replace("const ", "").replace("volatile ", "").strip().rstrip("*& ")
    lt = s.find("<")
    if lt > 0:
        head = s[:lt].split("::")[-1].strip()
        if head in _SMART_POINTERS and s.endswith(">"):
            return smart_pointee(s[lt + 1: -1].split(",")[0])
        s = s[:lt]
    return s.strip()


def extract(result: FileResult, source: bytes) -> FileResult:
    """Fill result with the symbols, calls and includes of one C++ source."""
    tree = parse("cpp", source)
    root = tree.root_node
    result.parse_errors = count_errors(root)
    caps = captures("cpp", root)
    ex = _Extractor(result, root)
    for node in caps.get("namespace", ()):
        ex.namespace(node)
    for node in caps.get("class", ()):
        ex.type_def(node, "class")
    for node in caps.get("enum", ()):
        ex.type_def(node, "enum")
    for node in caps.get("function", ()):
        ex.function(node, node.child_by_field_name("declarator"), is_def=True)
    seen: set[int] = set()  # one node can match several patterns (template in a class body)
    for node in caps.get("prototype", ()):
        if node.id not in seen:
            seen.add(node.id)
            ex.function(node, node.child_by_field_name("declarator"), is_def=False)
    for node in caps.get("member", ()):
        if node.id not in seen:
            seen.add(node.id)
            ex.member(node)
    for node in caps.get("macro", ()):
        ex.macro(node)
    for node in caps.get("include", ()):
        ex.include(node)
    ex.calls(caps.get("call", []))
    return result
