"""vLLM v1's block pool (`VllmKVCacheManager`): hand-worked scenarios with exact block ids on both
implementations, refused calls, and a differential test of the C++ core against the Python reference.

The expected numbers follow vLLM 0.33.0's `BlockPool`/`FreeKVCacheBlockQueue`/`KVCacheManager`
(`tests/test_vllm_parity.py` checks the model against that code itself when it is available).
"""

from __future__ import annotations

import os
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from core_impls import core, load, outcome  # noqa: F401  (fixture)
from codewalk.core.errors import CoreError

EXAMPLES = int(os.environ.get("CODEWALK_HYPOTHESIS_EXAMPLES", "1000"))


def prefill(p: Any, req_id: int, tokens: list[int]) -> tuple[list[int], int, list[int] | None]:
    """What vLLM's scheduler does for a waiting request with the whole prompt in one chunk."""
    hit, n = p.get_computed_blocks(req_id, tokens)
    return hit, n, p.allocate_slots(req_id, tokens, len(tokens) - n, hit)


def test_64_token_full_hit_recomputes_the_last_block(core):
    p = core.VllmKVCacheManager(10, 16)
    toks = list(range(64))
    assert p.num_free_blocks() == 9  # block 0 is the null block
    assert prefill(p, 1, toks) == ([], 0, [1, 2, 3, 4])
    assert p.cached_block_ids() == [1, 2, 3, 4]  # cached at allocation, before any forward pass
    p.free(1)
    # Freed last block first; all four are cached, so they go to the tail in that order.
    assert p.free_queue() == [5, 6, 7, 8, 9, 4, 3, 2, 1]
    # The whole prompt is cached, but the hit stops at 63 tokens -> 3 full blocks, 48 tokens.
    assert p.get_computed_blocks(2, toks) == ([1, 2, 3], 48)
    assert p.num_free_blocks() == 9  # a lookup takes no reference
    assert p.allocate_slots(2, toks, 16, [1, 2, 3]) == [5]
    # The hits left the queue (touch); block 5 recomputes block 4's content and is cached beside it.
    assert p.free_queue() == [6, 7, 8, 9, 4]
    assert p.cached_block_ids() == [1, 2, 3, 4, 5]
    snap = p.snapshot()
    assert snap["block_hash"][4] == snap["block_hash"][5]
    assert snap["cached"][snap["block_hash"][4]] == [4, 5]  # no de-duplication; lookups take block 4
    assert p.request_block_ids(2) == [1, 2, 3, 5]
    assert p.num_computed_tokens(2) == 64
    p.check_invariants()


def test_identical_prompts_prefilled_in_one_step_are_not_merged(core):
    p = core.VllmKVCacheManager(10, 16)
    toks = list(range(100, 140))  # 2 full blocks + 8 tokens
    # Both look up before either allocates (one scheduling pass, before the cache has them).
    assert p.get_computed_blocks(1, toks) == ([], 0)
    assert p.get_computed_blocks(2, toks) == ([], 0)
    assert p.allocate_slots(1, toks, 40, []) == [1, 2, 3]
    assert p.allocate_slots(2, toks, 40, []) == [4, 5, 6]
    # Each keeps its own blocks; both copies are cached under the same hashes.
    assert p.cached_block_ids() == [1, 2, 4, 5]
    assert p.request_block_ids(2) == [4, 5, 6]
    assert p.get_computed_blocks(3, toks) == ([1, 2], 32)  # the oldest copy wins
    p.free(1)
    # Request 1's blocks are evicted first now; a lookup falls back to request 2's copies.
    assert p.free_queue() == [3, 7, 8, 9, 2, 1]
    assert p.allocate_slots(4, list(range(80)), 80, []) == [3, 7, 8, 9, 2]  # evicts block 2's hash
    assert p.get_computed_blocks(3, toks) == ([1, 5], 32)
    p.check_invariants()


