"""`codewalk demo …`: step the bound core through a built-in trace, or run a computed demo.

* `prefix-cache`, `schedule` — replay a trace through the C++ core (views/demo.py);
* `paged-vs-contiguous` — KV waste of max_len reservation vs paging on a generated workload;
* `online-softmax` — FlashAttention-style tiled attention checked against naive attention
  (both rendered by views/paging.py);
* `compare` — one trace through KsanaLLM's and vLLM v1's cache/scheduler policies, side by side.
"""

from __future__ import annotations

import argparse
import sys

CORE_DEMOS = ["prefix-cache", "schedule"]
COMPUTED_DEMOS = ["paged-vs-contiguous", "online-softmax", "compare"]


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
    from codewalk import paging

    p = sub.add_parser("demo", help="replay a built-in trace through the C++ core, or run a computed demo",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=CORE_DEMOS + COMPUTED_DEMOS)
    p.add_argument("--json", action="store_true")
    p.add_argument("--engine", choices=["core", "real"], default="core",
                   help="prefix-cache, schedule: codewalk's core (default) or KsanaLLM's real code, built from "
                        "$CODEWALK_KSANALLM (`codewalk upstream build`)")
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
        from codewalk.views.compare import run_compare

        return run_compare(as_json=args.json)
    if args.name == "paged-vs-contiguous":
        from codewalk.views.paging import run_paging

        if args.max_len < 2:
            print("codewalk demo: --max-len must be >= 2", file=sys.stderr)
            return 2
        return run_paging(args.requests, args.seed, args.block_size, args.max_len, args.budget, as_json=args.json)
    if args.name == "online-softmax":
        from codewalk.views.paging import run_flash

        return run_flash(args.seq, args.dim, args.block, args.seed, as_json=args.json)
    from codewalk.views.demo import run_demo

    engine = None
    trace = None
    if getattr(args, "trace", None):
        import json

        try:
            with open(args.trace, encoding="utf-8") as fh:
                trace = json.load(fh)
            if not isinstance(trace, list) or not all(isinstance(r, dict) and "prompt" in r and "max_new_tokens" in r
                                                      for r in trace):
                raise ValueError("expected a JSON list of {arrival, prompt, max_new_tokens}")
        except (OSError, ValueError) as e:
            print(f"codewalk demo: --trace {args.trace}: {e}", file=sys.stderr)
            return 2
    if getattr(args, "engine", "core") == "real":
        from rich.console import Console

        from codewalk.upstream.build import BuildError
        from codewalk.upstream.build import engine as real_engine

        try:
            engine = real_engine(progress=None if args.json else Console(stderr=True).log)
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
