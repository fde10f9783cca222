"""Which commits explain a divergence when `verify` runs against another KsanaLLM version.

codewalk's core models the pinned commit (sources.yaml, `ksanallm.revision`). On another commit a
divergence the pin does not show may come from the engine itself having changed. `attribute()`
looks up the function responsible for a divergence, and the `PrefixCacheManager` methods it calls
(two levels, read from its text at the checkout), in `codewalk history`'s symbol-level log
(`codewalk.notes.history.symbol_history`) over the commits between the checkout and the pin. A
divergence whose functions changed becomes a *version difference* naming those commits; the
others stay unexplained. `changed_functions()` lists every function of the compared files whose
text differs between the two versions, with the commits that changed it: what a reader of the
other version should know, diverging or not.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CACHE_CPP = "src/ksana_llm/cache_manager/prefix_cache_manager.cpp"
BASE_H = "src/ksana_llm/cache_manager/base_cache_manager.h"
STRATEGY_CPP = "src/ksana_llm/batch_scheduler/strategy/continuous_batching.cpp"
NS = "ksana_llm::"
# Where each class's functions are defined (the files the symbol log reads).
FILES = {"PrefixCacheManager": CACHE_CPP, "BaseCacheManager": BASE_H, "ContinuousBatchingStrategy": STRATEGY_CPP}
# The synchronous scheduler's ProcessRunningQueue became ProcessDecodingQueue in 14c72d41: a checkout
# before it is attributed to both (the one it has shows its changes, the other when it came or went).
_RUNNING = "ContinuousBatchingStrategy::ProcessRunningQueue"
# The scheduler's step-trace fields and the strategy functions that decide them (for sched_verify's
# divergences, which name fields rather than functions).
SCHED_FIELDS = {
    "prefill": ("ContinuousBatchingStrategy::ProcessWaitingQueue",),
    "waiting": ("ContinuousBatchingStrategy::ProcessWaitingQueue",),
    "prefix_hit_tokens": ("ContinuousBatchingStrategy::ProcessWaitingQueue",
                          "PrefixCacheManager::GetRequestPrefixBlockNumber"),
    "decode": ("ContinuousBatchingStrategy::ProcessDecodingQueue", _RUNNING),
    "running": ("ContinuousBatchingStrategy::ProcessDecodingQueue", _RUNNING),
    "swapped_out": ("ContinuousBatchingStrategy::ProcessDecodingQueue", _RUNNING,
                    "PrefixCacheManager::SwapoutRequestAsync"),
    "recomputed": ("ContinuousBatchingStrategy::ProcessDecodingQueue", _RUNNING),
    "swapped_in": ("ContinuousBatchingStrategy::ProcessSwappedQueue", "PrefixCacheManager::SwapinRequestAsync"),
    "swapped": ("ContinuousBatchingStrategy::ProcessSwappedQueue",),
    "swapin_merged": ("ContinuousBatchingStrategy::MergePendingSwapinRequests",),
    "swapout_merged": ("ContinuousBatchingStrategy::MergePendingSwapoutRequests",),
    "finished": ("ContinuousBatchingStrategy::UpdateRunningRequests",),
    "timed_out": ("ContinuousBatchingStrategy::CheckRequestTimeout",),
    "usable_blocks": ("PrefixCacheManager::GetUsableBlockNumber",),
    "reusable_blocks": ("PrefixCacheManager::FreeCachedBlocks",),
}


@dataclass(slots=True)
class Versions:
    """The checkout's commit, the pin the core models, and the git range between them."""

    root: Path
    commit: str
    pin: str
    rev: str  # for `git log`: "commit..pin" (checkout older), "pin..commit" (newer), else "commit...pin"
    direction: str  # "older" | "newer" | "diverged" | "same"
    error: str = ""  # why commits cannot be named (no git, pin not in the history)


@dataclass(slots=True)
class Attribution:
    """The functions behind one divergence that changed between the versions, with their commits."""

    functions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # qname -> Change dicts

    def summary(self) -> str:
        parts = []
        for qname, changes in self.functions.items():
            commits = ", ".join(f"{c['commit'][:8]} ({c['subject'][:60]})" for c in changes[:3])
            more = f" and {len(changes) - 3} more" if len(changes) > 3 else ""
            parts.append(f"{qname} changed in {commits}{more}")
        return "; ".join(parts)


def pinned_revision() -> str:
    """The KsanaLLM commit codewalk's core models (sources.yaml)."""
    from codewalk.sources.checkouts import known_sources

    src = known_sources().get("ksanallm")
    return src.revision if src and src.revision else "c451219c0c447b2672faee44c9182c607dc2d964"


def _git(root: Path, *args: str) -> tuple[int, str]:
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        return 1, str(e)
    return out.returncode, out.stdout.strip()


