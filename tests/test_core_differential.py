"""Differential tests: random operation sequences on the C++ core and the Python reference must agree.

Every call must give the same result (or both raise CoreError), the snapshots must be equal after
every operation, and `check_invariants()` must agree; with `fix_upstream_bugs=True` it must pass.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from core_impls import load, outcome
from codewalk.core.errors import CoreError

EXAMPLES = int(os.environ.get("CODEWALK_HYPOTHESIS_EXAMPLES", "1000"))
REQ = st.integers(0, 3)
# Few distinct token families so requests share prefixes and the tree gets merges and subtrees.
PROMPT = st.lists(st.sampled_from([1, 2, 3]), min_size=1, max_size=4).flatmap(
    lambda fam: st.integers(0, 9).map(lambda tail: [t for f in fam for t in (f,) * 4] + [7] * tail))


class CacheMachine(RuleBasedStateMachine):
    """Drives both PrefixCacheManagers with the same calls."""

    @initialize(bs=st.sampled_from([2, 4]), dev=st.integers(6, 40), host=st.integers(0, 24),
                fix=st.booleans(), prefix=st.booleans())
    def setup(self, bs: int, dev: int, host: int, fix: bool, prefix: bool) -> None:
        self.fix = fix
        self.impls = []
        for name in ("core", "reference"):
            mod = load(name)
            cfg = mod.CacheConfig(block_size=bs, device_blocks=dev, host_blocks=host,
                                  enable_prefix_caching=prefix, fix_upstream_bugs=fix)
            self.impls.append(mod.PrefixCacheManager(cfg))
        self.tokens: dict[int, list[int]] = {}

    def both(self, fn: Callable[[Any], Any]) -> Any:
        a, b = (outcome(fn, m) for m in self.impls)
        assert a == b, f"core {a} != reference {b}"
        sa, sb = (m.snapshot() for m in self.impls)
        assert sa == sb
        return a

    @rule(req=REQ, prompt=PROMPT, cut=st.integers(0, 3))
    def lookup(self, req: int, prompt: list[int], cut: int) -> None:
        check = max(0, len(prompt) - cut)
        if self.both(lambda m: m.get_request_prefix_block_number(req, prompt, check))[0] == "ok":
            self.tokens[req] = list(prompt)

    @rule(req=REQ, prompt=PROMPT)
    def prefill(self, req: int, prompt: list[int]) -> None:
        """Lookup, allocate what it says, compute the prompt: a scheduler's prefill in one go."""
        looked = self.both(lambda m: m.get_request_prefix_block_number(req, prompt))
        if looked[0] == "ok":
            self.tokens[req] = list(prompt)
            if self.both(lambda m: m.allocate_request_blocks(req, looked[1][1]))[0] == "ok":
                self.both(lambda m: m.update_request_tokens(req, prompt))

    @rule(req=REQ, token=st.sampled_from([1, 2, 8]))
    def decode(self, req: int, token: int) -> None:
        """Grow a request by one token: allocate its step block, then record the computed KV."""
        toks = self.tokens.setdefault(req, [5])
        toks.append(token)
        need = self.both(lambda m: m.get_request_step_block_number(req, len(toks)))
        if need[0] == "ok" and self.both(lambda m: m.allocate_request_blocks(req, need[1]))[0] == "ok":
            self.both(lambda m: m.update_request_tokens(req, toks))

    @rule(req=REQ, n=st.integers(-1, 6))
    def allocate(self, req: int, n: int) -> None:
        self.both(lambda m: m.allocate_request_blocks(req, n))

    @rule(req=REQ, grow=st.integers(0, 5), hold=st.integers(0, 2))
    def update(self, req: int, grow: int, hold: int) -> None:
        toks = self.tokens.setdefault(req, [5])
        toks.extend([8] * grow)
        self.both(lambda m: m.update_request_tokens(req, toks, max(0, len(toks) - hold)))

    @rule(req=REQ)
    def finish(self, req: int) -> None:
        self.both(lambda m: m.destroy_finished_request(req))

    @rule(n=st.integers(-1, 6))
    def free_cached(self, n: int) -> None:
        self.both(lambda m: m.free_cached_blocks(n))

    @rule(req=REQ, op=st.sampled_from(["destroy_finished_request", "swapout_request_async",
                                       "merge_swapout_request", "swapin_request_async",
                                       "merge_swapin_request", "destroy_swapped_request"]))
    def request_op(self, req: int, op: str) -> None:
        self.both(lambda m: getattr(m, op)(req))

    @rule(req=REQ)
    def counters(self, req: int) -> None:
        self.both(lambda m: (m.get_usable_block_number(), m.get_future_free_block_number(),
                             m.get_host_free_block_number(), m.get_used_block_number(),
                             m.get_reusable_block_number()))
        self.both(lambda m: (m.get_request_usable_block_number(req), m.get_request_step_block_number(req, 9),
                             m.get_request_needed_block_num_for_one_next_token(req), m.request_block_ids(req)))

    @invariant()
    def invariants_agree(self) -> None:
        if not hasattr(self, "impls"):
            return
        results = [outcome(lambda m: m.check_invariants(), m) for m in self.impls]
        assert results[0] == results[1]
        if self.fix:
            assert results[0][0] == "ok", "check_invariants failed with fix_upstream_bugs=True"


