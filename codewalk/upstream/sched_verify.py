"""`codewalk upstream verify`, scheduler part: KsanaLLM's real ContinuousBatchingStrategy against
codewalk's core `Scheduler` on random workloads.

A workload is a `SchedulerConfig` and requests (arrival step, prompt, max_new_tokens). Both engines
get the same arrivals at the same steps and are stepped until idle. Compared:

* per request (the outcome a user sees): the finish order, and for each request how it ended,
  how often it was swapped out and recomputed, and the prefix tokens its lookups reused;
* step by step (stricter): every field of every `StepResult`.

Each divergence is shrunk to a minimal workload (fewer requests, shorter prompts and outputs,
simpler config) that still diverges the same way, then matched against the known mechanisms
(`EXPLAINED`) that make the real scheduler and the core differ.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from codewalk.core.config import SchedulerConfig

MAX_STEPS = 400


@dataclass
class Workload:
    config: dict[str, Any]
    requests: list[dict[str, Any]]  # {"id", "arrival", "prompt", "max_new_tokens"}

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config, "requests": self.requests}


def random_workload(rng: random.Random) -> Workload:
    """Shared prefixes, memory pressure, swap or recompute, split-fuse, timeouts, bursts."""
    bs = rng.choice([2, 4, 4, 8])
    n = rng.randint(2, 9)
    prefixes = [[rng.randint(1, 50) for _ in range(rng.randint(bs, 3 * bs))] for _ in range(rng.randint(1, 3))]
    reqs = []
    arrival = 0
    for i in range(n):
        if rng.random() < 0.5:
            arrival += rng.randint(0, 3)
        base = list(rng.choice(prefixes)) if rng.random() < 0.7 else []
        prompt = base + [rng.randint(1, 50) for _ in range(rng.randint(1 if base else 2, 3 * bs))]
        reqs.append({"id": i + 1, "arrival": arrival, "prompt": prompt, "max_new_tokens": rng.randint(1, 4 * bs)})
    longest = max(len(r["prompt"]) + r["max_new_tokens"] for r in reqs)
    need = -(-longest // bs) + 1
    cfg: dict[str, Any] = {
        "block_size": bs,
        "device_blocks": rng.randint(need, need * 3),
        "host_blocks": rng.choice([0, need, need * 4]),
        "max_batch_size": rng.randint(2, 6),
        "max_step_token_num": rng.choice([4096, 4096, longest + rng.randint(0, 2 * bs)]),
        "split_fuse_token_num": rng.choice([0, 0, 0, bs, 2 * bs]),
        "preempt_mode": rng.choice(["swap", "swap", "recompute"]),
        "waiting_timeout_steps": rng.choice([None, None, None, rng.randint(3, 30)]),
        "max_waiting_queue_len": rng.choice([None, None, None, rng.randint(1, 4)]),
        "launch_block_threshold": rng.choice([0.0, 0.0, 0.5]),
        "swapin_block_threshold": rng.choice([0.0, 0.0, 0.5]),
    }
    return Workload(cfg, reqs)


def run(engine: Any, w: Workload) -> dict[str, Any]:
    """Step one engine through a workload: its step trace, per-request outcomes, or the error."""
    s = engine.Scheduler(SchedulerConfig(**w.config))
    pending = sorted(w.requests, key=lambda r: (r["arrival"], r["id"]))
    steps: list[dict[str, Any]] = []
    refused: list[int] = []
    error = None
    try:
        while (pending or s.has_work()) and len(steps) < MAX_STEPS:
            while pending and pending[0]["arrival"] <= s.step_count:
                r = pending.pop(0)
                try:
                    s.add_request(r["id"], r["prompt"], r["max_new_tokens"])
                except engine.CoreError as e:
                    if "exceed capacity" not in str(e):
                        raise
                    refused.append(r["id"])
            steps.append(s.step().to_dict())
    except Exception as e:  # noqa: BLE001 - a crash of either side is an outcome
        error = f"{type(e).__name__}: {e}"
    return {"steps": steps, "outcomes": outcomes(steps, refused, w), "error": error}


def outcomes(steps: list[dict[str, Any]], refused: list[int], w: Workload) -> dict[str, Any]:
    per: dict[int, dict[str, Any]] = {r["id"]: {"end": "unfinished", "swapouts": 0, "recomputes": 0,
                                                "prefix_tokens": 0} for r in w.requests}
    order = []
    for rid in refused:
        per[rid]["end"] = "refused"
    for d in steps:
        for key, end in (("finished", "finished"), ("timed_out", "timed_out"), ("rejected", "rejected")):
            for rid in d[key]:
                per[rid]["end"] = end
                order.append(rid)
        for rid in d["swapped_out"]:
            per[rid]["swapouts"] += 1
        for rid in d["recomputed"]:
            per[rid]["recomputes"] += 1
        for rid, n in d["prefix_hit_tokens"].items():
            per[int(rid)]["prefix_tokens"] += n
    return {"order": order, "requests": {str(k): v for k, v in sorted(per.items())}}


def first_step_difference(a: list[dict[str, Any]], b: list[dict[str, Any]]) -> tuple[int, list[str]] | None:
    for i in range(max(len(a), len(b))):
        if i >= len(a) or i >= len(b):
            return i, ["(one side stopped)"]
        fields = [k for k in a[i] if a[i][k] != b[i].get(k)]
        if fields:
            return i, fields
    return None


@dataclass
class Divergence:
    kind: str  # "per-request" or "step"
    workload: Workload
    step: int | None
    fields: list[str]
    real: Any
    core: Any
    explanation: str
    mechanism: str
    explained: bool
    seeds: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["workload"] = self.workload.to_dict()
        return d


def _compare(real: Any, core: Any, w: Workload) -> tuple[bool, bool, dict[str, Any], dict[str, Any]]:
    a, b = run(real, w), run(core, w)
    same_req = a["outcomes"] == b["outcomes"] and (a["error"] is None) == (b["error"] is None)
    same_step = same_req and a["steps"] == b["steps"] and a["error"] == b["error"]
    return same_req, same_step, a, b


def shrink(w: Workload, still: Callable[[Workload], bool], budget: int = 300) -> Workload:
    """Greedy shrinking: drop requests, shorten prompts and outputs, simplify the config."""
    tries = 0

    def ok(c: Workload) -> bool:
        nonlocal tries
        tries += 1
        return tries <= budget and still(c)

    changed = True
    while changed and tries < budget:
        changed = False
        for i in range(len(w.requests)):
            c = Workload(dict(w.config), [r for j, r in enumerate(w.requests) if j != i])
            if c.requests and ok(c):
                w, changed = c, True
                break
        if changed:
            continue
        for i, r in enumerate(w.requests):
            for cand in ({**r, "max_new_tokens": max(1, r["max_new_tokens"] // 2)},
                         {**r, "max_new_tokens": r["max_new_tokens"] - 1},
                         {**r, "prompt": r["prompt"][:-1]}, {**r, "prompt": r["prompt"][1:]},
                         {**r, "arrival": max(0, r["arrival"] - 1)}):
                if cand == r or not cand["prompt"] or cand["max_new_tokens"] < 1:
                    continue
                reqs = list(w.requests)
                reqs[i] = cand
                c = Workload(dict(w.config), reqs)
                if ok(c):
                    w, changed = c, True
                    break
            if changed:
                break
        if changed:
            continue
        simpler = {"host_blocks": None, "max_step_token_num": 4096, "split_fuse_token_num": 0,
                   "waiting_timeout_steps": None, "max_waiting_queue_len": None, "launch_block_threshold": 0.0,
                   "swapin_block_threshold": 0.0, "max_batch_size": None, "device_blocks": None}
        for k, v in simpler.items():
            cfg = dict(w.config)
            if k == "host_blocks":
                v = max(0, cfg[k] // 2)
            elif k in ("max_batch_size", "device_blocks"):
                v = cfg[k] - 1
                if v < 1:
                    continue
            if cfg.get(k) == v:
                continue
            cfg[k] = v
            c = Workload(cfg, list(w.requests))
            if ok(c):
                w, changed = c, True
                break
    # renumber arrivals from 0
    if w.requests:
        first = min(r["arrival"] for r in w.requests)
        w = Workload(w.config, [{**r, "arrival": r["arrival"] - first} for r in w.requests])
    return w


# Mechanisms that make the real scheduler and the core differ; `detect(real_run, core_run, w)`
# looks at the first step where the two traces differ.
def _first(a: dict[str, Any], b: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, Any]] | None:
    for i, (x, y) in enumerate(zip(a["steps"], b["steps"])):
        if x != y:
            return i, x, y
    return None


def _swapin_merge_order(a: dict[str, Any], b: dict[str, Any], w: Workload) -> bool:
    f = _first(a, b)
    return bool(f) and sorted(f[1]["swapin_merged"]) == sorted(f[2]["swapin_merged"]) \
        and f[1]["swapin_merged"] != f[2]["swapin_merged"]


def _swapin_one_token(a: dict[str, Any], b: dict[str, Any], w: Workload) -> bool:
    f = _first(a, b)
    return bool(f) and len(f[1]["swapped_in"]) > len(f[2]["swapped_in"]) \
        and f[1]["swapped_in"][:len(f[2]["swapped_in"])] == f[2]["swapped_in"]


def _swapped_timeout(a: dict[str, Any], b: dict[str, Any], w: Workload) -> bool:
    f = _first(a, b)
    if not f:
        return False
    i = f[0]
    for j in (i - 1, i):
        if 1 <= j < len(a["steps"]):
            if set(a["steps"][j]["timed_out"]) & set(a["steps"][j - 1]["swapped"]):
                return True
    return False


def _error_only(a: dict[str, Any], b: dict[str, Any], w: Workload) -> bool:
    return (a["error"] is None) != (b["error"] is None)


EXPLAINED: list[tuple[str, str, Callable[..., bool], bool]] = [
    # (id, explanation, detector, documented in docs/core.md)
    ("swapped-timeout",
     "A swapped request timed out: KsanaLLM's ProcessSwappedQueue stops it with StopRequest -> ResetRequest -> "
     "DestroyFinishedRequest, which returns its host blocks to the device free queue; the core drops it with "
     "destroy_swapped_request (documented deviation, docs/core.md).", _swapped_timeout, True),
    ("swapin-merge-order",
     "Swap-ins started in one step are merged in the order PrefixCacheManager::WaitSwapinRequests walks "
     "swapin_task_queue_ (a std::unordered_map<int64_t, future>: libstdc++ yields the newest first), and "
     "MergePendingSwapinRequests appends them to decoding_queue in that order; the core merges in request-id "
     "order. Later steps then decode, preempt and finish in a different order.", _swapin_merge_order, False),
    ("swapin-one-token",
     "ProcessSwappedQueue sizes a swap-in with GetRequestStepBlockNumber(req, forwarding_tokens.size()) — one "
     "token less than the decode step that follows asks for (GetPlanningSequenceLen() = forwarding + 1); the "
     "core uses len(tokens). At a block boundary the two disagree on whether the swap-in fits.",
     _swapin_one_token, False),
    ("crash", "One side raised (see the error).", _error_only, False),
]


def explain(a: dict[str, Any], b: dict[str, Any], w: Workload) -> tuple[str, str, bool]:
    for ident, text, detect, documented in EXPLAINED:
        try:
            if detect(a, b, w):
                return ident, text, documented
        except Exception:  # noqa: BLE001
            continue
    return "unexplained", "no known mechanism matches; see the first differing step", False


@dataclass
class SchedReport:
    workloads: int = 0
    per_request_agree: int = 0
    step_identical: int = 0
    divergences: list[Divergence] = field(default_factory=list)
    by_mechanism: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {"workloads": self.workloads, "per_request_agree": self.per_request_agree,
                "step_identical": self.step_identical,
                "per_request_divergent": self.workloads - self.per_request_agree,
                "by_mechanism": dict(self.by_mechanism),
                "unexplained_per_request": sum(1 for d in self.divergences
                                               if d.kind == "per-request" and d.mechanism == "unexplained")}

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "divergences": [d.to_dict() for d in self.divergences]}


def verify_schedulers(real: Any, core: Any, workloads: int = 200, seed: int = 0, shrink_budget: int = 200,
                      max_shrunk: int = 12, progress: Callable[[int], None] | None = None) -> SchedReport:
    rep = SchedReport()
    rng = random.Random(seed)
    shrunk_kinds: dict[tuple[str, str], Divergence] = {}
    for i in range(workloads):
        w = random_workload(rng)
        same_req, same_step, a, b = _compare(real, core, w)
        rep.workloads += 1
        rep.per_request_agree += same_req
        rep.step_identical += same_step
        if not same_step:
            kind = "step" if same_req else "per-request"
            mech, text, documented = explain(a, b, w)
            rep.by_mechanism[f"{kind}:{mech}"] = rep.by_mechanism.get(f"{kind}:{mech}", 0) + 1
            key = (kind, mech)
            if key in shrunk_kinds:
                shrunk_kinds[key].seeds.append(i)
            elif len(shrunk_kinds) < max_shrunk:
                def still(c: Workload, kind: str = kind, mech: str = mech) -> bool:
                    r2, s2, a2, b2 = _compare(real, core, c)
                    if kind == "per-request" and r2:
                        return False
                    if kind == "step" and (s2 or not r2):
                        return False
                    return explain(a2, b2, c)[0] == mech
                small = shrink(w, still, shrink_budget)
                _, _, a2, b2 = _compare(real, core, small)
                diff = first_step_difference(a2["steps"], b2["steps"])
                at = diff[0] if diff else None
                fields = diff[1] if diff else ["error"]
                ra = a2["steps"][at] if at is not None and at < len(a2["steps"]) else a2["error"]
                cb = b2["steps"][at] if at is not None and at < len(b2["steps"]) else b2["error"]
                d = Divergence(kind, small, at, fields, ra, cb, text, mech, mech != "unexplained", [i])
                shrunk_kinds[key] = d
                rep.divergences.append(d)
        if progress:
            progress(i + 1)
    return rep
