"""vLLM's block pool three ways on one trace: the C++ core, the Python reference, real vLLM.

    python bench/compare.py [--requests N] [--seed S] [--repeat R]   # CODEWALK_VLLM=/path adds real vLLM 0.33.0

The trace is a scheduler's view of a chat service: requests share a few long system prompts,
a quarter of them continue an earlier conversation (its prompt, part of its answer, a new user
turn), up to --batch run at once, prompts are prefilled in chunks of --chunk tokens and then
decode one token per step, and the pool (--blocks) is small enough that cached blocks are evicted
all the time and some admissions are refused. A trace operation is one scheduler action on one
request: admit (prefix lookup + allocate_slots for the first chunk), advance (allocate_slots for the
next chunk or decode token) or free.

Two ways to run it, both printed:

* per call — every engine runs the trace through the same Python driver as
  tests/test_vllm_parity.py, one Python-level call per KV-cache call (for the C++ core, each call
  converts the request's full token list, as the API takes it).
* batched — the KV-cache calls the driver made (recorded from the per-call run: get_computed_blocks,
  allocate_slots with the full token list, free, and the final free queue and cached ids) are handed
  to `VllmKVCacheManager.replay` in one call: the C++ core runs them without crossing back into
  Python, the reference runs its `replay` (a Python loop over its own methods). vLLM has no batched
  API — its KVCacheManager takes one Request per call — so it is still driven op by op.

Before any timing: the per-call results (hits, block ids, refusals, final free queue and cached
ids) must be identical on all engines, and each `replay` must return exactly what the recorded
calls returned. Timing: fresh engines per run (construction not timed), engines alternated within a
repeat, the garbage collector off while timed (as timeit does), the median of --repeat runs.
Real vLLM runs its own KVCacheManager/BlockPool code (sha256 block hashes, as vLLM hashes them),
loaded without torch.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_vllm_parity import Ours, RealVllm, real_vllm  # noqa: E402

BLOCK = 16
VOCAB = 32000


def make_trace(n_requests: int, seed: int, batch: int, chunk: int) -> list[tuple]:
    """Driver operations: ("admit", rid, prompt, chunk, full), ("advance", rid, chunk, token), ("free", rid)."""
    rng = random.Random(seed)

    def text(n: int) -> list[int]:
        return [rng.randrange(1, VOCAB) for _ in range(n)]

    systems = [text(rng.choice([128, 256, 384, 512])) for _ in range(8)]
    history: list[list[int]] = []  # finished conversations: prompt + the tokens it was fed while decoding
    ops: list[tuple] = []
    live: dict[int, list] = {}  # rid -> [steps left, prompt + decode tokens]
    rid = 0
    while rid < n_requests or live:
        while rid < n_requests and len(live) < batch:
            if history and rng.random() < 0.25:  # a follow-up turn of an earlier conversation
                past = rng.choice(history[-64:])
                prompt = past + text(rng.randrange(8, 128))
            else:
                prompt = rng.choice(systems) + text(rng.randrange(16, 256))
            ops.append(("admit", rid, prompt, chunk, rng.random() < 0.5))
            steps = -(-len(prompt) // chunk) + rng.randrange(16, 128)  # prefill chunks + answer length
            live[rid] = [steps, list(prompt)]
            rid += 1
        for r in list(live):
            tok = rng.randrange(1, VOCAB)
            ops.append(("advance", r, chunk, tok))
            live[r][1].append(tok)
            live[r][0] -= 1
            if live[r][0] == 0:
                ops.append(("free", r))
                history.append(live.pop(r)[1][:-1])
    return ops


def drive(engine: Any, ops: list[tuple]) -> list[Any]:
    """Run the trace; ops on requests the engine refused to admit are skipped (same on every engine)."""
    out: list[Any] = []
    admitted: set[int] = set()
    for op in ops:
        kind, rid = op[0], op[1]
        if kind == "admit":
            res = engine.admit(rid, *op[2:])
            if res[2] is not None:
                admitted.add(rid)
        elif rid not in admitted:
            continue
        elif kind == "advance":
            res = engine.advance(rid, *op[2:])
        else:
            res = engine.free(rid)
            admitted.discard(rid)
        out.append(res)
    st = engine.state()
    out.append((st["free_queue"], st["cached"]))
    return out


def run_kinds(ops: list[tuple], results: list[Any]) -> list[str]:
    """The kind of each operation drive() ran, in its order (it skips ops of refused requests)."""
    out: list[str] = []
    admitted: set[int] = set()
    for op in ops:
        kind, rid = op[0], op[1]
        if kind == "admit":
            if results[len(out)][2] is not None:
                admitted.add(rid)
        elif rid not in admitted:
            continue
        elif kind == "free":
            admitted.discard(rid)
        out.append(kind)
    return out


class Recorder:
    """A VllmKVCacheManager proxy that records the KV-cache calls it forwards, as replay() takes them.

    Token lists are recorded two ways. "copy": each call gets its own list (the driver grows one
    list per request in place, so it is copied; consecutive calls with the same list share one
    copy; copies share their int objects, as lists built from one another do). "view": each call
    gets `(the driver's list, its length at the call)`, replay's form of a request's growing token
    list (what vLLM's Request holds); the lists are complete once the driver has run.
    """

    RECORDED = ("get_computed_blocks", "allocate_slots", "free")

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.copies: list[tuple] = []
        self.views: list[tuple] = []
        self.results: list[Any] = []
        self._last: tuple[Any, list[int]] | None = None

    def _copy(self, x: Any) -> Any:
        if not isinstance(x, list):
            return x
        if self._last is not None and self._last[0] is x and len(self._last[1]) == len(x):
            return self._last[1]
        c = list(x)
        self._last = (x, c)
        return c

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self._inner, name)
        if name not in self.RECORDED:
            return fn

        def call(*a: Any) -> Any:
            self.copies.append((name, *(self._copy(x) for x in a)))
            if name == "free":
                self.views.append((name, *a))
            else:
                self.views.append((name, a[0], (a[1], len(a[1])), *(list(x) if isinstance(x, list) else x
                                                                     for x in a[2:])))
            res = fn(*a)
            self.results.append(res)
            return res
        return call


def record(cls: Any, num_blocks: int, ops: list[tuple]) -> tuple[list[tuple], list[tuple], list[Any]]:
    """The trace's KV-cache calls in both token forms (and what they returned), ending with the final
    free queue and cached ids."""
    ours = Ours(cls, num_blocks, BLOCK)
    rec = Recorder(ours.p)
    ours.p = rec
    drive(ours, ops)
    tail = [("free_queue",), ("cached_block_ids",)]
    results = rec.results + [rec._inner.free_queue(), rec._inner.cached_block_ids()]
    return rec.copies + tail, rec.views + tail, results


def count_evictions(ref_cls: Any, num_blocks: int, ops: list[tuple]) -> int:
    """Cached blocks the reference pops from the free queue (each drops a hash) over the trace."""
    ours = Ours(ref_cls, num_blocks, BLOCK)
    pool, n = ours.p, 0
    orig = pool._evict

    def evict(b: int) -> None:
        nonlocal n
        n += pool.hash[b] is not None
        orig(b)
    pool._evict = evict
    drive(ours, ops)
    return n


def timed(prepare: Callable[[], Callable[[], Any]]) -> float:
    """One run of prepare()'s callable, GC off (as timeit does)."""
    run = prepare()
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        t = time.perf_counter()
        run()
        return time.perf_counter() - t
    finally:
        if was:
            gc.enable()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--batch", type=int, default=32, help="requests running at once")
    ap.add_argument("--chunk", type=int, default=512, help="prefill chunk (tokens per step per request)")
    ap.add_argument("--blocks", type=int, default=700, help="pool size, the null block included")
    args = ap.parse_args()

    from codewalk.core import VllmKVCacheManager as Cxx
    from codewalk.core.reference import VllmKVCacheManager as Ref

    nb = args.blocks
    ops = make_trace(args.requests, args.seed, args.batch, args.chunk)
    vllm_root = os.environ.get("CODEWALK_VLLM")
    ctx = real_vllm(vllm_root) if vllm_root else None
    v = ctx.__enter__() if ctx else None
    try:
        # --- identical results first ---------------------------------------------------------
        per_call: dict[str, Callable[[], Any]] = {
            "C++ core": lambda: Ours(Cxx, nb, BLOCK),
            "Python reference": lambda: Ours(Ref, nb, BLOCK),
        }
        if v is not None:
            per_call["real vLLM 0.33.0"] = lambda: RealVllm(v, nb, BLOCK)
        results = {name: drive(make(), ops) for name, make in per_call.items()}
        base = results["C++ core"]
        for name, res in results.items():
            if res != base:
                first = next((i for i, (a, b) in enumerate(zip(res, base)) if a != b), min(len(res), len(base)))
                print(f"MISMATCH (per call): {name} differs from the C++ core at result {first}", file=sys.stderr)
                return 1
        calls, views, want = record(Cxx, nb, ops)
        calls_ref, views_ref, want_ref = record(Ref, nb, ops)
        if calls_ref != calls or views_ref != views or want_ref != want:
            print("MISMATCH: the C++ core and the reference made different calls", file=sys.stderr)
            return 1
        for name, cls in (("C++ core", Cxx), ("Python reference", Ref)):
            for form, trace in (("copied token lists", calls), ("(list, n) token views", views)):
                got = cls(nb, BLOCK).replay(trace)
                if got != want:
                    first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
                    print(f"MISMATCH (batched): {name}'s replay with {form} differs from its calls at call {first}",
                          file=sys.stderr)
                    return 1
        if want[-2:] != list(base[-1]):
            print("MISMATCH: the recorded final state differs from the driver's", file=sys.stderr)
            return 1

        n_ops = len(base) - 1  # driver operations actually run (ops on refused requests are skipped)
        kinds = run_kinds(ops, base)
        admits = [r for k, r in zip(kinds, base) if k == "admit"]
        n_admit, n_hit = len(admits), sum(1 for r in admits if r[1] > 0)
        n_refused = sum(1 for r in admits if r[2] is None)
        n_stalled = sum(1 for k, r in zip(kinds, base) if k == "advance" and r is None)
        hit_tokens = sum(r[1] for r in admits)
        tok_args = sum(len(c[2]) for c in calls if c[0] in ("get_computed_blocks", "allocate_slots"))
        evictions = count_evictions(Ref, nb, ops)
        print(f"trace: {args.requests} requests (batch {args.batch}, prefill chunk {args.chunk}), block_size {BLOCK}, "
              f"{nb} blocks; {n_ops} trace operations = {len(calls)} KV-cache calls "
              f"(avg {tok_args / max(1, len(calls) - 2):.0f} tokens per call's token list)")
        print(f"       {n_admit} admission attempts, {n_hit} with a prefix hit ({hit_tokens} hit tokens), "
              f"{n_refused} refused; {n_stalled} steps refused; {evictions} cached blocks evicted")
        print(f"identical results: per call on {len(per_call)} engines; replay (both token forms) returns exactly "
              f"what the calls returned, on the C++ core and the reference")

        # --- timing ----------------------------------------------------------------------------
        def driver_run(make: Callable[[], Any]) -> Callable[[], Callable[[], Any]]:
            def prepare() -> Callable[[], Any]:
                engine = make()
                return lambda: drive(engine, ops)
            return prepare

        def replay_run(cls: Any, trace: list[tuple]) -> Callable[[], Callable[[], Any]]:
            def prepare() -> Callable[[], Any]:
                p = cls(nb, BLOCK)
                return lambda: p.replay(trace)
            return prepare

        def calls_only(cls: Any) -> Callable[[], Callable[[], Any]]:
            def prepare() -> Callable[[], Any]:
                p = cls(nb, BLOCK)
                bound = [(getattr(p, c[0]), c[1:]) for c in calls]

                def run() -> None:
                    for fn, a in bound:
                        fn(*a)
                return run
            return prepare

        runs: dict[str, Callable[[], Callable[[], Any]]] = {
            f"per call: {name}": driver_run(make) for name, make in per_call.items()}
        runs["per call: C++ core, calls only"] = calls_only(Cxx)
        runs["batched: C++ replay, (list, n) views"] = replay_run(Cxx, views)
        runs["batched: C++ replay, copied lists"] = replay_run(Cxx, calls)
        runs["batched: ref. replay, (list, n) views"] = replay_run(Ref, views)
        runs["batched: ref. replay, copied lists"] = replay_run(Ref, calls)
        times: dict[str, list[float]] = {name: [] for name in runs}
        names = list(runs)
        for rep in range(args.repeat):
            k = rep % len(names)
            for name in names[k:] + names[:k]:  # a different engine first in each repeat
                times[name].append(timed(runs[name]))
    finally:
        if ctx:
            ctx.__exit__(None, None, None)

    med = {name: statistics.median(ts) for name, ts in times.items()}
    print(f"median of {args.repeat} runs; ops/s = trace operations per second (same work on every row)")
    vllm_t = med.get("per call: real vLLM 0.33.0")
    for name, t in med.items():
        vs = f"  {vllm_t / t:6.1f}x real vLLM" if vllm_t else ""
        print(f"  {name:34s} {t * 1e3:9.1f} ms  {n_ops / t:12,.0f} ops/s{vs}")
    if vllm_t:
        print("  (real vLLM has no batched API: its KVCacheManager takes one Request per call, so it is driven "
              "op by op in both comparisons)")
        print(f"per call: C++ core vs real vLLM: {vllm_t / med['per call: C++ core']:.1f}x faster")
        for form in ("(list, n) views", "copied lists"):
            print(f"batched:  C++ replay with {form} vs real vLLM: "
                  f"{vllm_t / med[f'batched: C++ replay, {form}']:.1f}x faster (target >= 50x)")
    else:
        print("real vLLM not run: set CODEWALK_VLLM to an unpacked vLLM 0.33.0")
    for form in ("(list, n) views", "copied lists"):
        print(f"batched:  C++ replay vs reference replay, {form}: "
              f"{med[f'batched: ref. replay, {form}'] / med[f'batched: C++ replay, {form}']:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
