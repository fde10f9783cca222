"""The arithmetic of KsanaLLM's PPMultibatchWorkloadBalancer::OffloadBatchWorkload (c451219c), replayed.

This is a model, not KsanaLLM's code (the balancer is not part of `codewalk upstream build`): each
line below transcribes one computation of pp_multibatch_balancer.cpp:170-278 so that the argument in
the note `ksanallm.bug.offload-decrement-before-begin` can be checked on every small batch. The
question is whether the decoding-queue walk ever takes the request at begin(), after which it
decrements the iterator past the start of the vector (:275, undefined behaviour).
"""

from __future__ import annotations

import itertools

FRONT = "decremented-before-begin"


def offload(decoding: list[int], waiting: list[int], others: list[int],
            loop_decoding: list[int] | None = None) -> str | list[int] | None:
    """Indexes of the decoding requests moved (back to front), FRONT if begin() is taken, None if no move.

    `decoding`/`waiting` are CalculateWorkload values at the measurement (:189-209); `loop_decoding`
    are the decoding values the loop sees (:264), the same unless they changed in between.
    """
    loop_decoding = decoding if loop_decoding is None else loop_decoding
    if not others or len(decoding) + len(waiting) < 5:                   # :172, :180
        return None
    total_target = sum(decoding) + sum(waiting)                          # :194-202
    total = total_target + sum(others)
    n = len(others) + 1
    ideal = total // n + (1 if total % n else 0)                         # :212-215
    if total_target <= int(ideal * 1.2):                                 # :218-221
        return None
    to_move = total_target - ideal                                       # :230
    moved, i = 0, 0
    while i < len(waiting) and moved < to_move:                          # :246-256
        if moved + waiting[i] > to_move:
            break
        moved += waiting[i]
        i += 1
    taken: list[int] = []
    if i == len(waiting) and moved < to_move and decoding:               # :260-261
        idx = len(loop_decoding) - 1                                     # :262
        while idx >= 0 and moved < to_move:                              # :263
            if moved + loop_decoding[idx] > to_move:                     # :264-267
                break
            taken.append(idx)
            moved += loop_decoding[idx]
            if idx == 0:
                return FRONT                                             # :275 on begin()
            idx -= 1
    return taken


def test_front_request_is_never_taken_when_weights_do_not_change() -> None:
    cases = moves = 0
    for nd in range(0, 6):
        for nw in range(max(0, 5 - nd), 3):
            for dec in itertools.product((1, 2, 3, 5), repeat=nd):
                for wait in itertools.product((1, 2, 7), repeat=nw):
                    for others in ([0], [1], [4], [0, 0], [2, 9]):
                        result = offload(list(dec), list(wait), others)
                        cases += 1
                        assert result != FRONT, (dec, wait, others)
                        moves += bool(result)
    assert cases > 10_000 and moves > 100  # the walk does run, and moves requests, in many cases


def test_front_request_is_taken_when_weights_shrink_after_measurement() -> None:
    # measured as 5 tokens each (WB_REQ_TOKEN), 1 each by the time the loop runs: all five fit in to_move = 12
    assert offload([5, 5, 5, 5, 5], [], [0], loop_decoding=[1, 1, 1, 1, 1]) == FRONT
    assert offload([5, 5, 5, 5, 5], [], [0]) == [4, 3]  # unchanged weights: two move, the front stays
