"""The vLLM reference of bench/calls.py: call sites found with `ast`, targets from jedi.

Each `ast.Call` whose callee is a name (`f(...)`) or an attribute (`a.b.f(...)`) is a site at
the call's first line (where tree-sitter, and so codewalk, puts it), named by that name or
attribute. jedi's `Script.goto(line, col, follow_imports=True)` is asked at the callee name
(for `a.b.f()` at `f`), with a `jedi.Project` rooted at the checkout.

Classification of a site:
* project — jedi lands on a function or class whose module file is inside the checkout (and
  not in a `site-packages` below it); targets are jedi's `full_name`s;
* library — jedi lands in a builtin/compiled module, a typeshed stub, the standard library or
  any file outside the checkout; or jedi finds nothing but the leftmost name of the callee is
  bound by an import from outside the project's top-level packages (`torch.cuda.synchronize()`
  with torch not installed), or is a builtin name the file never rebinds;
* unknown — jedi finds nothing otherwise (untyped parameters, dynamic attributes), or lands on
  a variable/parameter/attribute holding a callable inside the checkout (an indirect call,
  which no static index can name). Unknown sites are not scored.
"""

from __future__ import annotations

import ast
import builtins
import sys
from collections.abc import Iterator
from pathlib import Path

from calls_cache import UnitCache, tree_key
from calls_score import RefSite

_BUILTINS = frozenset(dir(builtins))
_CALLABLE_TYPES = ("function", "class")
RULES = ""  # part of the cache key: set/bump when what counts as a site or its class changes


def selected_files(root: Path, folders: tuple[str, ...]) -> list[str]:
    """Relative paths of the .py files under root/folder for each folder (sorted)."""
    out = []
    for folder in folders:
        out.extend(str(p.relative_to(root)) for p in (root / folder).rglob("*.py") if p.is_file())
    return sorted(set(out))


def _head(expr: ast.expr) -> str:
    """Leftmost name of a dotted callee (`a` for `a.b.c`), '' for anything else."""
    while isinstance(expr, ast.Attribute):
        expr = expr.value
    return expr.id if isinstance(expr, ast.Name) else ""


def _import_origins(tree: ast.Module) -> dict[str, str]:
    """name bound by an import anywhere in the file -> module it comes from ('.' = relative)."""
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                out[(a.asname or a.name).split(".")[0]] = a.name
        elif isinstance(node, ast.ImportFrom):
            mod = "." * node.level + (node.module or "")
            for a in node.names:
                out[a.asname or a.name] = mod
    return out


def _assigned(tree: ast.Module) -> set[str]:
    """Names the file binds itself (defs, classes, assignment targets, parameters)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
    return names


def call_sites(src: str) -> Iterator[tuple[ast.Call, str, int, int]]:
    """(call, name, line, column) of the callee name, column in characters as jedi counts."""
    tree = ast.parse(src)
    lines = src.splitlines()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Name):
            name, line, byte_col = f.id, f.lineno, f.col_offset
        elif isinstance(f, ast.Attribute) and f.end_lineno is not None:
            name, line = f.attr, f.end_lineno
            byte_col = f.end_col_offset - len(f.attr.encode("utf-8"))
        else:
            continue  # `x[0]()`, `f()()`: codewalk does not record these either
        text = lines[line - 1] if line - 1 < len(lines) else ""
        col = len(text.encode("utf-8")[:byte_col].decode("utf-8", "replace"))
        yield node, name, line, col


class PyReference:
    """jedi over one checkout; `sites(rel)` classifies every call site of one file."""

    def __init__(self, root: Path, packages: tuple[str, ...]) -> None:
        import jedi
        self.jedi = jedi
        self.root = root.resolve()
        self.packages = packages  # the project's own top-level packages (e.g. 'vllm')
        self.project = jedi.Project(str(self.root))

    def _inside(self, path: Path | None) -> bool:
        if path is None:
            return False
        try:
            rel = Path(path).resolve().relative_to(self.root)
        except ValueError:
            return False
        return "site-packages" not in rel.parts and path.suffix == ".py"

    def _outside_import(self, origin: str) -> bool:
        return not origin.startswith(".") and origin.split(".")[0] not in self.packages

    def sites(self, rel: str) -> list[RefSite]:
        path = self.root / rel
        src = path.read_text(encoding="utf-8", errors="replace")
        try:
            tree = ast.parse(src)
        except SyntaxError:
            return []
        imports, bound = _import_origins(tree), _assigned(tree)
        script = self.jedi.Script(src, path=str(path), project=self.project)
        out = []
        for call, name, _line, col in call_sites(src):
            f = call.func
            at_line = f.lineno if isinstance(f, ast.Name) else f.end_lineno
            try:
                names = script.goto(at_line, col, follow_imports=True)
            except Exception as e:  # noqa: BLE001 - jedi's internals fail on odd code; one site
                names, why = [], f"jedi error: {type(e).__name__}"
            else:
                why = ""
            site = RefSite(rel, call.lineno, call.col_offset, name, "unknown")
            self._classify(site, names, _head(f), imports, bound, why)
            out.append(site)
        return out

    def _classify(self, site: RefSite, names: list, head: str, imports: dict[str, str],
                  bound: set[str], why: str) -> None:
        project = [n for n in names if self._inside(n.module_path) and not n.in_builtin_module()]
        if names and not project:
            n = names[0]
            site.kind, site.note = "library", f"{n.full_name or n.name} (outside)"
            return
        if project:
            callables = [n for n in project if n.type in _CALLABLE_TYPES and n.full_name]
            if not callables:
                site.note = f"indirect: {project[0].type} {project[0].name}"
                return
            site.kind = "project"
            site.targets = sorted({n.full_name for n in callables})
            first = callables[0]
            where = Path(first.module_path).resolve().relative_to(self.root)
            site.where = f"{where}:{first.line}"
            return
        origin = imports.get(head)
        if origin is not None and self._outside_import(origin):
            site.kind, site.note = "library", f"imported from {origin}"
        elif head in _BUILTINS and head not in bound and head not in imports:
            site.kind, site.note = "library", f"builtin {head}"
        else:
            site.note = why or "jedi found nothing"


def reference(root: Path, folders: tuple[str, ...], packages: tuple[str, ...],
              use_cache: bool = True, progress=None) -> tuple[list[RefSite], dict]:  # noqa: ANN001
    """Reference sites of every .py file under the folders, cached per file (see calls_cache)."""
    import jedi
    rules = f"rules={RULES};" if RULES else ""
    key = tree_key(root, packages, f"{rules}jedi={jedi.__version__};py={sys.version_info[:2]}")
    cache = UnitCache("vllm", key, use_cache)
    files = selected_files(root, folders)
    ref: PyReference | None = None
    sites: list[RefSite] = []
    computed = 0
    for i, rel in enumerate(files):
        hit = cache.get(rel)
        if hit is None:
            ref = ref or PyReference(root, packages)
            found = ref.sites(rel)
            cache.put(rel, found, {})
            computed += 1
            if progress:
                progress(f"jedi {i + 1}/{len(files)} {rel}: {len(found)} sites")
        else:
            found = hit[0]
        sites.extend(found)
    return sites, {"files": len(files), "computed": computed, "cache": str(cache.dir)}
