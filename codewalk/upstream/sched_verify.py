"""`codewalk upstream verify`, scheduler part: KsanaLLM's real ContinuousBatchingStrategy against
codewalk's core `Scheduler` on random workloads.

A workload is a `SchedulerConfig` and requests (arrival step, prompt, max_new_tokens). Both engines
get the same arrivals at the same steps and are stepped until idle. Compared:

* per request (the outcome a user sees): the finish order, and for each request how it ended,
  how often it was swapped out and recomputed, and the prefix tokens its lookups reused;
* step by step (stricter): every field of every `StepResult`.

Small workloads (2-9 requests) cover the corner cases; serving-scale ones (`serving_workload`:
1,000 chat-like requests, hundreds waiting at once, every preemption mode with split-fuse off and
on, KsanaLLM's default thresholds) cover what only appears with many requests, such as the tie
order of BalanceReqs' std::sort. They are reported on their own line (`serving_line`).

Each small workload's divergence is shrunk to a minimal workload (fewer requests, shorter prompts and outputs,
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


# Serving scale: every combination of preemption mode and split-fuse, in turn.
SERVING_MODES = [("swap", 0), ("recompute", 0), ("swap", 256), ("recompute", 256)]
SERVING_MAX_STEPS = 40000


def serving_workload(rng: random.Random, mode: tuple[str, int], n: int = 1000) -> Workload:
    """A chat-like workload at serving scale: `n` requests arriving faster than they are served,
    so hundreds wait at once; a few shared system prompts; KsanaLLM's default thresholds.

    Many requests have the same number of tokens still to prefill, so BalanceReqs' std::sort
    meets ties among more than 16 requests — the case small workloads never reach.
    """
    bs = 16
    systems = [[rng.randint(1, 500) for _ in range(rng.choice([32, 48, 64, 100]))] for _ in range(4)]
    reqs = []
    arrival = 0
    for i in range(n):
        if rng.random() < 0.35:  # bursts: several requests arrive in the same step
            arrival += rng.randint(1, 3)
        system = rng.choice(systems) if rng.random() < 0.8 else []
        user = [rng.randint(1, 500) for _ in range(rng.choice([4, 8, 8, 16, 16, 24, 40, 64]))]
        reqs.append({"id": i + 1, "arrival": arrival, "prompt": system + user,
                     "max_new_tokens": rng.choice([1, 4, 8, 16, 16, 32, 64, 128])})
    preempt, split = mode
    cfg: dict[str, Any] = {
        "block_size": bs,
        "device_blocks": rng.randint(60, 140),
        "host_blocks": rng.choice([64, 400]),
        "max_batch_size": rng.choice([8, 16, 32]),
        "max_step_token_num": rng.choice([1024, 4096]),
        "split_fuse_token_num": split,
        "preempt_mode": preempt,
        "waiting_timeout_steps": rng.choice([None, 3000]),
        "max_waiting_queue_len": 256,
        "launch_block_threshold": 2.0,
        "swapin_block_threshold": 2.0,
    }
    return Workload(cfg, reqs)


def max_waiting(steps: list[dict[str, Any]]) -> int:
    """The most requests waiting at once in a step trace."""
    return max((len(d["waiting"]) for d in steps), default=0)


def run(engine: Any, w: Workload, max_steps: int = MAX_STEPS) -> dict[str, Any]:
    """Step one engine through a workload: its step trace, per-request outcomes, or the error."""
    s = engine.Scheduler(SchedulerConfig(**w.config))
    pending = sorted(w.requests, key=lambda r: (r["arrival"], r["id"]))
    steps: list[dict[str, Any]] = []
    refused: list[int] = []
    error = None
    try:
        while (pending or s.has_work()) and len(steps) < max_steps:
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


def _compare(real: Any, core: Any, w: Workload,
             max_steps: int = MAX_STEPS) -> tuple[bool, bool, dict[str, Any], dict[str, Any]]:
    a, b = run(real, w, max_steps), run(core, w, max_steps)
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


def _balance_tie_order(a: dict[str, Any], b: dict[str, Any], w: Workload) -> bool:
    """Same work, other requests: a step prefills different requests with the same token counts,
    or holds the same waiting requests in another order."""
    f = _first(a, b)
    if not f:
        return False
    x, y = f[1], f[2]
    same_counts = x["prefill"] != y["prefill"] and sorted(n for _, n in x["prefill"]) == sorted(n for _, n in y["prefill"])
    reordered = x["waiting"] != y["waiting"] and sorted(x["waiting"]) == sorted(y["waiting"])
    return same_counts or reordered


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
    ("balance-tie-order",
     "BalanceReqsAlgo::BalanceReqs orders the step's arrivals and unmerged requests with std::sort by tokens "
     "to prefill, longest first; std::sort is not stable, so with more than 16 requests ties come out in "
     "introsort's order. A core that keeps arrival order for ties (stable_sort) launches another request with "
     "the same token count, and the traces part from there.", _balance_tie_order, False),
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
class ServingResult:
    """One serving-scale workload: its mode, its size, and where (if anywhere) the two engines part."""

    preempt_mode: str
    split_fuse_token_num: int
    requests: int
    steps: int
    max_waiting: int
    per_request_agree: bool
    step_identical: bool
    step: int | None = None
    fields: list[str] = field(default_factory=list)
    mechanism: str | None = None
    explanation: str | None = None
    real: Any = None
    core: Any = None
    config: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SchedReport:
    workloads: int = 0
    per_request_agree: int = 0
    step_identical: int = 0
    divergences: list[Divergence] = field(default_factory=list)
    by_mechanism: dict[str, int] = field(default_factory=dict)
    serving: list[ServingResult] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        unexplained = sum(1 for d in self.divergences if d.kind == "per-request" and d.mechanism == "unexplained")
        unexplained += sum(1 for r in self.serving if not r.per_request_agree and r.mechanism == "unexplained")
        out = {"workloads": self.workloads, "per_request_agree": self.per_request_agree,
               "step_identical": self.step_identical,
               "per_request_divergent": self.workloads - self.per_request_agree,
               "by_mechanism": dict(self.by_mechanism),
               "unexplained_per_request": unexplained}
        if self.serving:
            out["serving"] = {
                "workloads": len(self.serving),
                "requests": min(r.requests for r in self.serving),
                "max_waiting": max(r.max_waiting for r in self.serving),
                "modes": sorted({f"{r.preempt_mode}/split-fuse {'on' if r.split_fuse_token_num else 'off'}"
                                 for r in self.serving}),
                "per_request_agree": sum(r.per_request_agree for r in self.serving),
                "step_identical": sum(r.step_identical for r in self.serving),
                "by_mechanism": _count(r.mechanism for r in self.serving if r.mechanism),
            }
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "divergences": [d.to_dict() for d in self.divergences],
                "serving": [r.to_dict() for r in self.serving]}


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for k in items:
        out[k] = out.get(k, 0) + 1
    return out


def serving_line(s: dict[str, Any]) -> str:
    """The one-line report of the serving-scale workloads (`summary()["serving"]`)."""
    n = s["workloads"]
    line = (f"serving scale: {n} workloads of >= {s['requests']} requests, up to {s['max_waiting']} waiting at once "
            f"({', '.join(s['modes'])}): identical step by step on {s['step_identical']}/{n}, per-request outcomes "
            f"agree on {s['per_request_agree']}/{n}")
    if s["by_mechanism"]:
        line += "; first divergences: " + ", ".join(f"{k} x{v}" for k, v in sorted(s["by_mechanism"].items()))
    return line


def verify_serving(real: Any, core: Any, count: int, seed: int = 0, requests: int = 1000,
                   progress: Callable[[int], None] | None = None) -> list[ServingResult]:
    """`count` serving-scale workloads, cycling through SERVING_MODES; compared whole, not shrunk
    (a reproducer of a thousand requests is shrunk by hand, if ever)."""
    rng = random.Random(f"serving-{seed}")
    out = []
    for i in range(count):
        w = serving_workload(rng, SERVING_MODES[i % len(SERVING_MODES)], requests)
        same_req, same_step, a, b = _compare(real, core, w, SERVING_MAX_STEPS)
        res = ServingResult(w.config["preempt_mode"], w.config["split_fuse_token_num"], len(w.requests),
                            max(len(a["steps"]), len(b["steps"])), max_waiting(a["steps"]), same_req, same_step,
                            config=dict(w.config))
        if not same_step:
            diff = first_step_difference(a["steps"], b["steps"])
            if diff is not None:
                res.step, res.fields = diff
                at = diff[0]
                res.real = {k: a["steps"][at][k] for k in diff[1]} if at < len(a["steps"]) else a["error"]
                res.core = {k: b["steps"][at][k] for k in diff[1]} if at < len(b["steps"]) else b["error"]
            else:
                res.fields, res.real, res.core = ["error"], a["error"], b["error"]
            res.mechanism, res.explanation, _ = explain(a, b, w)
        out.append(res)
        if progress:
            progress(i + 1)
    return out


def serving_count(workloads: int) -> int:
    """How many serving-scale workloads go with `workloads` small ones: every mode at least once."""
    return max(len(SERVING_MODES), workloads // 50) if workloads > 0 else 0


def verify_schedulers(real: Any, core: Any, workloads: int = 200, seed: int = 0, shrink_budget: int = 200,
                      max_shrunk: int = 12, progress: Callable[[int], None] | None = None,
                      serving: int | None = None) -> SchedReport:
    """`workloads` small random workloads (shrunk on divergence) plus `serving` serving-scale ones
    (default: `serving_count(workloads)`), real scheduler against the core."""
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
    rep.serving = verify_serving(real, core, serving_count(workloads) if serving is None else serving, seed)
    return rep
