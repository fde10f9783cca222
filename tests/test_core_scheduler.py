"""Hand-worked scheduler scenarios with exact step-by-step results, on both the C++ core and the reference."""

from __future__ import annotations

import pytest

from core_impls import core  # noqa: F401  (fixture)
from codewalk.core.errors import CoreError


def scheduler(core, **kw):
    # The hand-worked scenarios below keep no blocks in reserve and have no limits: set explicitly,
    # since SchedulerConfig's defaults are KsanaLLM's (thresholds 2.0, timeout 600000, queue 256).
    cfg = dict(block_size=4, device_blocks=20, host_blocks=20, max_batch_size=8, max_step_token_num=256,
               launch_block_threshold=0.0, swapin_block_threshold=0.0, waiting_timeout_steps=None,
               max_waiting_queue_len=None)
    cfg.update(kw)
    return core.Scheduler(core.SchedulerConfig(**cfg))


def test_prefill_decode_finish_then_prefix_hit(core):
    s = scheduler(core)
    s.add_request(1, [1, 2, 3, 4, 5, 6, 7, 8], 2, output_tokens=[50, 51])
    r0 = s.step()
    assert (r0.prefill, r0.decode, r0.running) == ([(1, 8)], [], [1])
    assert r0.usable_blocks == 20 - 3  # 8 tokens + room for the next: (8 + 4) // 4 blocks
    assert s.request_tokens(1) == [1, 2, 3, 4, 5, 6, 7, 8, 50]
    r1 = s.step()
    assert (r1.decode, r1.finished, r1.running) == ([1], [1], [])
    assert r1.usable_blocks == 20 and r1.reusable_blocks == 2
    s.add_request(2, [1, 2, 3, 4, 5, 6, 7, 8], 1)
    r2 = s.step()
    # Whole prompt cached: only the last token is computed again, to get logits for the first output.
    assert r2.prefix_hit_tokens == {2: 8}
    assert r2.prefill == [(2, 1)] and r2.finished == [2]
    assert r2.to_dict()["prefill"] == [[2, 1]]


def test_split_fuse_chunks_the_prefill(core):
    s = scheduler(core, split_fuse_token_num=4)
    s.add_request(1, list(range(1, 11)), 1)
    steps = s.run(10)
    assert [r.prefill for r in steps] == [[(1, 4)], [(1, 4)], [(1, 2)]]
    assert [r.waiting for r in steps] == [[1], [1], []]  # a chunked request keeps its place in the queue
    assert steps[-1].finished == [1]


def test_head_of_line_blocking_is_strict_fcfs(core):
    s = scheduler(core, device_blocks=6)
    s.add_request(1, list(range(1, 17)), 4)  # needs (16 + 4) // 4 = 5 blocks
    r = s.step()
    assert r.prefill == [(1, 16)]
    s.add_request(2, list(range(100, 120)), 2)  # needs 6: does not fit beside req 1
    s.add_request(3, [7, 7], 1)  # would fit, but waits behind req 2
    r = s.step()
    assert r.decode == [1] and r.prefill == [] and r.waiting == [2, 3]


def test_arrivals_are_balanced_longest_first(core):
    # BatchScheduler::BalanceWaitingReqs orders a step's arrivals by prompt length, longest first.
    s = scheduler(core, device_blocks=40)
    s.add_request(1, [1] * 3, 1)
    s.add_request(2, [2] * 9, 1)
    s.add_request(3, [3] * 5, 1)
    assert [p[0] for p in s.step().prefill] == [2, 3, 1]
    s.add_request(4, [4] * 2, 1)  # a lone arrival is appended as it is
    assert s.step().prefill == [(4, 2)]


def test_waiting_queue_holds_at_most_max_batch_size(core):
    s = scheduler(core, device_blocks=3, max_batch_size=2, max_waiting_queue_len=None)
    for rid in range(1, 5):
        s.add_request(rid, [rid] * 8, 1)  # 3 blocks each: one at a time
    r = s.step()
    # Two were merged into the waiting queue (longest first = arrival order here), two wait to be merged.
    assert r.prefill == [(1, 8)] and r.waiting == [2, 3, 4]
    assert [x.finished for x in s.run(10)] == [[2], [3], [4]]


