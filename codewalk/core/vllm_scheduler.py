"""A vLLM-v1-style scheduler over `VllmKVCacheManager`, stepped like `codewalk.core.Scheduler`.

It follows the shape of vLLM 0.33.0's `Scheduler.schedule()` (`vllm/v1/core/sched/scheduler.py`)
for one full-attention group, FCFS, no spec decode, no KV connector:

1. **Running requests**, in order, while the step's token budget (`max_num_batched_tokens`) lasts:
   each gets `min(tokens not yet computed, budget)` new tokens (chunked prefill and decode alike)
   through `allocate_slots`. When that returns None, the **last** running request is preempted —
   recompute only: its blocks are freed (`KVCacheManager.free`), its computed-token count drops
   to 0 and it goes to the **front** of the waiting queue — and the allocation is retried; if the
   request preempts itself, the loop stops.
2. **Waiting requests**, only if nothing was preempted this step, FCFS while the budget lasts and
   fewer than `max_num_seqs` are running: prefix lookup (`get_computed_blocks`, at most
   `num_tokens - 1`), then `allocate_slots` for the rest (chunked by the budget) with the
   `full_sequence_must_fit` admission gate (`scheduler_reserve_full_isl`, on by default); a
   refusal stops the loop (head-of-line blocking).
3. A fake forward pass: a request whose tokens are all computed samples one token — the
   request's `output_tokens` if given, else `fake_token(req_id, position)`, as the KsanaLLM-mode
   scheduler does — and finishes (its blocks freed) after `max_new_tokens` tokens.

The block pool is the C++ `codewalk.core.VllmKVCacheManager` unless another class with the same
API is passed (e.g. `codewalk.core.reference.VllmKVCacheManager`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from codewalk.core.errors import CoreError
from codewalk.core.ref_scheduler import fake_token


@dataclass(slots=True)
class VllmSchedulerConfig:
    """The vLLM knobs the scheduler reads. `num_blocks` includes the null block 0."""

    block_size: int = 16
    num_blocks: int = 101
    max_num_seqs: int = 8
    max_num_batched_tokens: int = 4096
    enable_chunked_prefill: bool = True
    reserve_full_isl: bool = True
    long_prefill_token_threshold: int = 0


@dataclass(slots=True)
class VllmStepResult:
    """What one `VllmScheduler.step()` did."""

    step: int = 0
    prefill: list[tuple[int, int]] = field(default_factory=list)  # (req_id, tokens computed)
    decode: list[int] = field(default_factory=list)
    preempted: list[int] = field(default_factory=list)  # recompute preemptions, in order
    finished: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)
    running: list[int] = field(default_factory=list)
    prefix_hit_tokens: dict[int, int] = field(default_factory=dict)
    free_blocks: int = 0
    cached_blocks: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["prefill"] = [list(p) for p in self.prefill]
        return d


@dataclass(slots=True, eq=False)
class _Req:
    req_id: int
    prompt: list[int]
    max_new_tokens: int
    scripted: list[int]
    tokens: list[int]
    num_computed_tokens: int = 0


class VllmScheduler:
    """vLLM v1's FCFS schedule() over a VllmKVCacheManager, one step per call."""

    def __init__(self, config: VllmSchedulerConfig | Any, manager_cls: Any = None) -> None:
        if manager_cls is None:
            from codewalk.core import VllmKVCacheManager as manager_cls
        self.config = config
        if config.max_num_seqs < 1 or config.max_num_batched_tokens < 1:
            raise CoreError(f"invalid vLLM scheduler config: {config}")
        self.kv = manager_cls(config.num_blocks, config.block_size)
        self.waiting: deque[_Req] = deque()
        self.running: list[_Req] = []
        self.known: set[int] = set()
        self.step_count = 0

    def add_request(self, req_id: int, prompt_tokens: Sequence[int], max_new_tokens: int,
                    output_tokens: Sequence[int] | None = None) -> None:
        """Scheduler.add_request: append to the waiting queue."""
        if req_id in self.known:
            raise CoreError(f"add_request: duplicate req {req_id}")
        if not prompt_tokens or max_new_tokens <= 0:
            raise CoreError(f"add_request: req {req_id}: empty prompt or max_new_tokens <= 0")
        prompt = list(prompt_tokens)
        self.known.add(req_id)
        self.waiting.append(_Req(req_id, prompt, int(max_new_tokens), list(output_tokens or []), list(prompt)))

    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    def request_tokens(self, req_id: int) -> list[int]:
        for r in (*self.running, *self.waiting):
            if r.req_id == req_id:
                return list(r.tokens)
        raise CoreError(f"request_tokens: unknown req {req_id}")

    def _cap(self, n: int, budget: int) -> int:
        t = self.config.long_prefill_token_threshold
        if 0 < t < n:
            n = t
        return min(n, budget)

    def step(self) -> VllmStepResult:
        cfg, kv = self.config, self.kv
        r = VllmStepResult(step=self.step_count)
        budget = cfg.max_num_batched_tokens
        scheduled: list[tuple[_Req, int]] = []

        # 1. RUNNING requests.
        i = 0
        while i < len(self.running) and budget > 0:
            req = self.running[i]
            n = self._cap(len(req.tokens) - req.num_computed_tokens, budget)
            if n == 0:
                i += 1
                continue
            while True:
                new = kv.allocate_slots(req.req_id, req.tokens, n, [])
                if new is not None:
                    break
                victim = self.running.pop()  # FCFS: the last running request
                kv.free(victim.req_id)  # _preempt_request: recompute, never swap
                victim.num_computed_tokens = 0
                self.waiting.appendleft(victim)
                r.preempted.append(victim.req_id)
                if victim is req:
                    break
            if new is None:
                break
            scheduled.append((req, n))
            budget -= n
            i += 1

        # 2. WAITING requests, only when nothing was preempted.
        if not r.preempted:
            while self.waiting and budget > 0 and len(self.running) < cfg.max_num_seqs:
                req = self.waiting[0]
                hit, n_hit = kv.get_computed_blocks(req.req_id, req.tokens)
                n = len(req.tokens) - n_hit
                t = cfg.long_prefill_token_threshold
                if 0 < t < n:
                    n = t
                if not cfg.enable_chunked_prefill and n > budget:
                    break
                n = min(n, budget)
                new = kv.allocate_slots(req.req_id, req.tokens, n, hit, cfg.reserve_full_isl)
                if new is None:
                    break
                self.waiting.popleft()
                self.running.append(req)
                req.num_computed_tokens = n_hit
                r.prefix_hit_tokens[req.req_id] = n_hit
                scheduled.append((req, n))
                budget -= n

        # 3. Fake forward + update_from_output.
        for req, n in scheduled:
            before = req.num_computed_tokens
            req.num_computed_tokens += n
            if n == 1 and len(req.tokens) > len(req.prompt) and before == len(req.tokens) - 1:
                r.decode.append(req.req_id)
            else:
                r.prefill.append((req.req_id, n))
            if req.num_computed_tokens == len(req.tokens):
                k = len(req.tokens) - len(req.prompt)
                req.tokens.append(req.scripted[k] if k < len(req.scripted) else fake_token(req.req_id, len(req.tokens)))
                if len(req.tokens) >= len(req.prompt) + req.max_new_tokens:
                    kv.free(req.req_id)
                    self.running.remove(req)
                    r.finished.append(req.req_id)
        r.waiting = [q.req_id for q in self.waiting]
        r.running = [q.req_id for q in self.running]
        r.free_blocks = kv.num_free_blocks()
        r.cached_blocks = len(kv.cached_block_ids())
        self.step_count += 1
        return r

    def run(self, max_steps: int) -> list[VllmStepResult]:
        out = []
        while self.has_work() and len(out) < max_steps:
            out.append(self.step())
        return out
