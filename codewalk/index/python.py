"""Python symbol, call-site and import extraction from the captures of queries/python.scm."""

from __future__ import annotations

import tree_sitter as ts

from codewalk.index.common import Enclosing, count_errors, leading_comment, squash, text
from codewalk.index.parse import captures, parse
from codewalk.index.records import Call, FileResult, Import, Symbol


def _docstring(body: ts.Node | None) -> str:
    """First paragraph of a docstring, which is what Python code uses as its leading comment."""
    if body is None or not body.named_children:
        return ""
    first = body.named_children[0]
    if first.type != "expression_statement" or not first.named_children:
        return ""
    string = first.named_children[0]
    if string.type != "string":
        return ""
    raw = text(string).strip("rRbBuUfF").strip("\"'")
    return raw.strip().split("\n\n")[0].strip()[:800]


def _scope(node: ts.Node, module: str) -> tuple[list[str], str]:
    """Qualified-name parts of the enclosing classes/functions and the innermost one's type."""
    names: list[str] = []
    innermost = ""
    parent = node.parent
    while parent is not None:
        if parent.type in ("class_definition", "function_definition"):
            names.append(text(parent.child_by_field_name("name")))
            innermost = innermost or parent.type
        parent = parent.parent
    names.reverse()
    return ([module] if module else []) + names, innermost


def _outer(node: ts.Node) -> ts.Node:
    """The decorated_definition wrapping node, if any (comments sit above decorators)."""
    parent = node.parent
    return parent if parent is not None and parent.type == "decorated_definition" else node


class _Extractor:
    """One file's output lists plus the module name used to qualify everything."""

    def __init__(self, result: FileResult, module: str, is_package: bool) -> None:
        self.result = result
        self.module = module
        self.package = module if is_package else module.rpartition(".")[0]
        self.callables: list[tuple[int, int, int]] = []
        self.class_fields: dict[tuple[str, str], Symbol] = {}

    def add(self, sym: Symbol, node: ts.Node, callable_body: bool = False) -> None:
        sym.start_byte, sym.end_byte = node.start_byte, node.end_byte
        if callable_body:
            self.callables.append((node.start_byte, node.end_byte, len(self.result.symbols)))
        self.result.symbols.append(sym)

    def module_symbol(self, root: ts.Node) -> None:
        self.add(Symbol(
            name=self.module.rpartition(".")[2], qname=self.module, kind="module", line=1,
            end_line=root.end_point.row + 1, is_def=True, comment=_docstring(root),
        ), root)

    def class_def(self, node: ts.Node) -> None:
        parts, _ = _scope(node, self.module)
        name = text(node.child_by_field_name("name"))
        supers = node.child_by_field_name("superclasses")
        bases = tuple(squash(text(b)) for b in (supers.named_children if supers else [])
                      if b.type not in ("keyword_argument", "comment", "list_splat",
                                        "dictionary_splat"))
        body = node.child_by_field_name("body")
        head = node.text[: body.start_byte - node.start_byte] if body else node.text
        self.add(Symbol(
            name=name, qname=".".join(parts + [name]), kind="class",
            line=node.start_point.row + 1, end_line=node.end_point.row + 1, is_def=True,
            scope=".".join(parts), signature=squash(head.decode("utf-8", "replace")).rstrip(":"),
            comment=_docstring(body) or leading_comment(_outer(node)), bases=bases,
        ), node)

    def function(self, node: ts.Node) -> None:
        parts, innermost = _scope(node, self.module)
        name = text(node.child_by_field_name("name"))
        body = node.child_by_field_name("body")
        head = node.text[: body.start_byte - node.start_byte] if body else node.text
        kind = "method" if innermost == "class_definition" else "function"
        if kind == "method" and name == "__init__":
            kind = "constructor"
        self.add(Symbol(
            name=name, qname=".".join(parts + [name]), kind=kind,
            line=node.start_point.row + 1, end_line=node.end_point.row + 1, is_def=True,
            scope=".".join(parts), signature=squash(head.decode("utf-8", "replace")).rstrip(":"),
            comment=_docstring(body) or leading_comment(_outer(node)),
        ), node, callable_body=True)

    def field(self, owner: str, name: str, type_text: str, node: ts.Node) -> None:
        """Record a typed attribute once per class; a later typed assignment fills the type."""
        key = (owner, name)
        known = self.class_fields.get(key)
        if known is not None:
            if not known.type_text and type_text:
                known.type_text = type_text
            return
        sym = Symbol(
            name=name, qname=f"{owner}.{name}", kind="field", line=node.start_point.row + 1,
            end_line=node.end_point.row + 1, is_def=True, scope=owner,
            signature=squash(text(node), 200), type_text=type_text,
        )
        self.class_fields[key] = sym
        self.add(sym, node)

    def self_attribute(self, node: ts.Node) -> None:
        """`self.x = Foo(...)` / `self.x: Foo = ...` inside a method."""
        left = node.child_by_field_name("left")
        if text(left.child_by_field_name("object")) != "self":
            return
        parts, innermost = _scope(node, self.module)
        if innermost != "function_definition" or len(parts) < 2:
            return
        owner = ".".join(parts[:-1])  # method's class; nested-function edge cases accepted
        self.field(owner, text(left.child_by_field_name("attribute")), _value_type(node), node)

    def class_attribute(self, node: ts.Node) -> None:
        parts, _ = _scope(node, self.module)
        name = text(node.child_by_field_name("left"))
        self.field(".".join(parts), name, _annotation_type(node.child_by_field_name("type")), node)

    def imports(self, node: ts.Node) -> None:
        line = node.start_point.row + 1
        if node.type == "import_statement":
            for item in node.named_children:
                if item.type == "aliased_import":
                    target = text(item.child_by_field_name("name"))
                    self.result.imports.append(
                        Import(target, line, text(item.child_by_field_name("alias"))))
                elif item.type == "dotted_name":
                    # `import a.b` binds the dotted path itself for attribute lookups
                    self.result.imports.append(Import(text(item), line, text(item)))
            return
        base = self._from_module(node.child_by_field_name("module_name"))
        for item in node.children_by_field_name("name"):
            if item.type == "aliased_import":
                name = text(item.child_by_field_name("name"))
                alias = text(item.child_by_field_name("alias"))
            else:
                name = alias = text(item)
            self.result.imports.append(Import(f"{base}.{name}" if base else name, line, alias))
        if any(c.type == "wildcard_import" for c in node.named_children):
            self.result.imports.append(Import(f"{base}.*", line, "*"))

    def _from_module(self, node: ts.Node | None) -> str:
        """Absolute dotted module of a `from X import`, resolving leading dots."""
        if node is None:
            return ""
        if node.type != "relative_import":
            return text(node)
        prefix = next((c for c in node.named_children if c.type == "import_prefix"), None)
        dots = len(text(prefix)) if prefix is not None else 0
        rest = next((text(c) for c in node.named_children if c.type == "dotted_name"), "")
        pkg_parts = self.package.split(".") if self.package else []
        pkg_parts = pkg_parts[: len(pkg_parts) - (dots - 1)] if dots > 1 else pkg_parts
        return ".".join(p for p in pkg_parts + [rest] if p)

    def calls(self, nodes: list[ts.Node]) -> None:
        enclosing = Enclosing(self.callables)
        for node in nodes:
            caller = enclosing.find(node.start_byte, node.end_byte)
            call = _call(node, 0 if caller is None else caller)  # module-level code -> module
            if call is not None:
                self.result.calls.append(call)


