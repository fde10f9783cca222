"""`codewalk demo …`: step the bound core through a built-in trace, or run a computed demo.

* `prefix-cache`, `schedule` — replay a trace through the C++ core (views/demo.py);
* `paged-vs-contiguous` — KV waste of max_len reservation vs paging on a generated workload;
* `online-softmax` — FlashAttention-style tiled attention checked against naive attention
  (both rendered by views/paging.py);
* `compare` — one trace through KsanaLLM's and vLLM v1's cache/scheduler policies, side by side;
* `split-fuse` — one chunked prefill followed across steps on the core (views/split_fuse.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

CORE_DEMOS = ["prefix-cache", "schedule"]
COMPUTED_DEMOS = ["paged-vs-contiguous", "online-softmax", "compare", "split-fuse"]


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `demo` subcommand."""
    from codewalk.lessons import paging

    p = sub.add_parser("demo", help="replay a built-in trace through the C++ core, or run a computed demo",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=CORE_DEMOS + COMPUTED_DEMOS)
    p.add_argument("--json", action="store_true")
    p.add_argument("--engine", choices=["core", "real"], default="core",
                   help="prefix-cache, schedule: codewalk's core (default) or KsanaLLM's real code, built from "
                        "$CODEWALK_KSANALLM (`codewalk upstream build`)")
    p.add_argument("--repo", default=None, metavar="PATH",
                   help="--engine real: the KsanaLLM checkout to build from (default $CODEWALK_KSANALLM)")
    p.add_argument("--trace", default=None, metavar="FILE",
                   help="schedule: a JSON list of requests {arrival, prompt, max_new_tokens[, id]} to replay")
    p.add_argument("--seed", type=int, default=0, help="paged-vs-contiguous, online-softmax: random seed (0)")
    g = p.add_argument_group("paged-vs-contiguous")
    g.add_argument("--requests", type=_count, default=paging.DEFAULT_REQUESTS,
                   help=f"requests in the workload ({paging.DEFAULT_REQUESTS})")
    g.add_argument("--block-size", type=_positive, default=paging.DEFAULT_BLOCK,
                   help=f"tokens per KV block ({paging.DEFAULT_BLOCK})")
    g.add_argument("--max-len", type=int, default=paging.DEFAULT_MAX_LEN,
                   help=f"max sequence length a contiguous system reserves ({paging.DEFAULT_MAX_LEN})")
    g.add_argument("--budget", type=_positive, default=paging.DEFAULT_BUDGET,
                   help=f"KV token slots for the concurrency estimate ({paging.DEFAULT_BUDGET})")
    f = p.add_argument_group("online-softmax")
    f.add_argument("--seq", type=_positive, default=64, help="sequence length (64)")
    f.add_argument("--dim", type=_positive, default=16, help="head dimension (16)")
    f.add_argument("--block", type=_positive, default=16, help="K/V tile size (16)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    if args.name == "compare":  # one trace through KsanaLLM's and vLLM's policies (views/compare.py)
        return run_compare(as_json=args.json)
    if args.name == "split-fuse":  # one chunked prefill across steps (views/split_fuse.py)
        return run_split_fuse(as_json=args.json)
    if args.name == "paged-vs-contiguous":
        if args.max_len < 2:
            print("codewalk demo: --max-len must be >= 2", file=sys.stderr)
            return 2
        return run_paging(args.requests, args.seed, args.block_size, args.max_len, args.budget, as_json=args.json)
    if args.name == "online-softmax":
        return run_flash(args.seq, args.dim, args.block, args.seed, as_json=args.json)
    engine = None
    trace = None
    if getattr(args, "trace", None):
        import json

        from codewalk.lessons.replay import validate_trace

        try:
            with open(args.trace, encoding="utf-8") as fh:
                trace = validate_trace(json.load(fh))
        except (OSError, ValueError) as e:
            print(f"codewalk demo: --trace {args.trace}: {getattr(e, 'strerror', None) or e}", file=sys.stderr)
            return 2
    if getattr(args, "engine", "core") == "real":
        from rich.console import Console

        from codewalk.upstream.build import BuildError
        from codewalk.upstream.build import engine as real_engine

        try:
            engine = real_engine(args.repo, progress=None if args.json else Console(stderr=True, log_path=False).log)
        except BuildError as e:
            print(f"codewalk demo: --engine real: {e}\n(build it with `codewalk upstream build --repo PATH`)",
                  file=sys.stderr)
            return 1
        try:  # a checkout outside the scheduler's supported range has only the cache manager
            return run_demo(args.name, as_json=args.json, engine=engine, trace=trace)
        except BuildError as e:
            print(f"codewalk demo: --engine real: {e}", file=sys.stderr)
            return 1
    return run_demo(args.name, as_json=args.json, engine=engine, trace=trace)


def run_demo(name: str, as_json: bool = False, engine: Any = None, console: Any = None,
             trace: list[dict[str, Any]] | None = None) -> int:
    """Replay demo `name` (prefix-cache, schedule) on engine (default: the bound core) and print it."""
    from codewalk.lessons import replay
    from codewalk.views import demo as view

    if engine is None:
        import codewalk.core as engine
    view.render(name, replay.frames(name, engine, trace), as_json, console)
    return 0


def run_compare(as_json: bool = False, console: Any = None) -> int:
    """`demo compare`: the comparison on the built-in trace, printed."""
    from codewalk.lessons.compare import compare
    from codewalk.views import compare as view

    view.render(compare(), as_json, console)
    return 0


def run_split_fuse(as_json: bool = False, engine: Any = None, console: Any = None) -> int:
    """`demo split-fuse` on engine (default: the bound core), printed."""
    from codewalk.lessons.split_fuse import document
    from codewalk.views import split_fuse as view

    if engine is None:
        import codewalk.core as engine
    view.render(document(engine), as_json, console)
    return 0


def run_paging(requests: int, seed: int, block_size: int, max_len: int, budget: int, as_json: bool = False,
               console: Any = None) -> int:
    """`demo paged-vs-contiguous`: the workload's KV accounting, printed."""
    from codewalk.lessons.paging import document
    from codewalk.views.paging import render_paging
    from codewalk.views.term import console as make_console

    doc = document(requests, seed, block_size, max_len, budget)
    if as_json:
        print(json.dumps(doc))
        return 0
    render_paging(doc, console or make_console())
    return 0


def run_flash(seq: int, dim: int, block: int, seed: int, as_json: bool = False, console: Any = None) -> int:
    """`demo online-softmax`: naive vs tiled attention, printed; status 1 when they differ."""
    from codewalk.lessons.flash import document
    from codewalk.views.paging import render_flash
    from codewalk.views.term import console as make_console

    doc = document(seq, dim, block, seed)
    if as_json:
        print(json.dumps(doc))
    else:
        render_flash(doc, console or make_console())
    return 0 if doc["ok"] and doc["tiny"]["ok"] else 1
