"""Pure-Python model of KsanaLLM's `ContinuousBatchingStrategy` (c451219c), one DP group, no MTP/PD.

One `step()` is one `Schedule()` (decoding queue → swapped queue → waiting queue), a fake
forward pass, then `UpdateRunningRequests`. Time is the step counter. Swap copies finish
during the fake forward pass, so a swap started in step k is merged in step k+1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from codewalk.core.config import StepResult
from codewalk.core.errors import CoreError
from codewalk.core.ref_introsort import std_sort
from codewalk.core.ref_prefix_cache import PrefixCacheManager

_TOKEN_MOD = 65521


def fake_token(req_id: int, position: int) -> int:
    """The fake model's token for a request at a sequence position (both engines use the same rule)."""
    return ((req_id % _TOKEN_MOD) * 31 + (position % _TOKEN_MOD) * 7) % 32000 + 1


def _longest_first(a: tuple[int, Any], b: tuple[int, Any]) -> bool:
    """BalanceReqsAlgo::BalanceReqs' comparator on (tokens, request) pairs."""
    return a[0] > b[0]


@dataclass(eq=False, slots=True)
class InferRequest:
    """The scheduler's view of a request (KsanaLLM's `InferRequest`, reduced)."""

    req_id: int
    input_tokens: list[int]
    max_new_tokens: int
    scripted: list[int]
    arrival_step: int
    tokens: list[int] = field(default_factory=list)  # KsanaLLM's output_tokens: prompt + generated
    kv_cached_token_num: int = 0


@dataclass(slots=True)
class _Planned:
    req: InferRequest
    start: int  # first token computed this step
    end: int  # one past the last token computed
    sample: bool  # this step produces a new token
    decode: bool = False


