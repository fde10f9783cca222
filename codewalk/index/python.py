"""Python symbol, call-site and import extraction from the captures of queries/python.scm."""

from __future__ import annotations


import tree_sitter as ts

from codewalk.index.common import Enclosing, count_errors, leading_comment, squash, text
from codewalk.index.common import source as current_source
from codewalk.index.common import use_source
from codewalk.index.common import head as source_head
from codewalk.index.common import count_args
from codewalk.index.python_locals import UNKNOWN, Locals, annotation
from codewalk.index.parse import captures, language, parse
from codewalk.index.records import FileResult, Symbol


def _docstring(body: ts.Node | None) -> str:
    """First paragraph of a docstring, which is what Python code uses as its leading comment."""
    # named_child(0), not named_children[0]: the latter builds a node for every statement
    if body is None or not body.named_child_count:
        return ""
    first = body.named_child(0)
    if first.type != "expression_statement" or not first.named_child_count:
        return ""
    string = first.named_child(0)
    if string.type != "string":
        return ""
    raw = text(string).strip("rRbBuUfF").strip("\"'")
    return raw.strip().split("\n\n")[0].strip()[:800]


OVERLOAD = "@overload "  # type_text prefix of an `@overload` stub
MAX_VALUES = 4  # distinct values kept for an unannotated attribute


