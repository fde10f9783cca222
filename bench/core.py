"""Speed of the C++ core against the Python reference, on the same long random traces.

Two workloads, each run through both implementations in this one process:
  cache      a scheduler-like trace of PrefixCacheManager calls (lookups, allocations,
             token updates, finishes, evictions, swaps) over requests sharing prefixes;
  scheduler  thousands of requests with shared prefixes through Scheduler.run().
Both implementations must produce identical results (checked before any figure is printed);
then each is timed over several repeats and the median ops/s and the ratio are printed.

    python bench/core.py [--requests 3000] [--repeats 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from typing import Any, Callable

import codewalk.core as cpp
import codewalk.core.reference as ref
from codewalk.core.errors import CoreError

Op = tuple[str, tuple[Any, ...]]


def make_prompts(rng: random.Random, n: int, block_size: int) -> list[list[int]]:
    """Prompts built from a few shared system prompts plus a private tail, as chat traffic looks."""
    systems = [[rng.randrange(1, 30000) for _ in range(block_size * rng.randint(1, 6))] for _ in range(8)]
    return [rng.choice(systems) + [rng.randrange(1, 30000) for _ in range(rng.randint(1, 3 * block_size))]
            for _ in range(n)]


def cache_trace(rng: random.Random, n: int, block_size: int) -> list[Op]:
    """Lookup → allocate → compute → a few decode steps → finish, with swaps and evictions mixed in."""
    ops: list[Op] = []
    live: list[tuple[int, list[int]]] = []
    for rid, prompt in enumerate(make_prompts(rng, n, block_size)):
        ops.append(("prefill", (rid, prompt)))
        live.append((rid, list(prompt)))
        for _ in range(rng.randint(0, 3)):
            j = rng.randrange(len(live))
            req, toks = live[j]
            toks.append(rng.randrange(1, 30000))
            ops.append(("decode", (req, list(toks))))
        if rng.random() < 0.1:
            req, _ = live[rng.randrange(len(live))]
            ops.append(("swap", (req,)))
        if len(live) > 12:
            req, _ = live.pop(rng.randrange(len(live)))
            ops.append(("finish", (req,)))
        if rng.random() < 0.05:
            ops.append(("evict", (rng.randint(1, 8),)))
    return ops


def replay_cache(mod: Any, ops: list[Op], block_size: int) -> list[Any]:
    """Run the trace on one implementation; every call's result (or refusal) is recorded."""
    m = mod.PrefixCacheManager(mod.CacheConfig(block_size=block_size, device_blocks=2048, host_blocks=2048))
    out: list[Any] = []
    for kind, args in ops:
        try:
            out.append(_CACHE_OPS[kind](m, *args))
        except CoreError as e:
            out.append(("refused", str(e).split(":")[0]))
    return out


def _prefill(m: Any, rid: int, prompt: list[int]) -> Any:
    _, unique, shared = m.get_request_prefix_block_number(rid, prompt)
    m.allocate_request_blocks(rid, unique)
    return shared, m.update_request_tokens(rid, prompt)


def _decode(m: Any, rid: int, toks: list[int]) -> Any:
    m.allocate_request_blocks(rid, m.get_request_step_block_number(rid, len(toks)))
    return m.update_request_tokens(rid, toks, len(toks) - 1)


def _swap(m: Any, rid: int) -> Any:
    out = m.swapout_request_async(rid)
    m.merge_swapout_request(rid)
    m.swapin_request_async(rid)
    return out, m.merge_swapin_request(rid)


_CACHE_OPS: dict[str, Callable[..., Any]] = {
    "prefill": _prefill,
    "decode": _decode,
    "swap": _swap,
    "finish": lambda m, rid: m.destroy_finished_request(rid),
    "evict": lambda m, n: m.free_cached_blocks(n),
}


def replay_scheduler(mod: Any, prompts: list[list[int]], block_size: int) -> list[Any]:
    """Requests arrive a few per step; run to completion; every StepResult is recorded."""
    s = mod.Scheduler(mod.SchedulerConfig(block_size=block_size, device_blocks=512, host_blocks=1024,
                                          max_batch_size=64, max_step_token_num=4096,
                                          split_fuse_token_num=256, preempt_mode="swap"))
    results: list[Any] = []
    pending = list(enumerate(prompts))
    while pending or s.has_work():
        for rid, prompt in pending[:4]:
            s.add_request(rid, prompt, 1 + rid % 24)
        del pending[:4]
        results.append(s.step().to_dict())
    return results


def timed(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall seconds of `repeats` runs."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--block-size", type=int, default=16)
    args = ap.parse_args(argv)
    bs = args.block_size
    ops = cache_trace(random.Random(args.seed), args.requests, bs)
    prompts = make_prompts(random.Random(args.seed + 1), args.requests, bs)
    workloads = [
        ("cache", len(ops), "calls", lambda mod: replay_cache(mod, ops, bs)),
        ("scheduler", 0, "steps", lambda mod: replay_scheduler(mod, prompts, bs)),
    ]
    print(f"{args.requests} requests, block size {bs}, median of {args.repeats} runs")
    print(f"{'workload':<10} {'ops':>8} {'C++ ops/s':>12} {'Python ops/s':>13} {'ratio':>7}")
    for name, count, unit, run in workloads:
        a, b = run(cpp), run(ref)
        if a != b:
            first = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y) if len(a) == len(b) else min(len(a), len(b))
            print(f"{name}: C++ and reference differ at {unit[:-1]} {first}", file=sys.stderr)
            return 1
        count = count or len(a)
        t_cpp, t_ref = timed(lambda: run(cpp), args.repeats), timed(lambda: run(ref), args.repeats)
        print(f"{name:<10} {count:>8} {count / t_cpp:>12,.0f} {count / t_ref:>13,.0f} {t_ref / t_cpp:>6.1f}x"
              f"   ({unit}; identical results)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
