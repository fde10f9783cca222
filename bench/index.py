"""Index benchmark: bare tree-sitter parse, ctags, codewalk full/re-index, `codewalk show`.

Usage: python bench/index.py PATH [--symbol NAME] [--runs N] [--index-runs N]
Prints each time and the ratios against the issue-4 targets. Never asserts.

Bare parse and full index are measured alternately, --index-runs times each (files read once
beforehand so both sides see a warm page cache), and the medians are compared: on a shared
machine one pair of runs can be off by 2x either way. The full index is timed as a whole
`codewalk index` process (interpreter start, listing, hashing, storage included); the bare
parse is only the parse loop, in one process.
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
    parse("cpp", b""), parse("python", b"")  # load both grammars outside the timing
    started, cpu = time.perf_counter(), time.process_time()
    for lang, src in data:
        parse(lang, src)
    _cpu.append(time.process_time() - cpu)
    return time.perf_counter() - started, len(files)


_cpu: list[float] = []  # CPU seconds of the last bare parse / codewalk process tree


def _children_cpu() -> float:
    import resource
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


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
    started, cpu = time.perf_counter(), _children_cpu()
    subprocess.run([sys.executable, "-m", "codewalk", *args], env=env, check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _cpu.append(_children_cpu() - cpu)  # codewalk and its parser processes (all reaped)
    return time.perf_counter() - started


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("path")
    ap.add_argument("--symbol", default="ProcessWaitingQueue")
    ap.add_argument("--runs", type=int, default=7, help="runs of `show` (median)")
    ap.add_argument("--index-runs", type=int, default=3,
                    help="alternating runs of bare parse and full index (medians)")
    args = ap.parse_args()
    root = Path(args.path).resolve()
    home = tempfile.mkdtemp(prefix="codewalk-bench-")
    env = {**os.environ, "CODEWALK_HOME": home}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                      env.get("PYTHONPATH", "")]))
    try:
        parses, fulls, parse_cpu, full_cpu = [], [], [], []
        for i in range(max(1, args.index_runs)):
            parse_s, nfiles = bare_parse(root)
            parses.append(parse_s)
            parse_cpu.append(_cpu[-1])
            shutil.rmtree(os.path.join(home, "index"), ignore_errors=True)  # really a full index
            fulls.append(cli(["index", str(root), "--quiet"], env))
            full_cpu.append(_cpu[-1])
        parse_s, full_s = statistics.median(parses), statistics.median(fulls)
        ctags_s = ctags(root)
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
        deep = deep_nesting(env)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    show_s, rich_s = statistics.median(show), statistics.median(show_rich)
    print(f"repository                 {root}  ({nfiles} files, {os.cpu_count()} cores)")
    runs = lambda xs: " ".join(f"{x:.2f}" for x in xs)  # noqa: E731
    print(f"bare tree-sitter parse     {parse_s:7.3f} s  (1 process; median of {runs(parses)})")
    print(f"ctags -R --extras=+q       " + (f"{ctags_s:7.3f} s" if ctags_s is not None else "  n/a"))
    print(f"codewalk full index        {full_s:7.3f} s  ratio to bare parse {full_s / parse_s:.2f} (target <= 1; "
          f"median of {runs(fulls)}; per-pair ratios {runs([f / p for f, p in zip(fulls, parses)])})")
    cores = os.cpu_count() or 1
    pc, fc = statistics.median(parse_cpu), statistics.median(full_cpu)
    print(f"  CPU seconds              bare parse {pc:.3f}, full index {fc:.3f} (all processes); "
          f"full / ({cores} x parse) = {fc / (cores * pc):.2f}")
    print("  (wall times swing with other load on the machine; the CPU line does much less)")
    if ctags_s:
        print(f"codewalk re-index, 1 edit  {reindex_s:7.3f} s  ratio to ctags {reindex_s / ctags_s:.2f} (target <= 1)")
    else:
        print(f"codewalk re-index, 1 edit  {reindex_s:7.3f} s")
    print(f"codewalk show --json       {show_s:7.3f} s  median of {args.runs} (target <= 0.3)")
    print(f"codewalk show (rich)       {rich_s:7.3f} s  median of {args.runs}")
    print(f"index 50k/100k/200k-deep {{}} {runs(deep)} s  (one file each; linear in depth)")
    return 0


def deep_nesting(env: dict, depths: tuple[int, ...] = (50_000, 100_000, 200_000)) -> list[float]:
    """`codewalk index` of one file of N nested braces per depth (must grow linearly with N)."""
    times = []
    for depth in depths:
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "deep.cpp").write_text("{" * depth + "}" * depth + "\n")
            times.append(cli(["index", tmp, "--quiet"], env))
    return times


def _pick(root: Path) -> Path:
    """A mid-sized indexable file to edit."""
    from codewalk.index.walk import list_files
    files = list_files(root).files
    return root / files[len(files) // 2]


if __name__ == "__main__":
    sys.exit(main())
