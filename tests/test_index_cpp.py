"""C++ extraction and resolution on tests/fixtures/cpp."""

from __future__ import annotations

import shutil
from pathlib import Path

from codewalk.index import store
from codewalk.index.build import index_repo
from codewalk.query.lookup import Index
from codewalk.query.resolve import Resolver


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


def _resolve_fixture(tmp_path: Path) -> Path:
    root = tmp_path / "resolve"
    shutil.copytree(Path(__file__).parent / "fixtures" / "resolve" / "cpp", root)
    return root


def _edges_by_line(ix: Index, name: str) -> dict[int, tuple[bool, set[str]]]:
    r = Resolver(ix)
    (entity,) = ix.find(name)
    out: dict[int, tuple[bool, set[str]]] = {}
    for e in r.callees(entity):
        heuristic, targets = out.get(e.line, (False, set()))
        out[e.line] = (heuristic or e.heuristic, targets | {t["qname"] for t in e.targets})
    return out


def test_locals_and_parameters_resolve_through_their_types(tmp_path: Path) -> None:
    ix = _index(_resolve_fixture(tmp_path))
    got = _edges_by_line(ix, "Strategy::Process")
    exact = {line: targets for line, (heuristic, targets) in got.items()
             if not heuristic and targets}
    assert exact == {
        12: {"eng::Request::Len"},  # const std::shared_ptr<Request>& parameter
        13: {"eng::Plain::Run"},  # Plain* parameter
        14: {"eng::Base::Shared"},  # Request& parameter, method of its base
        15: {"eng::Request::Request"},  # std::make_shared<Request>(1): the constructor
        16: {"eng::Request::Len"},  # auto made = std::make_shared<Request>(...)
        17: {"eng::Request::Request"},  # new Request(2)
        18: {"eng::Base::Shared"},  # Request* fresh = new ...
        19: {"eng::Request::Request"},  # Request value(3) constructs a Request
        20: {"eng::Request::Len"},  # Request value(3)
        22: {"eng::Plain::Run"},  # std::shared_ptr<Plain> held
        23: {"eng::Plain"},  # make_unique of a class without constructors: the class
        24: {"eng::Plain::Run"},  # auto unique = std::make_unique<Plain>()
        26: {"eng::Request::Len"},  # for (const auto& req : state_->waiting)
        30: {"eng::Base::Shared"},  # auto req = *it, it = state_->waiting.begin()
        32: {"eng::Request::Len"},
    }
    # `auto unknown = first->Len()` is an int: no project method can be called on it, so no
    # same-named member is offered as a guess
    assert got[33] == (False, set())
    # std::vector's begin()/end() are library calls, never project edges
    assert got[28] == (False, set())
    # elements of a parameter's own container type: range-for and `*it`
    sweep = {line: e for line, e in _edges_by_line(ix, "eng::Sweep").items() if e[1]}
    assert sweep == {42: (False, {"eng::Request::Len"}), 46: (False, {"eng::Base::Shared"})}


def test_constructions_are_constructor_calls(tmp_path: Path) -> None:
    ix = _index(_resolve_fixture(tmp_path))
    r = Resolver(ix)
    (ctor,) = ix.find("Request::Request")
    assert [(c.caller["qname"], c.line, c.heuristic) for c in r.callers(ctor)] == [
        ("eng::Strategy::Process", 15, False), ("eng::Strategy::Process", 17, False),
        ("eng::Strategy::Process", 19, False)]
    (cls,) = ix.find("eng::Request", kinds=("class",))
    assert [c.line for c in r.callers(cls)] == [15, 17, 19]
    (plain,) = ix.find("eng::Plain", kinds=("class",))
    assert [c.line for c in r.callers(plain)] == [23]
