"""The supported window of KsanaLLM commits keeps building (opt-in, a real history needed).

Set `CODEWALK_KSANALLM_GIT` to a KsanaLLM repository with its history (a bare one is fine;
`.ci/run` points it at `../shared/sources/ksanallm.git`). Commits are checked out as worktrees of
a clone made here. Kept within CI's budget: the cache manager is built for every commit below
(~1 CPU-minute each), the scheduler (~3.5 CPU-minutes) for a spread of the range it supports, and
`verify` runs a few traces per commit, in a subprocess each (one KsanaLLM build per process).
Builds are reused from `CODEWALK_UPSTREAM_TEST_HOME` when it is set.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from codewalk.upstream import api
from codewalk.upstream import build as upstream_build
from codewalk.upstream.build import BuildError

HISTORY = os.environ.get("CODEWALK_KSANALLM_GIT")
pytestmark = pytest.mark.skipif(not HISTORY, reason="set CODEWALK_KSANALLM_GIT to a KsanaLLM repository with history")

# commit -> build the scheduler too. The acceptance set, plus the oldest commits each
# engine is tested from (api.OLDEST_TESTED) and one commit of each shape of the scheduler (api.py,
# feature "batch state"): asynchronous with swap (b9a053fc on), asynchronous recompute-only
# (d38e67a0..43ba40b0), synchronous (2bd80a8a..7c026475).
WINDOW = {
    "e569567c": True,   # 2026-01-07, asynchronous scheduler with swap
    "7392c00d": False,  # 2025-12-03 (GemmReductionPrecision gone; the scheduler builds, see docs/core.md)
    "b9a053fc": False,  # 2025-11-27, oldest asynchronous scheduler with swap
    "d38e67a0": True,   # 2025-11-17, asynchronous, recompute only
    "14c72d41": False,  # 2025-11-13, RequestState values renamed back, lookup with check_token_num
    "9165eae0": False,  # 2025-10-22, no check_token_num
    "39256dce": False,  # 2025-09-30
    "2bd80a8a": True,   # 2025-09-10, oldest (synchronous) scheduler
    "12431117": False,  # 2025-08-05, oldest cache manager
}
# Commits whose own scheduler sources do not compile against their headers (docs/core.md): the
# scheduler is refused in one line, the cache manager builds and verifies.
SCHEDULER_OUTSIDE = ("14c72d41", "9165eae0", "39256dce")
BEFORE_WINDOW = "481e71a3"  # 2025-06-26: CacheManagerConfig was not yet in utils/config/


@pytest.fixture(scope="module")
def checkouts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("ksanallm-window")
    clone = base / "repo"
    subprocess.run(["git", "clone", "-q", "--no-checkout", HISTORY, str(clone)], check=True)
    out = {}
    for commit in (*WINDOW, BEFORE_WINDOW):
        wt = base / commit
        subprocess.run(["git", "-C", str(clone), "worktree", "add", "-q", "--detach", str(wt), commit], check=True)
        out[commit] = wt
    return out


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> str:
    return os.environ.get("CODEWALK_UPSTREAM_TEST_HOME") or str(tmp_path_factory.mktemp("window-home"))


@pytest.fixture()
def in_home(home: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CODEWALK_HOME", home)
    return home


@pytest.mark.parametrize("commit", list(WINDOW))
def test_window_commit_builds(checkouts, in_home, commit):
    built = upstream_build.build(repo=checkouts[commit], scheduler=WINDOW[commit] or commit in SCHEDULER_OUTSIDE)
    assert built.path.is_file() and built.commit.startswith(commit)
    if WINDOW[commit]:
        assert built.scheduler is not None and built.scheduler.is_file(), built.scheduler_error
    if commit in SCHEDULER_OUTSIDE:
        assert built.scheduler is None
        err = built.scheduler_error
        assert "\n" not in err and "outside codewalk's supported range for the scheduler" in err
        assert "nearest supported commit: d38e67a0" in err
        assert ".cpp" in err  # the file that disagrees with its header


@pytest.mark.parametrize("commit", list(WINDOW))
def test_window_commit_verifies_with_versions(checkouts, in_home, commit):
    """`upstream verify` completes; every divergence is explained or attributed to commits."""
    workloads = "8" if WINDOW[commit] else "0"
    env = {**os.environ, "CODEWALK_HOME": in_home}
    res = subprocess.run([sys.executable, "-m", "codewalk", "upstream", "verify", "--repo", str(checkouts[commit]),
                          "--traces", "40", "--workloads", workloads, "--json"],
                         capture_output=True, text=True, env=env, timeout=3600)
    assert res.stdout, res.stderr[-2000:]
    doc = json.loads(res.stdout)
    cache = doc.get("cache", doc)
    assert cache["summary"]["traces"] == 40
    assert cache["summary"]["unexplained"] == 0, [d for d in cache["divergences"] if not d["explained"]]
    versions = cache["versions"]
    assert versions["direction"] == "older" and isinstance(versions["changed_functions"], dict)
    if commit in ("39256dce", "9165eae0"):  # the block-cleanup fix came later: the example
        changes = versions["changed_functions"]["PrefixCacheManager::DestroyFinishedRequest"]
        assert any(c["commit"].startswith("7cfb0587") for c in changes)
    for d in cache["divergences"]:
        if d["category"] == "version-difference":
            assert d["commits"] and all(c["commit"] for cs in d["commits"].values() for c in cs)
    if WINDOW[commit]:  # the scheduler: every per-request divergence explained or a version difference
        sched = doc["scheduler"]
        assert sched["summary"]["unexplained_per_request"] == 0, sched["summary"]
    assert res.returncode == 0, res.stderr[-2000:]


def test_before_the_window_fails_in_one_line(checkouts, in_home):
    root = checkouts[BEFORE_WINDOW]
    with pytest.raises(BuildError) as err:
        upstream_build.build(repo=root)
    text = str(err.value)
    assert "\n" not in text and "outside codewalk's supported range" in text
    assert "schedule_config_parser.h is missing" in text and "nearest supported commit:" in text
    commit = upstream_build.commit_of(root)
    assert not (Path(in_home) / "upstream" / commit).exists()
    assert api.OLDEST_TESTED["cache"] in text