def test_eviction_order_after_frees(core):
    p = core.VllmKVCacheManager(8, 4)
    assert prefill(p, 1, [1] * 10)[2] == [1, 2, 3]  # blocks 1, 2 full (cached), 3 holds 2 tokens
    assert prefill(p, 2, [2] * 5)[2] == [4, 5]
    p.free(1)
    # Uncached block 3 goes to the head (reused first), cached 2 then 1 to the tail.
    assert p.free_queue() == [3, 6, 7, 2, 1]
    p.free(2)
    assert p.free_queue() == [5, 3, 6, 7, 2, 1, 4]
    assert p.cached_block_ids() == [1, 2, 4]
    assert prefill(p, 3, [3] * 12)[2] == [5, 3, 6]  # uncached blocks first: nothing evicted
    assert p.cached_block_ids() == [1, 2, 3, 4, 5, 6]
    assert prefill(p, 4, [4] * 8)[2] == [7, 2]  # then the least recently freed cached block
    assert p.get_computed_blocks(5, [1] * 10) == ([1], 4)  # the chain's tail (block 2) went first
    assert p.cached_block_ids() == [1, 2, 3, 4, 5, 6, 7]
    assert p.free_queue() == [1, 4]
    p.check_invariants()


def test_touch_on_hit_takes_blocks_out_of_the_free_queue(core):
    p = core.VllmKVCacheManager(6, 4)
    toks = [9, 8, 7, 6, 5, 4, 3, 2]
    assert prefill(p, 1, toks)[2] == [1, 2]
    p.free(1)
    assert p.free_queue() == [3, 4, 5, 2, 1]
    longer = toks + [1]
    assert p.get_computed_blocks(2, longer) == ([1, 2], 8)
    assert p.allocate_slots(2, longer, 1, [1, 2]) == [3]
    assert p.free_queue() == [4, 5]
    # A second hit on blocks already held only adds references: it needs just its own new block.
    assert p.get_computed_blocks(3, longer) == ([1, 2], 8)
    assert p.allocate_slots(3, longer, 1, [1, 2]) == [4]
    assert p.snapshot()["ref_cnt"][:3] == [0, 2, 2]
    p.free(2)
    assert p.free_queue() == [3, 5]  # 1 and 2 are still held by request 3
    p.free(3)
    assert p.free_queue() == [4, 3, 5, 2, 1]
    p.check_invariants()


def test_decode_caches_a_block_when_it_fills(core):
    p = core.VllmKVCacheManager(6, 4)
    toks = [1, 2, 3]
    assert p.allocate_slots(1, toks, 3, []) == [1]
    assert p.cached_block_ids() == []
    toks = toks + [4]
    assert p.allocate_slots(1, toks, 1, []) == []  # the 4th slot is in block 1, which is now full
    assert p.cached_block_ids() == [1]
    toks = toks + [5]
    assert p.allocate_slots(1, toks, 1, []) == [2]
    assert p.get_computed_blocks(2, [1, 2, 3, 4, 9]) == ([1], 4)
    p.check_invariants()


def test_chunked_prefill_caches_full_blocks_per_chunk(core):
    p = core.VllmKVCacheManager(8, 4)
    toks = list(range(10))
    assert p.allocate_slots(1, toks, 6, []) == [1, 2]
    assert p.cached_block_ids() == [1]
    assert p.num_computed_tokens(1) == 6
    assert p.allocate_slots(1, toks, 4, []) == [3]
    assert p.cached_block_ids() == [1, 2]
    p.check_invariants()


def test_allocate_refuses_when_free_blocks_are_short(core):
    p = core.VllmKVCacheManager(5, 4)  # 4 usable blocks
    toks = list(range(8))
    assert prefill(p, 1, toks)[2] == [1, 2]
    p.free(1)
    before = p.snapshot()
    longer = toks + list(range(50, 59))  # 17 tokens: 2 hits + 3 new blocks, 2 hits are in the queue
    hit, n = p.get_computed_blocks(2, longer)
    assert (hit, n) == ([1, 2], 8)
    assert p.allocate_slots(2, longer, 9, hit) is None  # needs 3 new + 2 evictable hits > 4 free
    assert p.snapshot() == before
    assert not p.has_request(2)
    assert p.allocate_slots(2, longer, 8, hit) == [3, 4]  # one token fewer fits: 2 new + 2 hits
    assert p.num_free_blocks() == 0
    assert p.allocate_slots(2, longer, 1, []) is None
    assert p.num_computed_tokens(2) == 16
    p.check_invariants()


