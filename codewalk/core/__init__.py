"""The bound C++ core: KsanaLLM's prefix-cache tree and continuous-batching scheduler.

`PrefixCacheManager` and `Scheduler` are the C++17 classes in `bindings/`, built into
`codewalk._core`; `codewalk.core.reference` holds a pure-Python model with the same API,
used for differential tests and as the speed baseline. Every refused call raises `CoreError`.

    from codewalk.core import CacheConfig, PrefixCacheManager
    m = PrefixCacheManager(CacheConfig(block_size=16, device_blocks=100, host_blocks=100))
    m.get_request_prefix_block_number(1, list(range(82)))   # -> (0, 6, 0)
"""

from __future__ import annotations

from typing import Any

from codewalk.core.errors import CoreError

_BOUND = ("CacheConfig", "PrefixCacheManager", "Scheduler", "SchedulerConfig", "StepResult", "fake_token",
          "VllmKVCacheManager")

__all__ = ["CoreError", *_BOUND]


def __getattr__(name: str) -> Any:
    # The extension is imported on first use, so `codewalk.core.reference` and `errors`
    # stay importable (and testable) on a checkout where `_core` has not been built.
    if name in _BOUND:
        from codewalk import _core

        return getattr(_core, name)
    raise AttributeError(f"module 'codewalk.core' has no attribute {name!r}")
