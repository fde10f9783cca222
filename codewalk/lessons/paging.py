"""KV-cache waste of contiguous reservation vs paging, on a generated workload.

Pure functions, no I/O: `codewalk demo paged-vs-contiguous` renders what these compute.

Two allocation schemes are compared for the same requests:

* **contiguous** (FasterTransformer, Orca before vLLM): each request gets one contiguous region
  of `max_len` token slots when it is admitted, because its final length is unknown.
* **paged** (vLLM's PagedAttention, KsanaLLM's block allocator): a request holds
  `ceil(tokens / block_size)` fixed-size blocks; only its last block can have empty slots.

Two views are computed:

* **peak** — each request at its final length (prompt + output), when it holds the most KV.
  For contiguous reservation every unused slot is *internal fragmentation* (reserved, never
  written); for paging it is the last block's tail.
* **lifetime** — slot·steps summed over every decode step of every request. At step *i* of a
  request with prompt *p* and output *o*, *p + i* slots hold KV. Contiguous reservation also
  holds slots for the *o − i* tokens still to come (*reservation* waste: used later, idle now)
  and *max_len − p − o* slots that are never used (internal fragmentation). Paging holds
  `ceil((p + i) / B)` blocks and has no reservation waste.

External fragmentation (free memory too scattered for a new contiguous region) is not modelled:
it only makes contiguous reservation look worse.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from typing import Any, Sequence

# ShareGPT-like lengths: means of about 161 prompt / 338 output tokens, the ShareGPT statistics
# usually quoted from the PagedAttention paper (Kwon et al., SOSP'23, Fig. 11; not re-checked
# here). Log-normal shapes give most requests short and a long tail.
PROMPT_MEAN, PROMPT_SIGMA = 161.0, 1.0
OUTPUT_MEAN, OUTPUT_SIGMA = 338.0, 0.9
DEFAULT_REQUESTS = 1000
DEFAULT_BLOCK = 16
DEFAULT_MAX_LEN = 2048
DEFAULT_BUDGET = 32 * 1024  # token slots of KV memory for the concurrency estimate


@dataclass(frozen=True, slots=True)
class Request:
    """One request: prompt and output lengths in tokens."""

    rid: int
    prompt: int
    output: int

    @property
    def tokens(self) -> int:
        return self.prompt + self.output


@dataclass(frozen=True, slots=True)
class SchemeStats:
    """Token-slot accounting of one allocation scheme over a workload.

    `reserved = used + internal_fragmentation + reservation_waste`.
    """

    scheme: str
    reserved: int
    used: int
    internal_fragmentation: int
    reservation_waste: int

    @property
    def wasted(self) -> int:
        return self.internal_fragmentation + self.reservation_waste

    @property
    def waste_pct(self) -> float:
        return 100.0 * self.wasted / self.reserved if self.reserved else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "wasted": self.wasted, "waste_pct": round(self.waste_pct, 4)}


def _lognormal(rng: random.Random, mean: float, sigma: float) -> float:
    """A log-normal draw with the given mean (not median)."""
    return rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma)


def generate_workload(n: int = DEFAULT_REQUESTS, seed: int = 0, max_len: int = DEFAULT_MAX_LEN) -> list[Request]:
    """n requests with log-normal prompt and output lengths; the same seed gives the same list.

    Lengths are at least 1 token; a prompt is capped at `max_len - 1` and the output is cut so
    that prompt + output never exceeds `max_len` (the engine would stop the request there).
    """
    if n < 0 or max_len < 2:
        raise ValueError("need n >= 0 and max_len >= 2")
    rng = random.Random(seed)
    out = []
    for rid in range(n):
        prompt = min(max(1, round(_lognormal(rng, PROMPT_MEAN, PROMPT_SIGMA))), max_len - 1)
        output = min(max(1, round(_lognormal(rng, OUTPUT_MEAN, OUTPUT_SIGMA))), max_len - prompt)
        out.append(Request(rid, prompt, output))
    return out


def blocks_for(tokens: int, block_size: int) -> int:
    """Blocks a paged allocator gives a sequence of `tokens` tokens: ceil(tokens / block_size)."""
    return -(-tokens // block_size)


def _check(requests: Sequence[Request], block_size: int, max_len: int) -> None:
    if block_size < 1:
        raise ValueError("block_size must be >= 1")
    for r in requests:
        if r.prompt < 1 or r.output < 0 or r.tokens > max_len:
            raise ValueError(f"request {r.rid}: needs prompt >= 1, output >= 0, prompt + output <= max_len")


def contiguous_peak(requests: Sequence[Request], max_len: int) -> SchemeStats:
    """Each request reserves max_len slots; at its final length the rest is internal fragmentation."""
    _check(requests, 1, max_len)
    used = sum(r.tokens for r in requests)
    reserved = max_len * len(requests)
    return SchemeStats("contiguous", reserved, used, reserved - used, 0)


def paged_peak(requests: Sequence[Request], block_size: int) -> SchemeStats:
    """Each request holds ceil(tokens / block_size) blocks; only the last block's tail is unused."""
    _check(requests, block_size, max(r.tokens for r in requests) if requests else 1)
    used = sum(r.tokens for r in requests)
    reserved = block_size * sum(blocks_for(r.tokens, block_size) for r in requests)
    return SchemeStats("paged", reserved, used, reserved - used, 0)


