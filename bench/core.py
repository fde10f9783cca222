"""Speed of the C++ core against the Python reference, on the same long random traces.

Four workloads, each run through both implementations in this one process:
  scheduler  (the headline) a chat-serving trace through Scheduler.step(): 3000 requests on 12 shared
             system prompts of 256-1536 tokens plus 16-512 private tokens, 3000 device blocks, batch
             128, split-fuse 2048, swap preemption. It prints what the trace exercised (prefix hits,
             evicted blocks, swaps) so a reader can see the pool is under pressure;
  step-loop  the same trace driven as a user's test drives it: a Python loop that adds each step's
             arrivals, calls step() and reads every field of every StepResult;
  replay     the same trace through Scheduler.replay(workload): arrivals and steps in one call (the
             reference runs the same loop in Python), every StepResult kept;
  cache      one Python call per PrefixCacheManager operation (lookups, allocations, token updates,
             finishes, evictions, swaps) on small requests: the C++ side mostly measures pybind11
             converting token and block-id lists, so expect a small ratio there.
Both implementations must produce identical results (checked before any figure is printed: every
StepResult as to_dict(), every cache call's result); then the two are timed alternately over several
repeats and the median ops/s and the ratio are printed. The timed scheduler runs keep each StepResult
as step() returns it.

    python bench/core.py [--requests 3000] [--repeats 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import gc
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


def serving_trace(rng: random.Random, n: int, block_size: int) -> list[tuple[int, list[int], int]]:
    """Chat-serving traffic: (arrival step, prompt, max_new_tokens) for `n` requests.

    Twelve system prompts of 256-1536 tokens, each request one of them plus 16-512 private tokens,
    16-256 new tokens, about one arrival per step (what the batch can serve, so queues stay bounded
    but the 3000-block pool is under steady pressure).
    """
    systems = [[rng.randrange(1, 30000) for _ in range(rng.randint(256, 1536))] for _ in range(12)]
    trace = []
    step = 0
    for _ in range(n):
        step += rng.choice((0, 0, 1, 1, 2))
        prompt = rng.choice(systems) + [rng.randrange(1, 30000) for _ in range(rng.randint(16, 512))]
        trace.append((step, prompt, rng.randint(16, 256)))
    return trace


SERVING = dict(device_blocks=3000, host_blocks=6000, max_batch_size=128, max_step_token_num=4096,
               split_fuse_token_num=2048, preempt_mode="swap")


def replay_scheduler(mod: Any, trace: list[tuple[int, list[int], int]], block_size: int,
                     stats: dict[str, int] | None = None) -> list[Any]:
    """Feed the arrivals step by step and run to completion; every StepResult is kept.

    With `stats`, also count what the trace exercised (eviction is counted by wrapping the
    cache's public free_cached_blocks, which the reference calls through `self`).
    """
    s = mod.Scheduler(mod.SchedulerConfig(block_size=block_size, **SERVING))
    if stats is not None:
        _count_evictions(s.cache, stats)
    results: list[Any] = []
    i = 0
    while i < len(trace) or s.has_work():
        while i < len(trace) and trace[i][0] <= len(results):
            s.add_request(i, trace[i][1], trace[i][2])
            i += 1
        results.append(s.step())
    return results


STEP_FIELDS = ("step", "prefill", "decode", "swapped_out", "swapped_in", "recomputed", "finished", "timed_out",
               "waiting", "running", "swapped", "prefix_hit_tokens", "usable_blocks", "swapin_merged",
               "swapout_merged", "reusable_blocks", "rejected")


def step_loop(mod: Any, trace: list[tuple[int, list[int], int]], block_size: int) -> list[Any]:
    """A user's test loop: add the step's arrivals, step, read every field of the StepResult in
    Python (each crossing paid, nothing batched). Returns a digest per step to compare engines."""
    s = mod.Scheduler(mod.SchedulerConfig(block_size=block_size, **SERVING))
    digest: list[Any] = []
    i = 0
    while i < len(trace) or s.has_work():
        while i < len(trace) and trace[i][0] <= s.step_count:
            s.add_request(i, trace[i][1], trace[i][2])
            i += 1
        r = s.step()
        fields = [getattr(r, name) for name in STEP_FIELDS]
        digest.append((len(fields[8]), len(fields[9]), fields[1][:1], fields[12]))
    return digest


def replay_workload(mod: Any, workload: list[tuple[int, int, list[int], int]], block_size: int) -> list[Any]:
    """The whole trace in one Scheduler.replay call."""
    return mod.Scheduler(mod.SchedulerConfig(block_size=block_size, **SERVING)).replay(workload)


def _count_evictions(cache: Any, stats: dict[str, int]) -> None:
    inner = cache.free_cached_blocks

    def counting(block_num: int, *reserved: Any) -> int:
        freed = inner(block_num, *reserved)
        stats["evicted"] = stats.get("evicted", 0) + freed
        return freed

    cache.free_cached_blocks = counting


def scheduler_summary(results: list[Any], stats: dict[str, int]) -> str:
    """What the trace exercised, so a reader can see it is not a trivial one."""
    hits: dict[int, int] = {}  # a request blocked at the queue head is looked up again each step
    for r in results:
        hits.update(r.prefix_hit_tokens)
    prefilled = sum(n for r in results for _, n in r.prefill)
    return (f"  trace: {len(results)} steps, {sum(len(r.finished) for r in results)} finished, "
            f"{sum(len(r.decode) for r in results)} decodes, {prefilled} prefill tokens computed; "
            f"{len(hits)} requests hit the prefix cache ({sum(hits.values())} tokens); evicted blocks {stats.get('evicted', 0)}; "
            f"swap-outs {sum(len(r.swapped_out) for r in results)}, "
            f"swap-ins {sum(len(r.swapped_in) for r in results)}, "
            f"recomputes {sum(len(r.recomputed) for r in results)}")


def timed(runs: list[Callable[[], Any]], repeats: int) -> list[float]:
    """Median CPU seconds of each run over `repeats` rounds. CPU time, not wall time: both runs are
    single-threaded, and on a shared machine wall time mostly measures the other processes. The runs
    alternate within a round, so what load remains (caches, memory bandwidth) falls on both alike;
    the cyclic GC is off while a run is timed (as timeit does: its pauses depend on everything else
    alive in the process, not on the code measured)."""
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(repeats):
        for fn, out in zip(runs, times):
            gc.collect()
            gc.disable()
            try:
                start = time.process_time()
                fn()
                out.append(time.process_time() - start)
            finally:
                gc.enable()
    return [statistics.median(t) for t in times]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--block-size", type=int, default=16)
    args = ap.parse_args(argv)
    bs = args.block_size
    trace = serving_trace(random.Random(args.seed + 1), args.requests, bs)
    ops = cache_trace(random.Random(args.seed), args.requests, bs)
    print(f"{args.requests} requests, block size {bs}, median CPU time of {args.repeats} runs")
    print(f"{'workload':<10} {'ops':>8} {'C++ ops/s':>12} {'Python ops/s':>13} {'ratio':>7}")

    # Headline: Scheduler.step() on the serving trace. Results are compared as to_dict() after
    # the check run; the timed runs keep each StepResult as step() returns it.
    stats: dict[str, int] = {}
    a = [r.to_dict() for r in replay_scheduler(cpp, trace, bs)]
    b_raw = replay_scheduler(ref, trace, bs, stats)
    if not same("scheduler", "step", a, [r.to_dict() for r in b_raw]):
        return 1
    steps, summary = len(a), scheduler_summary(b_raw, stats)
    del a, b_raw  # the timed runs start from the same heap
    t_cpp, t_ref = timed([lambda: replay_scheduler(cpp, trace, bs), lambda: replay_scheduler(ref, trace, bs)],
                         args.repeats)
    report("scheduler", steps, t_cpp, t_ref, "steps; identical results")
    print(summary)

    # Second line: the same trace in a user's Python loop -- add arrivals, step, read every field.
    a, b = step_loop(cpp, trace, bs), step_loop(ref, trace, bs)
    if not same("step-loop", "step", a, b):
        return 1
    del a, b
    t_cpp, t_ref = timed([lambda: step_loop(cpp, trace, bs), lambda: step_loop(ref, trace, bs)], args.repeats)
    report("step-loop", steps, t_cpp, t_ref, "steps; add_request + step() + every StepResult field read in Python")

    # Third line: the same trace in one Scheduler.replay call, checked against the C++ loop's results
    # (the headline checked those against the reference's; tests check the reference's replay).
    workload = [(at, rid, prompt, new) for rid, (at, prompt, new) in enumerate(trace)]
    a = [r.to_dict() for r in replay_workload(cpp, workload, bs)]
    if not same("replay", "step", a, [r.to_dict() for r in replay_scheduler(cpp, trace, bs)]):
        return 1
    del a
    t_cpp, t_ref = timed([lambda: replay_workload(cpp, workload, bs), lambda: replay_workload(ref, workload, bs)],
                         args.repeats)
    report("replay", steps, t_cpp, t_ref, "steps; Scheduler.replay(workload), one call")

    # Last line: one Python call per cache operation, so the C++ side mostly measures the
    # pybind11 conversion of token lists and block-id lists, not the cache work itself.
    a, b = replay_cache(cpp, ops, bs), replay_cache(ref, ops, bs)
    if not same("cache", "call", a, b):
        return 1
    del a, b
    t_cpp, t_ref = timed([lambda: replay_cache(cpp, ops, bs), lambda: replay_cache(ref, ops, bs)], args.repeats)
    report("cache", len(ops), t_cpp, t_ref, "calls; identical results; dominated by Python<->C++ argument conversion")
    return 0


def same(name: str, unit: str, a: list[Any], b: list[Any]) -> bool:
    """Report the first difference between the two implementations' results."""
    if a == b:
        return True
    first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    print(f"{name}: C++ and reference differ at {unit} {first}", file=sys.stderr)
    return False


def report(name: str, count: int, t_cpp: float, t_ref: float, note: str) -> None:
    print(f"{name:<10} {count:>8} {count / t_cpp:>12,.0f} {count / t_ref:>13,.0f} {t_ref / t_cpp:>6.1f}x   ({note})")


if __name__ == "__main__":
    raise SystemExit(main())
