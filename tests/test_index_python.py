"""Python extraction and resolution on tests/fixtures/python."""

from __future__ import annotations

from pathlib import Path

from codewalk import store
from codewalk.index.build import index_repo
from codewalk.lookup import Index
from codewalk.resolve import Resolver


def _index(root: Path) -> Index:
    index_repo(root)
    return Index(store.connect(store.db_path(root), readonly=True), root)


def test_module_names_and_kinds(repo: Path) -> None:
    ix = _index(repo / "python")
    (e,) = ix.find("toyllm.core.scheduler.Scheduler.schedule")
    assert e.kind == "method" and e.definitions[0]["line"] == 19
    assert ix.find("Scheduler.schedule")[0].qname == e.qname
    assert ix.find("toyllm.core.kv_cache")[0].kind == "module"


def test_self_attribute_and_import_resolution(repo: Path) -> None:
    ix = _index(repo / "python")
    r = Resolver(ix)
    (e,) = ix.find("Scheduler.schedule")
    exact = {t["qname"] for c in r.callees(e) if not c.heuristic for t in c.targets}
    assert {"toyllm.core.kv_cache.KVCacheManager.get_computed_blocks",
            "toyllm.core.kv_cache.KVCacheManager.allocate_slots",
            "toyllm.core.scheduler.SchedulerBase.step",
            "toyllm.core.scheduler.helper",
            "toyllm.core.kv_cache.KVCacheManager.__init__"} <= exact


def test_callers_and_inheritance(repo: Path) -> None:
    ix = _index(repo / "python")
    r = Resolver(ix)
    (e,) = ix.find("KVCacheManager.get_computed_blocks")
    assert [c.caller["qname"] for c in r.callers(e)] == ["toyllm.core.scheduler.Scheduler.schedule"]
    assert r.chain("toyllm.core.scheduler.Scheduler")[1] == "toyllm.core.scheduler.SchedulerBase"
    (init,) = ix.find("KVCacheManager.__init__")
    assert {c.caller["qname"] for c in r.callers(init)} == {
        "toyllm.core.scheduler.Scheduler.__init__", "toyllm.core.scheduler.Scheduler.schedule"}
