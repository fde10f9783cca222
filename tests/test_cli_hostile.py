"""The CLI under hostile input and everyday shell use (issue 15), through the console script.

Every case runs `codewalk` in a subprocess exactly as the console script does (`main()` of
`codewalk.cli`, this checkout first on the path) with stdout piped, and checks: no traceback,
an exit status in {0, 1, 2}, brackets printed literally, names whole in piped output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
SCRIPT = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from codewalk.cli import main; sys.exit(main())"
LONG = "ksana_llm::deeply_nested_namespace_for_testing::PrefixCacheManagerWithAVeryLongName"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One CODEWALK_HOME for the module, so the built-in corpus is indexed once."""
    return tmp_path_factory.mktemp("cwhome")


def run(home: Path, *argv: str, cwd: Path | None = None, env: dict | None = None,
        expect: int | None = None) -> subprocess.CompletedProcess:
    """Run the console script; assert the outcome every case shares."""
    environ = {k: v for k, v in os.environ.items()
               if k not in ("CODEWALK_REPO", "CODEWALK_SOURCE", "CODEWALK_DEBUG", "FORCE_COLOR")}
    environ.update({"CODEWALK_HOME": str(home), "COLUMNS": "60", **(env or {})})  # a narrow "terminal"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, *argv], capture_output=True, text=True,
                          cwd=cwd or home, env=environ, errors="replace", timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 1, 2), (proc.returncode, proc.stderr)
    if expect is not None:
        assert proc.returncode == expect, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def closed_pipe(home: Path, *argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run with stdout a pipe whose reader is gone before anything is written (`| head` at its end)."""
    environ = {**os.environ, "CODEWALK_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=cwd or home, env=environ)
    proc.stdout.close()
    with proc.stderr:
        err = proc.stderr.read().decode("utf-8", "replace")
    proc.wait(timeout=300)
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert proc.returncode == 0, (proc.returncode, err)
    return proc


def git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@e"}
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


def one_line_error(proc: subprocess.CompletedProcess, command: str) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith(f"codewalk {command}: "), proc.stderr
    return lines[-1]


@pytest.fixture()
def long_repo(tmp_path: Path) -> Path:
    """A C++ repo with a long qualified name and a source line far wider than 80 columns."""
    root = tmp_path / "long"
    (root / "src").mkdir(parents=True)
    wide = "    int x = " + " + ".join(f"value_{i}" for i in range(60)) + ";  // end"
    (root / "src" / "long.cpp").write_text(
        "namespace ksana_llm { namespace deeply_nested_namespace_for_testing {\n"
        "struct PrefixCacheManagerWithAVeryLongName {\n  int FreeCachedBlocksEverywhere(int n);\n};\n"
        "int PrefixCacheManagerWithAVeryLongName::FreeCachedBlocksEverywhere(int n) {\n"
        f"{wide}\n  return n;\n}}\n}} }}\n")
    return root


# ---------------------------------------------------------------------- brackets, markup, names


def test_brackets_in_names_are_printed_literally(home: Path) -> None:
    proc = run(home, "show", "[/]", expect=1)
    assert "[/]" in proc.stderr
    proc = run(home, "show", "[red]Schedule", expect=1)
    assert "[red]Schedule" in proc.stderr and "no symbol named [red]Schedule" in proc.stderr
    proc = run(home, "show", "", expect=1)
    assert "(an empty name)" in proc.stderr


def test_history_prints_subjects_with_brackets(home: Path, tmp_path: Path) -> None:
    repo = tmp_path / "hist"
    repo.mkdir()
    git(repo, "init", "-q")
    src = repo / "a.cpp"
    for i, subject in enumerate(["first", "[/fix] close the tag", "[perf] faster Schedule"]):
        src.write_text(f"int Schedule(int n) {{\n  return n + {i};\n}}\n")
        git(repo, "add", "a.cpp")
        git(repo, "commit", "-q", "-m", subject)
    proc = run(home, "history", "Schedule", "--repo", str(repo), expect=0)
    assert "[/fix] close the tag" in proc.stdout and "[perf] faster Schedule" in proc.stdout
    assert not any(line != line.rstrip() for line in proc.stdout.splitlines())  # no padding in a pipe


def test_piped_output_keeps_names_and_source_lines_whole(home: Path, long_repo: Path) -> None:
    proc = run(home, "show", "FreeCachedBlocksEverywhere", "--repo", str(long_repo), expect=0)
    lines = proc.stdout.splitlines()
    assert any(f"{LONG}::FreeCachedBlocksEverywhere" in line for line in lines)
    wide = (long_repo / "src" / "long.cpp").read_text().splitlines()[5]
    assert any(line.endswith(wide) for line in lines), proc.stdout  # not cut, not wrapped
    assert not any(line != line.rstrip() for line in lines)  # not padded
    assert "\x1b[" not in proc.stdout  # no colour

    proc = run(home, "search", "FreeCachedBlocksEverywhere", "--repo", str(long_repo), expect=0)
    assert f"{LONG}::FreeCachedBlocksEverywhere" in proc.stdout

    text = run(home, "demo", "compare", expect=0).stdout  # rich tables: natural width, headers whole
    assert "KsanaLLM (ContinuousBatchingStrategy)" in text and "…" not in text


def test_check_table_is_whole_in_a_pipe(home: Path, tmp_path: Path) -> None:
    notes = tmp_path / "annotations"
    notes.mkdir()
    (notes / "sources.yaml").write_text("sources:\n  core:\n    kind: builtin\n    revision: package\n")
    (notes / "n.yaml").write_text(
        "notes:\n"
        "  - id: core.prefix-cache-manager.free-cached-blocks-with-a-really-long-identifier\n"
        "    source: core\n"
        '    symbol: "ksana_llm::PrefixCacheManager::FreeCachedBlocks"\n'
        "    fingerprint: 0123456789012345\n"  # digits only: YAML reads a number
        "    title: t\n    en: x\n    zh: y\n")
    proc = run(home, "check", "--annotations", str(notes))
    row = next(line for line in proc.stdout.splitlines() if "FreeCachedBlocks" in line)
    assert "core.prefix-cache-manager.free-cached-blocks-with-a-really-long-identifier" in row
    assert "ksana_llm::PrefixCacheManager::FreeCachedBlocks" in row and "drifted" in row
    assert "16 lowercase hex" not in proc.stdout + proc.stderr  # the fingerprint was read as text


# ---------------------------------------------------------------------- closed pipes


def test_closed_stdout_ends_quietly(home: Path) -> None:
    closed_pipe(home, "show", "FreeCachedBlocks", "--json")
    closed_pipe(home, "graph", "Schedule", "--format", "json")
    closed_pipe(home, "callees", "Schedule", "--depth", "2")
    closed_pipe(home, "demo", "schedule")  # rich output
    closed_pipe(home, "demo", "compare")


# ---------------------------------------------------------------------- environment and files


def test_unusable_home_is_one_line(home: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    proc = run(home, "source", "add", "mine", str(tmp_path), "--no-index",
               env={"CODEWALK_HOME": str(blocker / "home")}, expect=2)
    assert str(blocker) in one_line_error(proc, "source add")
    proc = run(home, "show", "Schedule", env={"CODEWALK_HOME": str(blocker / "home")}, expect=2)
    assert str(blocker) in one_line_error(proc, "show")


def test_export_creates_missing_folders(home: Path, tmp_path: Path) -> None:
    out = tmp_path / "missing" / "dir" / "x.html"
    run(home, "guide", "ksanallm-prefix-cache", "--format", "html", "-o", str(out), expect=0)
    assert out.read_text().lstrip().lower().startswith("<!doctype html")


@pytest.mark.parametrize("trace, why", [
    ([{"prompt": [], "max_new_tokens": 3}], "prompt must be a non-empty list"),
    ([{"prompt": [1, 2], "max_new_tokens": 0}], "max_new_tokens must be"),
    ([{"id": 5, "prompt": [1], "max_new_tokens": 1}, {"id": 5, "prompt": [2], "max_new_tokens": 1}], "duplicate id"),
    ([{"prompt": [1, "x"], "max_new_tokens": 1}], 'prompt token "x"'),
    ([{"prompt": [1.5], "max_new_tokens": 1}], "prompt token 1.5"),
    ({"prompt": [1]}, "JSON list"),
])
def test_bad_traces_are_named(home: Path, tmp_path: Path, trace: object, why: str) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps(trace))
    proc = run(home, "demo", "schedule", "--trace", str(path), expect=2)
    line = one_line_error(proc, "demo")
    assert str(path) in line and why in line


def test_demo_cap_is_said(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "long.json"
    path.write_text(json.dumps([{"prompt": [1, 2, 3], "max_new_tokens": 100000}]))
    doc = json.loads(run(home, "demo", "schedule", "--trace", str(path), "--json", expect=0).stdout)
    assert "stopped after 200 steps" in doc["frames"][-1]["title"]


# ---------------------------------------------------------------------- index


def test_index_survives_a_non_utf8_name_and_names_parse_errors(home: Path, tmp_path: Path) -> None:
    root = tmp_path / "odd"
    root.mkdir()
    (root / "ok.cpp").write_text("void g() {}\n")
    (root / "broken.cpp").write_text("void h( {\n")
    try:
        with open(os.path.join(os.fsencode(root), b"bad\xff.cpp"), "wb") as fh:
            fh.write(b"void f() {}\n")
    except OSError:
        pytest.skip("this file system refuses non-UTF-8 names")
    proc = run(home, "index", str(root), "--quiet", expect=0)
    assert "broken.cpp" in proc.stderr and "bad\\xff.cpp" in proc.stderr
    doc = json.loads(run(home, "index", str(root), "--json", expect=0).stdout)
    assert doc["parse_error_files"] == ["broken.cpp"] and doc["parse_errors"] == 1


# ---------------------------------------------------------------------- notes


def _notes_repo(tmp_path: Path, fingerprint: str) -> Path:
    """A repo with its own annotations/ (show reads them) and one note on `f`."""
    root = tmp_path / "noted"
    (root / "annotations").mkdir(parents=True)
    (root / "a.cpp").write_text("int f(int n) {\n  return n + 1;\n}\n")
    (root / "annotations" / "sources.yaml").write_text(
        "sources:\n  mine:\n    kind: git\n    revision: 0123456789abcdef0123456789abcdef01234567\n")
    (root / "annotations" / "n.yaml").write_text(
        f"notes:\n  - id: mine.f\n    source: mine\n    symbol: f\n    fingerprint: {fingerprint}\n"
        "    title: what f does\n    en: adds one\n    zh: 加一\n")
    return root


def test_show_flags_a_drifted_note(home: Path, tmp_path: Path) -> None:
    root = _notes_repo(tmp_path, "0000000000000000")
    stub = run(home, "annotate", "f", "--repo", str(root), expect=0).stdout
    actual = next(line.split(":")[1].strip() for line in stub.splitlines() if "fingerprint:" in line)
    env = {"CODEWALK_SOURCE": "mine"}
    doc = json.loads(run(home, "show", "f", "--repo", str(root), "--json", env=env, expect=0).stdout)
    note = doc["matches"][0]["annotations"][0]
    assert note["status"] == "drifted" and "fingerprint changed" in note["detail"]
    text = run(home, "show", "f", "--repo", str(root), env=env, expect=0).stdout
    assert ("code changed since the note was pinned (0123456789ab); run `codewalk check`" in text)

    (root / "annotations" / "n.yaml").write_text(
        (root / "annotations" / "n.yaml").read_text().replace("0000000000000000", actual))
    doc = json.loads(run(home, "show", "f", "--repo", str(root), "--json", env=env, expect=0).stdout)
    assert doc["matches"][0]["annotations"][0]["status"] == "ok"
    assert "code changed" not in run(home, "show", "f", "--repo", str(root), env=env, expect=0).stdout


def test_check_in_a_checkout_uses_its_annotations(home: Path, tmp_path: Path) -> None:
    checkout = tmp_path / "codewalk-checkout"
    (checkout / "annotations").mkdir(parents=True)
    (checkout / "codewalk" / "cli").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("[project]\nname = 'codewalk'\n")
    (checkout / "annotations" / "sources.yaml").write_text("sources:\n  core:\n    kind: builtin\n")
    (checkout / "annotations" / "broken.yaml").write_text("notes: [\n")
    proc = run(home, "check", "--json", cwd=checkout / "codewalk", expect=1)
    doc = json.loads(proc.stdout)
    assert doc["annotations"] == str(checkout / "annotations")
    assert any("broken.yaml" in e for e in doc["errors"])
    assert any("codewalk checkout" in n for n in doc["notices"])
    other = tmp_path / "elsewhere"
    other.mkdir()
    doc = json.loads(run(home, "check", "--json", "--annotations", str(other), cwd=checkout).stdout)
    assert doc["annotations"] == str(other) and not doc["errors"]


def test_notes_follow_what_a_checkout_is(home: Path, tmp_path: Path) -> None:
    ks = tmp_path / "my-ksana"
    (ks / "src" / "ksana_llm").mkdir(parents=True)
    (ks / "src" / "ksana_llm" / "x.cpp").write_text("int f() { return 0; }\n")
    local = tmp_path / "home-ks"
    local.mkdir()
    run(local, "source", "add", "work-copy", str(ks), "--no-index", expect=0)
    rows = json.loads(run(local, "source", "list", "--json", expect=0).stdout)["sources"]
    row = next(r for r in rows if r["name"] == "work-copy")
    assert row["is"] == "ksanallm" and row["notes"] > 0
    assert not any(r["name"] == "ksanallm" for r in rows)  # not offered as "not added" any more


# ---------------------------------------------------------------------- smaller items


def test_version_and_help(home: Path) -> None:
    from codewalk import __version__

    assert run(home, "--version", expect=0).stdout.strip() == f"codewalk {__version__}"
    assert "one JSON document" in run(home, "show", "--help", expect=0).stdout
    assert "levels" in run(home, "callers", "--help", expect=0).stdout
    assert "only this kind" in run(home, "search", "--help", expect=0).stdout
    assert "--repo" in run(home, "demo", "--help", expect=0).stdout


def test_search_says_what_it_did(home: Path) -> None:
    proc = run(home, "search", "e", "--limit", "3", expect=0)
    assert len(proc.stdout.splitlines()) == 3 and "first 3 results" in proc.stderr
    proc = run(home, "search", "zzzqqq", expect=1)
    assert "no symbol matches 'zzzqqq'" in proc.stderr
    proc = run(home, "search", "Block", "--kind", "bogus", expect=2)
    assert "--kind 'bogus'" in proc.stderr and "method" in proc.stderr
    run(home, "search", "", expect=2)


def test_source_remove_core_is_explained(home: Path) -> None:
    proc = run(home, "source", "remove", "core")
    assert proc.returncode != 0 and "built-in corpus" in one_line_error(proc, "source remove")


def test_unexpected_errors_are_one_line_unless_debugging(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from codewalk import cli

    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    search = parser._subparsers._group_actions[0].choices["search"]
    monkeypatch.delenv("CODEWALK_DEBUG", raising=False)

    def bug(_args: object) -> int:
        raise ZeroDivisionError("division by zero")

    search.set_defaults(func=bug)
    assert cli.main(["search", "x"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("codewalk search: internal error: ZeroDivisionError") and "CODEWALK_DEBUG=1" in err
    assert len(err.strip().splitlines()) == 1
    monkeypatch.setenv("CODEWALK_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        cli.main(["search", "x"])