def versions(root: Path, commit: str, pin: str | None = None) -> Versions:
    """Where the checkout's commit stands relative to the pin, in the checkout's own history."""
    pin = pin or pinned_revision()
    rc, full = _git(root, "rev-parse", "--verify", "--quiet", f"{pin}^{{commit}}")
    if rc != 0 or not full:
        return Versions(root, commit, pin, "", "diverged",
                        f"the pinned commit {pin[:8]} is not in {root}'s history (fetch it to name commits)")
    pin = full
    if commit.startswith(pin) or pin.startswith(commit):
        return Versions(root, commit, pin, "", "same")
    if _git(root, "merge-base", "--is-ancestor", commit, pin)[0] == 0:
        return Versions(root, commit, pin, f"{commit}..{pin}", "older")
    if _git(root, "merge-base", "--is-ancestor", pin, commit)[0] == 0:
        return Versions(root, commit, pin, f"{pin}..{commit}", "newer")
    return Versions(root, commit, pin, f"{commit}...{pin}", "diverged")


def _file_of(qname: str) -> str | None:
    cls = qname.split("::")[0]
    return FILES.get(cls)


def _text_at(v: Versions, rev: str, path: str, qname: str) -> str | None:
    from codewalk.notes.history import symbol_text

    rc, _ = _git(v.root, "cat-file", "-e", f"{rev}:{path}")
    if rc != 0:
        return None
    data = subprocess.run(["git", "-C", str(v.root), "show", f"{rev}:{path}"], capture_output=True).stdout
    return symbol_text(data, path, NS + qname)


def callees(v: Versions, qname: str, depth: int = 2) -> list[str]:
    """qname and the methods of its class it calls (by name, `depth` levels), from its text at the checkout."""
    cls = qname.split("::")[0]
    path = _file_of(qname)
    seen, frontier = [qname], [qname]
    if path is None:
        return seen
    for _ in range(depth):
        nxt = []
        for name in frontier:
            text = _text_at(v, v.commit, path, name) or ""
            body = text[text.find("{"):] if "{" in text else ""
            for callee in dict.fromkeys(re.findall(r"\b([A-Z]\w+)\s*\(", body)):
                cand = f"{cls}::{callee}"
                if cand not in seen and _text_at(v, v.commit, path, cand) is not None:
                    seen.append(cand)
                    nxt.append(cand)
        frontier = nxt
    return seen


def function_changes(v: Versions, qname: str, max_count: int = 20) -> list[dict[str, Any]]:
    """The commits between the two versions that changed qname ([] when none, or no history)."""
    from codewalk.notes.history import HistoryError, symbol_history

    path = _file_of(qname)
    if path is None or not v.rev:
        return []
    try:
        return [c.to_dict() for c in symbol_history(v.root, path, NS + qname, max_count=max_count, rev=v.rev)]
    except HistoryError:
        return []


def attribute(v: Versions, responsible: list[str], cache: dict[str, list[dict[str, Any]]] | None = None) -> Attribution:
    """The responsible functions (and what they call) that changed between the versions."""
    cache = {} if cache is None else cache
    out = Attribution()
    for qname in responsible:
        qname = qname.split(" ")[0]  # "X::F -> G (bug #4)" names X::F first
        for name in callees(v, qname):
            if name not in cache:
                cache[name] = function_changes(v, name)
            if cache[name] and name not in out.functions:
                out.functions[name] = cache[name]
    return out


def changed_functions(v: Versions,
                      paths: tuple[str, ...] = (CACHE_CPP, STRATEGY_CPP)) -> dict[str, list[dict[str, Any]]]:
    """Every function defined in `paths` whose text changed in the range between the checkout and
    the pin, with the commits that changed it (newest first). The same symbol-level comparison as
    `codewalk history`, but each version of a file is parsed once for all its functions."""
    if not v.rev:
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for path in paths:
        rc, log = _git(v.root, "log", "--format=%H%x09%ad%x09%an%x09%s", "--date=short", v.rev, "--", path)
        if rc != 0 or not log:
            continue
        for line in log.splitlines():
            sha, date, author, subject = (line.split("\t", 3) + ["", "", ""])[:4]
            old, new = _functions(v.root, f"{sha}^", path), _functions(v.root, sha, path)
            for qname in sorted(set(old) | set(new)):
                if old.get(qname) != new.get(qname):
                    what = "added" if qname not in old else "removed" if qname not in new else "changed"
                    out.setdefault(qname, []).append({"commit": sha[:10], "date": date, "author": author,
                                                      "subject": subject, "what": what})
    return dict(sorted(out.items()))


_PARSED: dict[tuple[str, str, str], dict[str, str]] = {}


def _functions(root: Path, rev: str, path: str) -> dict[str, str]:
    """Qualified name (without the namespace) -> normalised text of each method defined in path at rev."""
    from codewalk.notes import fingerprint as fp
    from codewalk.index import cpp
    from codewalk.index.records import FileResult

    key = (str(root), rev, path)
    if key not in _PARSED:
        res = subprocess.run(["git", "-C", str(root), "show", f"{rev}:{path}"], capture_output=True)
        data = res.stdout if res.returncode == 0 else b""
        result = FileResult(path, "cpp", len(data), 0, "")
        cpp.extract(result, data)
        _PARSED[key] = {s.qname[len(NS):]: fp.normalize(data[s.start_byte:s.end_byte], "cpp")
                        for s in result.symbols
                        if s.is_def and s.qname.startswith(NS) and s.qname.count("::") == 2
                        and s.kind in ("method", "function", "constructor", "destructor")}
    return _PARSED[key]
