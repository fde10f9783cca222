"""Hand-worked prefix-cache scenarios with exact numbers, run on both the C++ core and the reference."""

from __future__ import annotations

import pytest

from core_impls import core  # noqa: F401  (fixture)
from codewalk.core.errors import CoreError


def manager(core, block_size=16, device=100, host=100, **kw):
    return core.PrefixCacheManager(core.CacheConfig(block_size=block_size, device_blocks=device,
                                                    host_blocks=host, **kw))


def run_request(m, req_id, tokens):
    """Look up, allocate what the lookup says, compute every token: what the scheduler does for a prefill."""
    shared, unique, _ = m.get_request_prefix_block_number(req_id, tokens)
    m.allocate_request_blocks(req_id, unique)
    return m.update_request_tokens(req_id, tokens)


def test_issue_scenario_82_tokens(core):
    m = manager(core)
    toks = list(range(1, 83))
    assert m.get_request_prefix_block_number(1, toks) == (0, 6, 0)
    assert m.allocate_request_blocks(1, 6) == [0, 1, 2, 3, 4, 5]
    assert m.get_usable_block_number() == 94
    ids, merged = m.update_request_tokens(1, toks)
    assert (ids, merged) == ([0, 1, 2, 3, 4, 5], False)
    assert len(m.snapshot()["nodes"]) == 5  # the sixth block holds 2 tokens: not full, not in the tree
    m.destroy_finished_request(1)
    assert m.get_usable_block_number() == 100
    assert m.get_reusable_block_number() == 5
    m.check_invariants()


def test_lookup_takes_no_reference_and_leaves_last_token(core):
    m = manager(core)
    toks = list(range(1, 81))  # exactly 5 blocks
    run_request(m, 1, toks)
    m.destroy_finished_request(1)
    # A full-prompt match still asks for one more block: the last token is computed again.
    assert m.get_request_prefix_block_number(2, toks) == (5, 1, 80)
    assert m.get_reusable_block_number() == 5  # looking took no reference
    assert m.get_request_usable_block_number(2) == 95  # but its own matches are not usable for it
    assert m.get_request_prefix_block_number(3, toks, 40) == (2, 1, 32)
    m.allocate_request_blocks(2, 1)
    assert m.get_reusable_block_number() == 0
    assert m.get_usable_block_number() == 94
    m.check_invariants()


def test_duplicate_block_is_merged_into_tree_block(core):
    m = manager(core)
    toks = list(range(1, 41))  # 2 full blocks + 8 tokens
    for rid in (1, 2):  # both look up before either is computed, as in one prefill batch
        assert m.get_request_prefix_block_number(rid, toks) == (0, 3, 0)
    a = m.allocate_request_blocks(1, 3)
    b = m.allocate_request_blocks(2, 3)
    assert (a, b) == ([0, 1, 2], [3, 4, 5])
    assert m.update_request_tokens(1, toks) == ([0, 1, 2], False)
    ids, merged = m.update_request_tokens(2, toks)
    assert merged and ids == [0, 1, 5]  # switched to the tree's blocks; 3 and 4 went back to the free queue
    assert m.get_usable_block_number() == 100 - 6 + 2
    assert m.snapshot()["free"][-2:] == [3, 4]
    node = m.snapshot()["nodes"][0]
    assert node["block_id"] == 0 and node["active_requests"] == [1, 2]
    m.check_invariants()


def test_eviction_is_newest_first_and_skips_referenced(core):
    m = manager(core, block_size=4, device=12)
    run_request(m, 1, [1, 2, 3, 4, 5, 6, 7, 8])  # blocks 0,1 (+ block 2 empty)
    run_request(m, 2, [9, 9, 9, 9, 8, 8, 8, 8])  # blocks 3,4 (+ 5)
    run_request(m, 3, [7, 7, 7, 7])  # block 6 (+ 7)
    m.destroy_finished_request(1)
    m.destroy_finished_request(2)
    assert m.snapshot()["timed"] == [0, 1, 3, 4, 6]
    assert m.snapshot()["reusable"] == [0, 1, 3, 4]
    assert m.free_cached_blocks(1) == 1
    assert m.snapshot()["free"][-1] == 4  # newest unreferenced block first, not LRU
    assert m.free_cached_blocks(2) == 2  # 6 is referenced by req 3: skipped; then 3 and 1
    assert m.snapshot()["free"][-2:] == [3, 1]
    assert m.snapshot()["timed"] == [0, 6]
    assert m.free_cached_blocks(5) == 1  # only block 0 is left to evict
    m.check_invariants()


def test_eviction_takes_whole_subtree(core):
    m = manager(core, block_size=2, device=8)
    run_request(m, 1, [1, 1, 2, 2, 3])  # blocks 0 -> 1, block 2 unfilled
    m.destroy_finished_request(1)
    # Re-inserting block 0's content after eviction is impossible here, so evict by count:
    assert m.free_cached_blocks(1) == 1  # newest: block 1 (the leaf)
    run_request(m, 2, [1, 1, 5, 5, 6])  # reuses block 0, adds a child
    m.destroy_finished_request(2)
    timed = m.snapshot()["timed"]
    assert timed[0] == 0 and len(timed) == 2
    assert m.free_cached_blocks(2) == 2
    assert m.snapshot()["nodes"] == []
    m.check_invariants()


