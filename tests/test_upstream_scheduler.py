"""KsanaLLM's real ContinuousBatchingStrategy, built from a checkout, against codewalk's core Scheduler.

Opt-in (`CODEWALK_KSANALLM=/path/to/KsanaLLM`; set CODEWALK_UPSTREAM_TEST_HOME to reuse a build):
the build succeeds, the scheduler has the core's API, the demo runs on it, the behaviours noted in
annotations/ksanallm/scheduler_behaviour.yaml reproduce, and `verify` on 200 random workloads
shows per-request agreement except the explained mechanisms. Always on: the scheduler build's
generated files and error paths on a fake checkout.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codewalk.core.config import SchedulerConfig
from codewalk.upstream import sched_build
from codewalk.upstream.build import BuildError
from upstream_env import KSANA, in_upstream_home


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory):
    from codewalk.upstream.build import engine

    return in_upstream_home(tmp_path_factory, lambda: engine(repo=KSANA))


def _trace(e, cfg, reqs, steps=60):
    # These scenarios were worked out with no blocks in reserve (the defaults are KsanaLLM's 2.0).
    s = e.Scheduler(SchedulerConfig(**{"launch_block_threshold": 0.0, "swapin_block_threshold": 0.0, **cfg}))
    pending = sorted(reqs, key=lambda r: r[1])
    out = []
    while (pending or s.has_work()) and s.step_count < steps:
        while pending and pending[0][1] <= s.step_count:
            rid, _, prompt, n = pending.pop(0)
            s.add_request(rid, prompt, n)
        out.append(s.step().to_dict())
    return out


def test_build_and_api(real):
    import codewalk.core as core

    assert real.module_scheduler.KSANALLM_COMMIT
    s = real.Scheduler(SchedulerConfig(block_size=4, device_blocks=10, host_blocks=10, max_batch_size=4))
    c = core.Scheduler(core.SchedulerConfig(block_size=4, device_blocks=10, host_blocks=10, max_batch_size=4))
    for x in (s, c):
        x.add_request(1, list(range(1, 10)), 3)
        x.add_request(2, list(range(1, 6)), 2)
    assert [r.to_dict() for r in s.run(20)] == [r.to_dict() for r in c.run(20)]
    assert not s.has_work() and s.step_count == 3
    assert s.cache.get_usable_block_number() == 10
    with pytest.raises(real.CoreError):
        s.add_request(1, [1], 1)  # ids are never reused
    with pytest.raises(real.CoreError):
        s.cache.allocate_request_blocks(9, 1)  # the scheduler owns its cache


def test_bad_configs_refused(real):
    for kw in ({"preempt_mode": "drop"}, {"max_batch_size": 0}, {"fix_upstream_bugs": True},
               {"enable_prefix_caching": False}):
        with pytest.raises(real.CoreError):
            real.Scheduler(SchedulerConfig(**kw))


def test_demo_runs_on_real_engine(real, tmp_path, capsys):
    from codewalk.cli.demo import run_demo

    assert run_demo("schedule", as_json=True, engine=real) == 0
    frames = json.loads(capsys.readouterr().out)["frames"]
    assert frames and frames[0]["snapshot"]["nodes"]
    trace = [{"arrival": 0, "prompt": [1, 2, 3, 4, 5], "max_new_tokens": 3},
             {"arrival": 2, "prompt": [1, 2, 3, 4, 9], "max_new_tokens": 2}]
    assert run_demo("schedule", as_json=True, engine=real, trace=trace) == 0
    frames = json.loads(capsys.readouterr().out)["frames"]
    assert any(f["result"].get("prefix_hit_tokens") for f in frames)


def test_swapout_costs_two_empty_rounds(real):
    t = _trace(real, dict(block_size=4, device_blocks=6, host_blocks=8, max_batch_size=4),
               [(1, 0, [1, 2, 3, 4, 5, 6, 7], 8), (2, 0, [9, 8, 7, 6, 5, 4, 3], 8)])
    assert t[5]["swapped_out"] == [1] and not t[5]["decode"] and not t[5]["prefill"]
    assert t[6]["swapout_merged"] == [1] and not t[6]["decode"] and not t[6]["prefill"]


def test_swapin_thrash(real):
    t = _trace(real, dict(block_size=4, device_blocks=9, host_blocks=4, max_batch_size=3, swapin_block_threshold=0.5),
               [(4, 0, [16], 4), (5, 0, [43, 28, 9, 41, 30, 46, 10, 40, 39, 3, 17, 22, 48], 8),
                (6, 0, [23, 43, 28, 9, 43, 10, 30, 16, 33], 4)])
    assert t[6]["swapped_in"] == [6]
    assert t[7]["swapin_merged"] == [6] and t[7]["swapped_out"] == [6]


def test_recompute_goes_to_the_front(real):
    t = _trace(real, dict(block_size=4, device_blocks=6, host_blocks=8, max_batch_size=3, preempt_mode="recompute"),
               [(1, 0, [1, 2, 3, 4, 5], 9), (2, 0, [9, 8, 7, 6, 5], 9), (3, 2, [7] * 9, 2)])
    assert t[7]["recomputed"] == [1] and t[7]["waiting"] == [1, 3]


def test_timeout_ends_running_requests(real):
    t = _trace(real, dict(block_size=4, device_blocks=20, waiting_timeout_steps=3), [(1, 0, [1, 2, 3], 10)])
    assert t[3]["decode"] == [1] and t[3]["timed_out"] == [1]


def test_verify_200_workloads(real):
    import codewalk.core as core
    from codewalk.upstream.sched_verify import verify_schedulers

    rep = verify_schedulers(real, core, workloads=200, seed=0, shrink_budget=60, max_shrunk=6)
    s = rep.summary()
    assert s["workloads"] == 200
    assert s["unexplained_per_request"] == 0, rep.to_dict()
    assert all(k.split(":")[1] in ("swapin-one-token", "swapin-merge-order", "swapped-timeout")
               for k in s["by_mechanism"]), s
    assert s["per_request_agree"] >= 170 and s["step_identical"] >= s["per_request_agree"] - 10, s


# ----------------------------------------------------------------------------- always on

def _fake_checkout(root: Path) -> Path:
    k = root / "src" / "ksana_llm"
    (k / "utils" / "config").mkdir(parents=True)
    (k / "runtime").mkdir(parents=True)
    (k / "utils" / "config" / "schedule_config_parser.h").write_text(
        "namespace ksana_llm {\nenum PreemptMode { SWAP = 0, RECOMPUTE = 1 };\n"
        "enum class GemmReductionPrecision { FP32 = 0, FP16 = 1 };\nenum ScheduleStrategy { CONTINUOUS_BATCHING = 0 };\n"
        "enum PPMultibatchWBStrategy { NO_WB = 0 };\nenum W4AFP8_MOE_BACKEND { Default = 0 };\n"
        + "".join(f"struct {n} {{ int x = 1; // c\n}};\n" for n in sched_build.CONFIG_STRUCTS) + "}\n")
    (k / "utils" / "environment.h").write_text("constexpr size_t kStepGenerateTokenNum = 1;  // one\n")
    (k / "runtime" / "forward_request.h").write_text(
        "struct ForwardRequest {\n  int a;\n#if defined(ENABLE_ACL) || defined(ENABLE_CUDA)\n#ifdef X\n  int y;\n#endif\n"
        "  int b;\n#endif\n  int c;\n};\n")
    return root


def test_generated_files(tmp_path):
    root = _fake_checkout(tmp_path)
    gen = sched_build.generated(root)
    cfg = gen["codewalk_extracted/scheduler_configs.inc"]
    assert "kStepGenerateTokenNum = 1" in cfg and "struct RuntimeConfig" in cfg and "// c" not in cfg
    assert "enum class GemmReductionPrecision" in cfg
    fwd = gen["ksana_llm/runtime/forward_request.h"]
    assert "ENABLE_ACL" not in fwd and "int b;" in fwd and "#ifdef X" in fwd and "int c;" in fwd


def test_generated_files_name_what_moved(tmp_path):
    root = _fake_checkout(tmp_path)
    (root / sched_build.CONFIG_HEADER).write_text("namespace ksana_llm {}\n")
    with pytest.raises(BuildError, match="no longer defined"):
        sched_build.generated(root)
    root2 = _fake_checkout(tmp_path / "b")
    (root2 / sched_build.FORWARD_REQUEST).write_text("struct ForwardRequest {};\n")
    with pytest.raises(BuildError, match="guard"):
        sched_build.generated(root2)


def test_standins_are_package_data():
    m = sched_build.standins()
    assert m["logger.h"] == "ksana_llm/utils/logger.h" and m["fmt_format.h"] == "fmt/format.h"
    for name in m:
        assert sched_build.standin_text(name).strip()
    assert "PYBIND11_MODULE" in sched_build.binding_text()