class Scheduler:
    """Continuous batching over a `PrefixCacheManager`, stepped deterministically."""

    def __init__(self, config: Any) -> None:
        self.config = config
        if config.preempt_mode not in ("swap", "recompute"):
            raise CoreError(f"invalid preempt_mode {config.preempt_mode!r}: use 'swap' or 'recompute'")
        if config.max_batch_size <= 0 or config.max_step_token_num <= 0 or config.split_fuse_token_num < 0:
            raise CoreError("invalid scheduler config: max_batch_size and max_step_token_num must be positive, "
                            "split_fuse_token_num non-negative")
        self.cache = PrefixCacheManager(config.cache_config())
        self.split_fuse_token_num = int(config.split_fuse_token_num)
        self.step_count = 0
        self.buffer: list[InferRequest] = []  # BatchScheduler::waiting_reqs_: arrivals since the last step
        self.pending: list[InferRequest] = []  # BatchScheduler::dp_waiting_reqs_: balanced, not yet merged
        self.waiting: list[InferRequest] = []
        self.decoding: list[InferRequest] = []
        self.swapped: dict[int, InferRequest] = {}  # std::map: visited in req_id order
        self.swapout_pending: dict[int, InferRequest] = {}
        self.swapout_started: dict[int, int] = {}  # req_id -> step its copy started
        self.swapin_pending: dict[int, InferRequest] = {}
        self.known: set[int] = set()

    # ------------------------------------------------------------------ public API

    def add_request(self, req_id: int, prompt_tokens: Sequence[int], max_new_tokens: int,
                    output_tokens: Sequence[int] | None = None) -> None:
        """Queue a request for the next step (BatchScheduler::EnqueueWaitingBufferQueue)."""
        if req_id in self.known:
            raise CoreError(f"add_request: req {req_id} already exists")
        if not prompt_tokens:
            raise CoreError(f"add_request: req {req_id} has an empty prompt")
        if max_new_tokens <= 0:
            raise CoreError(f"add_request: req {req_id}: max_new_tokens must be positive, got {max_new_tokens}")
        cap = self.config.max_waiting_queue_len
        if cap is not None and len(self.buffer) + 1 > cap:
            raise CoreError(f"add_request: req {req_id}: exceed capacity, the waiting queue holds {cap}")
        prompt = [int(t) for t in prompt_tokens]
        self.known.add(req_id)
        self.buffer.append(InferRequest(req_id, prompt, int(max_new_tokens),
                                        [int(t) for t in (output_tokens or [])], self.step_count, list(prompt)))

    def step(self) -> StepResult:
        """One schedule + fake forward + update; returns what happened."""
        r = StepResult(step=self.step_count)
        planned = self._schedule(r)
        self._forward_and_update(planned, r)
        self.step_count += 1
        r.waiting = [q.req_id for q in self.waiting + self.pending + self.buffer]
        r.running = [q.req_id for q in self.decoding]
        r.swapped = sorted(self.swapped) + list(self.swapout_pending) + list(self.swapin_pending)
        r.usable_blocks = self.cache.get_usable_block_number()
        r.reusable_blocks = self.cache.get_reusable_block_number()
        return r

    def run(self, max_steps: int) -> list[StepResult]:
        """Step until every request is done or `max_steps` steps have run."""
        results = []
        for _ in range(max_steps):
            if not self.has_work():
                break
            results.append(self.step())
        return results

    def replay(self, workload: Iterable[Sequence[Any]], max_steps: int | None = None) -> list[StepResult]:
        """Run a workload of (arrival_step, req_id, prompt_tokens, max_new_tokens) in one call.

        Before each step, every request due by then (arrival_step <= step_count) is added, in workload
        order; stepping stops once all have arrived and no work is left, or after `max_steps` steps.
        The workload must be sorted by arrival step (checked first, so a refused one changes nothing).
        """
        arrivals = []
        for i, item in enumerate(workload):
            if not isinstance(item, Sequence) or len(item) != 4:
                raise TypeError(f"replay: workload item {i} must be (arrival_step, req_id, prompt_tokens, max_new_tokens)")
            arrivals.append(item)
        for i in range(1, len(arrivals)):
            if arrivals[i][0] < arrivals[i - 1][0]:
                raise CoreError(f"replay: workload item {i} arrives at step {arrivals[i][0]}, before item {i - 1} "
                                f"(step {arrivals[i - 1][0]}): sort the workload by arrival step")
        if max_steps is not None and max_steps < 0:
            raise CoreError(f"replay: max_steps must be non-negative, got {max_steps}")
        results: list[StepResult] = []
        i = 0
        while i < len(arrivals) or self.has_work():
            if max_steps is not None and len(results) >= max_steps:
                break
            while i < len(arrivals) and arrivals[i][0] <= self.step_count:
                _, req_id, prompt, max_new = arrivals[i]
                self.add_request(req_id, prompt, max_new)
                i += 1
            results.append(self.step())
        return results

    def has_work(self) -> bool:
        return bool(self.buffer or self.pending or self.waiting or self.decoding or self.swapped
                    or self.swapout_pending or self.swapin_pending)

    def request_tokens(self, req_id: int) -> list[int]:
        """All tokens of a live request (prompt + generated so far)."""
        for q in self._live():
            if q.req_id == req_id:
                return list(q.tokens)
        raise CoreError(f"request_tokens: req {req_id} is not live")

    def _live(self) -> list[InferRequest]:
        return (self.buffer + self.pending + self.waiting + self.decoding + list(self.swapped.values())
                + list(self.swapout_pending.values()) + list(self.swapin_pending.values()))

    # ------------------------------------------------------------------ Schedule

    def _schedule(self, r: StepResult) -> list[_Planned]:
        """BatchScheduler::Schedule for one DP group, then ContinuousBatchingStrategy::Schedule."""
        self._balance_waiting_reqs()
        self._merge_waiting_reqs(r)
        running: list[_Planned] = []
        blocked = self._process_decoding_queue(running, r)
        blocked = self._process_swapped_queue(blocked, r)
        if not blocked:
            self._process_waiting_queue(running, r)
        return running

    def _balance_waiting_reqs(self) -> None:
        """BatchScheduler::BalanceWaitingReqs with one DP group: arrivals and unmerged requests are
        re-ordered by tokens still to prefill, longest first — unless exactly one request arrived."""
        if len(self.buffer) == 1:
            self.pending += self.buffer
        elif self.buffer:
            # Arrivals first, then leftovers, sorted by BalanceReqs' std::sort: ties come out in
            # introsort's order, which std_sort reproduces comparison for comparison.
            pairs = [(max(1, len(q.tokens) - q.kv_cached_token_num), q) for q in self.buffer + self.pending]
            std_sort(pairs, _longest_first)
            self.pending = [q for _, q in pairs]
        self.buffer.clear()

    def _merge_waiting_reqs(self, r: StepResult) -> None:
        """BatchState::MergeWaitingReqs: admit to the waiting queue only while it is shorter than
        max_batch_size; past max_waiting_queue_len a request is refused."""
        cap = self.config.max_waiting_queue_len
        while self.pending and len(self.waiting) < self.config.max_batch_size:
            req = self.pending.pop(0)
            if cap is not None and len(self.waiting) >= cap:
                r.rejected.append(req.req_id)
                continue
            self.waiting.append(req)

    def _process_decoding_queue(self, running: list[_Planned], r: StepResult) -> bool:
        """ProcessDecodingQueue: give each decoding request its next block; preempt on shortage."""
        # MergePendingSwapinRequests walks KsanaLLM's swap-in task map (an unordered_map): with
        # libstdc++ and a few entries that is newest first, and that order decides the decoding queue.
        for rid in reversed(list(self.swapin_pending)):
            self.cache.merge_swapin_request(rid)
            self.decoding.append(self.swapin_pending.pop(rid))
            r.swapin_merged.append(rid)
        passed = self._fit_step_budget(self.decoding)
        blocked = False
        i = 0
        while i < len(passed):
            req = passed[i]
            need = self.cache.get_request_step_block_number(req.req_id, len(req.tokens))
            try:
                self.cache.allocate_request_blocks(req.req_id, need)
            except CoreError:
                if self._recompute_chunked_waiting(r):
                    continue  # retry the same request with split-fuse now off
                if not self.swapout_pending and len(self.decoding) > 1:
                    self._preempt(req, r)
                    self.decoding.remove(req)
                else:
                    blocked = True  # step_sched_finish: no launches from the other queues
                i += 1
                continue
            running.append(_Planned(req, len(req.tokens) - 1, len(req.tokens), True, decode=True))
            i += 1
        return blocked

    def _fit_step_budget(self, reqs: list[InferRequest]) -> list[InferRequest]:
        """CheckRunningQueueStepTokens for decoding requests (one token each)."""
        passed, tokens = [], 0
        for req in reqs:
            if tokens + 1 > self.config.max_step_token_num or len(passed) >= self.config.max_batch_size:
                continue
            tokens += 1
            passed.append(req)
        return passed

    def _recompute_chunked_waiting(self, r: StepResult) -> bool:
        """On a decode shortage with split-fuse on: recompute half-prefilled waiting requests, turn split-fuse off."""
        if not self.waiting or self.split_fuse_token_num <= 0:
            return False
        chunked = [q for q in self.waiting
                   if self.cache.has_request(q.req_id) and self.cache.request_block_ids(q.req_id)]
        for q in chunked:
            self.waiting.remove(q)
            self._recompute(q, r)
        self.split_fuse_token_num = 0
        return bool(chunked)

    def _preempt(self, req: InferRequest, r: StepResult) -> None:
        if self.config.preempt_mode == "swap":
            self._swapout(req, r)
        else:
            self._recompute(req, r)

    def _swapout(self, req: InferRequest, r: StepResult) -> None:
        """SyncSwapoutRequest: start the swap-out, or recompute when the host is full."""
        try:
            self.cache.swapout_request_async(req.req_id)
        except CoreError:
            self._recompute(req, r)
            return
        self.swapout_pending[req.req_id] = req
        self.swapout_started[req.req_id] = self.step_count
        r.swapped_out.append(req.req_id)

    def _recompute(self, req: InferRequest, r: StepResult) -> None:
        """SyncRecomputeRequest: drop the KV, keep the tokens, and go to the front of the waiting queue."""
        self.cache.destroy_finished_request(req.req_id)
        req.kv_cached_token_num = 0
        self.waiting.insert(0, req)
        r.recomputed.append(req.req_id)

    def _process_swapped_queue(self, blocked: bool, r: StepResult) -> bool:
        """ProcessSwappedQueue: merge finished swap-outs, then swap requests back in while blocks allow."""
        if self.config.preempt_mode != "swap":
            return blocked
        for rid in list(self.swapout_pending):  # MergePendingSwapoutRequests
            if self.swapout_started[rid] == self.step_count:
                continue  # its copy runs during this step's forward pass
            del self.swapout_started[rid]
            self.cache.merge_swapout_request(rid)
            self.swapped[rid] = self.swapout_pending.pop(rid)
            r.swapout_merged.append(rid)
        if not self.swapped or self.swapout_pending or blocked:
            return blocked
        for rid in sorted(self.swapped):
            req = self.swapped[rid]
            if self._timed_out(req):
                # Upstream stops it with DestroyFinishedRequest; the swapped path is the consistent one.
                self.cache.destroy_swapped_request(rid)
                del self.swapped[rid]
                r.timed_out.append(rid)
                continue
            needed = self.cache.get_request_needed_block_num_for_one_next_token(rid)
            threshold = math.ceil(len(self.decoding) * self.config.swapin_block_threshold)
            # forwarding_tokens does not hold the last sampled token yet: one token short of what the
            # next decode will ask for, which is why a just-swapped-in request can thrash.
            step_needed = self.cache.get_request_step_block_number(rid, len(req.tokens) - 1)
            if needed + step_needed + threshold <= self.cache.get_usable_block_number():
                try:
                    self.cache.swapin_request_async(rid)
                except CoreError:
                    return True
                self.swapin_pending[rid] = self.swapped.pop(rid)
                r.swapped_in.append(rid)
                continue
            return True  # a swapped request still waits: launch nothing new
        return blocked

    def _process_waiting_queue(self, running: list[_Planned], r: StepResult) -> None:
        """ProcessWaitingQueue: strict FCFS; the first request that does not fit stops the queue."""
        cfg = self.config
        batch = len(running)
        tokens = len(running)  # one token per decoding request
        seen_batch = batch
        i = 0
        while i < len(self.waiting):
            req = self.waiting[i]
            if self._timed_out(req):
                self._drop_waiting(req)
                del self.waiting[i]
                r.timed_out.append(req.req_id)
                continue
            seq = len(req.tokens)
            if req.kv_cached_token_num == 0:
                _, _, shared = self.cache.get_request_prefix_block_number(req.req_id, req.tokens, seq)
                if shared:
                    r.prefix_hit_tokens[req.req_id] = shared
            else:
                shared = req.kv_cached_token_num  # a chunked prefill continues where it stopped
            last = True
            if 0 < self.split_fuse_token_num < seq - shared:
                last = False
                seq = shared + self.split_fuse_token_num
            need = self.cache.get_request_step_block_number(req.req_id, seq)
            threshold = math.ceil(seen_batch * cfg.launch_block_threshold)
            seen_batch = batch
            usable = self.cache.get_request_usable_block_number(req.req_id)
            if not (batch < cfg.max_batch_size and tokens + seq <= cfg.max_step_token_num
                    and need + threshold <= usable):
                break
            try:
                self.cache.allocate_request_blocks(req.req_id, need)
            except CoreError:
                break
            batch += 1
            tokens += seq
            start = seq - 1 if shared == seq else shared  # a full match still computes its last token
            running.append(_Planned(req, start, seq, last))
            if last:
                self.decoding.append(req)
                del self.waiting[i]
            else:
                i += 1

    def _drop_waiting(self, req: InferRequest) -> None:
        if self.cache.has_request(req.req_id):
            self.cache.destroy_finished_request(req.req_id)

    def _timed_out(self, req: InferRequest) -> bool:
        """CheckRequestTimeout: the limit counts from arrival, whatever queue the request is in."""
        limit = self.config.waiting_timeout_steps
        return limit is not None and self.step_count >= req.arrival_step + limit

    # ------------------------------------------------------------------ forward + UpdateRunningRequests

    def _forward_and_update(self, planned: list[_Planned], r: StepResult) -> None:
        for p in planned:
            req = p.req
            if p.decode:
                r.decode.append(req.req_id)
            else:
                r.prefill.append((req.req_id, p.end - p.start))
            req.kv_cached_token_num = p.end
            if p.sample:
                k = len(req.tokens) - len(req.input_tokens)
                req.tokens.append(req.scripted[k] if k < len(req.scripted) else fake_token(req.req_id, len(req.tokens)))
            self.cache.update_request_tokens(req.req_id, req.tokens, req.kv_cached_token_num)
            if len(req.tokens) >= len(req.input_tokens) + req.max_new_tokens:
                self._stop(req)
                r.finished.append(req.req_id)
            elif self._timed_out(req):
                self._stop(req)
                r.timed_out.append(req.req_id)

    def _stop(self, req: InferRequest) -> None:
        """StopRequest + RemoveRequestFromBatchState."""
        self.cache.destroy_finished_request(req.req_id)
        if req in self.decoding:
            self.decoding.remove(req)
        elif req in self.waiting:
            self.waiting.remove(req)
