"""KsanaLLM's real PrefixCacheManager and ContinuousBatchingStrategy, compiled from the user's
checkout, held against codewalk's core.

* `build.py` — `codewalk upstream build [--sanitize]`: compile the checkout's cache manager with
  stand-in headers (`standins/`) and a pybind11 binding (`binding.cpp`) that has `codewalk.core`'s
  API, then the scheduler (`sched_build.py`, `standins/scheduler/`, `sched_binding.cpp`);
* `api.py` — which API variants a checkout has, read from its files; `layout.py` — what both
  builds share (stand-ins, copying declarations out of headers, `BuildError`);
* `scheduler.py` — the real scheduler with `codewalk.core.Scheduler`'s Python API;
* `verify.py` — `codewalk upstream verify`: random scheduler-like traces through both cache
  managers, every divergence shrunk, checked against the invariants and explained;
* `sched_verify.py` — the same for the schedulers on random workloads (per-request outcomes and
  step traces).

`BuildError` and `engine` live in `build.py`; the package re-exports nothing, so importing one of
its modules never imports the others first.
"""