class _Scopes:
    """Enclosing classes/functions by byte range (Node.parent is a walk from the root in
    tree-sitter >= 0.24, so climbing parents per symbol is the slow way)."""

    def __init__(self, module: str, containers: list[ts.Node]) -> None:
        base = [module] if module else []
        nodes = sorted(containers, key=lambda n: (n.start_byte, -n.end_byte))
        ranges = []
        self.chain: dict[int, tuple[list[str], str]] = {}  # container id -> its own scope
        stack: list[tuple[int, list[str], str]] = []  # (end_byte, parts incl. itself, type)
        for n in nodes:
            s, e = n.start_byte, n.end_byte
            while stack and stack[-1][0] < e:
                stack.pop()
            parts = stack[-1][1] if stack else base
            inner = stack[-1][2] if stack else ""
            self.chain[n.id] = (parts, inner)
            stack.append((e, parts + [text(n.child_by_field_name("name"))], n.type))
            ranges.append((s, e, (stack[-1][1], n.type)))
        self._enc = Enclosing(ranges)
        self._base = base

    def of(self, node: ts.Node) -> tuple[list[str], str]:
        """Qualified-name parts of the enclosing classes/functions and the innermost one's type."""
        known = self.chain.get(node.id)
        if known is not None:
            return known
        found = self._enc.find(node.start_byte, node.end_byte)
        return found if found is not None else (self._base, "")


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
        # (owner, name) -> untyped / inferred / annotated / conflict (see field())
        self.field_state: dict[tuple[str, str], str] = {}
        self.scopes = _Scopes(module, [])
        self.function_nodes: dict[int, ts.Node] = {}  # symbol index -> function_definition
        self.methods: set[int] = set()  # symbol indexes of methods and constructors
        self.locals: Locals | None = None  # set by extract() once functions are known

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
        parts, _ = self.scopes.of(node)
        name = text(node.child_by_field_name("name"))
        supers = node.child_by_field_name("superclasses")
        bases = tuple(squash(text(b)) for b in (supers.named_children if supers else [])
                      if b.type not in ("keyword_argument", "comment", "list_splat",
                                        "dictionary_splat"))
        body = node.child_by_field_name("body")
        head = source_head(node, body.start_byte if body else node.end_byte)
        self.add(Symbol(
            name=name, qname=".".join(parts + [name]), kind="class",
            line=node.start_point.row + 1, end_line=node.end_point.row + 1, is_def=True,
            scope=".".join(parts), signature=squash(head).rstrip(":"),
            comment=_docstring(body) or leading_comment(_outer(node)), bases=bases,
        ), node)

    def function(self, node: ts.Node) -> None:
        parts, innermost = self.scopes.of(node)
        name = text(node.child_by_field_name("name"))
        body = node.child_by_field_name("body")
        head = source_head(node, body.start_byte if body else node.end_byte)
        kind = "method" if innermost == "class_definition" else "function"
        if kind == "method" and name == "__init__":
            kind = "constructor"
        if kind != "function":
            self.methods.add(len(self.result.symbols))
        self.function_nodes[len(self.result.symbols)] = node
        returns = node.child_by_field_name("return_type")
        # type_text: the return annotation as written; `@overload` stubs are marked so the
        # resolver can send calls to the implementation.
        type_text = annotation(returns) if returns is not None else ""
        if b"overload" in current_source()[max(0, node.start_byte - 160):node.start_byte] and \
                _is_overload(node):  # a byte search first: sibling walks are slow
            type_text = OVERLOAD + type_text
        self.add(Symbol(
            name=name, qname=".".join(parts + [name]), kind=kind,
            line=node.start_point.row + 1, end_line=node.end_point.row + 1, is_def=True,
            scope=".".join(parts), signature=squash(head).rstrip(":"),
            comment=_docstring(body) or leading_comment(_outer(node)), type_text=type_text,
        ), node, callable_body=True)

    def field(self, owner: str, name: str, type_text: str, node: ts.Node,
              annotated: bool = False) -> None:
        """Record an attribute once per class (at its first assignment in source order).

        Its type_text: the first annotation as written (`x: list[Foo]`, `self.x: Foo = ...`);
        without one, the distinct values it is assigned, each as `=expr` on its own line
        (`=Foo()`, `=_ann_(Foo)` for an annotated parameter, `=make_foo()`). The resolver
        evaluates them and keeps the type only when they agree, so `self.m = A()` here and
        `self.m = B()` there leave it untyped and resolution falls back to a base class."""
        key = (owner, name)
        known = self.class_fields.get(key)
        if known is not None:
            state = self.field_state[key]
            if state == "annotated" or not type_text:
                return
            if annotated:
                known.type_text, self.field_state[key] = type_text, "annotated"
            elif type_text not in known.type_text.split("\n") and \
                    known.type_text.count("\n") < MAX_VALUES - 1:
                known.type_text = f"{known.type_text}\n{type_text}".strip("\n")
            return
        self.field_state[key] = "annotated" if annotated else "inferred"
        sym = Symbol(
            name=name, qname=f"{owner}.{name}", kind="field", line=node.start_point.row + 1,
            end_line=node.end_point.row + 1, is_def=True, scope=owner,
            signature=squash(text(node), 200), type_text=type_text,
        )
        self.class_fields[key] = sym
        self.add(sym, node)

    def self_attribute(self, node: ts.Node) -> None:
        """`self.x = <value>` / `self.x: Foo = ...` inside a method."""
        left = node.child_by_field_name("left")
        if text(left.child_by_field_name("object")) != "self":
            return
        parts, innermost = self.scopes.of(node)
        if innermost != "function_definition" or len(parts) < 2:
            return
        owner = ".".join(parts[:-1])  # method's class; nested-function edge cases accepted
        type_node = node.child_by_field_name("type")
        type_text = annotation(type_node) if type_node is not None else ""
        right = node.child_by_field_name("right")
        if not type_text and right is not None and right.type != "none":
            value = self.locals.render(right, self.locals.owner(node))
            type_text = "" if value == UNKNOWN else "=" + value
        self.field(owner, text(left.child_by_field_name("attribute")), type_text, node,
                   type_node is not None)

    def class_attribute(self, node: ts.Node) -> None:
        parts, _ = self.scopes.of(node)
        name = text(node.child_by_field_name("left"))
        self.field(".".join(parts), name, annotation(node.child_by_field_name("type")), node,
                   annotated=True)

    def module_attribute(self, node: ts.Node) -> None:
        """An annotated module-level variable (`current_platform: Platform`, also under
        `if TYPE_CHECKING:`) is a field of its module, so calls on it resolve."""
        type_node = node.child_by_field_name("type")
        left = node.child_by_field_name("left")
        if left.type != "identifier":
            return
        self.field(self.module, text(left), annotation(type_node), node, annotated=True)

    def imports(self, node: ts.Node) -> None:
        line = node.start_point.row + 1
        if node.type == "import_statement":
            for item in node.named_children:
                if item.type == "aliased_import":
                    target = text(item.child_by_field_name("name"))
                    self.result.imports.append(
                        (target, text(item.child_by_field_name("alias")), line))
                elif item.type == "dotted_name":
                    # `import a.b` binds the dotted path itself for attribute lookups
                    self.result.imports.append((text(item), text(item), line))
            return
        base = self._from_module(node.child_by_field_name("module_name"))
        for item in node.children_by_field_name("name"):
            if item.type == "aliased_import":
                name = text(item.child_by_field_name("name"))
                alias = text(item.child_by_field_name("alias"))
            else:
                name = alias = text(item)
            self.result.imports.append((f"{base}.{name}" if base else name, alias, line))
        if any(c.type == "wildcard_import" for c in node.named_children):
            self.result.imports.append((f"{base}.*", "*", line))

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

    def calls(self, nodes: list[ts.Node], src: bytes, commented: list[int]) -> None:
        """Classify every call by how its callee is written (see records.Call); tuples
        (caller, name, kind, line, receiver, qualifier, nargs). Module-level code -> module."""
        find = Enclosing(self.callables).find
        render, lookup = self.locals.render, self.locals.lookup
        bound = self.locals.bound  # names bound anywhere in the file: others are never local
        out = self.result.calls
        append = out.append
        for node in sorted(nodes, key=_start):  # source order (captures need not come in it)
            fn = node.child_by_field_id(_F_FUNCTION)
            args = node.child_by_field_id(_F_ARGUMENTS)
            nargs = count_args(args, commented)
            start = node.start_byte
            found = find(start, node.end_byte)
            caller = 0 if found is None else found
            kind = fn.kind_id
            if kind == _K_IDENTIFIER:
                name = src[fn.start_byte:fn.end_byte].decode("utf-8", "replace")
                # a local name: record what it holds (never a same-named global)
                local = lookup(name, start, -1 if found is None else found) \
                    if name in bound else None
                append((caller, name, "plain", node.start_point[0] + 1, "",
                        "" if local is None else local, nargs))
                continue
            if kind != _K_ATTRIBUTE:
                continue
            attr = fn.child_by_field_id(_F_ATTRIBUTE)
            name = src[attr.start_byte:attr.end_byte].decode("utf-8", "replace")
            obj = fn.child_by_field_id(_F_OBJECT)
            if obj.kind_id == _K_SPLAT and obj.named_child_count:
                obj = obj.named_child(0)  # `return *self.f(), x` parses as (*self).f()
            dotted = _dotted(obj, src)
            line = node.start_point[0] + 1
            if dotted == "self":
                append((caller, name, "self", line, "", "", nargs))
            elif dotted.startswith("self.") and dotted.count(".") == 1:
                append((caller, name, "self_attr", line, dotted[5:], "", nargs))
            elif obj.kind_id == _K_CALL and text(obj.child_by_field_id(_F_FUNCTION)) == "super":
                append((caller, name, "super", line, "", "", nargs))
            else:
                # the receiver with locals replaced by their values (python_locals), when
                # that differs from the receiver as written
                owner = -1 if found is None else found
                root = dotted.partition(".")[0]
                if dotted and (root not in bound or lookup(root, start, owner) is None):
                    append((caller, name, "attr", line, dotted, "", nargs))
                else:
                    receiver = dotted or squash(text(obj), 120)
                    append((caller, name, "attr" if dotted else "member", line, receiver,
                            render(fn, owner), nargs))


