"""Other KsanaLLM versions: API variants read from headers, one-line refusals, nothing half-built,
and divergences attributed to the commits that changed the responsible function.

Always on: small header texts and tiny git repositories made here. The real commits are
exercised by tests/test_upstream_window.py (opt-in).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from codewalk.upstream import api
from codewalk.upstream import attribute as at
from codewalk.upstream import build as upstream_build
from codewalk.upstream.build import BuildError
from test_upstream import API_HEADERS, fake_checkout

STATE_H, PCM_H = api.STATE_H, api.PCM_H
OLD_STATES = ("enum RequestState {\n  REQUEST_STATE_WAITING,\n  REQUEST_STATE_RUNNING,\n  REQUEST_STATE_SWAPPED,\n"
              "  REQUEST_STATE_FINISHED,\n};\n")
# 39256dce's forms: no block_merged, no check_token_num.
OLD_PCM = (API_HEADERS[PCM_H]
           .replace(",\n                             bool& block_merged", "")
           .replace(" size_t check_token_num,\n", "\n"))


def cache_read(**over: str | None) -> dict[str, str | None]:
    return {**{rel: API_HEADERS[rel] for rel in (STATE_H, PCM_H)}, **over}


def test_pinned_forms_select_the_pinned_glue():
    chosen = api.detect_texts(cache_read(), ("cache",))
    header = api.api_header(chosen)
    assert "#define CODEWALK_RS_RUNNING RequestState::kRunning" in header
    assert "#define CODEWALK_UPDATE_REPORTS_MERGE 1" in header
    assert "#define CODEWALK_LOOKUP_HAS_CHECK 1" in header
    assert "size_t check_token_num" in header


def test_older_forms_select_other_glue():
    chosen = api.detect_texts(cache_read(**{STATE_H: OLD_STATES, PCM_H: OLD_PCM}), ("cache",))
    header = api.api_header(chosen)
    assert "#define CODEWALK_RS_WAITING RequestState::REQUEST_STATE_WAITING" in header
    assert "#define CODEWALK_UPDATE_REPORTS_MERGE 0" in header
    assert "#define CODEWALK_LOOKUP_HAS_CHECK 0" in header
    assert "size_t check_token_num" not in header


def test_used_block_number_before_it_existed():
    """Before 51183c82 the binding computes GetUsedBlockNumber as that commit defines it."""
    pcm = API_HEADERS[PCM_H].replace("  size_t GetUsedBlockNumber() override;\n", "")
    header = api.api_header(api.detect_texts(cache_read(**{PCM_H: pcm}), ("cache",)))
    assert "#define CODEWALK_HAS_USED_BLOCK_NUMBER 0" in header
    assert "#define CODEWALK_HAS_USED_BLOCK_NUMBER 1" in api.api_header(api.detect_texts(cache_read(), ("cache",)))


def test_comments_and_line_breaks_do_not_matter():
    text = "enum class RequestState { // states\n kWaiting /* 0 */,\n kRunning, kSwapped,kFinished };"
    chosen = api.detect_texts(cache_read(**{STATE_H: text}), ("cache",))
    assert "kWaiting" in api.api_header(chosen)


def test_unknown_form_names_symbol_and_header():
    with pytest.raises(api.Unsupported) as err:
        api.detect_texts(cache_read(**{STATE_H: "enum class RequestState { kQueued, kActive };"}), ("cache",))
    assert "RequestState" in err.value.missing and STATE_H in err.value.missing
    with pytest.raises(api.Unsupported, match="is missing"):
        api.detect_texts(cache_read(**{PCM_H: None}), ("cache",))


def test_every_variant_is_distinguishable():
    """No two variants of a feature can both match one header: each pattern set picks one."""
    for feat in api.FEATURES:
        for v in feat.variants:
            assert v.patterns, (feat.name, v.name)
            assert all(api.pattern_regex(p).pattern for p in v.patterns)
    assert api.detect_texts(cache_read(**{PCM_H: OLD_PCM}), ("cache",))["UpdateRequestTokens signature"].defines[
        "CODEWALK_UPDATE_REPORTS_MERGE"] == "0"


# ----------------------------------------------------------------------------- builds that must not start

def test_unsupported_checkout_fails_in_one_line_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEWALK_HOME", str(tmp_path / "home"))
    repo = fake_checkout(tmp_path / "ksana")
    (repo / STATE_H).write_text("enum class RequestState { kQueued, kActive };\n")
    with pytest.raises(BuildError) as err:
        upstream_build.build(repo=repo)
    text = str(err.value)
    assert "\n" not in text and "RequestState" in text and STATE_H in text and "outside" in text
    assert not (tmp_path / "home" / "upstream").exists()


def test_failed_compile_leaves_nothing_half_built(tmp_path, monkeypatch):
    monkeypatch.setenv("CODEWALK_HOME", str(tmp_path / "home"))
    fail = tmp_path / "bin" / "failing-c++"
    fail.parent.mkdir()
    fail.write_text("#!/bin/sh\necho 'error: no' >&2\nexit 1\n")
    fail.chmod(0o755)
    monkeypatch.setenv("CXX", str(fail))
    repo = fake_checkout(tmp_path / "ksana")
    with pytest.raises(BuildError, match="compiling"):
        upstream_build.build(repo=repo, scheduler=False)
    left = list((tmp_path / "home" / "upstream").rglob("*")) if (tmp_path / "home" / "upstream").exists() else []
    assert left == []


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True).stdout.strip()


def _commit(root: Path, files: dict[str, str], message: str) -> str:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    _git(root, "add", "-A")
    _git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message)
    return _git(root, "rev-parse", "HEAD")


def _repo(tmp_path: Path) -> Path:
    root = tmp_path / "hist"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    return root


def test_nearest_supported_commit_is_named(tmp_path):
    root = _repo(tmp_path)
    old = _commit(root, {STATE_H: "enum class RequestState { kQueued };\n", PCM_H: API_HEADERS[PCM_H]}, "old states")
    _commit(root, {"README": "x"}, "unrelated")
    good = _commit(root, {STATE_H: API_HEADERS[STATE_H]}, "states as today")
    _git(root, "checkout", "-q", old)
    try:
        api.detect(root, ("cache",))
        raise AssertionError("the old states must be unsupported")
    except api.Unsupported as e:
        msg = api.unsupported_message(root, e, ("cache",), old)
    assert msg.count("\n") == 0
    assert f"nearest supported commit: {good[:7]}" in msg and "states as today" in msg


# ----------------------------------------------------------------------------- attribution

CPP_V1 = """namespace ksana_llm {
void PrefixCacheManager::DestroyFinishedRequest(int64_t req_id) {
  Release(req_id);
}
void PrefixCacheManager::Release(int64_t req_id) {
  pop_back();
}
size_t PrefixCacheManager::GetUsableBlockNumber() { return 1; }
}  // namespace ksana_llm
"""


def _history(tmp_path: Path) -> tuple[Path, str, str]:
    root = _repo(tmp_path)
    old = _commit(root, {at.CACHE_CPP: CPP_V1}, "first")
    _commit(root, {at.CACHE_CPP: CPP_V1.replace("pop_back();", "resize(n);  // the fix")}, "[fix] block cleanup")
    _commit(root, {at.CACHE_CPP: CPP_V1.replace("pop_back();", "resize(n);").replace("// x", "")
                   + "// a comment only\n"}, "comment")
    pin = _commit(root, {"README": "y"}, "unrelated")
    return root, old, pin


def test_divergence_is_attributed_to_the_callee_that_changed(tmp_path):
    root, old, pin = _history(tmp_path)
    v = at.versions(root, old, pin)
    assert v.direction == "older" and v.rev == f"{old}..{pin}"
    found = at.attribute(v, ["PrefixCacheManager::DestroyFinishedRequest"])
    assert list(found.functions) == ["PrefixCacheManager::Release"]
    assert [c["subject"] for c in found.functions["PrefixCacheManager::Release"]] == ["[fix] block cleanup"]
    assert "Release changed in" in found.summary() and "block cleanup" in found.summary()
    assert at.attribute(v, ["PrefixCacheManager::GetUsableBlockNumber"]).functions == {}
    changed = at.changed_functions(v, (at.CACHE_CPP,))
    assert list(changed) == ["PrefixCacheManager::Release"]


def test_same_commit_and_unknown_pin(tmp_path):
    root, old, pin = _history(tmp_path)
    assert at.versions(root, pin, pin).direction == "same"
    v = at.versions(root, old, "0" * 40)
    assert v.error and "not in" in v.error and at.changed_functions(v) == {}


def test_attribute_versions_splits_version_differences_from_unexplained(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from codewalk.upstream import verify as vf

    root, old, pin = _history(tmp_path)
    monkeypatch.setattr(at, "pinned_revision", lambda: pin)
    rep = vf.Report(traces=2, divergences=[
        vf.Divergence(0, "destroy_finished_request", "snapshot:free", [1], [1, 2],
                      responsible="PrefixCacheManager::DestroyFinishedRequest"),
        vf.Divergence(0, "get_usable_block_number", "result", 1, 2,
                      responsible="PrefixCacheManager::GetUsableBlockNumber")])
    versions = vf.attribute_versions(SimpleNamespace(root=root, commit=old), rep)
    first, second = rep.divergences
    assert first.category == "version-difference" and "block cleanup" in first.explanation
    assert second.category == "unexplained"
    s = rep.summary()
    assert s["version_differences"] == 1 and s["unexplained"] == 1 and s["explained"] == 0
    assert versions["direction"] == "older" and "PrefixCacheManager::Release" in versions["changed_functions"]
    json.dumps(rep.to_dict())  # the report stays serialisable


def test_one_build_per_process(tmp_path, monkeypatch):
    """A second commit's module of the same name is refused; the same commit's is the loaded one."""
    from types import ModuleType

    first = tmp_path / "a" / ("1" * 40) / "ksanallm_upstream.so"
    mod = ModuleType("ksanallm_upstream")
    monkeypatch.setattr(upstream_build, "_LOADED", {first: mod})
    assert upstream_build.load_module(tmp_path / "b" / ("1" * 40) / "ksanallm_upstream.so") is mod
    with pytest.raises(BuildError, match="one KsanaLLM build per process"):
        upstream_build.load_module(tmp_path / "b" / ("2" * 40) / "ksanallm_upstream.so")


def test_config_enum_gone_is_fine_struct_gone_is_named(tmp_path):
    """7392c00d dropped GemmReductionPrecision: enums are copied when present, structs always."""
    from codewalk.upstream import sched_build
    from test_upstream_scheduler import _fake_checkout

    root = _fake_checkout(tmp_path)
    cfg = root / sched_build.CONFIG_HEADER
    cfg.write_text(cfg.read_text().replace("enum class GemmReductionPrecision { FP32 = 0, FP16 = 1 };\n", ""))
    text = sched_build.generated(root)["codewalk_extracted/scheduler_configs.inc"]
    assert "GemmReductionPrecision" not in text and "enum PreemptMode" in text
    cfg.write_text(cfg.read_text().replace("struct RuntimeConfig", "struct OtherConfig"))
    with pytest.raises(BuildError, match="struct RuntimeConfig is no longer defined"):
        sched_build.generated(root)


def test_scheduler_divergence_is_attributed_by_its_fields(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from codewalk.upstream import verify as vf

    root = _repo(tmp_path)
    body = "namespace ksana_llm {\nvoid ContinuousBatchingStrategy::ProcessSwappedQueue() {\n  SwapIn(%s);\n}\n}\n"
    old = _commit(root, {at.STRATEGY_CPP: body % "1"}, "first")
    pin = _commit(root, {at.STRATEGY_CPP: body % "2"}, "[fix] swap-in threshold")
    monkeypatch.setattr(at, "pinned_revision", lambda: pin)
    sd = SimpleNamespace(mechanism="unexplained", fields=["swapped_in"], explained=False, explanation="",
                         kind="per-request", seeds=[0, 3])
    other = SimpleNamespace(mechanism="unexplained", fields=["finished"], explained=False, explanation="",
                            kind="per-request", seeds=[1])
    serving = SimpleNamespace(mechanism="unexplained", fields=["swapped"], explanation="")
    counts = {"per-request:unexplained": 3}
    vf.attribute_versions(SimpleNamespace(root=root, commit=old), vf.Report(),
                          SimpleNamespace(divergences=[sd, other], serving=[serving], by_mechanism=counts))
    assert sd.mechanism == "version-difference" and "swap-in threshold" in sd.explanation and sd.explained
    assert other.mechanism == "unexplained"
    assert serving.mechanism == "version-difference" and "swap-in threshold" in serving.explanation
    assert counts == {"per-request:unexplained": 1, "per-request:version-difference": 2}


# ----------------------------------------------------------------------------- the scheduler's shapes

_SCHED = "void Schedule(std::vector<std::shared_ptr<InferRequest>> &waiting_reqs) override;\n"
_ASYNC_H = _SCHED + "void UpdateRunningRequests(const std::vector<std::shared_ptr<InferRequest>> &running_reqs) override;\n"
_SYNC_H = _SCHED + "void UpdateRunningRequests() override;\nvoid UpdateSwapPendingRequests() override;\n"
_ASYNC_STATE = ("std::vector<std::shared_ptr<InferRequest>> decoding_queue;\n"
                "std::unordered_map<int64_t, std::shared_ptr<InferRequest>> async_recomputed_reqs;\n")
_SWAP_STATE = _ASYNC_STATE + ("std::vector<int64_t> merged_swapout_req_ids;\nstd::vector<int64_t> merged_swapin_req_ids;\n"
                              "std::unordered_map<int, std::shared_ptr<InferRequest>> swapout_pending_requests;\n")
_SYNC_STATE = ("std::deque<std::shared_ptr<InferRequest>> waiting_queue;\n"
               "std::vector<std::shared_ptr<InferRequest>> running_pending_reqs;\n"
               "std::vector<int64_t> merged_swapout_req_ids;\nstd::vector<int64_t> merged_swapin_req_ids;\n"
               "std::map<int, std::shared_ptr<InferRequest>> swapped_queue;\n"
               "std::unordered_map<int, std::shared_ptr<InferRequest>> swapin_pending_requests_;\n"
               "std::unordered_map<int, std::shared_ptr<InferRequest>> swapout_pending_requests_;\n")
_NEW_STAGE = "enum class InferStage {\n  kContext,\n  kDecode,\n};\n"
_OLD_STAGE = "enum InferStage {\n  STAGE_CONTEXT,\n  STATE_DECODE,\n};\n"


def sched_read(shape: str) -> dict[str, str | None]:
    """Header texts of the three scheduler shapes: 'swap' (b9a053fc on), 'recompute' (d38e67a0..43ba40b0),
    'sync' (2bd80a8a..7c026475; the shape goes back to 12431117)."""
    new = shape != "sync"
    infer_h = ("const ScheduleTask& GetInflightTask() const;\nvoid UpdateBlockPtrs(std::vector<std::vector<void*>>& p);\n"
               if new else "int generated_token;\nstd::vector<std::vector<void *>> GetBlockPtrs();\n")
    if shape == "swap":
        infer_h += "bool IsStopped() const { return is_stopped_; }\n"
    return {**cache_read(**({} if new else {STATE_H: OLD_STATES, PCM_H: OLD_PCM})),
            api.STRATEGY_H: _ASYNC_H if new else _SYNC_H,
            api.BATCH_STATE_H: {"swap": _SWAP_STATE, "recompute": _ASYNC_STATE, "sync": _SYNC_STATE}[shape],
            api.INFER_REQUEST_H: infer_h,
            api.STRATEGY_CPP: "req->infer_stage = InferStage::kDecode;" if new else "x = InferStage::STATE_DECODE;",
            api.INFER_STAGE_H: _NEW_STAGE if new else _OLD_STAGE,
            api.REQUEST_H: "class Request {\n  uint64_t timestamp_in_us;\n};\n",
            api.INFER_REQUEST_CPP: "UpdateBlockPtrs(forward_request_->kv_cache_ptrs);" if new else
                                   "std::vector<std::vector<void *>> InferRequest::GetBlockPtrs() {}"}


@pytest.mark.parametrize("shape, state, update, stopped, inflight", [
    ("swap", "CODEWALK_STATE_ASYNC_SWAP", "1", "1", "1"),
    ("recompute", "CODEWALK_STATE_ASYNC_RECOMPUTE", "1", "0", "1"),
    ("sync", "CODEWALK_STATE_SYNC", "0", "0", "0"),
])
def test_scheduler_shapes_select_their_glue(shape, state, update, stopped, inflight):
    header = api.api_header(api.detect_texts(sched_read(shape)))
    assert f"#define CODEWALK_STATE {state}\n" in header
    assert f"#define CODEWALK_UPDATE_TAKES_RUNNING {update}\n" in header
    assert f"#define CODEWALK_HAS_IS_STOPPED {stopped}\n" in header
    assert f"#define CODEWALK_HAS_INFLIGHT_TASK {inflight}\n" in header


def test_sources_that_disagree_with_their_headers_are_refused():
    """22235b91..14c72d41: continuous_batching.cpp names InferStage::kContext, infer_stage.h declares
    STAGE_CONTEXT; b1ae6386..14a8c9f6: infer_request.cpp calls an undeclared UpdateBlockPtrs."""
    read = sched_read("sync")
    read[api.STRATEGY_CPP] = "a = InferStage::kContext; b = InferStage::STATE_DECODE;"
    with pytest.raises(api.Unsupported) as err:
        api.detect_texts(read)
    assert err.value.feature.name == "InferStage values" and api.STRATEGY_CPP in err.value.missing
    read = sched_read("sync")
    read[api.INFER_REQUEST_CPP] += "\nvoid F() { UpdateBlockPtrs(p); }"
    with pytest.raises(api.Unsupported) as err:
        api.detect_texts(read)
    assert err.value.feature.name == "InferRequest block pointers" and api.INFER_REQUEST_CPP in err.value.missing
    assert api.detect_texts(read, ("cache",))  # the cache manager does not read them
    read = sched_read("sync")
    read[api.REQUEST_H] = "class Request {\n  opentelemetry::trace::SpanContext span_context;\n};\n"
    with pytest.raises(api.Unsupported, match="OpenTelemetry"):  # before 2bd80a8a
        api.detect_texts(read)


def test_optional_units_follow_the_checkout(tmp_path):
    from codewalk.upstream import sched_build

    root = tmp_path
    assert sched_build.sources(root) == sched_build.SOURCES
    for rel, text in ((sched_build.OPTIONAL_SOURCES[1][0], "// absorb"),
                      (api.STRATEGY_CPP, "if (IsAbsorbWeightsEnabled()) {}"),
                      (sched_build.FSM_STANDIN[1], "req_fsm = c->CreateOrGetFSM(s);")):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    assert sched_build.sources(root)[-1] == sched_build.OPTIONAL_SOURCES[1][0]
    assert "FiniteStateMachineController::CreateOrGetFSM" in sched_build.binding_text(root)
    assert "FiniteStateMachineController" not in sched_build.binding_text()