def test_full_waiting_queue_refuses_at_merge(core):
    s = scheduler(core, device_blocks=3, max_batch_size=8, max_waiting_queue_len=2)
    s.add_request(1, [1] * 8, 1)
    s.add_request(2, [2] * 8, 1)
    r = s.step()
    s.add_request(3, [3] * 8, 1)
    s.add_request(4, [4] * 8, 1)
    r = s.step()  # req 2 still waits; only one more fits the 2-long queue
    assert r.rejected == [4] and r.waiting == [3]


def _two_requests(core, mode):
    s = scheduler(core, device_blocks=7, preempt_mode=mode)
    s.add_request(1, [1, 2, 3, 4, 5, 6, 7], 6)
    s.add_request(2, [9, 9, 9, 9, 9, 9, 9], 6)
    steps = s.run(20)
    assert steps[0].prefill == [(1, 7), (2, 7)] and steps[0].usable_blocks == 3  # 2 blocks each
    assert steps[1].decode == [1, 2] and steps[1].usable_blocks == 1  # at 8 tokens each takes a third
    # Steps 2-4 fit in three blocks; at 12 tokens both need a fourth and only one is free:
    # req 1 (first in the decoding queue) gets it, req 2 is preempted.
    assert [r.decode for r in steps[2:6]] == [[1, 2], [1, 2], [1, 2], [1]]
    assert steps[5].finished == [1]
    return s, steps


def test_recompute_preemption_goes_to_front_of_waiting(core):
    s, steps = _two_requests(core, "recompute")
    assert steps[5].recomputed == [2] and steps[5].waiting == [2]
    # Its two filled blocks stayed in the tree: the recompute hits them (8 of 12 tokens) ...
    assert steps[5].prefix_hit_tokens == {2: 8}
    # ... but cannot launch in step 5: its own matched blocks are not usable for it (1 usable < 2 needed).
    assert steps[5].prefill == []
    assert steps[6].prefill == [(2, 4)] and steps[6].finished == [2]
    assert steps[6].usable_blocks == 7
    s.cache.check_invariants()


def test_swap_preemption_and_swap_in(core):
    s, steps = _two_requests(core, "swap")
    assert steps[5].swapped_out == [2] and steps[5].swapped == [2]
    assert steps[5].usable_blocks == 4  # req 1's 4 blocks came back (3 reusable); req 2's are in flight
    assert steps[6].swapout_merged == [2] and steps[6].swapped_in == [2]
    assert steps[6].usable_blocks == 4  # 3 host blocks come back; the 4th block is allocated at decode
    assert steps[7].swapin_merged == [2] and steps[7].decode == [2] and steps[7].finished == [2]
    assert steps[7].usable_blocks == 7 and len(steps) == 8
    s.cache.check_invariants()


def test_timeout_counts_from_arrival_in_every_queue(core):
    s = scheduler(core, device_blocks=5, waiting_timeout_steps=2)
    s.add_request(1, list(range(1, 13)), 8)  # takes 4 of the 5 blocks
    s.add_request(2, list(range(50, 59)), 1)  # needs 3: blocked behind req 1
    steps = s.run(4)
    assert [r.waiting for r in steps[:2]] == [[2], [2]]
    assert steps[2].timed_out == [2, 1]  # waiting queue first (schedule), then running (update)
    assert steps[2].usable_blocks == 5 and len(steps) == 3


def test_queue_capacity(core):
    s = scheduler(core, max_waiting_queue_len=2)
    s.add_request(1, [1], 1)
    s.add_request(2, [2], 1)
    with pytest.raises(CoreError, match="exceed capacity"):
        s.add_request(3, [3], 1)
    s.step()  # the buffer is merged into the scheduler's queue: room again
    s.add_request(3, [3], 1)


def test_launch_block_threshold_holds_back_new_requests(core):
    s = scheduler(core, device_blocks=10, launch_block_threshold=8.0)
    s.add_request(1, [1, 2, 3], 8)
    s.step()
    s.add_request(2, [5, 6, 7], 1)  # needs 1 block; 8 usable after req 1's decode takes its second
    r = s.step()
    # The threshold is ceil(1 running request * 8.0) = 8 blocks kept back: 1 + 8 > 8.
    assert r.decode == [1] and r.prefill == [] and r.waiting == [2] and r.usable_blocks == 8


