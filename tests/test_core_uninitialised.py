"""`Cls.__new__(Cls)` without `__init__` holds no C++ object: every method, field and setter of
every class the core binds refuses it with TypeError instead of reading uninitialised memory
(before the check, `StepResult.__new__(StepResult).to_dict()` crashed the interpreter)."""

from __future__ import annotations

import inspect

import pytest

core = pytest.importorskip("codewalk._core")

CLASSES = [c for c in vars(core).values() if inspect.isclass(c) and c.__module__ == core.__name__
           and not issubclass(c, BaseException)]


def test_every_bound_class_is_covered() -> None:
    assert {c.__name__ for c in CLASSES} >= {"CacheConfig", "SchedulerConfig", "PrefixCacheManager",
                                             "StepResult", "Scheduler", "VllmKVCacheManager"}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_uninitialised_instance_is_refused_everywhere(cls: type) -> None:
    bare = cls.__new__(cls)
    names = [n for n in dir(cls) if not n.startswith("_")]
    refused = 0
    for name in names:
        attr = inspect.getattr_static(cls, name)
        try:
            value = getattr(bare, name)
            if callable(value):
                value()
        except TypeError as e:
            refused += "__init__" in str(e) or "incompatible" in str(e) or "argument" in str(e)
        if isinstance(attr, property) and attr.fset is not None:
            with pytest.raises(TypeError, match="__init__"):
                setattr(bare, name, 1)
    assert refused, f"{cls.__name__}: nothing refused the bare instance"
    if "__repr__" in vars(cls):  # the bound ones (others are object's, which reads nothing)
        with pytest.raises(TypeError, match="__init__"):
            repr(bare)


def test_a_bare_config_is_refused_as_an_argument() -> None:
    bare = core.SchedulerConfig.__new__(core.SchedulerConfig)
    with pytest.raises(TypeError, match="__init__"):
        core.Scheduler(bare)
