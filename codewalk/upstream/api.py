"""Which KsanaLLM API a checkout has: a declarative table of variants, read from its headers.

The bindings (`binding.cpp`, `sched_binding.cpp`) depend on a few things that moved in
KsanaLLM's history: the `RequestState` values, the signatures of some cache-manager methods, and
the scheduler's entry points. Each is a `Feature`: one header, and the `Variant`s codewalk knows,
each recognised by a signature pattern found in that header (comments stripped) and selecting a
few C++ macros. `detect()` picks one variant per feature; `api_header()` writes the macros as
`codewalk_generated/api.h`, which `binding_common.h` includes. Variants are keyed by what the
headers say, never by commit: a checkout between two known commits works if its headers match.

A feature may also read a source file, to check that it agrees with its header (`Variant.elsewhere`,
`Variant.without`): some commits' scheduler sources name what their headers do not declare yet, and
those commits are refused in one line rather than with a page of compiler errors.

Patterns are written as C++ text: `@` stands for any parameter name, a space for any whitespace
(including none). A feature none of whose variants matches is unsupported: `Unsupported` names
the symbol, the header and the nearest commit whose headers match (`nearest_supported`).

To support a new API shape, add a `Variant` (and the `#if` it selects in the binding): see
docs/core.md, "Other KsanaLLM versions".
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

K = "src/ksana_llm/"
PCM_H = K + "cache_manager/prefix_cache_manager.h"
STATE_H = K + "runtime/request_state.h"
BATCH_STATE_H = K + "batch_scheduler/state/batch_state.h"
INFER_REQUEST_H = K + "runtime/infer_request.h"
STRATEGY_H = K + "batch_scheduler/strategy/continuous_batching.h"
STRATEGY_CPP = K + "batch_scheduler/strategy/continuous_batching.cpp"
INFER_STAGE_H = K + "runtime/infer_stage.h"
INFER_REQUEST_CPP = K + "runtime/infer_request.cpp"
REQUEST_H = K + "utils/request.h"

# The oldest commits known to build and verify, per engine (docs/core.md lists the tested set).
OLDEST_TESTED = {"cache": "12431117", "scheduler": "2bd80a8a"}


@dataclass(frozen=True, slots=True)
class Variant:
    """One shape of a feature: recognised by all of `patterns`, selecting `defines`."""

    name: str
    patterns: tuple[str, ...]
    defines: dict[str, str] = field(default_factory=dict)
    # (header, pattern) pairs another file of the checkout must match too: a name one file uses
    # and another declares (the two disagree in a commit that does not compile).
    elsewhere: tuple[tuple[str, str], ...] = ()
    without: tuple[str, ...] = ()  # patterns the feature's file must not match


@dataclass(frozen=True, slots=True)
class Feature:
    """Something a binding depends on, read from one header of the checkout."""

    name: str
    symbol: str  # named in the error when no variant matches
    header: str
    engines: tuple[str, ...]  # "cache", "scheduler": the builds that need it
    variants: tuple[Variant, ...]
    unmatched: str = ""  # what no variant matching means, when "no known form of <symbol>" would mislead


def _states(prefix: str) -> dict[str, str]:
    names = ("WAITING", "RUNNING", "SWAPPED", "FINISHED")
    if prefix == "k":
        return {f"CODEWALK_RS_{n}": f"RequestState::k{n.title()}" for n in names}
    return {f"CODEWALK_RS_{n}": f"RequestState::REQUEST_STATE_{n}" for n in names}


_LOOKUP_TAIL = "size_t& shared_block_num, size_t& unique_block_num, size_t& shared_token_num"
_LOOKUP_OUT = "shared_block_num, unique_block_num, shared_token_num"

FEATURES: tuple[Feature, ...] = (
    Feature("RequestState values", "RequestState::kWaiting / REQUEST_STATE_WAITING", STATE_H, ("cache", "scheduler"), (
        Variant("enum class RequestState {kWaiting, kRunning, kSwapped, kFinished, ...}",
                ("enum class RequestState { kWaiting , kRunning , kSwapped , kFinished",), _states("k")),
        Variant("enum RequestState {REQUEST_STATE_WAITING, ..._RUNNING, ..._SWAPPED, ..._FINISHED, ...}",
                ("enum RequestState { REQUEST_STATE_WAITING , REQUEST_STATE_RUNNING , REQUEST_STATE_SWAPPED , "
                 "REQUEST_STATE_FINISHED",), _states("REQUEST_STATE_")),
    )),
    Feature("UpdateRequestTokens signature", "PrefixCacheManager::UpdateRequestTokens", PCM_H, ("cache",), (
        Variant("reports block_merged",
                ("Status UpdateRequestTokens(int64_t @, const std::vector<int>& @, size_t @, "
                 "std::vector<std::vector<int>>& @, bool& @)",),
                {"CODEWALK_UPDATE_REPORTS_MERGE": "1"}),
        Variant("no block_merged (a merge is seen in the request's block ids)",
                ("Status UpdateRequestTokens(int64_t @, const std::vector<int>& @, size_t @, "
                 "std::vector<std::vector<int>>& @)",),
                {"CODEWALK_UPDATE_REPORTS_MERGE": "0"}),
    )),
    Feature("GetRequestPrefixBlockNumber signature", "PrefixCacheManager::GetRequestPrefixBlockNumber", PCM_H,
            ("cache", "scheduler"), (
        Variant("takes check_token_num",
                ("Status GetRequestPrefixBlockNumber(int64_t @, const std::vector<int>& @, size_t @, size_t& @, "
                 "size_t& @, size_t& @)",),
                {"CODEWALK_LOOKUP_HAS_CHECK": "1",
                 "CODEWALK_LOOKUP_PARAMS": f"int64_t req_id, const std::vector<int>& tokens, size_t check_token_num, "
                                           f"{_LOOKUP_TAIL}",
                 "CODEWALK_LOOKUP_ARGS": f"req_id, tokens, check_token_num, {_LOOKUP_OUT}"}),
        Variant("no check_token_num (every prompt token is checked)",
                ("Status GetRequestPrefixBlockNumber(int64_t @, const std::vector<int>& @, size_t& @, size_t& @, "
                 "size_t& @)",),
                {"CODEWALK_LOOKUP_HAS_CHECK": "0",
                 "CODEWALK_LOOKUP_PARAMS": f"int64_t req_id, const std::vector<int>& tokens, {_LOOKUP_TAIL}",
                 "CODEWALK_LOOKUP_ARGS": f"req_id, tokens, {_LOOKUP_OUT}"}),
    )),
    Feature("AllocateRequestBlocks signature", "PrefixCacheManager::AllocateRequestBlocks", PCM_H, ("cache",), (
        Variant("block table out-parameter",
                ("Status AllocateRequestBlocks(int64_t @, size_t @, std::vector<std::vector<int>>& @)",)),
    )),
    Feature("GetUsedBlockNumber", "PrefixCacheManager::GetUsedBlockNumber", PCM_H, ("cache", "scheduler"), (
        Variant("GetUsedBlockNumber()", ("size_t GetUsedBlockNumber()",), {"CODEWALK_HAS_USED_BLOCK_NUMBER": "1"}),
        Variant("none yet (the binding computes it as 51183c82 defines it: device allocator's used - usable)",
                ("size_t GetUsableBlockNumber()",), {"CODEWALK_HAS_USED_BLOCK_NUMBER": "0"}),
    )),
    Feature("swap calls", "PrefixCacheManager::SwapoutRequestAsync / SwapinRequestAsync / MergeSwapinRequest", PCM_H,
            ("cache", "scheduler"), (
        Variant("async swap with block-id out-parameters",
                ("Status SwapoutRequestAsync(int64_t @, size_t& @, size_t& @, std::vector<int>& @)",
                 "Status SwapinRequestAsync(int64_t @, size_t& @, std::vector<std::vector<int>>& @, "
                 "std::vector<int>& @)",
                 "Status MergeSwapinRequest(int64_t @, std::vector<std::vector<int>>& @)",
                 "Status WaitSwapinRequests(std::vector<int64_t>& @, size_t& @, bool @",
                 "void DestroySwappedRequest(int64_t @)")),
    )),
    Feature("scheduler entry point", "ContinuousBatchingStrategy::Schedule / UpdateRunningRequests", STRATEGY_H,
            ("scheduler",), (
        Variant("Schedule(waiting_reqs) + UpdateRunningRequests(running_reqs)",
                ("void Schedule(std::vector<std::shared_ptr<InferRequest>> & @)",
                 "void UpdateRunningRequests(const std::vector<std::shared_ptr<InferRequest>> & @)"),
                {"CODEWALK_UPDATE_TAKES_RUNNING": "1"}),
        Variant("Schedule(waiting_reqs) + UpdateRunningRequests() over the schedule output's running list "
                "(the synchronous scheduler)",
                ("void Schedule(std::vector<std::shared_ptr<InferRequest>> & @)", "void UpdateRunningRequests()",
                 "void UpdateSwapPendingRequests()"),
                {"CODEWALK_UPDATE_TAKES_RUNNING": "0"}),
    )),
    Feature("batch state", "BatchState's queues (merged_swapin_req_ids, swapped_queue, ...)", BATCH_STATE_H,
            ("scheduler",), (
        Variant("asynchronous, with swap: merged swap lists and pending swap maps",
                ("std::vector<int64_t> merged_swapout_req_ids;", "std::vector<int64_t> merged_swapin_req_ids;",
                 "swapout_pending_requests;", "async_recomputed_reqs;"),
                {"CODEWALK_STATE": "CODEWALK_STATE_ASYNC_SWAP"}),
        Variant("asynchronous, no swap (a preempted request is recomputed)",
                ("std::vector<std::shared_ptr<InferRequest>> decoding_queue;", "async_recomputed_reqs;"),
                {"CODEWALK_STATE": "CODEWALK_STATE_ASYNC_RECOMPUTE"}),
        Variant("synchronous: running list in the schedule output, swapped queue, pending swap maps",
                ("std::deque<std::shared_ptr<InferRequest>> waiting_queue;",
                 "std::vector<std::shared_ptr<InferRequest>> running_pending_reqs;",
                 "std::vector<int64_t> merged_swapin_req_ids;", "std::map<int, std::shared_ptr<InferRequest>> swapped_queue;",
                 "swapin_pending_requests_;", "swapout_pending_requests_;"),
                {"CODEWALK_STATE": "CODEWALK_STATE_SYNC"}),
    )),
    Feature("planned request tasks", "InferRequest::IsStopped / GetInflightTask / generated_token", INFER_REQUEST_H,
            ("scheduler",), (
        Variant("IsStopped() and GetInflightTask()", ("bool IsStopped() const", "GetInflightTask() const"),
                {"CODEWALK_HAS_IS_STOPPED": "1", "CODEWALK_HAS_INFLIGHT_TASK": "1"}),
        Variant("GetInflightTask(), no IsStopped() (a stopped request is `finished`)", ("GetInflightTask() const",),
                {"CODEWALK_HAS_IS_STOPPED": "0", "CODEWALK_HAS_INFLIGHT_TASK": "1"}),
        Variant("no planned tasks: the forward pass sets generated_token", ("int generated_token;",),
                {"CODEWALK_HAS_IS_STOPPED": "0", "CODEWALK_HAS_INFLIGHT_TASK": "0"}),
    )),
    Feature("request tracing", "Request::span_context", REQUEST_H, ("scheduler",), (
        # Before 2bd80a8a requests carry OpenTelemetry spans, and the strategy reports through them;
        # the scheduler build's stand-ins have no OpenTelemetry (nor SchedulerTickTok before 785ac505).
        Variant("no OpenTelemetry types in requests", ("class Request {",), without=("opentelemetry::",)),
    ), f"{REQUEST_H} holds OpenTelemetry spans, which codewalk's scheduler stand-ins do not provide"),
    Feature("InferStage values", "InferStage::kDecode / STATE_DECODE", STRATEGY_CPP, ("scheduler",), (
        # From 22235b91 to 14c72d41 the strategy's .cpp names values its header does not declare yet
        # (it does not compile in those commits): no variant matches there.
        Variant("InferStage::kContext / kDecode (enum class InferStage)", ("InferStage::kDecode",),
                elsewhere=((INFER_STAGE_H, "enum class InferStage { kContext , kDecode"),),
                without=("InferStage::STAGE_CONTEXT", "InferStage::STATE_DECODE")),
        Variant("InferStage::STAGE_CONTEXT / STATE_DECODE (enum InferStage)", ("InferStage::STATE_DECODE",),
                elsewhere=((INFER_STAGE_H, "enum InferStage { STAGE_CONTEXT , STATE_DECODE"),),
                without=("InferStage::kContext", "InferStage::kDecode")),
    ), f"{STRATEGY_CPP} uses InferStage values {INFER_STAGE_H} does not declare (the checkout's scheduler "
       f"does not compile)"),
    Feature("InferRequest block pointers", "InferRequest::UpdateBlockPtrs / GetBlockPtrs", INFER_REQUEST_CPP,
            ("scheduler",), (
        # From b1ae6386 to 14a8c9f6 infer_request.cpp calls UpdateBlockPtrs, which its header does not
        # declare yet (it does not compile in those commits).
        Variant("UpdateBlockPtrs(block_ptrs)", ("UpdateBlockPtrs(",),
                elsewhere=((INFER_REQUEST_H, "void UpdateBlockPtrs("),)),
        Variant("GetBlockPtrs()", ("InferRequest::GetBlockPtrs()",), without=("UpdateBlockPtrs(",)),
    ), f"{INFER_REQUEST_CPP} calls UpdateBlockPtrs, which {INFER_REQUEST_H} does not declare (the checkout's "
       f"scheduler does not compile)"),
)


class Unsupported(RuntimeError):
    """A feature none of whose variants the checkout's header matches (or its header is missing)."""

    def __init__(self, feature: Feature, missing: str) -> None:
        self.feature = feature
        self.missing = missing
        super().__init__(missing)


