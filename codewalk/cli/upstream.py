"""`codewalk upstream build|verify`: KsanaLLM's real PrefixCacheManager, built from your checkout.

* `build` — compile the checkout's `cache_manager/prefix_cache_manager.cpp` (unmodified) with
  codewalk's stand-in headers and binding into `$CODEWALK_HOME/upstream/<commit>/`;
* `verify` — random scheduler-like traces through the real engine and codewalk's core, every
  call compared; divergences shrunk to the shortest reproducer and explained.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `upstream` group."""
    p = sub.add_parser("upstream", help="build KsanaLLM's real prefix cache from a checkout and diff it with the core",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = p.add_subparsers(dest="upstream_command", metavar="ACTION")
    group.required = True

    def where(q: argparse.ArgumentParser) -> None:
        w = q.add_mutually_exclusive_group()
        w.add_argument("--repo", default=None, metavar="PATH", help="a KsanaLLM checkout (default: $CODEWALK_KSANALLM)")
        w.add_argument("--source", default=None, metavar="NAME", help="a named source (e.g. ksanallm)")

    b = group.add_parser("build", help="compile the real PrefixCacheManager (reused while its sources are unchanged)")
    where(b)
    b.add_argument("--force", action="store_true", help="rebuild even when up to date")
    b.add_argument("--sanitize", action="store_true",
                   help="build with AddressSanitizer into asan/ (load with LD_PRELOAD=$(c++ -print-file-name=libasan.so))")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=_build)

    v = group.add_parser("verify", help="diff the real engine against codewalk's core on random traces")
    where(v)
    v.add_argument("--traces", type=int, default=500, help="number of random traces (500)")
    v.add_argument("--seed", type=int, default=0, help="random seed (0)")
    v.add_argument("--against", choices=["core", "reference"], default="core",
                   help="codewalk's C++ core (default) or its pure-Python reference model")
    v.add_argument("--workloads", type=int, default=200,
                   help="random scheduler workloads, real ContinuousBatchingStrategy vs the core's Scheduler (200; 0 skips)")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=_verify)


def _fail(message: str) -> int:
    print(f"codewalk upstream: {message}", file=sys.stderr)
    return 1


def _build_with_progress(args: argparse.Namespace, force: bool = False):
    from rich.console import Console

    from codewalk.upstream.build import build

    console = Console(stderr=True, log_path=False)  # no file:line of codewalk's own code in the log
    if args.json:
        return build(args.repo, args.source, force=force, sanitize=getattr(args, "sanitize", False))
    with console.status("building KsanaLLM's PrefixCacheManager and ContinuousBatchingStrategy…") as status:
        def say(msg: str) -> None:
            status.update(msg)
            console.log(msg)
        return build(args.repo, args.source, force=force, progress=say, sanitize=getattr(args, "sanitize", False))


def _build(args: argparse.Namespace) -> int:
    from codewalk.upstream.build import BuildError

    try:
        built = _build_with_progress(args, args.force)
    except BuildError as e:
        return _fail(str(e))
    if args.json:
        print(json.dumps({"module": str(built.path), "scheduler": str(built.scheduler), "commit": built.commit,
                          "seconds": round(built.seconds, 2), "reused": built.reused, "sanitize": built.sanitize,
                          "scheduler_error": built.scheduler_error, "api": built.api}))
    else:
        what = "reused" if built.reused else f"built in {built.seconds:.1f}s"
        sched = built.scheduler or f"not built: {built.scheduler_error}"
        print(f"KsanaLLM {built.commit[:12]}: {what}: {built.path}\n  scheduler: {sched}")
    # Both engines were asked for: a scheduler outside the supported range is a failed build.
    return 1 if built.scheduler is None and built.scheduler_error else 0


