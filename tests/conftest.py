"""Shared fixtures: an isolated CODEWALK_HOME and copies of the source fixtures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def codewalk_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "cwhome"
    monkeypatch.setenv("CODEWALK_HOME", str(home))
    monkeypatch.delenv("CODEWALK_REPO", raising=False)
    return home


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    """A writable, non-git copy of both fixture trees."""
    root = tmp_path / "repo"
    shutil.copytree(FIXTURES / "cpp", root / "cpp")
    shutil.copytree(FIXTURES / "python", root / "python")
    return root