def clean(text: str) -> str:
    """A header's text without comments, whitespace runs collapsed to one space."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return re.sub(r"\s+", " ", text)


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """C++ text -> regex: `@` any identifier, a space any whitespace; punctuation may have spaces around it."""
    out = []
    for ch in pattern:
        if ch == "@":
            out.append(r"\w+")
        elif ch == " ":
            out.append(r"\s*")
        elif ch.isalnum() or ch == "_":
            out.append(ch)
        else:
            out.append(r"\s*" + re.escape(ch) + r"\s*")
    return re.compile("".join(out))


def _matches(variant: Variant, text: str, other: dict[str, str]) -> bool:
    return (all(pattern_regex(p).search(text) for p in variant.patterns)
            and not any(pattern_regex(p).search(text) for p in variant.without)
            and all(pattern_regex(p).search(other.get(h, "")) for h, p in variant.elsewhere))


def detect_texts(read: dict[str, str | None], engines: tuple[str, ...] = ("cache", "scheduler")) -> dict[str, Variant]:
    """Feature name -> the variant its header (`read[header]`, None when missing) matches; raises Unsupported."""
    chosen: dict[str, Variant] = {}
    cleaned: dict[str, str] = {}
    for feat in FEATURES:
        if not set(feat.engines) & set(engines):
            continue
        raw = read.get(feat.header)
        if raw is None:
            raise Unsupported(feat, f"{feat.header} is missing ({feat.symbol} is read from it)")
        text = cleaned.setdefault(feat.header, clean(raw))
        for h in {h for v in feat.variants for h, _ in v.elsewhere}:
            if h not in cleaned and read.get(h) is not None:
                cleaned[h] = clean(read[h] or "")
        hit = next((v for v in feat.variants if _matches(v, text, cleaned)), None)
        if hit is None:
            raise Unsupported(feat, f"{feat.name}: {feat.unmatched or f'no known form of {feat.symbol} in {feat.header}'}")
        chosen[feat.name] = hit
    return chosen


def headers(engines: tuple[str, ...] = ("cache", "scheduler")) -> tuple[str, ...]:
    """The checkout headers the table reads for these engines."""
    feats = [f for f in FEATURES if set(f.engines) & set(engines)]
    return tuple(dict.fromkeys([*(f.header for f in feats), *(h for f in feats for v in f.variants for h, _ in v.elsewhere)]))


def detect(root: Path, engines: tuple[str, ...] = ("cache", "scheduler")) -> dict[str, Variant]:
    """The checkout's variant of every feature the engines need; raises Unsupported."""
    read = {}
    for rel in headers(engines):
        path = root / rel
        read[rel] = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None
    return detect_texts(read, engines)


