"""The prefix cache's data: block and request records of the reference model (`ref_prefix_cache.py`).

Kept apart from the manager so `ref_invariants.py` can read them without importing the manager
(which calls the invariants): the data sits below both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WAITING, RUNNING, SWAPPED = "waiting", "running", "swapped"


@dataclass(eq=False, slots=True)
class PrefixCachedBlock:
    """A block object; its memory moves between device and host on swap (identity stays)."""

    memory_block_id: int = -1
    is_device_location: bool = True
    is_root: bool = False
    parent: PrefixCachedBlock | None = None
    children: dict[tuple[int, ...], PrefixCachedBlock] = field(default_factory=dict)
    is_shareable: bool = False
    token_ids: tuple[int, ...] = ()
    active_requests: dict[int, int] = field(default_factory=dict)  # req_id -> block index
    inactive_requests: dict[int, int] = field(default_factory=dict)


@dataclass(eq=False, slots=True)
class PrefixCachedRequest:
    """A request as the cache sees it: its blocks, its state and what its last lookup matched."""

    req_id: int
    req_state: str = WAITING
    shared_block_num: int = 0
    cached_blocks: list[PrefixCachedBlock] = field(default_factory=list)
    req_block_ids: list[int] = field(default_factory=list)  # the InferRequest's kv_cache_blocks[0]
    matched_tokens: list[int] = field(default_factory=list)  # tokens of the blocks the last lookup matched
    swap_phase: str = ""  # "", "swapping_out", "swapping_in"