def _verify(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from codewalk.upstream.build import BuildError, engine
    from codewalk.upstream.sched_verify import verify_schedulers
    from codewalk.upstream.verify import attribute_versions, verify

    if args.traces < 1:
        return _fail("--traces must be >= 1")
    try:
        real = engine(args.repo, args.source,
                      progress=None if args.json else Console(stderr=True, log_path=False).log,
                      scheduler=args.workloads > 0)
    except BuildError as e:
        return _fail(str(e))
    if args.against == "reference":
        import codewalk.core.reference as core
    else:
        import codewalk.core as core
    from codewalk.upstream.sched_verify import verify_schedulers
    from codewalk.views.term import console as _term_console  # pipe-safe; one helper for every view

    sched_error = getattr(real, "scheduler_error", "")
    console = _term_console()
    with Progress(console=Console(stderr=True), transient=True, disable=args.json) as prog:
        task = prog.add_task("traces", total=args.traces)
        rep = verify(real, core, traces=args.traces, seed=args.seed, progress=lambda n: prog.update(task, completed=n))
        srep = None
        if args.workloads > 0 and not sched_error:
            wtask = prog.add_task("workloads", total=args.workloads)
            srep = verify_schedulers(real, core, workloads=args.workloads, seed=args.seed,
                                     progress=lambda n: prog.update(wtask, completed=n))
    attribute_versions(real, rep, srep)
    bad = rep.summary()["unexplained"] + (srep.summary()["unexplained_per_request"] if srep else 0)
    if args.json:
        out = rep.to_dict()
        if args.workloads > 0:
            out = {"cache": out, "scheduler": srep.to_dict() if srep else {"not_built": sched_error}}
        print(json.dumps(out, default=str))
        return 1 if bad else 0
    _print_cache(console, real, args, rep)
    _print_versions(console, rep.versions)
    if args.workloads > 0:
        if srep is None:
            console.rule("[bold]scheduler: not verified[/bold]")
            console.print(sched_error, markup=False)
        else:
            _print_schedulers(console, srep)
    return 1 if bad else 0


def _print_cache(console, real, args: argparse.Namespace, rep) -> None:
    s = rep.summary()
    console.print(f"[bold]KsanaLLM {real.commit[:12]} vs codewalk {args.against}[/bold]: {s['traces']} traces, "
                  f"{s['ops']} operations; {s['agreeing_traces']} traces agree on every call ({s['agreement']:.1%})")
    console.print(f"divergences: {s['divergences']} — explained {s['explained']} (binding guards {s['binding_guards']}, "
                  f"upstream-bug effects {s['upstream_bug_effects']}, documented deviations "
                  f"{s['documented_deviations']}, core discrepancies {s['core_discrepancies']}), "
                  f"version differences {s['version_differences']}, [bold]unexplained {s['unexplained']}[/bold]")
    seen: set[tuple[str, str, str]] = set()
    for d in rep.divergences:
        key = (d.category, d.call, d.what)
        if key in seen:
            continue
        seen.add(key)
        console.rule(f"{d.category}: {d.call} → {d.what}")
        console.print(f"responsible: {d.responsible}")
        console.print(f"real: {str(d.real)[:200]}\ncore: {str(d.core)[:200]}", markup=False)
        console.print(f"invariants after it: real {d.real_invariant}, core {d.core_invariant}")
        console.print(d.explanation, markup=False)
        console.print(f"shortest reproducer ({len(d.calls)} calls), config {getattr(d, 'config', {})}:", markup=False)
        for c in d.calls:
            console.print(f"  {c}", markup=False)
    for bug, info in sorted(rep.bugs.items(), key=lambda kv: kv[1]["doc"]):
        console.rule(f"upstream bug {info['doc']} {bug} ({info['id']}): seen in {info['traces']} traces")
        console.print(f"in {info['function']}; shortest reproducer, config {info.get('config')}:", markup=False)
        for c in info.get("reproducer", []):
            console.print(f"  {c}", markup=False)


def _print_versions(console, versions: dict) -> None:
    """What changed between the checkout and the commit the core models (off the pin only)."""
    if not versions:
        return
    console.rule(f"[bold]KsanaLLM {versions['checkout'][:8]} vs {versions['pin'][:8]}, the commit the core models"
                 f"[/bold]")
    if versions.get("error"):
        console.print(f"commits cannot be named: {versions['error']}", markup=False)
        return
    where = {"older": "older than", "newer": "newer than", "diverged": "on another branch than"}[versions["direction"]]
    changed = versions.get("changed_functions", {})
    console.print(f"the checkout is {where} the pin; {len(changed)} functions of the prefix cache and the "
                  f"scheduler changed in between (`codewalk history` over {versions['range']}):", markup=False)
    for qname, changes in changed.items():
        commits = ", ".join(f"{c['commit'][:8]} {c['date']} ({c['subject'][:50]})" for c in changes[:3])
        more = f" +{len(changes) - 3} more" if len(changes) > 3 else ""
        console.print(f"  {qname}: {commits}{more}", markup=False)


def _print_schedulers(console, rep) -> None:
    from codewalk.upstream.sched_verify import serving_line

    s = rep.summary()
    console.rule("[bold]scheduler: KsanaLLM's ContinuousBatchingStrategy vs codewalk's Scheduler[/bold]")
    console.print(f"{s['workloads']} random workloads: per-request outcomes agree on {s['per_request_agree']} "
                  f"({s['per_request_agree'] / s['workloads']:.1%}); identical step by step on {s['step_identical']} "
                  f"({s['step_identical'] / s['workloads']:.1%})")
    for mech, n in sorted(s["by_mechanism"].items()):
        console.print(f"  {mech}: {n} workloads")
    if "serving" in s:
        console.print(serving_line(s["serving"]), markup=False)
    for d in rep.divergences:
        console.rule(f"{d.kind} divergence: {d.mechanism} ({len(d.seeds)} workloads)")
        console.print(d.explanation, markup=False)
        console.print(f"first differing step {d.step}: {', '.join(d.fields)}")
        console.print(f"real: {d.real}", markup=False)
        console.print(f"core: {d.core}", markup=False)
        console.print("shortest workload found:", markup=False)
        console.print(json.dumps(d.workload.to_dict()), markup=False)