def test_swap_out_and_in_of_a_unique_request(core):
    m = manager(core)
    toks = list(range(1, 41))
    run_request(m, 1, toks)
    assert m.swapout_request_async(1) == (3, 0)
    assert m.get_host_free_block_number() == 97
    assert m.get_future_free_block_number() == 3
    assert m.get_usable_block_number() == 97  # not free until merged
    assert m.snapshot()["requests"][1]["state"] == "swapping_out"
    m.merge_swapout_request(1)
    assert m.get_usable_block_number() == 100 and m.get_future_free_block_number() == 0
    assert m.snapshot()["nodes"] == []
    assert m.swapin_request_async(1) == 3  # last block not full: no extra block for the next token
    assert m.get_usable_block_number() == 97
    ids = m.merge_swapin_request(1)
    assert len(ids) == 3 and m.get_host_free_block_number() == 100
    assert len(m.snapshot()["nodes"]) == 2
    m.check_invariants()


def test_swap_keeps_shared_blocks_on_device_then_destroy(core):
    m = manager(core)
    a = list(range(1, 41))
    b = list(range(1, 33)) + [99] * 8
    run_request(m, 1, a)
    assert m.get_request_prefix_block_number(2, b) == (2, 1, 32)
    m.allocate_request_blocks(2, 1)
    m.update_request_tokens(2, b)
    assert m.swapout_request_async(2) == (1, 0)  # blocks shared with req 1 stay on the device
    nodes = m.snapshot()["nodes"]
    assert [n["active_requests"] for n in nodes] == [[1], [1]]
    assert [n["inactive_requests"] for n in nodes] == [[2], [2]]
    m.merge_swapout_request(2)
    m.destroy_swapped_request(2)
    assert m.get_host_free_block_number() == 100
    assert [n["inactive_requests"] for n in m.snapshot()["nodes"]] == [[], []]
    m.check_invariants()


def test_swap_in_merges_into_blocks_recomputed_meanwhile(core):
    m = manager(core, device=10, host=10)
    toks = list(range(1, 34))
    run_request(m, 1, toks)
    assert m.swapout_request_async(1) == (3, 0)
    m.merge_swapout_request(1)
    run_request(m, 2, toks)  # the same content computed again while req 1 is on the host
    assert m.get_usable_block_number() == 7
    assert m.swapin_request_async(1) == 3
    ids = m.merge_swapin_request(1)
    assert ids[:2] == m.request_block_ids(2)[:2]  # merged into req 2's tree blocks
    assert m.get_usable_block_number() == 6  # the two copies went back to the free queue
    m.check_invariants()


def test_full_last_block_asks_one_more_on_swap_in(core):
    m = manager(core, block_size=4, device=8, host=8)
    run_request(m, 1, [1, 2, 3, 4, 5, 6, 7, 8])  # 2 full blocks + 1 empty for the next token
    m.swapout_request_async(1)
    m.merge_swapout_request(1)
    assert m.get_request_needed_block_num_for_one_next_token(1) == 3


@pytest.mark.parametrize("call", [
    lambda m: m.allocate_request_blocks(42, 1),
    lambda m: m.update_request_tokens(42, [1, 2]),
    lambda m: m.destroy_finished_request(42),
    lambda m: m.swapout_request_async(42),
    lambda m: m.merge_swapout_request(1),
    lambda m: m.swapin_request_async(1),
    lambda m: m.merge_swapin_request(1),
    lambda m: m.destroy_swapped_request(1),
    lambda m: m.allocate_request_blocks(1, -1),
    lambda m: m.allocate_request_blocks(1, 101),
    lambda m: m.free_cached_blocks(-3),
    lambda m: m.get_request_prefix_block_number(1, [1, 2, 3]),
    lambda m: m.get_request_prefix_block_number(5, [1, 2, 3], 4),
    lambda m: m.update_request_tokens(1, [1, 2], 3),
])
def test_bad_calls_raise_and_change_nothing(core, call):
    m = manager(core)
    run_request(m, 1, list(range(1, 41)))
    before = m.snapshot()
    with pytest.raises(CoreError) as err:
        call(m)
    assert "req" in str(err.value) or "block_num" in str(err.value)
    assert m.snapshot() == before
    m.check_invariants()


def test_out_of_blocks_raises(core):
    m = manager(core, block_size=4, device=4)
    m.get_request_prefix_block_number(1, list(range(1, 12)))
    m.allocate_request_blocks(1, 3)
    m.get_request_prefix_block_number(2, [5, 5])
    with pytest.raises(CoreError, match="out of device blocks"):
        m.allocate_request_blocks(2, 2)
    assert m.get_usable_block_number() == 1


def test_invalid_config(core):
    with pytest.raises(CoreError):
        manager(core, block_size=0)


def test_allocation_after_matches_were_evicted_is_refused(core):
    m = manager(core, block_size=4, device=6)
    toks = [1, 2, 3, 4, 5, 6, 7, 8]
    run_request(m, 1, toks)
    m.destroy_finished_request(1)
    assert m.get_request_prefix_block_number(2, toks) == (2, 1, 8)
    assert m.free_cached_blocks(2) == 2  # a lookup takes no references: its matches can go
    before = m.snapshot()
    with pytest.raises(CoreError, match="look"):
        m.allocate_request_blocks(2, 1)
    assert m.snapshot() == before
    assert m.get_request_prefix_block_number(2, toks) == (0, 3, 0)  # a fresh lookup starts over
    assert m.allocate_request_blocks(2, 3) == [3, 4, 5]  # FIFO: 2, 1, 0 were freed after 3, 4, 5
    m.check_invariants()