def _used_steps(r: Request) -> int:
    # sum over decode steps i = 1..o of (p + i)
    return r.output * r.prompt + r.output * (r.output + 1) // 2


def contiguous_lifetime(requests: Sequence[Request], max_len: int) -> SchemeStats:
    """Slot·steps over every decode step: used, reserved-for-later, never used."""
    _check(requests, 1, max_len)
    used = sum(_used_steps(r) for r in requests)
    reservation = sum(r.output * (r.output - 1) // 2 for r in requests)  # sum of (o - i)
    internal = sum(r.output * (max_len - r.tokens) for r in requests)
    reserved = sum(r.output * max_len for r in requests)
    assert reserved == used + reservation + internal
    return SchemeStats("contiguous", reserved, used, internal, reservation)


def paged_lifetime(requests: Sequence[Request], block_size: int) -> SchemeStats:
    """Slot·steps over every decode step when blocks are taken only as tokens arrive."""
    _check(requests, block_size, max(r.tokens for r in requests) if requests else 1)
    used = sum(_used_steps(r) for r in requests)
    reserved = 0
    for r in requests:
        reserved += block_size * sum(blocks_for(r.prompt + i, block_size) for i in range(1, r.output + 1))
    return SchemeStats("paged", reserved, used, reserved - used, 0)


def concurrent_contiguous(budget: int, max_len: int) -> int:
    """Requests a contiguous allocator can admit at once: every one costs max_len slots."""
    return budget // max_len


def concurrent_paged(requests: Sequence[Request], budget: int, block_size: int) -> int:
    """Requests, taken in order, whose peak blocks all fit in the budget together.

    Conservative for paging: each request is charged its *final* block count up front.
    """
    free_blocks = budget // block_size
    count = 0
    for r in requests:
        need = blocks_for(r.tokens, block_size)
        if need > free_blocks:
            break
        free_blocks -= need
        count += 1
    return count


def percentile(values: Sequence[int], q: float) -> int:
    """Nearest-rank percentile (q in 0..100) of integers; 0 for an empty list."""
    if not values:
        return 0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[k]


def compare(requests: Sequence[Request], block_size: int = DEFAULT_BLOCK, max_len: int = DEFAULT_MAX_LEN,
            budget: int = DEFAULT_BUDGET) -> dict[str, Any]:
    """Everything the demo shows, as plain data (the `--json` document minus its header)."""
    prompts = [r.prompt for r in requests]
    outputs = [r.output for r in requests]
    totals = [r.tokens for r in requests]

    def dist(values: list[int]) -> dict[str, Any]:
        return {"mean": round(sum(values) / len(values), 2) if values else 0.0,
                "p50": percentile(values, 50), "p90": percentile(values, 90),
                "p99": percentile(values, 99), "max": max(values, default=0)}

    return {
        "workload": {"requests": len(requests), "prompt": dist(prompts), "output": dist(outputs),
                     "total": dist(totals)},
        "peak": {"contiguous": contiguous_peak(requests, max_len).to_dict(),
                 "paged": paged_peak(requests, block_size).to_dict()},
        "lifetime": {"contiguous": contiguous_lifetime(requests, max_len).to_dict(),
                     "paged": paged_lifetime(requests, block_size).to_dict()},
        "concurrency": {"budget_slots": budget,
                        "contiguous": concurrent_contiguous(budget, max_len),
                        "paged": concurrent_paged(requests, budget, block_size)},
    }


def document(requests: int = DEFAULT_REQUESTS, seed: int = 0, block_size: int = DEFAULT_BLOCK,
             max_len: int = DEFAULT_MAX_LEN, budget: int = DEFAULT_BUDGET) -> dict[str, Any]:
    """The `--json` document of `codewalk demo paged-vs-contiguous`."""
    work = generate_workload(requests, seed, max_len)
    return {"demo": "paged-vs-contiguous", "seed": seed, "block_size": block_size, "max_len": max_len,
            **compare(work, block_size, max_len, budget),
            "sample": [{"rid": r.rid, "prompt": r.prompt, "output": r.output, "tokens": r.tokens,
                        "paged_blocks": blocks_for(r.tokens, block_size),
                        "paged_waste": blocks_for(r.tokens, block_size) * block_size - r.tokens,
                        "contiguous_waste": max_len - r.tokens} for r in work[:8]]}
