"""What the opt-in tests of the real engines share (test_upstream.py, test_upstream_scheduler.py):
the checkout (`CODEWALK_KSANALLM`) and a fixture building in a home of its own."""

from __future__ import annotations

import os
from typing import Any, Callable

import pytest

KSANA = os.environ.get("CODEWALK_KSANALLM")
needs_checkout = pytest.mark.skipif(not KSANA, reason="set CODEWALK_KSANALLM to a KsanaLLM checkout")


def in_upstream_home(tmp_path_factory: pytest.TempPathFactory, make: Callable[[], Any]) -> Any:
    """`make()` (a build, or loading the engine) with CODEWALK_HOME set to a fresh test home, or to
    CODEWALK_UPSTREAM_TEST_HOME to reuse a build; skipped without a checkout."""
    if not KSANA:
        pytest.skip("set CODEWALK_KSANALLM to a KsanaLLM checkout")
    home = os.environ.get("CODEWALK_UPSTREAM_TEST_HOME") or str(tmp_path_factory.mktemp("upstream-home"))
    old = os.environ.get("CODEWALK_HOME")
    os.environ["CODEWALK_HOME"] = home
    try:
        return make()
    finally:
        if old is None:
            os.environ.pop("CODEWALK_HOME", None)
        else:
            os.environ["CODEWALK_HOME"] = old
