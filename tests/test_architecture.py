"""The package's shape: no import cycle between codewalk's modules, no loose module at its top.

Imports are read with `ast` from every `codewalk/**/*.py`, function-level ones included (a lazy
import still ties two modules together); `networkx.simple_cycles` lists every cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parent.parent / "codewalk"
# Beside __init__ and __main__, at most two truly cross-cutting modules may sit at the top.
TOP_LEVEL = {"__init__.py", "__main__.py"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def _target(name: str, modules: dict[str, Path]) -> str | None:
    """The codewalk module an imported dotted name is, or the module defining it."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """codewalk modules imported anywhere in path (top level and inside functions)."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from package, up level - 1
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for name in names:
            if name.split(".")[0] == "codewalk":
                target = _target(name, modules)
                if target and target != me:
                    found.add(target)
    return found


def import_graph() -> nx.DiGraph:
    modules = _modules()
    g = nx.DiGraph()
    for name, path in modules.items():
        g.add_node(name)
        for target in imports(path, modules):
            g.add_edge(name, target)
    return g


def test_graph_sees_known_imports() -> None:
    g = import_graph()
    assert g.has_edge("codewalk.query.answer", "codewalk.query.lookup")  # top-level import
    assert g.has_edge("codewalk.query.answer", "codewalk.sources.registry")  # function-level import
    assert g.has_edge("codewalk.index.build", "codewalk.index.store")  # `from codewalk.index import store`


def test_no_import_cycle() -> None:
    cycles = sorted(" -> ".join(c + [c[0]]) for c in nx.simple_cycles(import_graph()))
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_loose_module_at_the_top() -> None:
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in TOP_LEVEL)
    assert not loose, f"modules at the top of codewalk/ (put them in the package of their concern): {loose}"
    assert len(TOP_LEVEL - {"__init__.py", "__main__.py"}) <= 2
