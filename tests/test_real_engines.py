"""Opt-in checks against real checkouts: CODEWALK_KSANALLM and CODEWALK_VLLM."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codewalk.index import store
from codewalk.index.build import index_repo
from codewalk.query.lookup import Index
from codewalk.query.resolve import Resolver

pytestmark = pytest.mark.real


def _root(var: str) -> Path:
    value = os.environ.get(var)
    if not value or not Path(value).is_dir():
        pytest.skip(f"{var} not set")
    return Path(value)


def _index(root: Path) -> tuple[Index, Resolver]:
    index_repo(root)
    ix = Index(store.connect(store.db_path(root), readonly=True), root)
    return ix, Resolver(ix)


def test_ksanallm_process_waiting_queue() -> None:
    ix, r = _index(_root("CODEWALK_KSANALLM"))
    (e,) = ix.find("ProcessWaitingQueue")
    base = "src/ksana_llm/batch_scheduler/strategy/continuous_batching"
    assert [ix.path(d) for d in e.declarations] == [base + ".h"]
    assert [ix.path(d) for d in e.definitions] == [base + ".cpp"]
    callers = {c.caller["qname"] for c in r.callers(e)}
    assert "ksana_llm::ContinuousBatchingStrategy::Schedule" in callers
    (sched,) = ix.find("ContinuousBatchingStrategy::Schedule")
    callees = {t["qname"].rsplit("::", 1)[-1] for c in r.callees(sched) if not c.heuristic
               for t in c.targets}
    assert {"ProcessDecodingQueue", "ProcessSwappedQueue", "ProcessWaitingQueue"} <= callees


def test_vllm_scheduler_schedule() -> None:
    ix, r = _index(_root("CODEWALK_VLLM"))
    (e,) = ix.find("vllm.v1.core.sched.scheduler.Scheduler.schedule")
    callees = {t["qname"] for c in r.callees(e) if not c.heuristic for t in c.targets}
    prefix = "vllm.v1.core.kv_cache_manager.KVCacheManager."
    assert {prefix + "get_computed_blocks", prefix + "allocate_slots"} <= callees


def _callers(capsys: pytest.CaptureFixture, root: Path, name: str) -> list[dict]:
    from codewalk.cli import main

    assert main(["callers", name, "--repo", str(root), "--json"]) == 0
    import json

    (match,) = json.loads(capsys.readouterr().out)["matches"]
    return match["callers"]


def test_ksanallm_callers_through_the_cache_interface(capsys: pytest.CaptureFixture) -> None:
    """The scheduler calls the cache through CacheManagerInterface: dispatch edges, with `via`."""
    root = _root("CODEWALK_KSANALLM")
    _index(root)
    rows = _callers(capsys, root, "PrefixCacheManager::AllocateRequestBlocks")
    reached = {r["qualified_name"]: r for r in rows if r["resolution"] in ("exact", "dispatch")}
    for caller in ("ProcessDecodingQueue", "ProcessWaitingQueue"):
        row = reached[f"ksana_llm::ContinuousBatchingStrategy::{caller}"]
        assert row["resolution"] == "dispatch"
        assert row["via"] == "ksana_llm::CacheManagerInterface::AllocateRequestBlocks"
    rows = _callers(capsys, root, "PrefixCacheManager::GetRequestPrefixBlockNumber")
    assert "ksana_llm::ContinuousBatchingStrategy::ProcessWaitingQueue" in {
        r["qualified_name"] for r in rows if not r["heuristic"]}


def test_ksanallm_process_waiting_queue_callees_are_the_engine(capsys: pytest.CaptureFixture) -> None:
    """No project edge on std containers; the text list is engine calls plus one summary line."""
    from codewalk.cli import main

    root = _root("CODEWALK_KSANALLM")
    _index(root)
    assert main(["show", "ContinuousBatchingStrategy::ProcessWaitingQueue", "--repo", str(root),
                 "--no-source"]) == 0
    text = capsys.readouterr().out.split("callees", 1)[1]
    for noise in (" size ", "begin", "erase", "static_cast", "DraftTokens"):
        assert noise not in text
    assert "CacheManagerInterface::AllocateRequestBlocks" in text and "external call" in text


def test_vllm_schedule_callers_and_ranking(capsys: pytest.CaptureFixture) -> None:
    import json

    from codewalk.cli import main

    root = _root("CODEWALK_VLLM")
    _index(root)
    rows = _callers(capsys, root, "vllm.v1.core.sched.scheduler.Scheduler.schedule")
    names = {r["qualified_name"] for r in rows if r["resolution"] in ("exact", "dispatch")}
    assert "vllm.v1.engine.core.EngineCore.step" in names
    assert not any("TorchProfilerWrapper" in r["qualified_name"] for r in rows)
    assert main(["show", "schedule", "--repo", str(root), "--json", "--no-source"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["matches"][0]["qualified_name"] == "vllm.v1.core.sched.scheduler.Scheduler.schedule"
