"""`codewalk site` benchmark: a cold build, a rebuild with nothing changed, and a peer.

Usage: python bench/site.py PATH [--name NAME] [--jobs N] [--out DIR]
       (PATH: a checkout, e.g. KsanaLLM or the folder containing vllm/)

Prints wall time, CPU time of the build process and its workers, output MB, pages, per-file
figures and the time of each phase, against the issue's budget (KsanaLLM, 1,562 files: <= 60 s on
2 cores and <= 150 MB). The peer is Pygments alone rendering the same files with its own
HtmlFormatter in one process: what highlighting costs before any cross-referencing. The index is
built (or refreshed) before timing, since the site reuses it. Never asserts.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

BUDGET_FILES, BUDGET_SECONDS, BUDGET_MB = 1562, 60.0, 150.0


def _cpu() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def build(out: Path, name: str, root: Path, jobs: int) -> tuple[object, float, float]:
    from codewalk.site import data
    from codewalk.site.build import build_site

    target = data.source_target(name, root)
    cpu, wall = _cpu(), time.perf_counter()
    stats = build_site(out, {name: target}, "en", jobs=jobs, progress=False)
    return stats, time.perf_counter() - wall, _cpu() - cpu


def peer(root: Path, paths: list[str]) -> tuple[float, int]:
    """Pygments' HtmlFormatter over the same files, one process: (seconds, bytes)."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import CppLexer, PythonLexer

    fmt, size = HtmlFormatter(linenos="inline", anchorlinenos=True, lineanchors="L"), 0
    started = time.perf_counter()
    for p in paths:
        text = (root / p).read_bytes().decode("utf-8", "replace")
        lexer = PythonLexer() if p.endswith(".py") else CppLexer()
        size += len(highlight(text, lexer, fmt).encode("utf-8"))
    return time.perf_counter() - started, size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", type=Path)
    ap.add_argument("--name", default=None, help="site folder name (default: the checkout's folder name)")
    ap.add_argument("--jobs", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="site folder (default: a temporary one)")
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args()
    root = args.path.resolve()
    name = args.name or root.name
    from codewalk.site import data
    ix = data.open_index(data.source_target(name, root), progress=True)  # index outside the timing
    paths = [r[0] for r in ix.conn.execute("SELECT path FROM files WHERE language IS NOT NULL")]
    ix.conn.close()
    out = args.out or Path(tempfile.mkdtemp(prefix="codewalk-site-bench-"))
    shutil.rmtree(out, ignore_errors=True)
    try:
        cold, wall, cpu = build(out, name, root, args.jobs)
        mb = cold.bytes / 1e6
        print(f"{name}: {len(paths)} files, {cold.pages} pages, {mb:.1f} MB "
              f"({mb * 1e3 / max(1, len(paths)):.1f} KB/file; budget {BUDGET_MB * 1e3 / BUDGET_FILES:.0f})")
        per_file = wall / max(1, len(paths))
        print(f"cold build: {wall:.1f} s wall, {cpu:.1f} s CPU (build + workers); "
              f"{per_file * 1e3:.1f} ms/file wall (budget {BUDGET_SECONDS / BUDGET_FILES * 1e3:.1f} ms/file)")
        for phase, secs in cold.phases.items():
            print(f"  {phase:<24} {secs:6.1f} s")
        warm, wall2, cpu2 = build(out, name, root, args.jobs)
        print(f"rebuild, nothing changed: {wall2:.1f} s wall, {cpu2:.1f} s CPU, "
              f"{warm.written} page(s) written, {warm.rendered} rendered")
        if not args.no_peer:
            secs, size = peer(root, paths)
            print(f"peer: Pygments HtmlFormatter alone over the same files: {secs:.1f} s (one process), "
                  f"{size / 1e6:.1f} MB; codewalk site cold / peer = {wall / secs:.2f}")
    finally:
        if args.out is None:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
