"""Plain configuration records for the reference model (the binding has C++ twins with the same fields)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class CacheConfig:
    """Mirrors the parts of KsanaLLM's `CacheManagerConfig` the prefix cache uses."""

    block_size: int = 16  # KsanaLLM: block_token_num
    device_blocks: int = 100
    host_blocks: int = 100
    enable_prefix_caching: bool = True
    # Reproduce KsanaLLM's known bookkeeping bugs (default) or correct them; see docs/core.md.
    fix_upstream_bugs: bool = False


@dataclass(slots=True)
class SchedulerConfig:
    """Mirrors the parts of KsanaLLM's `BatchSchedulerConfig` that `ContinuousBatchingStrategy` reads.

    Defaults are KsanaLLM's own (`BatchSchedulerConfig`'s member initialisers, c451219c); the
    source line of each is in docs/core.md. Timeouts count steps: one step stands for 1 ms.
    """

    block_size: int = 16  # CacheManagerConfig::block_token_num
    device_blocks: int = 100  # KsanaLLM sizes the pool from GPU memory: no default to copy
    host_blocks: int = 100
    max_batch_size: int = 8
    max_step_token_num: int = 4096
    split_fuse_token_num: int = 0
    preempt_mode: str = "swap"  # or "recompute"
    enable_prefix_caching: bool = True  # KsanaLLM: false, which selects a cache manager the core does not model
    waiting_timeout_steps: int | None = 600000  # waiting_timeout_in_ms; None: no limit
    max_waiting_queue_len: int | None = 256  # None: no limit
    launch_block_threshold: float = 2.0
    swapin_block_threshold: float = 2.0
    fix_upstream_bugs: bool = False
    swapout_block_threshold: float = 1.0  # parsed by KsanaLLM, read by no scheduler code

    def cache_config(self) -> CacheConfig:
        """The cache manager's share of this configuration."""
        return CacheConfig(self.block_size, self.device_blocks, self.host_blocks,
                           self.enable_prefix_caching, self.fix_upstream_bugs)


@dataclass(slots=True)
class StepResult:
    """What one `Scheduler.step()` did, in KsanaLLM's order of work."""

    step: int = 0
    prefill: list[tuple[int, int]] = field(default_factory=list)  # (req_id, tokens computed this step)
    decode: list[int] = field(default_factory=list)
    swapped_out: list[int] = field(default_factory=list)  # swap-outs started this step
    swapped_in: list[int] = field(default_factory=list)  # swap-ins started this step
    recomputed: list[int] = field(default_factory=list)
    finished: list[int] = field(default_factory=list)
    timed_out: list[int] = field(default_factory=list)
    waiting: list[int] = field(default_factory=list)
    running: list[int] = field(default_factory=list)
    swapped: list[int] = field(default_factory=list)
    prefix_hit_tokens: dict[int, int] = field(default_factory=dict)
    usable_blocks: int = 0
    swapin_merged: list[int] = field(default_factory=list)
    swapout_merged: list[int] = field(default_factory=list)
    reusable_blocks: int = 0
    rejected: list[int] = field(default_factory=list)  # refused by a full waiting queue (MergeWaitingReqs)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        d = asdict(self)
        d["prefill"] = [list(p) for p in self.prefill]
        return d
