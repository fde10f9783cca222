"""KsanaLLM's real PrefixCacheManager, compiled from the user's checkout, held against codewalk's core.

* `build.py` — `codewalk upstream build`: compile the checkout's cache manager with stand-in
  headers (`standins/`) and a pybind11 binding (`binding.cpp`) that has `codewalk.core`'s API;
* `verify.py` — `codewalk upstream verify`: random scheduler-like traces through both engines,
  every divergence shrunk, checked against the invariants and explained.
"""

from codewalk.upstream.build import BuildError, engine

__all__ = ["BuildError", "engine"]
