"""Call-graph benchmark: score codewalk's call edges against independent references.

Usage: python bench/calls.py [--ksanallm PATH] [--vllm PATH] [--engine ksanallm|vllm|both]
                             [--show-misses N] [--json] [--all-units] [--no-cache] [--check]
                             [--codewalk DIR]

KsanaLLM (`$CODEWALK_KSANALLM`): non-test files of src/ksana_llm/batch_scheduler/ and
cache_manager/, against clang's AST (the libclang wheel) of the translation units
`codewalk upstream build` compiles, with its stand-in headers (bench/calls_ref_cpp.py).
vLLM (`$CODEWALK_VLLM`, the folder holding `vllm/`): vllm/v1/core/ and vllm/v1/engine/, against
jedi's `goto` (bench/calls_ref_py.py). An engine whose checkout or tool is missing is skipped.

Figures per engine (definitions in bench/calls_score.py):
  exact recall      project call sites (reference) where codewalk has an exact edge to the
                    reference's target;
  exact precision   correct exact edges / exact project edges at sites the reference classified
                    (dispatch edges to overrides are not exact edges and never count here);
  heuristic share   project call sites codewalk answers only with a heuristic guess;
  false library     library calls (std, builtins, stdlib, third-party) that got a project
                    edge, exact or heuristic.
`--show-misses N` prints N examples of each failure class and the callee names that fail
most. References are cached under $CODEWALK_HOME/bench/calls/ (keyed by the checkout's files
and the reference's rules); codewalk's side is recomputed every run, from its index under
$CODEWALK_HOME (incremental). Run it from the checkout whose codewalk you want to score: it
imports `codewalk` from the folder above this one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(_HERE), str(_HERE.parent)]  # sibling modules; this checkout's codewalk

from calls_score import MISS_CLASSES, Score, score, top_forms, top_names  # noqa: E402

KSANA_FOLDERS = ("src/ksana_llm/batch_scheduler", "src/ksana_llm/cache_manager")
VLLM_FOLDERS = ("vllm/v1/core", "vllm/v1/engine")
CPP_SUFFIXES = (".h", ".hpp", ".cpp", ".cc", ".cu", ".cuh")


@dataclass(slots=True)
class Run:
    """One engine's result: its score, label and timings (or why it was skipped)."""

    engine: str
    label: str = ""
    score: Score | None = None
    skipped: str = ""
    timings: dict | None = None
    meta: dict | None = None


def _under(path: str, folders: tuple[str, ...]) -> bool:
    return any(path.startswith(f.rstrip("/") + "/") for f in folders)


