"""The two implementations of the core API, as a pytest fixture: the C++ binding and the Python reference."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Callable

import pytest

from codewalk.core.errors import CoreError

IMPLS = ("core", "reference")


def load(name: str) -> ModuleType:
    """`codewalk.core` (C++) or `codewalk.core.reference` (Python); both export the same names."""
    return importlib.import_module("codewalk.core" if name == "core" else "codewalk.core.reference")


@pytest.fixture(params=IMPLS)
def core(request: pytest.FixtureRequest) -> ModuleType:
    return load(request.param)


def outcome(fn: Callable[[Any], Any], m: Any) -> Any:
    """("ok", result) or ("error", None): what the differential tests compare between implementations."""
    try:
        return ("ok", fn(m))
    except CoreError:
        return ("error", None)
