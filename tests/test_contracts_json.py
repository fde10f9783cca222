"""Golden contracts: every CLI command's output on the fixture trees, and every command's --help.

Each case runs `codewalk` (one process per command) on copies of the fixture trees (never the built-in corpus,
whose line numbers move with `bindings/`) and compares stdout, stderr and the exit status with
`tests/fixtures/golden/<case>.txt`, byte for byte after replacing the temporary folder with
`<TMP>` and wall-clock seconds with 0. `CODEWALK_GOLDEN_UPDATE=1 pytest tests/test_contracts_json.py`
rewrites the goldens (review the diff: a changed golden is a changed contract).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from codewalk.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
GOLDEN = FIXTURES / "golden"
UPDATE = os.environ.get("CODEWALK_GOLDEN_UPDATE") == "1"

R = "{repo}"           # copy of the fixture trees: cpp/, python/, calls/, resolve/, pyresolve/
NOTES = "{notes}"      # copy of golden/annotations (sources toycpp, toypy)
GIT = "{git}"          # a git repository with two commits of the C++ fixture
CHECK = ["check", "--annotations", NOTES, "--source", f"toycpp={R}/cpp", "--source", f"toypy={R}/python"]
GUIDE_SOURCES = ["--source", f"ksanallm={R}/cpp", "--source", f"vllm={R}/python"]

# case name -> the commands it runs, in order, in one fresh CODEWALK_HOME. Symbols whose bodies make
# two calls on one line are avoided: the index stores such calls in an order that varies with the
# checkout's path (a known issue of the extractors, separate from these contracts).
CASES: dict[str, list[list[str]]] = {
    "index": [["index", R, "--json", "--quiet"], ["index", R, "--json"], ["index", f"{R}/missing", "--json"]],
    "show_cpp": [["show", "ProcessWaitingQueue", "--repo", R, "--json"],
                 ["show", "ProcessWaitingQueue", "--repo", R]],
    "show_python": [["show", "KVCacheManager.allocate_slots", "--repo", f"{R}/python", "--json"],
                    ["show", "KVCacheManager.allocate_slots", "--repo", f"{R}/python"],
                    ["show", "helper", "--repo", f"{R}/python", "--no-source"]],
    "show_ranked": [["show", "Schedule", "--repo", R, "--json"], ["show", "Schedule", "--repo", R],
                    ["show", "Schedule", "--repo", R, "--pick", "2"],
                    ["show", "Schedule", "--repo", R, "--pick", "99"],
                    ["show", "Schedule@scheduler.cpp", "--repo", R, "--json", "--no-source"],
                    ["show", "Schedule", "--repo", R, "--heuristic", "--lang", "zh"]],
    "show_not_found": [["show", "ProcessWaitQueue", "--repo", R, "--json"],
                       ["show", "GetFreeBlock", "--repo", R], ["show", "", "--repo", R, "--json"]],
    "show_resolve": [["show", "Request::Len", "--repo", f"{R}/resolve", "--json", "--no-source"],
                     ["show", "BlockPool", "--repo", f"{R}/resolve", "--json", "--no-source"],
                     ["show", "Manager.add", "--repo", f"{R}/resolve", "--json", "--no-source"],
                     ["show", "Item.price", "--repo", f"{R}/pyresolve", "--json", "--no-source"],
                     ["show", "Counter::Get", "--repo", f"{R}/calls", "--heuristic"]],
    "relations": [["callees", "BatchStrategy::Schedule", "--repo", R, "--depth", "2", "--json"],
                  ["callees", "BatchStrategy::Schedule", "--repo", R, "--depth", "2"],
                  ["callers", "FreeBlocks", "--repo", R, "--json"],
                  ["callers", "FreeBlocks", "--repo", R, "--heuristic"],
                  ["callers", "Nothing", "--repo", R, "--json"],
                  ["callers", "allocate_slots", "--repo", f"{R}/python", "--depth", "3", "--json"],
                  ["callers", "Schedule", "--repo", f"{R}/calls", "--json"]],
    "search": [["search", "Batch", "--kind", "class", "--repo", R, "--json"],
               ["search", "Batch", "--repo", R], ["search", "*", "--repo", R, "--limit", "3", "--json"],
               ["search", "*", "--repo", R, "--limit", "3"], ["search", "zzz", "--repo", R, "--json"],
               ["search", "x", "--kind", "nope", "--repo", R], ["search", " ", "--repo", R]],
    "graph": [["graph", "BatchStrategy::Schedule", "--repo", R, "--depth", "2", "--json"],
              ["graph", "BatchStrategy::Schedule", "--repo", R, "--depth", "2"],
              ["graph", "BatchStrategy::Schedule", "--repo", R, "--format", "dot", "--direction", "both",
               "--heuristic"],
              ["graph", "Scheduler.schedule", "--repo", f"{R}/python", "--format", "json", "--direction", "callers"],
              ["graph", "Nope", "--repo", R, "--json"]],
    "check": [CHECK + ["--json"], CHECK, CHECK + ["--strict", "--json"],
              ["check", "--annotations", f"{R}/none"]],
    "annotate": [["annotate", "ProcessWaitingQueue", "--repo", f"{R}/cpp"],
                 ["annotate", "Scheduler.schedule", "--repo", f"{R}/python", "--source", "toypy"],
                 ["annotate", "Nope", "--repo", f"{R}/cpp"]],
    "history": [["history", "BatchStrategy::ProcessWaitingQueue", "--repo", GIT, "--json"],
                ["history", "BatchStrategy::ProcessWaitingQueue", "--repo", GIT],
                ["history", "BatchStrategy::Schedule", "--repo", GIT, "--json", "--max", "1"],
                ["history", "Nope", "--repo", GIT, "--json"]],
    "guide": [["guide", "--json", "--lang", "en"], ["guide", "--lang", "zh"],
              ["guide", "ksanallm-prefix-cache", "--json", "--lang", "en"] + GUIDE_SOURCES,
              ["guide", "ksanallm-vs-vllm", "--json", "--lang", "zh"] + GUIDE_SOURCES,
              ["guide", "no-such-guide", "--json"]],
    "sources": [["source", "list", "--json"], ["source", "add", "toy", f"{R}/cpp", "--json"],
                ["source", "list", "--json"], ["show", "BatchStrategy::Helper", "--all-sources", "--json",
                                               "--no-source"],
                ["show", "BatchStrategy::Helper", "--source", "toy", "--json"],
                ["source", "remove", "toy", "--json"], ["source", "list", "--json"]],
    "demo": [["demo", name, "--json"] for name in ("prefix-cache", "schedule", "paged-vs-contiguous",
                                                    "online-softmax", "compare", "split-fuse")],
    "drill": [["drill", "--topic", topic, "--seed", "7", "--count", "3", "--json", "--lang", "en",
               "--source", f"ksanallm={R}/cpp", "--source", f"vllm={R}/python", "--source", f"core={R}/cpp"]
              for topic in ("prefix-cache", "scheduler", "vllm-vs-ksanallm", "paged-attention")],
}


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    """Fixture copies under tmp_path, and a git repository."""
    repo = tmp_path / "repo"
    for name in ("cpp", "python", "resolve", "pyresolve"):
        shutil.copytree(FIXTURES / name, repo / name)
    shutil.copytree(FIXTURES / "calls" / "cpp", repo / "calls")
    notes = tmp_path / "notes"
    shutil.copytree(GOLDEN / "annotations", notes)
    git = tmp_path / "git"
    _git_repo(git)
    return {"repo": str(repo), "notes": str(notes), "git": str(git), "tmp": str(tmp_path)}


def _child_env(tmp: str) -> dict[str, str]:
    """The environment of a run: no locale, colour or source variables, a fixed hash seed; one process
    per command, as a user runs them."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("CODEWALK_SOURCE", "CODEWALK_REPO", "CODEWALK_KSANALLM", "CODEWALK_VLLM", "FORCE_COLOR",
                        "TTY_COMPATIBLE", "LC_MESSAGES", "LANGUAGE", "CODEWALK_DEBUG")}
    env.update(LANG="C.UTF-8", LC_ALL="C.UTF-8", COLUMNS="100", PYTHONHASHSEED="0",
               CODEWALK_HOME=str(Path(tmp) / "cwhome"),
               PYTHONPATH=os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    return env


def _git_repo(root: Path) -> None:
    """Two commits of the C++ fixture, the second editing ProcessWaitingQueue; fixed names and dates."""
    shutil.copytree(FIXTURES / "cpp", root)
    env = {**os.environ, "GIT_AUTHOR_NAME": "Golden", "GIT_AUTHOR_EMAIL": "golden@example.com",
           "GIT_COMMITTER_NAME": "Golden", "GIT_COMMITTER_EMAIL": "golden@example.com",
           "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+00:00", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+00:00",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_SYSTEM": os.devnull}

    def git(*argv: str) -> None:
        subprocess.run(["git", *argv], cwd=root, env=env, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("add", ".")
    git("commit", "-q", "-m", "first version")
    source = root / "engine" / "scheduler.cpp"
    source.write_text(source.read_text().replace("void BatchStrategy::ProcessWaitingQueue() {",
                                                 "void BatchStrategy::ProcessWaitingQueue() {\n  Log(\"admit\");"))
    env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = "2024-01-02T00:00:00+00:00"
    git("commit", "-q", "-am", "log admissions")


def _normalise(text: str, env: dict[str, str]) -> str:
    text = text.replace(env["tmp"], "<TMP>").replace(str(ROOT), "<CHECKOUT>")  # where codewalk is checked out
    text = re.sub(r'("seconds": )[0-9.e+-]+', r"\g<1>0", text)
    text = re.sub(r"-[0-9a-f]{16}\.sqlite", "-<ROOTHASH>.sqlite", text)  # the index file is named by its root
    text = re.sub(r'("added": )"[0-9T:+-]+"', r'\g<1>"<DATE>"', text)  # when a source was registered
    text = re.sub(r" in [0-9.]+s$", " in 0s", text, flags=re.M)
    return re.sub(r"seconds [0-9.]+", "seconds 0", text)


def _transcript(commands: list[list[str]], env: dict[str, str]) -> str:
    """Run each command as `python -m codewalk` in a fresh process: its exit status, stdout and stderr."""
    parts = []
    for argv in commands:
        argv = [a.format(**env) for a in argv]
        run = subprocess.run([sys.executable, "-m", "codewalk", *argv], cwd=env["tmp"], env=_child_env(env["tmp"]),
                             capture_output=True, text=True, encoding="utf-8", timeout=600)
        parts.append(f"$ codewalk {' '.join(argv)}\n[exit {run.returncode}]\n{run.stdout}--- stderr\n{run.stderr}")
    return _normalise("\n".join(parts), env)


def _compare(name: str, text: str) -> None:
    path = GOLDEN / f"{name}.txt"
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"no golden {path}: run with CODEWALK_GOLDEN_UPDATE=1"
    golden = path.read_text(encoding="utf-8")
    diff = "".join(list(difflib.unified_diff(golden.splitlines(True), text.splitlines(True), "golden", "now"))[:80])
    assert text == golden, f"{name}: output differs from {path}:\n{diff}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden(case: str, env: dict[str, str]) -> None:
    _compare(case, _transcript(CASES[case], env))


def _parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parser and every subcommand's parser, depth first."""
    out = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                out += _parsers(sub)
    return out


def test_help(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    text = "".join(f"==== {p.prog}\n{p.format_help()}\n" for p in _parsers(build_parser()))
    assert text.count("==== ") > 20
    _compare("help", text)