def test_full_sequence_must_fit_gates_admission(core):
    p = core.VllmKVCacheManager(5, 4)  # 4 usable blocks
    toks = list(range(20))  # 5 blocks in all
    before = p.snapshot()
    assert p.allocate_slots(1, toks, 8, [], True) is None  # the first chunk fits, the whole prompt does not
    assert p.snapshot() == before
    assert p.allocate_slots(1, toks, 8, []) == [1, 2]  # without the gate, chunked prefill starts
    assert p.allocate_slots(2, toks[:8], 4, [], full_sequence_must_fit=True) == [3]
    p.check_invariants()


def test_null_block_only_pool(core):
    p = core.VllmKVCacheManager(1, 4)
    assert p.free_queue() == []
    assert p.allocate_slots(1, [1], 1, []) is None
    p.check_invariants()


BAD_CALLS: list[tuple[str, Callable[[Any], Any]]] = [
    ("negative num_new_tokens", lambda p: p.allocate_slots(9, [1, 2, 3], -1, [])),
    ("nothing to allocate", lambda p: p.allocate_slots(9, [1, 2, 3], 0, [])),
    ("more tokens than given", lambda p: p.allocate_slots(9, [1, 2, 3], 4, [])),
    ("hit on a running request", lambda p: p.allocate_slots(1, list(range(8)) + [7, 7], 1, [1])),
    ("tokens that do not extend", lambda p: p.allocate_slots(1, [5] * 10, 1, [])),
    ("fewer tokens than known", lambda p: p.allocate_slots(1, list(range(8)), 1, [])),
    ("hit block not cached", lambda p: p.allocate_slots(9, list(range(8)) + [1], 1, [3])),
    ("hit block of another prefix", lambda p: p.allocate_slots(9, [5] * 9, 1, [1])),
    ("hit block out of range", lambda p: p.allocate_slots(9, list(range(9)), 1, [99])),
    ("null block as hit", lambda p: p.allocate_slots(9, list(range(9)), 1, [0])),
    ("hit past the tokens", lambda p: p.allocate_slots(9, list(range(4)), 1, [1, 2])),
    ("hit plus new past the tokens", lambda p: p.allocate_slots(9, list(range(9)), 2, [1, 2])),
    ("free an unknown request", lambda p: p.free(9)),
    ("empty lookup", lambda p: p.get_computed_blocks(9, [])),
    ("unknown block table", lambda p: p.request_block_ids(9)),
]


@pytest.mark.parametrize("name,call", BAD_CALLS, ids=[n for n, _ in BAD_CALLS])
def test_bad_input_raises_and_changes_nothing(core, name, call):
    p = core.VllmKVCacheManager(8, 4)
    toks = list(range(8)) + [8]
    assert prefill(p, 1, toks)[2] == [1, 2, 3]
    p.free(1)
    assert prefill(p, 1, list(range(8)) + [8])[2] == [3]
    before = p.snapshot()
    with pytest.raises(CoreError):
        call(p)
    assert p.snapshot() == before
    p.check_invariants()


@pytest.mark.parametrize("args", [(0, 4), (4, 0), (-1, 4)])
def test_bad_config(core, args):
    with pytest.raises(CoreError):
        core.VllmKVCacheManager(*args)


def test_hash_chain_matches_the_reference_function():
    """The C++ hash is the reference's: equal snapshots include the hash values themselves."""
    from codewalk.core.ref_vllm import NONE_HASH, block_hash, chain_hashes

    c = load("core").VllmKVCacheManager(4, 2)
    c.allocate_slots(1, [-1, 2**31 - 1, 7], 3, [])
    assert c.snapshot()["block_hash"][1] == block_hash(NONE_HASH, [-1, 2**31 - 1])
    assert chain_hashes([1, 2, 3, 4, 5], 2) == [block_hash(NONE_HASH, [1, 2]),
                                                block_hash(block_hash(NONE_HASH, [1, 2]), [3, 4])]


