"""The pure-Python reference model of the core: same API and semantics as the C++ binding.

Used for differential tests (C++ vs Python on the same random traces) and as the speed
baseline in `bench/core.py`.
"""

from codewalk.core.config import CacheConfig, SchedulerConfig, StepResult
from codewalk.core.errors import CoreError
from codewalk.core.ref_prefix_cache import PrefixCacheManager
from codewalk.core.ref_scheduler import Scheduler, fake_token
from codewalk.core.ref_vllm import VllmKVCacheManager

__all__ = ["CacheConfig", "CoreError", "PrefixCacheManager", "Scheduler", "SchedulerConfig", "StepResult", "fake_token",
           "VllmKVCacheManager"]
