"""Compile KsanaLLM's real ContinuousBatchingStrategy from the user's checkout into a Python module.

Called by `build.build()` (so `codewalk upstream build` builds both engines). Thirteen or fourteen
translation units of the checkout are compiled unmodified (`sources()`) with the stand-in headers in
`standins/scheduler/` (listed in its `MAP`: file -> the header it shadows), layered over the cache
build's stand-ins (`standins/`, searched next; see `layers`), and the binding `sched_binding.cpp`
(with `binding_common.h`, shared with the cache build's binding). Generated at build time from
the checkout, so they cannot drift:

* `codewalk_extracted/scheduler_configs.inc` — the config types (`BatchSchedulerConfig`,
  `RuntimeConfig`, `CacheManagerConfig`, ...) copied out of `utils/config/schedule_config_parser.h`,
  and `kStepGenerateTokenNum` out of `utils/environment.h`;
* `ksana_llm/runtime/forward_request.h` — the checkout's header without its
  `#if defined(ENABLE_ACL) || defined(ENABLE_CUDA)` guard: the .cpp files use the guarded field
  unconditionally.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from codewalk.upstream.layout import CACHE_ONLY, STANDINS, BuildError, binding_common, extract_decl, standin_files

SCHED_MODULE = "ksanallm_scheduler"
PKG = "codewalk.upstream"
K = "src/ksana_llm/"
SOURCES = tuple(K + s for s in (
    "batch_scheduler/strategy/continuous_batching.cpp",
    "batch_scheduler/strategy/continuous_batching_process_transfer_queue.cpp",
    "batch_scheduler/strategy/base_strategy.cpp",
    "batch_scheduler/batch_scheduler_balance_reqs_algo.cpp",
    "cache_manager/prefix_cache_manager.cpp",
    "runtime/infer_request.cpp",
    "utils/request.cpp",
    "utils/stop_checker.cpp",
    "utils/status.cpp",
    "utils/waiter.cpp",
    "data_hub/schedule_output.cpp",
    "profiler/timer.cpp",
    "profiler/profile_event.cpp",
))
# Translation units only some checkouts need: (source, the compiled file that shows the need, the
# name it calls; None, None: whenever the source is present). schedule_output_process.cpp came in
# 22235b91; the synchronous scheduler (before 14c72d41) asks IsAbsorbWeightsEnabled.
OPTIONAL_SOURCES = (
    (K + "utils/schedule_output_process.cpp", None, None),
    (K + "utils/absorb_weights_type.cpp", K + "batch_scheduler/strategy/continuous_batching.cpp",
     "IsAbsorbWeightsEnabled"),
)
# Appended to the binding when a compiled file calls the structured-output state machine (request.cpp
# of the synchronous scheduler's checkouts): its real .cpp needs re2 and abseil (standins/scheduler/).
FSM_STANDIN = ("fsm_unused.inc", K + "utils/request.cpp", "CreateOrGetFSM")
# Real headers the binding or the stand-ins name directly (the rest are found through SOURCES).
HEADERS = tuple(K + h for h in (
    "batch_scheduler/strategy/continuous_batching.h",
    "batch_scheduler/state/batch_state.h",
    "batch_scheduler/state/scheduler_shared_counter.h",
    "batch_scheduler/state/scheduler_tick_tok.h",
    "batch_scheduler/batch_scheduler_balance_reqs_algo.h",
    "cache_manager/prefix_cache_manager_test_helper.h",
    "data_hub/schedule_output.h",
    "runtime/infer_request.h",
    "connector/config.h",
    "transfer/transfer_types.h",
    "utils/request.h",
))
CONFIG_HEADER = K + "utils/config/schedule_config_parser.h"
ENV_HEADER = K + "utils/environment.h"
FORWARD_REQUEST = K + "runtime/forward_request.h"
CONFIG_ENUMS = ("PreemptMode", "GemmReductionPrecision", "ScheduleStrategy", "PPMultibatchWBStrategy",
                "W4AFP8_MOE_BACKEND")
CONFIG_STRUCTS = ("AttentionDPGroupBalanceConfig", "ReasoningConfig", "BatchSchedulerConfig", "CacheManagerConfig",
                  "KVCacheConfig", "AttnBackendConfig", "ParallelismBasicConfig", "RuntimeConfig")
# Config structs older checkouts do not have yet (nothing else there refers to them).
OPTIONAL_STRUCTS = ("AttentionDPGroupBalanceConfig", "ReasoningConfig", "KVCacheConfig")
GUARD = "#if defined(ENABLE_ACL) || defined(ENABLE_CUDA)"


def inputs() -> tuple[str, ...]:
    """Every checkout file this build needs (for the layout check and the reuse key)."""
    return (*SOURCES, *HEADERS, CONFIG_HEADER, ENV_HEADER, FORWARD_REQUEST)


def _needs(root: Path, src: str, caller: str | None, name: str | None) -> bool:
    if not (root / src).is_file():
        return False
    if caller is None or name is None:
        return True
    path = root / caller
    return path.is_file() and name in path.read_text(encoding="utf-8", errors="replace")


def sources(root: Path) -> tuple[str, ...]:
    """The translation units compiled for this checkout: `SOURCES` and the `OPTIONAL_SOURCES` it needs."""
    return (*SOURCES, *(src for src, caller, name in OPTIONAL_SOURCES if _needs(root, src, caller, name)))


def standins() -> dict[str, str]:
    """Stand-in file -> the header path it shadows, from standins/scheduler/MAP."""
    text = resources.files(PKG).joinpath("standins", "scheduler", "MAP").read_text(encoding="utf-8")
    out = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            name, dst = line.split()
            out[name] = dst
    return out


def standin_text(name: str) -> str:
    return resources.files(PKG).joinpath("standins", "scheduler", name).read_text(encoding="utf-8")


def generated(root: Path) -> dict[str, str]:
    """Include-dir relative path -> text of every file generated from the checkout."""
    cfg = (root / CONFIG_HEADER).read_text(encoding="utf-8", errors="replace")
    env = (root / ENV_HEADER).read_text(encoding="utf-8", errors="replace")
    parts = []
    m = re.search(r"constexpr\s+size_t\s+kStepGenerateTokenNum\s*=\s*\d+\s*;", env)
    if not m:
        raise BuildError(f"kStepGenerateTokenNum is no longer defined in {ENV_HEADER}")
    parts.append(m.group())
    for kind, names, required in (("enum", CONFIG_ENUMS, False), ("struct", CONFIG_STRUCTS, True)):
        for name in names:
            body = extract_decl(cfg, kind, name)
            if body is None and required and name not in OPTIONAL_STRUCTS:
                raise BuildError(f"{kind} {name} is no longer defined in {CONFIG_HEADER}")
            if body is not None:  # an enum the structs no longer use may go (GemmReductionPrecision did)
                parts.append(body)
    configs = (f"// Copied by `codewalk upstream build` from {CONFIG_HEADER} and {ENV_HEADER}: do not edit.\n"
               + "\n\n".join(parts) + "\n")
    lines = (root / FORWARD_REQUEST).read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
    out, depth, found = [], 0, False
    for line in lines:
        s = line.strip()
        if depth == 0 and s.startswith(GUARD):
            depth, found = 1, True
            continue
        if depth:
            if s.startswith("#if"):
                depth += 1
            elif s.startswith("#endif"):
                depth -= 1
                if depth == 0:
                    continue
        out.append(line)
    if not found:
        raise BuildError(f"{FORWARD_REQUEST} no longer has the `{GUARD}` guard codewalk removes; "
                         f"the scheduler build needs updating for this checkout")
    fwd = f"// Generated by `codewalk upstream build` from {FORWARD_REQUEST} without its ACL/CUDA guard.\n" + "".join(out)
    return {"codewalk_extracted/scheduler_configs.inc": configs, "ksana_llm/runtime/forward_request.h": fwd}


def layers(generated_files: dict[str, str]) -> list[dict[str, str]]:
    """The scheduler build's include directories, in search order: its own stand-ins (MAP), the
    files generated from the checkout and the bindings' shared header; then the cache build's
    stand-ins it does not replace (not request.h: the real utils/request.cpp is compiled here)."""
    own = {rel: standin_text(name) for name, rel in standins().items()}
    own.update(generated_files)
    own.update(binding_common())
    common = standin_files([name for name in STANDINS if name not in CACHE_ONLY])
    return [own, common]


def binding_text(root: Path | None = None) -> str:
    """`sched_binding.cpp`, plus the stand-in definitions this checkout needs (`FSM_STANDIN`)."""
    text = resources.files(PKG).joinpath("sched_binding.cpp").read_text(encoding="utf-8")
    name, caller, called = FSM_STANDIN
    if root is not None and _needs(root, caller, caller, called):
        text += "\n" + standin_text(name)
    return text