# --- differential: C++ core vs Python reference --------------------------------------------------

REQ = st.integers(0, 4)
PROMPT = st.lists(st.sampled_from([1, 2, 3]), min_size=1, max_size=4).flatmap(
    lambda fam: st.integers(0, 5).map(lambda tail: [t for f in fam for t in (f,) * 2] + [7] * tail))


class VllmMachine(RuleBasedStateMachine):
    """Drives both VllmKVCacheManagers with the same calls, scheduler-like and raw."""

    @initialize(bs=st.sampled_from([1, 2, 3, 4]), n=st.integers(1, 16))
    def setup(self, bs: int, n: int) -> None:
        self.impls = [load(name).VllmKVCacheManager(n, bs) for name in ("core", "reference")]
        self.tokens: dict[int, list[int]] = {}

    def both(self, fn: Callable[[Any], Any]) -> Any:
        a, b = (outcome(fn, m) for m in self.impls)
        assert a == b, f"core {a} != reference {b}"
        sa, sb = (m.snapshot() for m in self.impls)
        assert sa == sb
        return a

    @rule(req=REQ, prompt=PROMPT, chunk=st.integers(1, 12), full=st.booleans())
    def admit(self, req: int, prompt: list[int], chunk: int, full: bool) -> None:
        """A waiting request: look up, then allocate its first chunk after the hit."""
        looked = self.both(lambda m: m.get_computed_blocks(req, prompt))
        hit, n = looked[1]
        new = min(chunk, len(prompt) - n)
        if self.both(lambda m: m.allocate_slots(req, prompt, new, hit, full)) == ("ok", None) or \
                not self.impls[1].has_request(req):
            return
        self.tokens[req] = list(prompt)

    @rule(req=REQ, chunk=st.integers(1, 12), token=st.sampled_from([1, 2, 7]))
    def advance(self, req: int, chunk: int, token: int) -> None:
        """A running request: the next prefill chunk, or one decode token once the prompt is done."""
        if not self.impls[1].has_request(req):
            return
        toks = self.tokens[req]
        done = self.impls[1].num_computed_tokens(req)
        if done == len(toks):
            toks.append(token)
        self.both(lambda m: m.allocate_slots(req, toks, min(chunk, len(toks) - done), []))

    @rule(req=REQ)
    def free(self, req: int) -> None:
        self.both(lambda m: m.free(req))
        if not self.impls[1].has_request(req):
            self.tokens.pop(req, None)

    @rule(req=REQ, prompt=PROMPT, n=st.integers(-1, 6), hit=st.lists(st.integers(-1, 17), max_size=3),
          full=st.booleans())
    def raw_allocate(self, req: int, prompt: list[int], n: int, hit: list[int], full: bool) -> None:
        """Arbitrary (mostly refused) calls; a success replaces the test's view of the tokens."""
        if self.both(lambda m: m.allocate_slots(req, prompt, n, hit, full))[0] == "ok" and \
                self.impls[1].has_request(req):
            self.tokens[req] = list(prompt)

    @rule(req=REQ)
    def observe(self, req: int) -> None:
        self.both(lambda m: (m.free_queue(), m.cached_block_ids(), m.num_free_blocks(), m.has_request(req)))
        self.both(lambda m: (m.request_block_ids(req), m.num_computed_tokens(req)))

    @invariant()
    def invariants_hold(self) -> None:
        if not hasattr(self, "impls"):
            return
        results = [outcome(lambda m: m.check_invariants(), m) for m in self.impls]
        assert results == [("ok", None), ("ok", None)], results


VllmMachine.TestCase.settings = settings(max_examples=EXAMPLES, stateful_step_count=40, deadline=None,
                                         suppress_health_check=[HealthCheck.too_slow])
