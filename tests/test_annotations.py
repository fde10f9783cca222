"""Notes: schema validation with file:line, check (ok/drifted/missing), refresh, annotate, history."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from codewalk.notes.schema import load
from codewalk.cli import main

SOURCES = """\
sources:
  demo:
    language: cpp
    kind: git
    upstream: local
    revision: {rev}
    env: CODEWALK_DEMO
"""

CPP = """\
namespace demo {
class Cache {
 public:
  int Evict(int n);
};
// Frees n blocks, newest first.
int Cache::Evict(int n) {
  int freed = 0;
  while (freed < n) ++freed;  // one at a time
  return freed;
}
}  // namespace demo
"""


def note(id_: str, symbol: str, fingerprint: str, extra: str = "") -> str:
    return textwrap.indent(textwrap.dedent(f"""\
        - id: {id_}
          source: demo
          symbol: "{symbol}"
          fingerprint: {fingerprint}
          title: Eviction
          en: Frees blocks.
          zh: 释放块。
        """) + extra, "  ")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
                               "GIT_COMMITTER_EMAIL": "t@x", "PATH": "/usr/bin:/bin"}).stdout.strip()


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A one-file git repo (two commits) and an annotations folder pinned to its first commit."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "cache.cpp").write_text(CPP)
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "first")
    rev = git(repo, "rev-parse", "HEAD")
    notes = tmp_path / "annotations"
    (notes / "demo").mkdir(parents=True)
    (notes / "sources.yaml").write_text(SOURCES.format(rev=rev))
    monkeypatch.setenv("CODEWALK_DEMO", str(repo))
    return repo, notes


def fingerprint_of(symbol: str, capsys: pytest.CaptureFixture) -> str:
    assert main(["annotate", symbol, "--source", "demo"]) == 0
    stub = capsys.readouterr().out
    return next(line.split()[-1] for line in stub.splitlines() if "fingerprint:" in line)


def check(notes: Path, capsys: pytest.CaptureFixture, *extra: str) -> tuple[int, dict]:
    status = main(["check", "--annotations", str(notes), "--json", *extra])
    return status, json.loads(capsys.readouterr().out)


def test_schema_errors_name_file_and_line(tmp_path: Path) -> None:
    d = tmp_path / "a"
    (d / "x").mkdir(parents=True)
    (d / "sources.yaml").write_text(SOURCES.format(rev="abc"))
    bad = d / "x" / "bad.yaml"
    bad.write_text(textwrap.dedent("""\
        notes:
          - id: one
            source: demo
            symbol: demo::A
            fingerprint: 0123456789abcdef
            title: t
            en: e
            zh: z
            colour: red
            see_also: [nowhere]
          - id: one
            source: demo
            symbol: demo::B
            fingerprint: nothex
            title: t
            en: e
            zh: z
          - id: two
            source: elsewhere
            symbol: demo::C
            title: t
        """))
    broken = d / "x" / "broken.yaml"
    broken.write_text("notes:\n  - id: [unclosed\n")
    assert load(d).errors == [
        f"{bad}:9: unknown key 'colour'",
        f"{bad}:14: one: fingerprint must be 16 lowercase hex digits (see `codewalk annotate`)",
        f"{bad}:18: two: missing field(s) fingerprint, en, zh",
        f"{broken}:3: YAML syntax error: expected ',' or ']', but got '<stream end>'",
        f"{bad}:2: one: see_also names unknown note 'nowhere'",
    ]


def test_duplicate_ids_and_unknown_source(tmp_path: Path) -> None:
    d = tmp_path / "a"
    d.mkdir()
    (d / "sources.yaml").write_text(SOURCES.format(rev="abc"))
    f = d / "n.yaml"
    body = note("dup", "demo::A", "0123456789abcdef") + note("dup", "demo::B", "0123456789abcdef")
    f.write_text("notes:\n" + body.replace("source: demo", "source: demo", 1)
                 + note("lost", "demo::C", "0123456789abcdef").replace("source: demo", "source: mars"))
    assert load(d).errors == [
        f"{f}:9: duplicate id 'dup' (first at {f}:2)",
        f"{f}:16: lost: unknown source 'mars'",
    ]


def test_check_ok_drifted_missing_and_refresh(demo, capsys) -> None:
    repo, notes = demo
    fp = fingerprint_of("demo::Cache::Evict", capsys)
    topic = notes / "demo" / "cache.yaml"
    topic.write_text("# eviction notes\nnotes:\n" + note("demo.evict", "demo::Cache::Evict", fp)
                     + "  # the class itself\n" + note("demo.gone", "demo::Cache::Shrink", fp))
    status, report = check(notes, capsys)
    by_id = {n["id"]: n for n in report["notes"]}
    assert status == 1 and by_id["demo.evict"]["status"] == "ok"
    assert by_id["demo.gone"]["status"] == "missing"
    assert by_id["demo.gone"]["suggestions"][0] == "demo::Cache::Evict (same code)"

    # Comments and spacing do not drift a note; a code change does.
    (repo / "cache.cpp").write_text(CPP.replace("// one at a time", "/* still one */").replace("int freed = 0;", "int  freed=0;"))
    by_id = {n["id"]: n for n in check(notes, capsys)[1]["notes"]}
    assert by_id["demo.evict"]["status"] == "ok"
    (repo / "cache.cpp").write_text(CPP.replace("++freed;", "freed += 2;"))
    git(repo, "commit", "-qam", "evict two at a time")
    by_id = {n["id"]: n for n in check(notes, capsys)[1]["notes"]}
    drifted = by_id["demo.evict"]
    assert drifted["status"] == "drifted"
    assert drifted["detail"].startswith("fingerprint changed: +1 -1 lines since ")
    assert drifted["stale_since"].endswith("evict two at a time")
    assert check(notes, capsys, "--strict")[0] == 1

    before = topic.read_text()
    status, report = check(notes, capsys, "--refresh", "demo.evict")
    after = topic.read_text()
    assert {n["id"]: n["status"] for n in report["notes"]}["demo.evict"] == "ok"
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines()) if a != b]
    assert len(changed) == 1 and "fingerprint:" in changed[0][0]  # nothing else in the file moved
    assert after.startswith("# eviction notes\n")


def test_history_follows_symbol_within_file(demo, capsys) -> None:
    repo, _ = demo
    (repo / "cache.cpp").write_text("// moved down\n\n\n" + CPP)
    git(repo, "commit", "-qam", "only moves it")
    (repo / "cache.cpp").write_text(CPP.replace("return freed;", "return freed - 0;"))
    git(repo, "commit", "-qam", "touch the body")
    assert main(["history", "demo::Cache::Evict", "--repo", str(repo), "--json"]) == 0
    commits = json.loads(capsys.readouterr().out)["commits"]
    assert [c["subject"] for c in commits] == ["touch the body", "first"]
    assert (commits[0]["added"], commits[0]["removed"], commits[1]["what"]) == (1, 1, "added")


def test_file_history_agrees_with_symbol_history(demo) -> None:
    """The site's one-walk-per-file history gives each symbol what `codewalk history` gives it."""
    from codewalk.notes.history import file_history, symbol_history

    repo, _ = demo
    (repo / "cache.cpp").write_text("// moved down\n\n\n" + CPP)
    git(repo, "commit", "-qam", "only moves it")
    (repo / "cache.cpp").write_text(CPP.replace("return freed;", "return freed - 0;"))
    git(repo, "commit", "-qam", "touch the body")
    qnames = ["demo::Cache::Evict", "demo::Cache::Missing"]
    both = file_history(repo, "cache.cpp", qnames, max_count=5)
    for q in qnames:
        assert [c.to_dict() for c in both[q]] == [c.to_dict() for c in symbol_history(repo, "cache.cpp", q, max_count=5)]
    assert [c.subject for c in both["demo::Cache::Evict"]] == ["touch the body", "first"]
    assert both["demo::Cache::Missing"] == []


def test_history_outside_git_is_a_clear_error(tmp_path: Path, capsys) -> None:
    (tmp_path / "a.py").write_text("def f():\n    return 1\n")
    assert main(["history", "f", "--repo", str(tmp_path)]) == 1
    assert "not a git work tree" in capsys.readouterr().err


def test_annotate_unknown_symbol_suggests(demo, capsys) -> None:
    assert main(["annotate", "Evicted", "--source", "demo"]) == 1
    assert "Evict" in capsys.readouterr().err


def test_shipped_core_notes_match_the_shipped_core(capsys, monkeypatch) -> None:
    """The core ships with codewalk, so its notes are always checked (CI runs `codewalk check` too)."""
    for var in ("CODEWALK_KSANALLM", "CODEWALK_VLLM"):
        monkeypatch.delenv(var, raising=False)
    status = main(["check", "--json"])
    report = json.loads(capsys.readouterr().out)
    core = [(n["id"], n["status"], n["detail"]) for n in report["notes"] if n["source"] == "core"]
    assert report["errors"] == [] and core and all(s == "ok" for _, s, _ in core), core
    assert status == 0