def _git_rev(root: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=8", "HEAD"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _vllm_version(root: Path) -> str:
    for name in ("_version.py", "version.py"):
        try:
            text = (root / "vllm" / name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        m = re.search(r"""(?:__version__|version)\s*(?::[^=]*)?=\s*['"]([^'"]+)['"]""", text)
        if m:
            return m.group(1)
    return ""


def run_vllm(root: Path, use_cache: bool, say) -> Run:  # noqa: ANN001
    """Score vLLM's v1 core + engine against jedi."""
    run = Run("vllm", f"vLLM {_vllm_version(root)}".strip())
    if not (root / "vllm").is_dir():
        run.skipped = f"{root} has no vllm/ folder"
        return run
    try:
        import jedi  # noqa: F401
    except ImportError:
        run.skipped = "jedi is not installed (pip install '.[bench]')"
        return run
    from calls_codewalk import codewalk_sites
    from calls_ref_py import reference
    started = time.perf_counter()
    ref, meta = reference(root, VLLM_FOLDERS, ("vllm",), use_cache, say)
    ref_s = time.perf_counter() - started
    covered = {r.path for r in ref}
    cw, timings = codewalk_sites(root, lambda p: p in covered)
    run.score = score("vllm", ref, cw)
    run.timings = {"reference_s": round(ref_s, 2), **timings}
    run.meta = meta
    return run


def run_ksanallm(root: Path, use_cache: bool, all_units: bool, say) -> Run:  # noqa: ANN001
    """Score KsanaLLM's batch_scheduler + cache_manager against clang."""
    run = Run("ksanallm", f"KsanaLLM {_git_rev(root)}".strip())
    if not (root / "src" / "ksana_llm").is_dir():
        run.skipped = f"{root} has no src/ksana_llm/ folder"
        return run
    try:
        import clang.cindex  # noqa: F401
    except ImportError:
        run.skipped = "libclang is not installed (pip install '.[bench]')"
        return run
    from calls_codewalk import codewalk_sites
    from calls_ref_cpp import reference
    started = time.perf_counter()
    try:
        ref, meta = reference(root, KSANA_FOLDERS, all_units, use_cache, say)
    except Exception as e:  # noqa: BLE001 - a checkout the stand-ins no longer fit, a broken libclang
        run.skipped = f"clang reference failed: {type(e).__name__}: {e}"
        return run
    ref_s = time.perf_counter() - started
    covered = {r.path for r in ref}  # files some translation unit compiles
    cw, timings = codewalk_sites(root, lambda p: p in covered)
    run.score = score("ksanallm", ref, cw)
    errors = {u: n for u, n in meta.get("units", {}).items() if n}
    if errors:
        run.score.notes.append("units with clang errors (their unresolved calls are unknown): "
                               + ", ".join(f"{Path(u).name} {n}" for u, n in errors.items()))
    run.timings = {"reference_s": round(ref_s, 2), **timings}
    run.meta = meta
    return run


# ----------------------------------------------------------------------------- output

def _pct(num: int, den: int) -> str:
    return f"{100 * num / den:5.1f}% ({num}/{den})" if den else "   n/a"


# Issue 14's acceptance: exact recall >= 95 %, exact precision >= 99 %, no project edge on a library call.
TARGETS = {"recall": 0.95, "precision": 0.99, "false_library": 0}


def verdict(s: Score) -> str:
    """'met' or which of issue 14's targets are not met yet."""
    failed = [name for name, bad in (("recall", s.recall < TARGETS["recall"]),
                                     ("precision", s.precision < TARGETS["precision"]),
                                     ("library edges", s.false_library > TARGETS["false_library"]))
              if bad]
    return "met" if not failed else "no: " + ", ".join(failed)


def rows(s: Score) -> list[tuple[str, str]]:
    """The side-by-side figures of one engine, in print order."""
    miss = s.miss_counts()
    return [
        ("files scored", str(s.files)),
        ("call sites (reference)", str(s.ref_sites)),
        ("  project", str(s.project_sites)),
        ("  library", str(s.library_sites)),
        ("  unknown (not scored)", str(s.unknown_sites)),
        ("exact recall", _pct(s.exact_hits, s.project_sites)),
        ("  of constructions (C++ `T(...)`, `new T`)", _pct(s.construction_hits, s.construction_sites)),
        ("exact precision", _pct(s.exact_correct, s.exact_edges)),
        ("heuristic share", _pct(s.heuristic_sites, s.project_sites)),
        ("  heuristic with the right candidate", _pct(s.heuristic_right, s.heuristic_sites)),
        ("heuristic edges that are wrong (all sites)", _pct(s.heuristic_wrong, s.heuristic_edges)),
        ("false project edges on library calls", f"{s.false_library} (exact {s.false_library_exact})"
         f" of {s.library_sites}"),
        *((f"  missed: {c}", str(miss[c])) for c in MISS_CLASSES),
        ("codewalk sites without a reference site", str(s.codewalk_only)),
        ("exact edges the reference cannot check", str(s.unscored_exact)),
        ("issue 14 targets (95% / 99% / 0)", verdict(s)),
    ]


def print_table(runs: list[Run]) -> None:
    from rich.console import Console
    from rich.table import Table
    table = Table(title="codewalk call edges vs independent references", title_justify="left")
    table.add_column("")
    scored = [r for r in runs if r.score is not None]
    for r in scored:
        table.add_column(r.label or r.engine, justify="right")
    if scored:
        all_rows = [rows(r.score) for r in scored]
        for i, (label, _) in enumerate(all_rows[0]):
            table.add_row(label, *(rs[i][1] for rs in all_rows))
        table.add_row("seconds: reference / index / resolve",
                      *(f"{r.timings['reference_s']} / {r.timings['index_s']} / {r.timings['resolve_s']}"
                        for r in scored))
    console = Console(width=max(130, Console().width))  # the labels never wrap, even in a pipe
    if scored:
        console.print(table)
    for r in runs:
        if r.skipped:
            console.print(f"{r.engine}: skipped — {r.skipped}")
        elif r.score is not None:
            for note in r.score.notes:
                console.print(f"{r.label}: {note}", highlight=False)


def print_misses(runs: list[Run], n: int) -> None:
    """Examples per failure class, with the most frequent callee names first."""
    for r in runs:
        s = r.score
        if s is None:
            continue
        groups = [(f"missed project calls: {c}", s.misses.get(c, [])) for c in MISS_CLASSES]
        exact_first = sorted(s.false_library_examples, key=lambda e: e.detail != "exact")
        groups.append(("false project edges on library calls (exact first)", exact_first))
        groups.append(("exact edges the reference cannot check (unknown or no reference site)",
                       s.unscored_examples))
        if s.codewalk_only_names:
            print(f"\n== {r.label}: codewalk sites without a reference site ({s.codewalk_only}): "
                  + ", ".join(f"{name} {k}" for name, k in s.codewalk_only_names))
        for title, examples in groups:
            if not examples:
                continue
            names = ", ".join(f"{name} {k}" for name, k in top_names(examples))
            forms = ", ".join(f"{form} {k}" for form, k in top_forms(examples))
            print(f"\n== {r.label}: {title} ({len(examples)})\n   most frequent: {names}"
                  f"\n   written as: {forms}")
            for e in examples[:n]:
                print("  " + e.render())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ksanallm", default=os.environ.get("CODEWALK_KSANALLM"),
                    help="KsanaLLM checkout (default $CODEWALK_KSANALLM)")
    ap.add_argument("--vllm", default=os.environ.get("CODEWALK_VLLM"),
                    help="folder holding vllm/ (default $CODEWALK_VLLM)")
    ap.add_argument("--engine", choices=("ksanallm", "vllm", "both"), default="both")
    ap.add_argument("--show-misses", type=int, default=0, metavar="N",
                    help="print N examples of each failure class")
    ap.add_argument("--json", action="store_true", help="machine-readable output")
    ap.add_argument("--all-units", action="store_true",
                    help="KsanaLLM: also parse the selected .cpp files the upstream build does not compile")
    ap.add_argument("--no-cache", action="store_true", help="recompute the references")
    ap.add_argument("--codewalk", metavar="DIR",
                    help="score the codewalk package in this checkout (default: the one above bench/)")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 unless every scored engine meets issue 14's targets")
    args = ap.parse_args(argv)
    if args.codewalk:
        if not (Path(args.codewalk) / "codewalk" / "__init__.py").is_file():
            ap.error(f"--codewalk {args.codewalk}: no codewalk/ package there")
        if "codewalk" in sys.modules:
            ap.error("--codewalk: codewalk is already imported in this process")
        sys.path.insert(0, str(Path(args.codewalk).resolve()))
    say = (lambda m: print(m, file=sys.stderr, flush=True)) if not args.json else (lambda m: None)
    runs = []
    for engine in ("ksanallm", "vllm"):
        if args.engine not in (engine, "both"):
            continue
        path = args.ksanallm if engine == "ksanallm" else args.vllm
        if not path:
            var = "CODEWALK_KSANALLM" if engine == "ksanallm" else "CODEWALK_VLLM"
            runs.append(Run(engine, skipped=f"no checkout (--{engine} PATH or ${var})"))
            continue
        root = Path(path).expanduser().resolve()
        if not root.is_dir():
            runs.append(Run(engine, skipped=f"{root} is not a directory"))
            continue
        if engine == "ksanallm":
            runs.append(run_ksanallm(root, not args.no_cache, args.all_units, say))
        else:
            runs.append(run_vllm(root, not args.no_cache, say))
    met = all(verdict(r.score) == "met" for r in runs if r.score is not None)
    if args.json:
        doc = {r.engine: ({"skipped": r.skipped} if r.skipped else
                          {"label": r.label, **r.score.to_json(args.show_misses), "targets": verdict(r.score),
                           "timings": r.timings, "reference": r.meta})
               for r in runs}
        print(json.dumps(doc, indent=2))
    else:
        print_table(runs)
        if args.show_misses:
            print_misses(runs, args.show_misses)
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