TestVllmDifferential = VllmMachine.TestCase


# --- the vLLM-style scheduler over both block pools ----------------------------------------------

def _sched(pool_cls: Any, **kw: Any) -> Any:
    from codewalk.core.vllm_scheduler import VllmScheduler, VllmSchedulerConfig

    return VllmScheduler(VllmSchedulerConfig(**kw), manager_cls=pool_cls)


def test_scheduler_preempts_the_last_running_request_and_recomputes_it(core):
    s = _sched(core.VllmKVCacheManager, block_size=4, num_blocks=5, max_num_seqs=4, max_num_batched_tokens=16,
               reserve_full_isl=False)
    s.add_request(1, [1, 1, 1, 1, 1, 1, 1], 4)  # 7 tokens: 2 blocks
    s.add_request(2, [2, 2, 2, 2, 2, 2, 2], 4)
    r = s.step().to_dict()
    assert r["prefill"] == [[1, 7], [2, 7]] and r["free_blocks"] == 0
    assert s.step().to_dict()["decode"] == [1, 2]  # token 8 still fits each request's 2 blocks
    r = s.step().to_dict()  # token 9 needs a 3rd block each; the pool is empty
    assert r["preempted"] == [2] and r["decode"] == [1] and r["waiting"] == [2] and r["free_blocks"] == 1
    r = s.step().to_dict()  # 2's 9 tokens need 2 new blocks + its cached first block: only 1 is free
    assert r["finished"] == [1] and r["prefill"] == []
    r = s.step().to_dict()  # 2 comes back with its first full block still cached; it recomputes the rest
    assert r["prefix_hit_tokens"] == {2: 4} and r["prefill"] == [[2, 5]]
    assert s.step().to_dict()["finished"] == [2]
    s.kv.check_invariants()


_TRACE = st.lists(st.tuples(st.integers(0, 5), PROMPT, st.integers(1, 5)), min_size=1, max_size=6)


@settings(max_examples=max(50, EXAMPLES // 5), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trace=_TRACE, bs=st.sampled_from([1, 2, 4]), n=st.integers(2, 14), seqs=st.integers(1, 4),
       budget=st.integers(1, 24), full=st.booleans())
def test_scheduler_same_on_both_pools(trace: list, bs: int, n: int, seqs: int, budget: int, full: bool) -> None:
    runs = []
    for name in ("core", "reference"):
        s = _sched(load(name).VllmKVCacheManager, block_size=bs, num_blocks=n, max_num_seqs=seqs,
                   max_num_batched_tokens=budget, reserve_full_isl=full)
        seen = []
        for step in range(30):
            for rid, (at, prompt, max_new) in enumerate(trace):
                if at == step:
                    s.add_request(rid, prompt, max_new)
            seen.append(s.step().to_dict())
            seen.append(s.kv.snapshot())
            s.kv.check_invariants()
        runs.append(seen)
    assert runs[0] == runs[1]


# --- replay: a trace of calls in one crossing --------------------------------------------------

# Token lists of a trace: a prefix of one of a few growing "conversations" that share blocks, given
# as a list, a tuple or replay's (base, n) view.
_BASES = [[1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7], [1, 1, 2, 2, 9, 9, 4, 4, 5, 5, 8, 8, 7, 7], [3] * 14]
_TOKS = st.tuples(st.integers(0, len(_BASES) - 1), st.integers(0, 14), st.sampled_from(["list", "tuple", "view"]))
_REPLAY_OP = st.one_of(
    st.tuples(st.just("get_computed_blocks"), REQ, _TOKS),
    st.tuples(st.just("allocate_slots"), REQ, _TOKS, st.integers(-1, 8)),
    st.tuples(st.just("allocate_slots"), REQ, _TOKS, st.integers(-1, 8), st.lists(st.integers(-1, 12), max_size=3),
              st.booleans()),
    st.tuples(st.just("free"), REQ),
    st.tuples(st.sampled_from(["free_queue", "cached_block_ids", "num_free_blocks"])),
    st.tuples(st.sampled_from(["num_computed_tokens", "request_block_ids", "has_request"]), REQ),
)


def _materialise(op: tuple) -> tuple:
    """The strategy's op as replay takes it (token spec -> list, tuple or (base, n))."""
    if op[0] not in ("get_computed_blocks", "allocate_slots"):
        return op
    base, n, form = op[2]
    toks = _BASES[base]
    arg = list(toks[:n]) if form == "list" else tuple(toks[:n]) if form == "tuple" else (toks, n)
    return (op[0], op[1], arg, *op[3:])


def _call(p: Any, op: tuple) -> Any:
    """One op as an individual call; a CoreError as replay reports it."""
    args = list(op[1:])
    if op[0] in ("get_computed_blocks", "allocate_slots") and type(args[1]) is tuple and len(args[1]) == 2 \
            and type(args[1][0]) in (list, tuple):
        args[1] = list(args[1][0][:args[1][1]])
    try:
        return getattr(p, op[0])(*args)
    except CoreError as e:
        return ("error", str(e))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bs=st.sampled_from([1, 2, 3, 4]), n=st.integers(1, 12), ops=st.lists(_REPLAY_OP, max_size=40),
       split=st.integers(0, 40))