def api_header(chosen: dict[str, Variant]) -> str:
    """`codewalk_generated/api.h`: the selected variants as macros, one comment line each."""
    lines = ["// Generated by `codewalk upstream build` from the checkout's headers (codewalk/upstream/api.py).",
             "#pragma once", ""]
    for name, v in chosen.items():
        lines.append(f"// {name}: {v.name}")
        lines += [f"#define {k} {text}" for k, text in v.defines.items()]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- nearest supported commit

def _git(root: Path, *args: str) -> str | None:
    git = shutil.which("git")
    if not git:
        return None
    try:
        out = subprocess.run([git, "-C", str(root), *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def nearest_supported(root: Path, engines: tuple[str, ...], files: tuple[str, ...] = (),
                      limit: int = 300) -> str | None:
    """'sha date subject' of the first later commit (on any ref) that has every file in `files` and
    whose headers match the table for these engines, from the checkout's own history; None without
    git history or when no commit qualifies."""
    read_files = list(headers(engines))
    # Oldest first by commit date: the nearest in time among the checkout's descendants, on any branch.
    log = _git(root, "log", "--all", "--date-order", "--reverse", "--ancestry-path", "^HEAD",
               "--format=%H%x09%h %ad %s", "--date=short", "--", *dict.fromkeys([*read_files, *files]))
    if not log:
        return None
    for line in log.splitlines()[:limit]:
        sha, _, label = line.partition("\t")
        if files:
            listed = set((_git(root, "ls-tree", "-r", "--name-only", sha, "--", *files) or "").split())
            if not set(files) <= listed:
                continue
        read = {rel: _git(root, "show", f"{sha}:{rel}") for rel in read_files}
        try:
            detect_texts(read, engines)
        except Unsupported:
            continue
        return label
    return None


def unsupported_message(root: Path, err: Unsupported, engines: tuple[str, ...], commit: str,
                        files: tuple[str, ...] = ()) -> str:
    """One line: what is missing, where, and which commit to check out instead."""
    engine = "scheduler" if "scheduler" in engines else "cache manager"
    near = nearest_supported(root, engines, files)
    oldest = OLDEST_TESTED["scheduler" if "scheduler" in engines else "cache"]
    hint = (f"nearest supported commit: {near} (the first later one with the files and API codewalk reads; "
            f"tested from {oldest} on)" if near else f"supported from KsanaLLM {oldest} on (docs/core.md)")
    text = f"KsanaLLM {commit[:8]} is outside codewalk's supported range for the {engine}: {err.missing}; {hint}"
    return " ".join(text.split())
