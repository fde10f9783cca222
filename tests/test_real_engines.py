"""Opt-in checks against real checkouts: CODEWALK_KSANALLM and CODEWALK_VLLM."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from codewalk import store
from codewalk.index.build import index_repo
from codewalk.lookup import Index
from codewalk.resolve import Resolver

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
