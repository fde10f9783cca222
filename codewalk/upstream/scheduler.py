"""KsanaLLM's real ContinuousBatchingStrategy with `codewalk.core.Scheduler`'s Python API.

The compiled module (`sched_binding.cpp`, built by `codewalk upstream build`) steps the real
strategy; this wrapper gives it the core's face: `Scheduler(SchedulerConfig)`, `add_request`,
`step() -> StepResult`, `run`, `has_work`, `request_tokens`, `step_count`, `config` and `.cache`
(read-only queries on the scheduler's real PrefixCacheManager; the scheduler owns its mutations).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Callable, Sequence

from codewalk.core.config import SchedulerConfig, StepResult
from codewalk.core.errors import CoreError
from codewalk.core.ref_scheduler import Scheduler as _RefScheduler

_FIELDS = ("prefill", "decode", "swapped_out", "swapped_in", "recomputed", "finished", "timed_out", "waiting",
           "running", "swapped", "usable_blocks", "swapin_merged", "swapout_merged", "reusable_blocks", "rejected")
_MUTATING = ("get_request_prefix_block_number", "allocate_request_blocks", "update_request_tokens",
             "free_cached_blocks", "destroy_finished_request", "swapout_request_async", "merge_swapout_request",
             "swapin_request_async", "merge_swapin_request", "destroy_swapped_request")


# Where Scheduler(config) without a module gets one: build.py registers its scheduler_module (the
# module engine() loaded, else the checkout's build). Passed in rather than imported, so this
# module does not import build.py, which imports it.
_default_module: list[Callable[[], ModuleType]] = []


def set_default_module(factory: Callable[[], ModuleType]) -> None:
    """Register what `Scheduler(config)` calls for the compiled module when none is given."""
    _default_module[:] = [factory]


class SchedulerCache:
    """`Scheduler.cache`: the real scheduler's PrefixCacheManager, read-only."""

    def __init__(self, sched: Any) -> None:
        self._s = sched
        self._c = sched.cache

    def __getattr__(self, name: str) -> Any:
        if name in _MUTATING:
            def refuse(*_a: Any, **_k: Any) -> Any:
                raise CoreError(f"{name}: the real scheduler owns its cache manager; step the scheduler instead")
            return refuse
        return getattr(self._c, name)

    def request_block_ids(self, req_id: int) -> list[int]:
        if not self._c.has_request(req_id):
            raise CoreError(f"request_block_ids: req {req_id} does not exist")
        return list(self._s.request_block_ids(req_id))

    def snapshot(self) -> dict[str, Any]:
        return self._s.snapshot()

    def check_invariants(self) -> None:
        """Not available on the real scheduler's cache (the cache-manager engine has it)."""


class Scheduler:
    """KsanaLLM's ContinuousBatchingStrategy over its PrefixCacheManager, stepped deterministically."""

    def __init__(self, config: Any, module: ModuleType | None = None) -> None:
        if module is None:
            if not _default_module:
                raise CoreError("no real scheduler module: import codewalk.upstream (its build registers one)")
            module = _default_module[0]()
        self.config = config
        self._s = module.Scheduler(config)
        self._cache = SchedulerCache(self._s)

    def add_request(self, req_id: int, prompt_tokens: Sequence[int], max_new_tokens: int,
                    output_tokens: Sequence[int] | None = None) -> None:
        self._s.add_request(int(req_id), [int(t) for t in prompt_tokens], int(max_new_tokens),
                            None if output_tokens is None else [int(t) for t in output_tokens])

    def step(self) -> StepResult:
        d = self._s.step()
        r = StepResult(step=d["step"])
        for name in _FIELDS:
            setattr(r, name, d[name])
        r.prefill = [tuple(p) for p in d["prefill"]]
        r.prefix_hit_tokens = dict(d["prefix_hit_tokens"])
        return r

    # Step until idle or `max_steps`: the reference's loop, which only calls has_work() and step().
    run = _RefScheduler.run

    def has_work(self) -> bool:
        return bool(self._s.has_work())

    def request_tokens(self, req_id: int) -> list[int]:
        return list(self._s.request_tokens(req_id))

    @property
    def cache(self) -> SchedulerCache:
        return self._cache

    @property
    def step_count(self) -> int:
        return int(self._s.step_count)


__all__ = ["Scheduler", "SchedulerCache", "SchedulerConfig", "StepResult"]
