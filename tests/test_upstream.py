"""KsanaLLM's real PrefixCacheManager, built from a checkout, against codewalk's core.

Opt-in (`CODEWALK_KSANALLM=/path/to/KsanaLLM`): the build succeeds, the core's scenario tests pass
on the real engine too, and `verify` finds no unexplained divergence on 500 traces. Always on: the
build's error paths (no compiler, no pybind11, missing or moved files) on a fake checkout.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from types import SimpleNamespace

import networkx as nx
import pytest

import test_core_prefix_cache as scenarios
from codewalk.core.errors import CoreError
from codewalk.upstream import build as upstream_build
from codewalk.upstream.build import BuildError
from upstream_env import KSANA, in_upstream_home, needs_checkout


# ----------------------------------------------------------------------------- opt-in: the real engine

@pytest.fixture(scope="session")
def real_build(tmp_path_factory: pytest.TempPathFactory):
    return in_upstream_home(tmp_path_factory, lambda: upstream_build.build(repo=KSANA))


@pytest.fixture()
def real(real_build):
    from codewalk.core.config import CacheConfig

    mod = upstream_build.load_module(real_build.path)
    return SimpleNamespace(CacheConfig=CacheConfig, PrefixCacheManager=mod.PrefixCacheManager, CoreError=CoreError)


@needs_checkout
def test_build_succeeds_and_is_reused(real_build):
    assert real_build.path.is_file()
    assert len(real_build.commit) == 40 or real_build.commit == "nogit"
    again = upstream_build.build(repo=KSANA) if os.environ.get("CODEWALK_HOME") == str(real_build.path.parents[2]) \
        else None
    assert again is None or again.reused


# The core's hand-worked scenarios, run unchanged on the real engine. None of them reaches a
# documented upstream bug (those need swap-ins racing a recompute, see upstream_bugs.yaml).
SCENARIOS = sorted(name for name in dir(scenarios)
                   if name.startswith("test_") and name != "test_bad_calls_raise_and_change_nothing")
BAD_CALLS = scenarios.test_bad_calls_raise_and_change_nothing.pytestmark[0].args[1]


@needs_checkout
@pytest.mark.parametrize("name", SCENARIOS)
def test_core_scenario_on_real_engine(real, name):
    getattr(scenarios, name)(real)


@needs_checkout
@pytest.mark.parametrize("call", BAD_CALLS)
def test_bad_calls_on_real_engine(real, call):
    scenarios.test_bad_calls_raise_and_change_nothing(real, call)


@needs_checkout
@pytest.mark.parametrize("kw", [{"fix_upstream_bugs": True}, {"enable_prefix_caching": False}])
def test_real_engine_refuses_what_it_cannot_be(real, kw):
    with pytest.raises(CoreError):
        real.PrefixCacheManager(real.CacheConfig(**kw))


@needs_checkout
def test_bug3_leak_reproduced_exactly(real):
    """The reproducer in upstream_bugs.yaml: one device block leaked, on both engines alike."""
    from codewalk.core import reference

    for eng in (real, reference):
        m = eng.PrefixCacheManager(eng.CacheConfig(block_size=4, device_blocks=15, host_blocks=18))
        for rid, n in ((0, 2), (4, 1)):
            m.get_request_prefix_block_number(rid, [2, 2, 2, 2])
            m.allocate_request_blocks(rid, n)
            m.update_request_tokens(rid, [2, 2, 2, 2])
        m.swapout_request_async(0)
        m.swapout_request_async(4)
        m.merge_swapout_request(0)
        m.merge_swapout_request(4)
        m.swapin_request_async(0)
        m.swapin_request_async(4)
        m.merge_swapin_request(0)
        m.merge_swapin_request(4)
        assert m.snapshot()["leaked"] == 1


@needs_checkout
@pytest.mark.parametrize("against", ["core", "reference"])
def test_verify_no_unexplained_divergence(real, against):
    import importlib

    from codewalk.upstream.verify import verify

    core = importlib.import_module("codewalk.core" if against == "core" else "codewalk.core.reference")
    rep = verify(real, core, traces=500, seed=0)
    s = rep.summary()
    assert s["traces"] == 500
    assert s["unexplained"] == 0, [(d.call, d.what, d.real, d.core, d.calls) for d in rep.divergences
                                   if not d.explained]
    assert s["agreement"] > 0.9
    assert {"reusable-overcount", "evict-before-failure", "swapin-leak"} <= set(rep.bugs)


# ----------------------------------------------------------------------------- always on: error paths

STRUCTS = {
    "src/ksana_llm/utils/config/schedule_config_parser.h":
        "#pragma once\n// cfg\nstruct CacheManagerConfig {\n  size_t block_token_num = 16;\n  bool x = false;\n};\n",
    "src/ksana_llm/utils/request.h": "#pragma once\nstruct FlexibleCachedCopyTask {\n  int a = 0;\n};\n",
}
# The declarations codewalk/upstream/api.py reads, in their c451219c form.
API_HEADERS = {
    "src/ksana_llm/runtime/request_state.h": "enum class RequestState {\n  kWaiting,\n  kRunning,\n  kSwapped,\n"
                                            "  kFinished,\n  kTransfer,\n};\n",
    "src/ksana_llm/cache_manager/prefix_cache_manager.h": """class PrefixCacheManager {
  size_t GetUsableBlockNumber() override;
  size_t GetUsedBlockNumber() override;
  Status GetRequestPrefixBlockNumber(int64_t req_id, const std::vector<int>& input_token_ids, size_t check_token_num,
                                     size_t& shared_block_num, size_t& unique_block_num,
                                     size_t& shared_token_num) override;
  Status AllocateRequestBlocks(int64_t req_id, size_t block_num, std::vector<std::vector<int>>& req_block_ids) override;
  Status UpdateRequestTokens(int64_t req_id, const std::vector<int>& kvcached_token_ids,
                             size_t shareable_kvcache_token_num, std::vector<std::vector<int>>& req_block_ids,
                             bool& block_merged) override;
  Status SwapoutRequestAsync(int64_t req_id, size_t& swapped_block_num, size_t& free_block_num,
                             std::vector<int>& swapped_memory_block_ids) override;
  Status SwapinRequestAsync(int64_t req_id, size_t& block_num, std::vector<std::vector<int>>& req_block_ids,
                            std::vector<int>& swapped_memory_block_ids) override;
  Status WaitSwapinRequests(std::vector<int64_t>& req_ids, size_t& left_req_num, bool blocking = true) override;
  Status MergeSwapinRequest(int64_t req_id, std::vector<std::vector<int>>& req_block_ids) override;
  void DestroySwappedRequest(int64_t req_id) override;
};
""",
}


def fake_checkout(root: Path) -> Path:
    for rel in (*upstream_build.SOURCES, *upstream_build.HEADERS):
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("// fake\n")
    for rel, text in {**STRUCTS, **API_HEADERS}.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def test_missing_compiler_is_named(tmp_path, monkeypatch):
    repo = fake_checkout(tmp_path / "ksana")
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("CXX", raising=False)
    with pytest.raises(BuildError, match="no C\\+\\+ compiler"):
        upstream_build.build(repo=repo)


def test_missing_pybind11_is_named(tmp_path, monkeypatch):
    import sys

    repo = fake_checkout(tmp_path / "ksana")
    monkeypatch.setitem(sys.modules, "pybind11", None)
    with pytest.raises(BuildError, match="pybind11"):
        upstream_build.build(repo=repo)


def test_missing_file_names_where_it_moved(tmp_path):
    repo = fake_checkout(tmp_path / "ksana")
    src = repo / "src/ksana_llm/cache_manager/prefix_cache_manager.cpp"
    moved = repo / "src/ksana_llm/cache/prefix_cache_manager.cpp"
    moved.parent.mkdir(parents=True)
    src.rename(moved)
    with pytest.raises(BuildError) as err:
        upstream_build.build(repo=repo)
    text = str(err.value)
    assert "src/ksana_llm/cache_manager/prefix_cache_manager.cpp is missing" in text
    assert "src/ksana_llm/cache/prefix_cache_manager.cpp" in text
    assert "\n" not in text  # one line


def test_moved_struct_is_named(tmp_path):
    repo = fake_checkout(tmp_path / "ksana")
    (repo / "src/ksana_llm/utils/config/schedule_config_parser.h").write_text("#pragma once\n")
    (repo / "src/ksana_llm/utils/cache_config.h").write_text(STRUCTS["src/ksana_llm/utils/config/schedule_config_parser.h"])
    with pytest.raises(BuildError, match="CacheManagerConfig is no longer defined in .*cache_config.h"):
        upstream_build.build(repo=repo)


def test_not_a_checkout(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(BuildError, match="src/ksana_llm"):
        upstream_build.build(repo=tmp_path / "x")


def test_struct_extraction_strips_comments():
    text = "/* struct CacheManagerConfig { int no; }; */\nstruct CacheManagerConfig {\n  // c { \n  int a = 1;\n};\n"
    body = upstream_build.extract_struct(text, "CacheManagerConfig")
    assert body is not None and "int a = 1;" in body and body.endswith("};") and "no" not in body


def test_cli_reports_build_errors(tmp_path, capsys):
    from codewalk.cli import main

    (tmp_path / "x").mkdir()
    assert main(["upstream", "build", "--repo", str(tmp_path / "x")]) == 1
    assert "src/ksana_llm" in capsys.readouterr().err


def test_demo_real_engine_without_checkout_says_how(monkeypatch, capsys):
    from codewalk.cli import main

    monkeypatch.delenv("CODEWALK_KSANALLM", raising=False)
    assert main(["demo", "prefix-cache", "--engine", "real"]) == 1
    assert "codewalk upstream build" in capsys.readouterr().err


def test_package_data_present():
    from importlib import resources

    for name in upstream_build.STANDINS:
        assert resources.files("codewalk.upstream").joinpath("standins", name).is_file()
    assert resources.files("codewalk.upstream").joinpath("binding.cpp").is_file()
    assert resources.files("codewalk.upstream").joinpath("binding_common.h").is_file()


def test_build_key_covers_every_laid_out_file():
    """Each stand-in (cache and scheduler) and the bindings' shared header is laid out by a build,
    so is part of its reuse key; changing any of them, or moving one to another layer, rebuilds."""
    from importlib import resources

    from codewalk.upstream import sched_build

    pkg = resources.files("codewalk.upstream")
    cache, sched = upstream_build.cache_layers({}, "// api"), sched_build.layers({})
    laid_out = [text for layers in (cache, sched) for layer in layers for text in layer.values()]
    shipped = [f for d in (pkg / "standins", pkg / "standins" / "scheduler") for f in d.iterdir()
               if f.is_file() and f.name.endswith(".h")]
    for f in [*shipped, pkg / "binding_common.h"]:
        assert f.read_text(encoding="utf-8") in laid_out, f.name
    assert "codewalk/binding_common.h" in cache[0] and "codewalk/binding_common.h" in sched[0]
    assert "ksana_llm/utils/request.h" not in sched[1]  # the scheduler compiles the real one

    def key(layers):
        return upstream_build.build_key(Path("."), [], [], layers, "binding", "c++", [])

    base = key(sched)
    for i, layer in enumerate(sched):
        for rel in layer:
            changed = [dict(x) for x in sched]
            changed[i][rel] += " "
            assert key(changed) != base, rel
    moved = [dict(sched[0]), dict(sched[1])]
    moved[1]["codewalk/binding_common.h"] = moved[0].pop("codewalk/binding_common.h")
    assert key(moved) != base


def _upstream_imports() -> dict[str, set[str]]:
    """Module of codewalk/upstream -> the package's modules it imports, anywhere in its body (ast)."""
    pkg = Path(upstream_build.__file__).parent
    mods = {p.stem for p in pkg.glob("*.py")} - {"__init__"}
    out: dict[str, set[str]] = {}
    for name in mods:
        deps: set[str] = set()
        for node in ast.walk(ast.parse((pkg / f"{name}.py").read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "codewalk.upstream":
                deps |= {a.name for a in node.names if a.name in mods}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("codewalk.upstream."):
                deps.add(node.module.split(".")[2])
            elif isinstance(node, ast.Import):
                deps |= {a.name.split(".")[2] for a in node.names if a.name.startswith("codewalk.upstream.")}
        out[name] = deps & mods
    return out


def test_upstream_modules_import_no_cycle():
    graph = nx.DiGraph([(m, d) for m, deps in _upstream_imports().items() for d in deps])
    assert list(nx.simple_cycles(graph)) == []
    assert {"layout"} <= _upstream_imports()["sched_build"] and "build" not in _upstream_imports()["scheduler"]
