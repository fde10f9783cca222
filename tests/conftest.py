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


@pytest.fixture(scope="module")
def core_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in corpus's `codewalk site`, built once per module with its own CODEWALK_HOME."""
    import os

    from codewalk.cli import main

    home = tmp_path_factory.mktemp("cwhome")
    old = os.environ.get("CODEWALK_HOME")
    os.environ["CODEWALK_HOME"] = str(home)
    try:
        out = tmp_path_factory.mktemp("site")
        assert main(["site", "--source", "core", "-o", str(out), "--lang", "en", "--json"]) == 0
        return out
    finally:
        if old is None:
            os.environ.pop("CODEWALK_HOME")
        else:
            os.environ["CODEWALK_HOME"] = old
