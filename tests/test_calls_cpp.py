"""Issue 14, C++: dispatch, types through expressions, the library boundary, parse fixes,
and how `show`/`callers`/`graph` present them — on tests/fixtures/calls/cpp."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from codewalk.index import store
from codewalk.cli import main
from codewalk.index.build import index_repo
from codewalk.query.lookup import Index
from codewalk.query.resolve import Resolver

FIXTURE = Path(__file__).parent / "fixtures" / "calls" / "cpp"


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    dst = tmp_path / "calls"
    shutil.copytree(FIXTURE, dst)
    index_repo(dst, progress=False)
    return dst


def _ix(root: Path) -> Index:
    return Index(store.connect(store.db_path(root), readonly=True), root)


def _walk_edges(root: Path) -> dict[int, list]:
    ix = _ix(root)
    r = Resolver(ix)
    (walk,) = ix.find("Manager::Walk")
    out: dict[int, list] = {}
    for e in r.callees(walk):
        out.setdefault(e.line, []).append(e)
    return out


def _exact(edges: list, name: str) -> set[str]:
    return {f"{t['qname']}({t['params_key']})" for e in edges if e.name == name
            and e.resolution == "exact" for t in e.targets}


def test_call_through_interface_dispatches_to_overrides(root: Path) -> None:
    (edge,) = _walk_edges(root)[11]
    assert edge.resolution == "exact" and {t["qname"] for t in edge.targets} == {"eng::CacheInterface::Allocate"}
    assert {o["qname"] for o, _ in edge.overrides} == {"eng::PrefixCache::Allocate", "eng::DirectCache::Allocate"}
    ix = _ix(root)
    (override,) = ix.find("PrefixCache::Allocate")
    callers = Resolver(ix).callers(override)
    assert [(c.caller["qname"], c.line, c.resolution, c.via["qname"]) for c in callers] == [
        ("eng::Manager::Walk", 11, "dispatch", "eng::CacheInterface::Allocate")]
    # a non-virtual method of the same name is not an override
    (plain,) = ix.find("PrefixCache::Plain")
    assert all(c.resolution == "exact" for c in Resolver(ix).callers(plain))


def test_types_through_expressions(root: Path) -> None:
    edges = _walk_edges(root)
    assert _exact(edges[14], "Reset") == {"eng::Counter::Reset()"}  # counter_->step_batch_size.Reset()
    assert _exact(edges[15], "Init") == {"eng::Env::Init()"}  # GetEnv()->Init(): return type
    assert _exact(edges[16], "Init") == {"eng::Env::Init()"}  # Singleton<Env>::GetInstance()->
    assert _exact(edges[18], "Get") == {"eng::Counter::Get( const)"}  # auto env = ...; env->GetCounter()->
    assert _exact(edges[20], "Plain") == {"eng::PrefixCache::Plain()"}  # auto = dynamic_pointer_cast<T>
    assert _exact(edges[21], "Allocate") == {"eng::DirectCache::Allocate(int)"}  # dynamic_cast<T*>(x)->
    assert _exact(edges[24], "Init") == {"eng::Env::Init()"}  # EnvPtr alias of shared_ptr<Env>
    assert _exact(edges[29], "OK") == {"eng::Status::OK( const)"}  # Status coded(2); coded.OK()
    assert _exact(edges[33], "Len") == {"eng::Request::Len( const)"}  # templated base's map, range-for
    assert _exact(edges[36], "Len") == {"eng::Request::Len( const)"}  # map iterator ->second->
    assert _exact(edges[40], "Len") == {"eng::Request::Len( const)"}  # vector.front()->
    assert _exact(edges[39], "Inlined") == {"eng::Inlined(int)"}  # __attribute__ declaration


def test_constructors_chosen_by_argument_count(root: Path) -> None:
    edges = _walk_edges(root)
    assert _exact(edges[30], "Status") == {"eng::Status::Status()"}
    assert _exact(edges[27], "Status") == {"eng::Status::Status(int,const std::string&)"}
    assert _exact(edges[31], "Status") == {"eng::Status::Status(int,const std::string&)"}
    # one argument fits the copy constructor and (int, message = ""): a guess, never an edge
    assert [e.resolution for e in edges[26]] == ["heuristic"]
    ix = _ix(root)
    (ctor,) = ix.find("Manager::Manager")
    inits = {e.name: e for e in Resolver(ix).callees(ctor)}
    assert _exact([inits["last_"]], "last_") == {"eng::Status::Status(int,const std::string&)"}


def test_library_calls_get_no_project_edge(root: Path) -> None:
    edges = _walk_edges(root)
    # CacheInterface and PrefixCache have `size`, but waiting_queue is a std::vector
    for line, name in ((12, "size"), (13, "get"), (22, "reset"), (35, "find"), (37, "max"),
                       (38, "format"), (40, "front"), (39, "static_cast"), (19, "dynamic_pointer_cast")):
        (edge,) = [e for e in edges[line] if e.name == name]
        assert edge.kind == "external" and edge.targets == [], (line, name)
    (size,) = edges[12]
    assert size.external.startswith("std::vector")


def test_parse_fixes(root: Path) -> None:
    ix = _ix(root)
    platform = ix.find("PlatformInit")
    # prototypes inside #if / #elif; both per-platform bodies stay visible
    assert sorted(e.params_key for e in platform) == ["int", "int,int"]
    (twins,) = [e for e in platform if e.params_key == "int"]
    assert sorted(ix.path(d) for d in twins.definitions) == [
        "engine/ascend/platform.cpp", "engine/nvidia/platform.cpp"]
    assert ix.find("MOCK_METHOD") == [] and [e.kind for e in ix.find("FOR_RANGE")] == ["macro"]
    assert not [e for e in ix.find("catch")]
    assert [e.kind for e in ix.find("L2Flush::~L2Flush")] == ["destructor"]
    assert [e.kind for e in ix.find("L2Flush::L2Flush")] == ["constructor"]
    (inlined,) = ix.find("Inlined")
    assert inlined.declarations


def _json(capsys: pytest.CaptureFixture, *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_show_json_resolution_and_kind(root: Path, capsys: pytest.CaptureFixture) -> None:
    doc = _json(capsys, "show", "Manager::Walk", "--repo", str(root), "--json")
    (m,) = doc["matches"]
    rows = m["callees"]
    assert all(r["heuristic"] == (r["resolution"] == "heuristic") for r in rows)
    assert {r["resolution"] for r in rows} >= {"exact", "dispatch", "heuristic", "unresolved"}
    dispatch = {r["qualified_name"]: r["via"] for r in rows if r["resolution"] == "dispatch"}
    assert dispatch == {"eng::PrefixCache::Allocate": "eng::CacheInterface::Allocate",
                        "eng::DirectCache::Allocate": "eng::CacheInterface::Allocate"}
    assert {r["kind"] for r in rows} == {"project", "external"}
    assert not [r for r in rows if r["kind"] == "external" and r["resolved"]]
    doc = _json(capsys, "show", "PrefixCache::Allocate", "--repo", str(root), "--json")
    (caller,) = doc["matches"][0]["callers"]
    assert caller["resolution"] == "dispatch" and caller["via"] == "eng::CacheInterface::Allocate"


def test_show_text_lists_engine_calls_and_summarises_the_rest(root: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    assert main(["show", "Manager::Walk", "--repo", str(root), "--no-source"]) == 0
    out = capsys.readouterr().out
    callees = out.split("callees", 1)[1]
    assert "eng::CacheInterface::Allocate" in callees and "overrides" in callees
    assert "std::" not in callees and "size" not in callees.replace("external", "")
    assert callees.count("eng::Env::Init") == 1  # one line per callee, its lines merged
    assert "external call" in callees and "--heuristic" in callees
    assert main(["show", "Manager::Walk", "--repo", str(root), "--no-source", "--heuristic"]) == 0
    assert "guess" in capsys.readouterr().out


def test_show_ranks_engine_code_first_and_picks(root: Path, capsys: pytest.CaptureFixture) -> None:
    doc = _json(capsys, "show", "Walk", "--repo", str(root), "--json")
    assert [m["qualified_name"] for m in doc["matches"]] == ["eng::Manager::Walk", "eng::Walk"]
    assert doc["total"] == 2
    assert main(["show", "Walk", "--repo", str(root), "--no-source"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("method eng::Manager::Walk") and "2 matches, showing 1" in out
    assert "--pick N" in out and "eng::Walk" in out
    doc = _json(capsys, "show", "Walk", "--repo", str(root), "--json", "--pick", "2")
    assert [m["qualified_name"] for m in doc["matches"]] == ["eng::Walk"]
    doc = _json(capsys, "show", "Walk@tests/", "--repo", str(root), "--json")
    assert [m["qualified_name"] for m in doc["matches"]] == ["eng::Walk"]


def test_graph_edges_once_and_one_node_per_symbol(root: Path, capsys: pytest.CaptureFixture) -> None:
    doc = _json(capsys, "graph", "Manager::Walk", "--repo", str(root), "--format", "json",
                "--depth", "2")
    pairs = [(e["source"], e["target"]) for e in doc["edges"]]
    assert len(pairs) == len(set(pairs))
    qnames = [n["qname"] for n in doc["nodes"]]
    assert qnames.count("eng::Env::Init") == 1
    (edge,) = [e for e in doc["edges"] if e["target"].startswith("eng::Env::Init")]
    assert edge["lines"] == [15, 16, 24]
    assert {e["resolution"] for e in doc["edges"]} == {"exact", "dispatch"}


def test_calls_on_one_line_are_recorded_in_source_order() -> None:
    """Nested and chained calls on one line come out by position in the line, in every run:
    the query's captures need not arrive in that order, and the call lists follow it."""
    from codewalk.index import cpp, python
    from codewalk.index.records import FileResult

    src = b"int f(Q& q) {\n  return g(h(q.size()), k(m(), n()));\n}\n"
    res = cpp.extract(FileResult("a.cpp", "cpp", len(src), 0, ""), src)
    assert [c[1] for c in res.calls] == ["g", "h", "size", "k", "m", "n"]
    py = b"def f(q):\n    return g(h(q.size()), k(m(), n()))\n"
    res = python.extract(FileResult("a.py", "python", len(py), 0, ""), py, "a", False)
    assert [c[1] for c in res.calls if c[3] == 2] == ["g", "h", "size", "k", "m", "n"]