def test_replay_equals_the_calls(bs: int, n: int, ops: list, split: int) -> None:
    """replay returns what the calls return, refusals included, from any state; C++ == reference."""
    trace = [_materialise(op) for op in ops]
    split = min(split, len(trace))
    replays = []
    for name in ("core", "reference"):
        cls = load(name).VllmKVCacheManager
        one, batch = cls(n, bs), cls(n, bs)
        for op in trace[:split]:  # the same state before the replay, made by calls
            _call(one, op)
            _call(batch, op)
        want = [_call(one, op) for op in trace[split:]]
        got = batch.replay(trace[split:])
        assert got == want, name
        assert batch.snapshot() == one.snapshot(), name
        batch.check_invariants()
        replays.append((got, batch.snapshot()))
    assert replays[0] == replays[1]


def test_replay_refusals_mid_trace_go_on(core):
    p = core.VllmKVCacheManager(6, 4)
    toks = [9, 8, 7, 6, 5, 4, 3, 2, 1]
    out = p.replay([
        ("allocate_slots", 1, toks, 9, [], False),
        ("free", 7),  # unknown request
        ("allocate_slots", 2, list(range(40)), 40),  # refused: None, not an error
        ("allocate_slots", 3, [1, 2, 2**31], 3),  # a token outside 32 bits
        ("allocate_slots", 3, [1, "x"], 2),  # not an int
        ("allocate_slots", 3, [1, True], 2),  # not a plain int
        ("get_computed_blocks", 4, (toks, 9)),
        ("request_block_ids", 9),
        ("free", 1),
        ("free_queue",),
    ])
    assert out == [
        [1, 2, 3],
        ("error", "free(7): unknown request"),
        None,
        ("error", "allocate_slots(3): tokens must be 32-bit ints"),
        ("error", "allocate_slots(3): tokens must be 32-bit ints"),
        ("error", "allocate_slots(3): tokens must be 32-bit ints"),
        ([1, 2], 8),
        ("error", "request_block_ids(9): unknown request"),
        None,
        [3, 4, 5, 2, 1],
    ]
    p.check_invariants()


MALFORMED: list[Any] = [
    [("free_queue",), ("no_such_call", 1)],
    [("free_queue",), ("free",)],
    [("free", 1, 2)],
    [("free", 1.5)],
    [("free", b"1")],
    [("free", "\ud800")],  # a str that is not valid text (a lone surrogate)
    [("free", True)],
    [("free", 2**63)],
    [("free_queue",), ["free", 1]],
    [()],
    [(1, 2)],
    [("allocate_slots", 5, {1, 2}, 1)],
    [("allocate_slots", 5, [1, 2], 1.0)],
    [("allocate_slots", 5, [1, 2], 1, [1.5])],
    [("allocate_slots", 5, [1, 2], 1, {1})],
    [("allocate_slots", 5, [1, 2], 1, [], 1)],
    [("allocate_slots", 5, ([1, 2], 3), 1)],
    [("allocate_slots", 5, ([1, 2], -1), 1)],
    [("allocate_slots", 5, ([1, 2], "2"), 1)],
    [("get_computed_blocks", 5, [1, 2], 1)],
    "free_queue",
    None,
    iter([("free_queue",)]),
]


