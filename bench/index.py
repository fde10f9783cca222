"""Index benchmark: bare tree-sitter parse, ctags, codewalk full/re-index, `codewalk show`.

Usage: python bench/index.py PATH [--symbol NAME] [--runs N]
Prints each time and the ratios against the issue-4 targets. Never asserts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def bare_parse(root: Path) -> tuple[float, int]:
    """Single-process tree-sitter parse of every indexable file (no queries, no storage)."""
    from codewalk.index import language_for
    from codewalk.index.parse import parse
    from codewalk.index.walk import list_files
    files = list_files(root).files
    data = [(language_for(f), (root / f).read_bytes()) for f in files]
    started = time.perf_counter()
    for lang, src in data:
        parse(lang, src)
    return time.perf_counter() - started, len(files)


def ctags(root: Path) -> float | None:
    exe = shutil.which("ctags")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        subprocess.run([exe, "-R", "--extras=+q", "-f", os.path.join(tmp, "tags"), "."],
                       cwd=root, check=False, capture_output=True)
        return time.perf_counter() - started


def cli(args: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "codewalk", *args], env=env, check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("path")
    ap.add_argument("--symbol", default="ProcessWaitingQueue")
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    root = Path(args.path).resolve()
    home = tempfile.mkdtemp(prefix="codewalk-bench-")
    env = {**os.environ, "CODEWALK_HOME": home}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                      env.get("PYTHONPATH", "")]))
    try:
        parse_s, nfiles = bare_parse(root)
        ctags_s = ctags(root)
        full_s = cli(["index", str(root), "--quiet"], env)
        victim = _pick(root)
        os.utime(victim)  # mtime changes
        with open(victim, "ab") as fh:  # and content, so it really re-parses
            fh.write(b"\n")
        try:
            reindex_s = cli(["index", str(root), "--quiet"], env)
        finally:
            with open(victim, "rb+") as fh:
                fh.truncate(os.path.getsize(victim) - 1)
        cli(["index", str(root), "--quiet"], env)  # restore a warm, fresh index
        show = [cli(["show", args.symbol, "--repo", str(root), "--json"], env)
                for _ in range(args.runs)]
        show_rich = [cli(["show", args.symbol, "--repo", str(root)], env) for _ in range(args.runs)]
    finally:
        shutil.rmtree(home, ignore_errors=True)
    show_s, rich_s = statistics.median(show), statistics.median(show_rich)
    print(f"repository                 {root}  ({nfiles} files, {os.cpu_count()} cores)")
    print(f"bare tree-sitter parse     {parse_s:7.3f} s  (1 process)")
    print(f"ctags -R --extras=+q       " + (f"{ctags_s:7.3f} s" if ctags_s is not None else "  n/a"))
    print(f"codewalk full index        {full_s:7.3f} s  ratio to bare parse {full_s / parse_s:.2f} (target <= 1)")
    if ctags_s:
        print(f"codewalk re-index, 1 edit  {reindex_s:7.3f} s  ratio to ctags {reindex_s / ctags_s:.2f} (target <= 1)")
    else:
        print(f"codewalk re-index, 1 edit  {reindex_s:7.3f} s")
    print(f"codewalk show --json       {show_s:7.3f} s  median of {args.runs} (target <= 0.3)")
    print(f"codewalk show (rich)       {rich_s:7.3f} s  median of {args.runs}")
    return 0


def _pick(root: Path) -> Path:
    """A mid-sized indexable file to edit."""
    from codewalk.index.walk import list_files
    files = list_files(root).files
    return root / files[len(files) // 2]


if __name__ == "__main__":
    sys.exit(main())
