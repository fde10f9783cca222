"""The hand-written type stub `codewalk/_core.pyi` covers every public name of the built module."""

from __future__ import annotations

import ast
from pathlib import Path

import codewalk
import codewalk._core as core


def _stub() -> dict[str, set[str]]:
    tree = ast.parse((Path(codewalk.__file__).parent / "_core.pyi").read_text("utf-8"))
    names: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            names[node.name] = {n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AnnAssign))
                                for n in [n] if not isinstance(n, ast.AnnAssign)} | \
                {n.target.id for n in node.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)}
        elif isinstance(node, ast.FunctionDef):
            names[node.name] = set()
    return names


def test_every_public_name_is_stubbed() -> None:
    stub = _stub()
    public = [n for n in dir(core) if not n.startswith("_")]
    assert sorted(set(public) - set(stub)) == []
    for name in public:
        obj = getattr(core, name)
        if isinstance(obj, type):
            members = {m for m in vars(obj) if not m.startswith("_")}
            assert sorted(members - stub[name]) == [], name


def test_bound_classes_have_docstrings() -> None:
    for name in ("PrefixCacheManager", "Scheduler", "CacheConfig", "SchedulerConfig", "StepResult"):
        cls = getattr(core, name)
        assert cls.__doc__
        for member in (m for m in vars(cls) if not m.startswith("_")):
            assert getattr(cls, member).__doc__, f"{name}.{member}"