@pytest.mark.parametrize("trace", MALFORMED, ids=[str(i) for i in range(len(MALFORMED))])
def test_replay_malformed_trace_raises_before_anything_runs(core, trace):
    p = core.VllmKVCacheManager(8, 4)
    assert prefill(p, 1, list(range(9)))[2] == [1, 2, 3]
    before = p.snapshot()
    with pytest.raises(CoreError, match="^replay: "):
        p.replay([("free", 1), ("allocate_slots", 2, list(range(20)), 20)] + trace
                 if isinstance(trace, list) else trace)
    assert p.snapshot() == before
    p.check_invariants()


def test_replay_malformed_messages_agree():
    for trace in MALFORMED:
        msgs = []
        for name in ("core", "reference"):
            with pytest.raises(CoreError) as e:
                load(name).VllmKVCacheManager(8, 4).replay(trace)
            msgs.append(str(e.value))
        assert msgs[0] == msgs[1], trace


def test_string_request_ids_as_vllm_passes_them(core):
    """vLLM's Request.request_id is a str; ints work too, and 1 and "1" are different requests."""
    p = core.VllmKVCacheManager(10, 4)
    toks = list(range(9))
    assert prefill(p, "cmpl-a-0", toks) == ([], 0, [1, 2, 3])
    assert prefill(p, "1", toks) == ([1, 2], 8, [4])
    assert prefill(p, 1, list(range(50, 55))) == ([], 0, [5, 6])
    assert p.has_request("1") and p.has_request(1) and not p.has_request("cmpl-b-0")
    assert p.request_block_ids("1") == [1, 2, 4] and p.request_block_ids(1) == [5, 6]
    assert p.num_computed_tokens("cmpl-a-0") == 9
    assert set(p.snapshot()["requests"]) == {"cmpl-a-0", "1", 1}
    p.free("1")
    assert p.has_request(1) and not p.has_request("1")
    with pytest.raises(CoreError, match=r"^free\(cmpl-b-0\): unknown request"):
        p.free("cmpl-b-0")
    out = p.replay([("get_computed_blocks", "x", toks), ("allocate_slots", "x", toks, 1, [1, 2]),
                    ("request_block_ids", "x"), ("has_request", "x"), ("free", "x"), ("free", "x")])
    assert out == [([1, 2], 8), [4], [1, 2, 4], True, None, ("error", "free(x): unknown request")]
    p.check_invariants()


def test_replay_empty_and_token_views(core):
    p = core.VllmKVCacheManager(8, 4)
    assert p.replay([]) == [] and p.replay(()) == []
    conv = [5, 5, 5, 5, 6, 6, 6, 6, 7]
    # One growing list shared by a request's calls, as (base, n).
    out = p.replay([("allocate_slots", 1, (conv, 6), 6), ("allocate_slots", 1, (conv, 8), 2),
                    ("allocate_slots", 1, (conv, 9), 1), ("num_computed_tokens", 1),
                    ("get_computed_blocks", 2, (conv, 9)), ("get_computed_blocks", 2, (conv, 0))])
    assert out == [[1, 2], [], [3], 9, ([1, 2], 8), ("error", "get_computed_blocks(2): empty token list")]
    q = core.VllmKVCacheManager(8, 4)
    assert q.allocate_slots(1, conv[:6], 6) == [1, 2]
    assert q.allocate_slots(1, conv[:8], 2) == [] and q.allocate_slots(1, conv, 1) == [3]
    assert q.snapshot() == p.snapshot()
