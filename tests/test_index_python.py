"""Python extraction and resolution on tests/fixtures/python."""

from __future__ import annotations

import shutil
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


def _resolve_fixture(tmp_path: Path) -> Path:
    root = tmp_path / "resolve"
    shutil.copytree(Path(__file__).parent / "fixtures" / "resolve" / "python", root)
    return root


def _exact_callees(ix: Index, name: str) -> dict[int, set[str]]:
    """line -> exact targets (heuristic edges left out)."""
    r = Resolver(ix)
    (e,) = ix.find(name)
    out: dict[int, set[str]] = {}
    for edge in r.callees(e):
        if not edge.heuristic:
            out.setdefault(edge.line, set()).update(t["qname"] for t in edge.targets)
    return out


def test_attribute_typed_by_annotated_parameter(tmp_path: Path) -> None:
    ix = _index(_resolve_fixture(tmp_path))
    got = _exact_callees(ix, "pool.manager.Manager.add")
    assert got == {
        20: {"pool.block_pool.BlockPool.touch"},  # self.block_pool = block_pool: BlockPool
        21: {"pool.block_pool.EventPool.drain"},  # Optional[EventPool] parameter
        22: {"pool.block_pool.BlockPool.free"},  # ... through EventPool's base
        23: {"pool.block_pool.Other.touch"},  # "Other | None" parameter
        24: {"pool.block_pool.EventPool.drain"},  # self.later: EventPool | None = None
        25: {"pool.block_pool.EventPool.drain"},  # class-level `events: "EventPool"`
    }
    (touch,) = ix.find("BlockPool.touch")
    assert [(c.caller["qname"], c.heuristic) for c in Resolver(ix).callers(touch)] == [
        ("pool.manager.Manager.add", False), ("pool.manager.Switching.use", True)]


def test_conflicting_assignments_leave_attribute_untyped(tmp_path: Path) -> None:
    ix = _index(_resolve_fixture(tmp_path))
    # BlockPool() in one branch, Other() in the other: no exact guess at either
    assert _exact_callees(ix, "pool.manager.Switching.use") == {}
    # an untyped re-assignment (`make()`) does not hide the base class's annotation
    assert _exact_callees(ix, "pool.manager.Derived.use") == {
        48: {"pool.block_pool.BlockPool.free"}}


def test_annotation_type_names() -> None:
    from codewalk.index.python import _type_name
    cases = {"Foo": "Foo", '"Foo"': "Foo", "Optional[Foo]": "Foo", 'Optional["a.Foo"]': "a.Foo",
             "Foo | None": "Foo", "None | Foo": "Foo", '"Foo | None"': "Foo",
             "typing.Union[Foo, None]": "Foo", "ClassVar[Optional[Foo]]": "Foo",
             "Foo | Bar": "", "list[Foo]": "", "dict[str, A | B]": "", "Optional[Foo]]": ""}
    assert {k: _type_name(k) for k in cases} == cases
