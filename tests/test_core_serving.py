"""Serving scale: `upstream verify`'s thousand-request workloads, and the core against KsanaLLM's real
scheduler on them (opt-in: CODEWALK_KSANALLM; CODEWALK_UPSTREAM_TEST_HOME reuses a build)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from codewalk.upstream import sched_verify as sv
from upstream_env import KSANA, in_upstream_home


def test_serving_workloads_are_serving_sized_with_ties():
    rng = random.Random(3)
    for mode in sv.SERVING_MODES:
        w = sv.serving_workload(rng, mode)
        assert len(w.requests) >= 1000
        assert (w.config["preempt_mode"], w.config["split_fuse_token_num"]) == mode
        assert (w.config["launch_block_threshold"], w.config["swapin_block_threshold"]) == (2.0, 2.0)
        # Many requests share a prompt length: BalanceReqs' sort meets ties among more than 16.
        assert Counter(len(r["prompt"]) for r in w.requests).most_common(1)[0][1] > 16
    assert sv.serving_count(0) == 0 and sv.serving_count(10) == 4 and sv.serving_count(1000) == 20


def test_serving_runs_keep_hundreds_waiting():
    import codewalk.core as core

    w = sv.serving_workload(random.Random(0), ("swap", 0))
    out = sv.run(core, w, sv.SERVING_MAX_STEPS)
    assert out["error"] is None and not any(v["end"] == "unfinished" for v in out["outcomes"]["requests"].values())
    assert sv.max_waiting(out["steps"]) >= 100


def _steps(prefill, waiting):
    return {"steps": [{"prefill": prefill, "waiting": waiting}], "error": None}


def test_tie_order_detector():
    w = sv.Workload({}, [])
    assert sv._balance_tie_order(_steps([(3, 8)], [1, 2]), _steps([(4, 8)], [1, 2]), w)  # same count, other request
    assert sv._balance_tie_order(_steps([], [1, 2, 3]), _steps([], [2, 1, 3]), w)  # same waiting, other order
    assert not sv._balance_tie_order(_steps([(3, 8)], [1]), _steps([(3, 9)], [1]), w)
    assert sv.explain(_steps([], [1, 2]), _steps([], [2, 1]), w)[0] == "balance-tie-order"


def test_serving_line_names_modes_and_mechanisms():
    rep = sv.SchedReport()
    rep.serving = [sv.ServingResult("swap", 0, 1000, 3000, 700, True, True),
                   sv.ServingResult("recompute", 256, 1200, 3100, 650, False, False, mechanism="balance-tie-order")]
    line = sv.serving_line(rep.summary()["serving"])
    assert line.startswith("serving scale: 2 workloads of >= 1000 requests, up to 700 waiting at once")
    assert "recompute/split-fuse on" in line and "swap/split-fuse off" in line
    assert "identical step by step on 1/2" in line and "balance-tie-order x1" in line
    assert rep.summary()["unexplained_per_request"] == 0


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory):
    from codewalk.upstream.build import engine

    return in_upstream_home(tmp_path_factory, lambda: engine(repo=KSANA))


@pytest.mark.skipif(not KSANA, reason="set CODEWALK_KSANALLM to a KsanaLLM checkout")
def test_serving_scale_step_identical_to_the_real_scheduler(real):
    import codewalk.core as core

    results = sv.verify_serving(real, core, len(sv.SERVING_MODES), seed=0)
    for r in results:
        assert r.requests >= 1000 and r.max_waiting >= 100, r
        assert r.step_identical, (r.step, r.fields, r.mechanism, r.real, r.core)
    assert {(r.preempt_mode, r.split_fuse_token_num) for r in results} == set(sv.SERVING_MODES)