@pytest.mark.parametrize("kw", [dict(preempt_mode="lru"), dict(max_batch_size=0), dict(split_fuse_token_num=-1)])
def test_bad_scheduler_config(core, kw):
    with pytest.raises(CoreError):
        scheduler(core, **kw)


def test_bad_requests(core):
    s = scheduler(core)
    s.add_request(1, [1, 2], 1)
    for args in [(1, [3], 1), (2, [], 1), (3, [1], 0)]:
        with pytest.raises(CoreError):
            s.add_request(*args)
    assert [r.finished for r in s.run(5)] == [[1]]


def _workload():
    # Shared prefixes, a burst of ties (equal lengths arriving together: introsort order), idle gaps.
    base = list(range(1, 33))
    items = [(0, 10 + i, base + [100 + i] * (i % 3), 2 + i % 4) for i in range(20)]
    items += [(7, 40, base[:9], 3), (30, 41, [5] * 40, 2), (30, 42, base, 1)]
    return items


def test_replay_is_the_step_loop(core):
    cfg = dict(device_blocks=40, max_batch_size=4, split_fuse_token_num=8, preempt_mode="swap")
    workload = _workload()
    looped = scheduler(core, **cfg)
    expected, i = [], 0
    while i < len(workload) or looped.has_work():
        while i < len(workload) and workload[i][0] <= looped.step_count:
            looped.add_request(workload[i][1], workload[i][2], workload[i][3])
            i += 1
        expected.append(looped.step().to_dict())
    s = scheduler(core, **cfg)
    assert [r.to_dict() for r in s.replay(workload)] == expected
    assert s.step_count == looped.step_count and not s.has_work()
    capped = scheduler(core, **cfg)
    assert [r.to_dict() for r in capped.replay(iter(workload), max_steps=5)] == expected[:5]
    assert capped.step_count == 5 and capped.has_work()


def test_replay_refuses_bad_workloads(core):
    s = scheduler(core)
    with pytest.raises(CoreError, match="workload item 1 arrives at step 0, before item 0"):
        s.replay([(1, 1, [1, 2], 1), (0, 2, [3], 1)])
    assert s.step_count == 0 and not s.has_work()  # checked before anything was added
    with pytest.raises(TypeError, match="workload item 0 must be"):
        s.replay([(0, 1, [1, 2])])
    with pytest.raises(CoreError, match="max_steps"):
        s.replay([], max_steps=-1)
    with pytest.raises(CoreError, match="already exists"):  # add_request's own checks apply
        s.replay([(0, 1, [1, 2], 1), (0, 1, [3], 1)])
    assert s.step_count == 0 and s.has_work()  # the first one was queued, as a loop would have


def test_prompt_tokens_of_every_int_width_cross_exactly():
    import codewalk.core as cpp

    s = cpp.Scheduler(cpp.SchedulerConfig(block_size=4, device_blocks=20, host_blocks=20))
    edge = [0, 1, -1, 2**30 - 1, 2**30, -(2**30), 2**31 - 1, -(2**31), 7]
    s.add_request(1, edge, 1)
    s.add_request(2, tuple(edge), 1)
    s.add_request(3, range(5), 1)  # not a list or tuple: the generic path
    assert s.request_tokens(1) == edge and s.request_tokens(2) == edge and s.request_tokens(3) == [0, 1, 2, 3, 4]
    for bad in ([2**31], [1, -(2**31) - 1], [1, "2"], [1.0]):
        with pytest.raises(TypeError, match="prompt_tokens must be a sequence of ints"):
            s.add_request(9, bad, 1)
    assert sorted(rid for rid, _ in s.step().prefill) == [1, 2, 3]  # the refused ones left no trace


def test_step_result_fields_need_an_initialised_object():
    import codewalk.core as cpp

    blank = cpp.StepResult.__new__(cpp.StepResult)
    with pytest.raises(TypeError, match="before StepResult.__init__"):
        blank.waiting
    r = cpp.StepResult()
    assert (r.step, r.waiting, r.prefill, r.prefix_hit_tokens) == (0, [], [], {})
    with pytest.raises(AttributeError):
        r.waiting = [1]
    blank_scheduler = cpp.Scheduler.__new__(cpp.Scheduler)
    with pytest.raises(TypeError, match="before Scheduler.__init__"):
        blank_scheduler.has_work()
    with pytest.raises(TypeError, match="before Scheduler.__init__"):
        blank_scheduler.step_count
