"""C++ extraction and resolution on tests/fixtures/cpp."""

from __future__ import annotations

from pathlib import Path

from codewalk import store
from codewalk.index.build import index_repo
from codewalk.lookup import Index
from codewalk.resolve import Resolver


def _index(root: Path) -> Index:
    index_repo(root)
    return Index(store.connect(store.db_path(root), readonly=True), root)


def _callees(ix: Index, name: str) -> set[str]:
    r = Resolver(ix)
    (entity,) = ix.find(name)
    return {t["qname"] for e in r.callees(entity) if not e.heuristic for t in e.targets}


def test_declaration_definition_pairing(repo: Path) -> None:
    ix = _index(repo)
    (e,) = ix.find("ProcessWaitingQueue")
    assert e.qname == "toy::BatchStrategy::ProcessWaitingQueue"
    assert [(ix.path(r), r["line"]) for r in e.declarations] == [("cpp/engine/scheduler.h", 22)]
    assert ix.path(e.definitions[0]) == "cpp/engine/scheduler.cpp"
    assert e.definitions[0]["line"] == 19
    assert "Admits waiting requests" in e.declarations[0]["comment"]


def test_destructors_constructors_operators_templates(repo: Path) -> None:
    ix = _index(repo)
    kinds = {e.qname: e.kind for e in ix.find("BatchStrategy::~BatchStrategy")}
    assert kinds == {"toy::BatchStrategy::~BatchStrategy": "destructor"}
    (ctor,) = [e for e in ix.find("BatchStrategy::BatchStrategy")]
    assert ctor.kind == "constructor" and ctor.definitions and ctor.declarations
    (op,) = ix.find("operator==")
    assert op.kind == "operator" and op.definitions and op.declarations
    (get,) = ix.find("toy::Box::Get")
    assert get.definitions and get.declarations and get.params_key == " const"


def test_overloads_are_distinct(repo: Path) -> None:
    ix = _index(repo)
    adds = ix.find("BatchStrategy::Add")
    assert sorted(e.params_key for e in adds) == ["int", "int,int"]
    assert all(e.definitions and e.declarations for e in adds)


def test_calls_through_this_members_bases(repo: Path) -> None:
    ix = _index(repo)
    assert {"toy::BatchStrategy::ProcessWaitingQueue", "toy::BatchStrategy::Helper",
            "toy::BaseStrategy::Log"} <= _callees(ix, "BatchStrategy::Schedule")
    assert {"toy::BlockCache::FreeBlocks", "toy::BlockCache::Allocate"} <= _callees(
        ix, "ProcessWaitingQueue")


def test_overload_resolved_by_arity(repo: Path) -> None:
    ix = _index(repo)
    r = Resolver(ix)
    (e,) = ix.find("ProcessWaitingQueue")
    add = [edge for edge in r.callees(e) if edge.name == "Add"]
    assert {t["params_key"] for t in add[0].targets} == {"int,int"}


def test_callers_and_bases(repo: Path) -> None:
    ix = _index(repo)
    r = Resolver(ix)
    (e,) = ix.find("ProcessWaitingQueue")
    assert [c.caller["qname"] for c in r.callers(e)] == ["toy::BatchStrategy::Schedule"]
    assert r.chain("toy::BatchStrategy") == ("toy::BatchStrategy", "toy::BaseStrategy")


def test_fields_enums_macros_includes(repo: Path) -> None:
    ix = _index(repo)
    (field,) = ix.find("cache_")
    assert field.kind == "field" and "BlockCache" in field.primary["type_text"]
    assert ix.find("CacheState")[0].kind == "enum"
    assert ix.find("BLOCK_BYTES")[0].kind == "macro"
    targets = {r[0] for r in ix.conn.execute("SELECT target FROM imports")}
    assert {"cache.h", "scheduler.h", "memory"} <= targets