def _annotation_type(node: ts.Node | None) -> str:
    """Class name inside an annotation: `Optional[X]`, `X | None`, `"X"` all give X."""
    if node is None:
        return ""
    s = text(node).strip().strip("\"'")
    for wrapper in ("Optional[", "typing.Optional[", "ClassVar[", "Final["):
        if s.startswith(wrapper) and s.endswith("]"):
            s = s[len(wrapper): -1]
    s = s.split("|")[0].strip()
    return "" if "[" in s or "(" in s else s


def _value_type(node: ts.Node) -> str:
    """Type of an assignment's target: its annotation, else the constructor it calls."""
    annotated = _annotation_type(node.child_by_field_name("type"))
    if annotated:
        return annotated
    right = node.child_by_field_name("right")
    if right is not None and right.type == "call":
        fn = right.child_by_field_name("function")
        if fn is not None and fn.type in ("identifier", "attribute"):
            return text(fn)
    return ""


def _dotted(node: ts.Node) -> str:
    """`a.b.c` for a pure chain of identifiers, else ''."""
    if node.type == "identifier":
        return text(node)
    if node.type == "attribute":
        head = _dotted(node.child_by_field_name("object"))
        return f"{head}.{text(node.child_by_field_name('attribute'))}" if head else ""
    return ""


def _call(node: ts.Node, caller: int) -> Call | None:
    """Classify one call by how its callee is written (see records.Call)."""
    fn = node.child_by_field_name("function")
    args = node.child_by_field_name("arguments")
    nargs = sum(1 for a in args.named_children if a.type != "comment") if args else 0
    line = node.start_point.row + 1
    if fn.type == "identifier":
        return Call(caller, text(fn), "plain", line, nargs=nargs)
    if fn.type != "attribute":
        return None
    name = text(fn.child_by_field_name("attribute"))
    obj = fn.child_by_field_name("object")
    dotted = _dotted(obj)
    if dotted == "self":
        return Call(caller, name, "self", line, nargs=nargs)
    if dotted.startswith("self.") and dotted.count(".") == 1:
        return Call(caller, name, "self_attr", line, receiver=dotted[5:], nargs=nargs)
    if obj.type == "call" and text(obj.child_by_field_name("function")) == "super":
        return Call(caller, name, "super", line, nargs=nargs)
    if dotted:
        return Call(caller, name, "attr", line, receiver=dotted, nargs=nargs)
    return Call(caller, name, "member", line, nargs=nargs)


def extract(result: FileResult, source: bytes, module: str, is_package: bool) -> FileResult:
    """Fill result with the module, classes, functions, fields, calls and imports of a file."""
    tree = parse("python", source)
    root = tree.root_node
    result.parse_errors = count_errors(root)
    caps = captures("python", root)
    ex = _Extractor(result, module, is_package)
    ex.module_symbol(root)
    for node in caps.get("class", ()):
        ex.class_def(node)
    for node in caps.get("function", ()):
        ex.function(node)
    for node in caps.get("classattr", ()):
        ex.class_attribute(node)
    for node in caps.get("attr", ()):
        ex.self_attribute(node)
    for node in caps.get("import", ()):
        ex.imports(node)
    ex.calls(caps.get("call", []))
    return result