CacheMachine.TestCase.settings = settings(max_examples=EXAMPLES, stateful_step_count=40, deadline=None,
                                          suppress_health_check=[HealthCheck.too_slow])
TestCacheDifferential = CacheMachine.TestCase

TRACE = st.lists(st.tuples(st.integers(0, 6), PROMPT, st.integers(1, 6)), min_size=1, max_size=10)
SCHED_CFG = st.fixed_dictionaries({
    "block_size": st.sampled_from([2, 4]), "device_blocks": st.integers(6, 30), "host_blocks": st.integers(0, 30),
    "max_batch_size": st.integers(1, 6), "max_step_token_num": st.integers(8, 64),
    "split_fuse_token_num": st.sampled_from([0, 0, 3, 8]), "preempt_mode": st.sampled_from(["swap", "recompute"]),
    "enable_prefix_caching": st.booleans(), "waiting_timeout_steps": st.sampled_from([None, None, 6, 15]),
    "max_waiting_queue_len": st.sampled_from([None, 3]), "launch_block_threshold": st.sampled_from([0.0, 0.5, 2.0]),
    "swapin_block_threshold": st.sampled_from([0.0, 1.0]), "fix_upstream_bugs": st.booleans(),
})


def _drive(mod: Any, cfg: dict, trace: list) -> list[Any]:
    """Run one scheduler over the trace: requests arrive at their step; record every observable."""
    try:
        s = mod.Scheduler(mod.SchedulerConfig(**cfg))
    except CoreError:
        return ["config refused"]
    seen: list[Any] = []
    for step in range(40):
        for rid, (at, prompt, max_new) in enumerate(trace):
            if at == step:
                seen.append(outcome(lambda _: s.add_request(rid, prompt, max_new), None))
        seen.append(s.step().to_dict())
        seen.append(s.cache.snapshot())
        seen.append(outcome(lambda _: s.cache.check_invariants(), None))
        if cfg["fix_upstream_bugs"]:
            assert seen[-1][0] == "ok", f"invariant broken at step {step} with fix_upstream_bugs=True"
    return seen


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=SCHED_CFG, trace=TRACE)
def test_scheduler_differential(cfg: dict, trace: list) -> None:
    core, ref = (_drive(load(name), cfg, trace) for name in ("core", "reference"))
    assert len(core) == len(ref)
    for i, (a, b) in enumerate(zip(core, ref)):
        assert a == b, f"entry {i}: core {a} != reference {b}"


# Serving-like bursts: more than 16 requests balanced at once, few distinct lengths, so BalanceReqs'
# std::sort meets ties and the reference's introsort must give libstdc++'s permutation.
BURST = st.lists(st.tuples(st.integers(0, 3), st.sampled_from([3, 5, 8]), st.integers(1, 4)), min_size=17, max_size=70)
BURST_CFG = st.fixed_dictionaries({
    "block_size": st.just(4), "device_blocks": st.integers(8, 40), "host_blocks": st.integers(0, 40),
    "max_batch_size": st.sampled_from([2, 8, 32]), "max_step_token_num": st.sampled_from([32, 4096]),
    "split_fuse_token_num": st.sampled_from([0, 4]), "preempt_mode": st.sampled_from(["swap", "recompute"]),
    "enable_prefix_caching": st.just(True), "fix_upstream_bugs": st.just(False),
})


@settings(max_examples=max(20, EXAMPLES // 10), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=BURST_CFG, burst=BURST)
def test_scheduler_differential_bursts(cfg: dict, burst: list) -> None:
    """KsanaLLM's defaults otherwise (thresholds 2.0, queue 256, timeout 600000)."""
    trace = [(at, [rid % 7 + 1] * length, new) for rid, (at, length, new) in enumerate(burst)]
    core, ref = (_drive(load(name), cfg, trace) for name in ("core", "reference"))
    for i, (a, b) in enumerate(zip(core, ref)):
        assert a == b, f"entry {i}: core {a} != reference {b}"
    assert len(core) == len(ref)