def _is_overload(node: ts.Node) -> bool:
    """Whether a function_definition is decorated `@overload` (a typing stub)."""
    prev = node.prev_named_sibling
    while prev is not None and prev.type in ("decorator", "comment"):
        if text(prev).strip() in ("@overload", "@typing.overload", "@typing_extensions.overload"):
            return True
        prev = prev.prev_named_sibling
    return False


def _dotted(node: ts.Node, src: bytes) -> str:
    """`a.b.c` for a pure chain of identifiers, else ''."""
    kind = node.kind_id
    if kind == _K_IDENTIFIER:
        return src[node.start_byte:node.end_byte].decode("utf-8", "replace")
    if kind == _K_ATTRIBUTE:
        head = _dotted(node.child_by_field_id(_F_OBJECT), src)
        if not head:
            return ""
        attr = node.child_by_field_id(_F_ATTRIBUTE)
        return f"{head}.{src[attr.start_byte:attr.end_byte].decode('utf-8', 'replace')}"
    return ""


_LANG = language("python")
_F_FUNCTION = _LANG.field_id_for_name("function")
_F_ARGUMENTS = _LANG.field_id_for_name("arguments")
_F_ATTRIBUTE = _LANG.field_id_for_name("attribute")
_F_OBJECT = _LANG.field_id_for_name("object")
_K_IDENTIFIER = _LANG.id_for_node_kind("identifier", True)
_K_ATTRIBUTE = _LANG.id_for_node_kind("attribute", True)
_K_CALL = _LANG.id_for_node_kind("call", True)
_K_SPLAT = _LANG.id_for_node_kind("list_splat", True)


def _start(node: ts.Node) -> int:
    return node.start_byte


def extract(result: FileResult, source: bytes, module: str, is_package: bool) -> FileResult:
    """Fill result with the module, classes, functions, fields, calls and imports of a file."""
    use_source(source)
    tree = parse("python", source)
    root = tree.root_node
    result.parse_errors = count_errors(root)
    caps = captures("python", root)
    ex = _Extractor(result, module, is_package)
    ex.scopes = _Scopes(module, list(caps.get("class", ())) + list(caps.get("function", ())))
    ex.module_symbol(root)
    for node in caps.get("class", ()):
        ex.class_def(node)
    for node in caps.get("function", ()):
        ex.function(node)
    ex.locals = Locals(ex.callables, ex.function_nodes, ex.methods, lambda n: ex.scopes.of(n)[1])
    ex.locals.collect(caps.get("bind", ()), caps.get("param", ()))
    for node in sorted(ex.locals.module_annotated, key=_start):
        ex.module_attribute(node)
    # Capture lists are not in source order (and the order varies between runs); fields
    # keep their first assignment, so order them.
    for node in sorted(caps.get("classattr", ()), key=_start):
        ex.class_attribute(node)
    for node in sorted(caps.get("attr", ()), key=_start):
        ex.self_attribute(node)
    for node in caps.get("import", ()):
        ex.imports(node)
    commented = sorted(n.start_byte for n in caps.get("call.comment", ()))
    ex.calls(caps.get("call", []), source, commented)
    return result
