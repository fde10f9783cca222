"""CLI contract: show JSON shape, not-found + suggestions, exit statuses, other commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codewalk.cli import main

MATCH_KEYS = {"name", "qualified_name", "kind", "language", "definition", "declarations",
              "signature", "callers", "callees", "bases", "annotations"}
EDGE_KEYS = {"qualified_name", "path", "line", "heuristic"}


def _run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_show_json_contract(repo: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = _run(capsys, "show", "ProcessWaitingQueue", "--repo", str(repo), "--json")
    assert code == 0
    doc = json.loads(out)
    assert set(doc) >= {"query", "repo", "matches", "suggestions"}
    (m,) = doc["matches"]
    assert MATCH_KEYS <= set(m)
    assert m["definition"] == {"path": "cpp/engine/scheduler.cpp", "line": 19, "end_line": 23}
    assert m["declarations"] == [{"path": "cpp/engine/scheduler.h", "line": 22}]
    assert all(EDGE_KEYS <= set(e) for e in m["callers"] + m["callees"])
    assert m["callers"][0]["qualified_name"] == "toy::BatchStrategy::Schedule"


def test_show_not_found_suggests(repo: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = _run(capsys, "show", "ProcessWaitQueue", "--repo", str(repo), "--json")
    doc = json.loads(out)
    assert code == 1 and doc["matches"] == []
    assert "ProcessWaitingQueue" in doc["suggestions"]
    code, out, err = _run(capsys, "show", "GetFreeBlock", "--repo", str(repo))
    assert code == 1 and "did you mean" in err and "FreeBlocks" in err


def test_show_rich_output_and_source(repo: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = _run(capsys, "show", "Scheduler.schedule", "--repo", str(repo / "python"))
    assert code == 0
    assert "toyllm.core.scheduler.Scheduler.schedule" in out and "get_computed_blocks" in out
    code, out, _ = _run(capsys, "show", "helper", "--repo", str(repo / "python"), "--no-source")
    assert code == 0 and "return 1" not in out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["show"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["graph", "x", "--format", "png"])
    assert exc.value.code == 2


def test_index_callers_callees_search_graph(repo: Path, capsys: pytest.CaptureFixture) -> None:
    code, out, _ = _run(capsys, "index", str(repo), "--json")
    stats = json.loads(out)
    assert code == 0 and {"files", "symbols", "edges", "parse_errors", "seconds"} <= set(stats)
    code, out, _ = _run(capsys, "callees", "BatchStrategy::Schedule", "--repo", str(repo),
                        "--depth", "2", "--json")
    names = {c["qualified_name"] for c in json.loads(out)["matches"][0]["callees"]}
    assert {"toy::BatchStrategy::ProcessWaitingQueue", "toy::BlockCache::FreeBlocks"} <= names
    code, out, _ = _run(capsys, "callers", "FreeBlocks", "--repo", str(repo), "--json")
    assert json.loads(out)["matches"][0]["callers"][0]["qualified_name"].endswith("ProcessWaitingQueue")
    code, out, _ = _run(capsys, "search", "Batch", "--kind", "class", "--repo", str(repo), "--json")
    assert [r["qualified_name"] for r in json.loads(out)["results"]] == ["toy::BatchStrategy"]
    code, out, _ = _run(capsys, "graph", "BatchStrategy::Schedule", "--repo", str(repo),
                        "--depth", "2", "--format", "mermaid")
    assert code == 0 and out.startswith("flowchart LR") and "FreeBlocks" in out
    code, out, _ = _run(capsys, "graph", "BatchStrategy::Schedule", "--repo", str(repo), "--format", "dot")
    assert out.startswith("digraph")


def test_repo_from_environment(repo: Path, capsys: pytest.CaptureFixture,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEWALK_REPO", str(repo))
    code, out, _ = _run(capsys, "show", "BlockCache", "--json")
    assert code == 0 and json.loads(out)["matches"][0]["kind"] == "class"


def test_show_lists_annotations(repo: Path, capsys: pytest.CaptureFixture) -> None:
    notes = repo / "annotations"
    notes.mkdir()
    (notes / "n.yaml").write_text(
        "notes:\n"
        "  - id: toy-admission\n    source: fixture\n"
        "    symbol: toy::BatchStrategy::ProcessWaitingQueue\n    fingerprint: 0123456789abcdef\n"
        "    title: How admission works\n    title_zh: 准入\n    en: FCFS.\n    zh: 先来先服务。\n"
        "    see_also: [{source: vllm, symbol: vllm.v1.core.sched.scheduler.Scheduler.schedule}]\n")
    (notes / "broken.yaml").write_text(": : :\n  - [")
    code, out, _ = _run(capsys, "show", "ProcessWaitingQueue", "--repo", str(repo), "--json", "--lang", "zh")
    doc = json.loads(out)
    note = doc["matches"][0]["annotations"][0]
    assert (note["id"], note["title"], note["text"]) == ("toy-admission", "准入", "先来先服务。")
    assert doc["matches"][0]["counterparts"] == [
        {"source": "vllm", "symbol": "vllm.v1.core.sched.scheduler.Scheduler.schedule", "via": "toy-admission"}]
    assert any("broken.yaml" in e for e in doc["annotation_errors"])
