"""vLLM's block pool three ways on one trace: the C++ core, the Python reference, real vLLM.

    python bench/compare.py [--requests N] [--seed S]        # CODEWALK_VLLM=/path adds real vLLM 0.33.0

The trace is scheduler-like: requests with shared system prompts are admitted (prefix lookup +
allocate_slots for the prompt), decode one token at a time (allocate_slots per token) and are
freed; the pool is small enough that admissions are refused and cached blocks evicted. Every
engine replays the same trace through the same driver as tests/test_vllm_parity.py; the results
(hits, block ids, refusals, final free queue and cached ids) are checked identical first, then
each engine is timed on a fresh replay (best of --repeat). Real vLLM runs its own
KVCacheManager/BlockPool code (sha256 block hashes, as vLLM hashes them), loaded without torch.

Every operation is one Python-level call per engine (plus the shared driver), so the C++ core's
time includes pybind11 argument conversion (the full token list per call, as the API takes it)
and the driver's own Python; the "calls only" row replays the C++ calls alone, with the
arguments recorded beforehand.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from test_vllm_parity import Ours, RealVllm, real_vllm  # noqa: E402

BLOCK = 16
NUM_BLOCKS = 1200


def make_trace(n_requests: int, seed: int) -> list[tuple]:
    """Admissions, decode steps and frees, interleaved as a running batch of ~8 would produce them."""
    rng = random.Random(seed)
    systems = [[rng.randrange(1, 32000) for _ in range(rng.choice([64, 128, 256]))] for _ in range(4)]
    ops: list[tuple] = []
    live: dict[int, int] = {}  # req_id -> decode steps left
    rid = 0
    while rid < n_requests or live:
        if rid < n_requests and len(live) < 8:
            prompt = rng.choice(systems) + [rng.randrange(1, 32000) for _ in range(rng.randrange(1, 300))]
            ops.append(("admit", rid, prompt, len(prompt), rng.random() < 0.5))
            live[rid] = rng.randrange(8, 64)
            rid += 1
        for r in list(live):
            ops.append(("advance", r, 1, rng.randrange(1, 32000)))
            live[r] -= 1
            if live[r] == 0:
                ops.append(("free", r))
                del live[r]
    return ops


def replay(engine: Any, ops: list[tuple]) -> list[Any]:
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


def timed(make: Any, ops: list[tuple], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        engine = make()
        t = time.perf_counter()
        replay(engine, ops)
        best = min(best, time.perf_counter() - t)
    return best


class _Recorder:
    """A VllmKVCacheManager proxy that records every call (method, args) it forwards."""

    def __init__(self, inner: Any, log: list) -> None:
        self._inner, self._log = inner, log

    def __getattr__(self, name: str) -> Any:
        fn = getattr(self._inner, name)
        if name in ("get_computed_blocks", "allocate_slots", "free"):
            def call(*a: Any) -> Any:
                self._log.append((name, tuple(list(x) if isinstance(x, list) else x for x in a)))
                return fn(*a)
            return call
        return fn


def calls_only(cls: Any, ops: list[tuple], repeat: int) -> float:
    log: list = []
    ours = Ours(cls, NUM_BLOCKS, BLOCK)
    ours.p = _Recorder(ours.p, log)
    replay(ours, ops)
    best = float("inf")
    for _ in range(repeat):
        p = cls(NUM_BLOCKS, BLOCK)
        calls = [(getattr(p, name), a) for name, a in log]
        t = time.perf_counter()
        for fn, a in calls:
            fn(*a)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from codewalk.core import VllmKVCacheManager as Cxx
    from codewalk.core.reference import VllmKVCacheManager as Ref

    ops = make_trace(args.requests, args.seed)
    n_ops = sum(1 for _ in ops)
    engines: dict[str, Any] = {"C++ core": lambda: Ours(Cxx, NUM_BLOCKS, BLOCK),
                               "Python reference": lambda: Ours(Ref, NUM_BLOCKS, BLOCK)}
    vllm_root = os.environ.get("CODEWALK_VLLM")
    ctx = real_vllm(vllm_root) if vllm_root else None
    v = ctx.__enter__() if ctx else None
    try:
        if v is not None:
            engines["real vLLM 0.33.0"] = lambda: RealVllm(v, NUM_BLOCKS, BLOCK)
        results = {name: replay(make(), ops) for name, make in engines.items()}
        base = results["C++ core"]
        for name, res in results.items():
            if res != base:
                first = next(i for i, (a, b) in enumerate(zip(res, base)) if a != b)
                print(f"MISMATCH: {name} differs from the C++ core at result {first}", file=sys.stderr)
                return 1
        hits = sum(1 for op, r in zip(ops, base) if op[0] == "admit" and r and r[1] > 0)
        print(f"trace: {args.requests} requests, {n_ops} operations ({hits} admissions with a prefix hit), "
              f"block_size {BLOCK}, {NUM_BLOCKS} blocks; identical results on {len(engines)} engines")
        times = {name: timed(make, ops, args.repeat) for name, make in engines.items()}
        times["C++ core, calls only"] = calls_only(Cxx, ops, args.repeat)
    finally:
        if ctx:
            ctx.__exit__(None, None, None)
    cxx = times["C++ core"]
    for name, t in times.items():
        print(f"  {name:22s} {t * 1e3:9.1f} ms  {n_ops / t:12,.0f} ops/s  {t / cxx:7.1f}x the C++ core's time")
    if "real vLLM 0.33.0" in times:
        print(f"C++ core vs real vLLM: {times['real vLLM 0.33.0'] / cxx:.1f}x faster (target >= 50x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
