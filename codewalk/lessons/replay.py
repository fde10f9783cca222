"""`codewalk demo prefix-cache|schedule` as data: a small built-in trace replayed through an engine.

Each `Frame` holds what ran, the KsanaLLM function responsible, the queues and the cache snapshot
after it (`views/demo.py` draws them; `guides/diagrams.py` and the site reuse the frames). Any
engine with `codewalk.core`'s API works: the core, its Python reference, or the real build.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable

BLOCK = 4  # small blocks keep the tree readable
MAX_STEPS = 200  # a schedule replay stops here (and says so)


@dataclass(slots=True)
class Frame:
    """One replayed step: what ran, which upstream function it models, and the state after it."""

    title: str
    function: str
    result: Any
    snapshot: dict[str, Any]
    queues: dict[str, list[int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "function": self.function, "result": self.result,
                "queues": self.queues, "snapshot": self.snapshot}


def prefix_cache_frames(engine: Any) -> list[Frame]:
    """A hand-made trace through the cache manager: fill, share, merge, evict, swap."""
    m = engine.PrefixCacheManager(engine.CacheConfig(block_size=BLOCK, device_blocks=10, host_blocks=6))
    a = [1, 2, 3, 4, 5, 6, 7, 8, 9]
    b = [1, 2, 3, 4, 5, 6, 7, 8, 42, 43]
    d = [20, 21, 22, 23, 24, 25, 26, 27]
    frames: list[Frame] = []

    def act(title: str, function: str, call: Callable[[], Any]) -> None:
        frames.append(Frame(title, function, _plain(call()), m.snapshot()))

    act("A looks up its 9-token prompt: empty cache", "GetRequestPrefixBlockNumber",
        lambda: m.get_request_prefix_block_number(1, a))
    act("A gets 3 blocks", "AllocateRequestBlocks", lambda: m.allocate_request_blocks(1, 3))
    act("C, same prompt, is looked up before A is computed: no hit", "GetRequestPrefixBlockNumber",
        lambda: m.get_request_prefix_block_number(3, a))
    act("C gets its own 3 blocks", "AllocateRequestBlocks", lambda: m.allocate_request_blocks(3, 3))
    act("A is computed: its 2 full blocks enter the tree", "UpdateRequestTokens",
        lambda: m.update_request_tokens(1, a))
    act("C is computed: its full blocks duplicate A's, so C switches to them", "UpdateRequestTokens",
        lambda: m.update_request_tokens(3, a))
    act("B shares A's first 8 tokens: 2 blocks hit", "GetRequestPrefixBlockNumber",
        lambda: m.get_request_prefix_block_number(2, b))
    act("B references the shared blocks and gets 1 new one", "AllocateRequestBlocks",
        lambda: m.allocate_request_blocks(2, 1))
    act("B is computed", "UpdateRequestTokens", lambda: m.update_request_tokens(2, b))
    act("D, unrelated, gets 3 blocks", "AllocateRequestBlocks",
        lambda: (m.get_request_prefix_block_number(4, d), m.allocate_request_blocks(4, 3))[1])
    act("D is computed", "UpdateRequestTokens", lambda: m.update_request_tokens(4, d))
    act("D finishes: its full blocks stay cached, reusable", "DestroyFinishedRequest",
        lambda: m.destroy_finished_request(4))
    act("A and C finish: the shared blocks keep B's reference", "DestroyFinishedRequest",
        lambda: (m.destroy_finished_request(1), m.destroy_finished_request(3))[0])
    act("B is preempted: blocks only B uses start copying to host", "SwapoutRequestAsync",
        lambda: m.swapout_request_async(2))
    act("copy done: the device blocks return to the free list", "MergeSwapoutRequest",
        lambda: m.merge_swapout_request(2))
    act("evict 1 cached block: the newest unreferenced one, not the LRU", "FreeCachedBlocks",
        lambda: m.free_cached_blocks(1))
    act("B swaps in: device blocks reserved, copy starts", "SwapinRequestAsync", lambda: m.swapin_request_async(2))
    act("copy done: B's blocks rejoin the tree", "MergeSwapinRequest", lambda: m.merge_swapin_request(2))
    return frames


# The schedule demo's pool. The block thresholds are set to 0, not KsanaLLM's default 2.0, which on
# 9 blocks would keep 2 free per running request and launch too little to show a swap (the demo prints SCHEDULE_NOTE).
SCHEDULE_CONFIG: dict[str, Any] = dict(block_size=BLOCK, device_blocks=9, host_blocks=12, max_batch_size=4,
                                       max_step_token_num=64, split_fuse_token_num=6, preempt_mode="swap",
                                       launch_block_threshold=0.0, swapin_block_threshold=0.0)
SCHEDULE_NOTE = ("launch_block_threshold and swapin_block_threshold are 0 here (KsanaLLM's default: 2.0), "
                 "so this 9-block pool fills up and a swap shows")


def schedule_frames(engine: Any, trace: list[dict[str, Any]] | None = None) -> list[Frame]:
    """Four requests, two sharing a prefix, on a pool small enough to force a swap; or a `trace`
    (requests with `arrival` step, `prompt`, `max_new_tokens`, optional `id`) on the same pool."""
    s = engine.Scheduler(engine.SchedulerConfig(**SCHEDULE_CONFIG))
    shared = [11, 12, 13, 14, 15, 16, 17, 18]
    if trace is None:
        trace = [{"id": 1, "arrival": 0, "prompt": shared + [1], "max_new_tokens": 4},
                 {"id": 2, "arrival": 0, "prompt": shared + [2, 2], "max_new_tokens": 4},
                 {"id": 3, "arrival": 0, "prompt": [30, 31, 32, 33, 34, 35, 36, 37, 38, 39], "max_new_tokens": 3},
                 {"id": 4, "arrival": 0, "prompt": [7, 7], "max_new_tokens": 6}]
    pending = sorted(({**r, "id": r.get("id", i + 1)} for i, r in enumerate(trace)),
                     key=lambda r: (int(r.get("arrival", 0)), r["id"]))
    frames = []
    while (pending or s.has_work()) and len(frames) < MAX_STEPS:
        while pending and int(pending[0].get("arrival", 0)) <= s.step_count:
            q = pending.pop(0)
            s.add_request(int(q["id"]), [int(t) for t in q["prompt"]], int(q["max_new_tokens"]))
        r = s.step()
        d = r.to_dict()
        queues = {k: d[k] for k in ("waiting", "running", "swapped")}
        frames.append(Frame(f"step {r.step}", _step_functions(d), _step_summary(d), s.cache.snapshot(), queues))
    if pending or s.has_work():  # say so, rather than end as if the trace were done
        frames.append(Frame(f"stopped after {MAX_STEPS} steps (the demo's cap) with requests still queued", "",
                            {"stopped_at_cap": MAX_STEPS}, s.cache.snapshot(), queues))
    return frames


def _step_functions(d: dict[str, Any]) -> str:
    names = ["ContinuousBatchingStrategy::Schedule"]
    if d["decode"] or d["swapped_out"] or d["recomputed"]:
        names.append("ProcessDecodingQueue")
    if d["swapped_in"] or d["swapout_merged"]:
        names.append("ProcessSwappedQueue")
    if d["prefill"] or d["prefix_hit_tokens"]:
        names.append("ProcessWaitingQueue")
    if d["finished"] or d["timed_out"]:
        names.append("UpdateRunningRequests")
    return " → ".join(names)


def _step_summary(d: dict[str, Any]) -> dict[str, Any]:
    keys = ("prefill", "decode", "swapped_out", "swapout_merged", "swapped_in", "swapin_merged",
            "recomputed", "finished", "timed_out", "prefix_hit_tokens")
    return {k: d[k] for k in keys if d[k]}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def frames(name: str, engine: Any, trace: list[dict[str, Any]] | None = None) -> list[Frame]:
    """The frames of demo `name` (`prefix-cache` or `schedule`) on engine."""
    return prefix_cache_frames(engine) if name == "prefix-cache" else schedule_frames(engine, trace)


def validate_trace(trace: object) -> list[dict]:
    """A `--trace` document checked request by request; ValueError names the first bad one."""
    if not isinstance(trace, list) or not trace:
        raise ValueError("expected a non-empty JSON list of {arrival, prompt, max_new_tokens[, id]}")
    seen: set[int] = set()
    for i, r in enumerate(trace):
        where = f"request {i + 1}"
        if not isinstance(r, dict) or "prompt" not in r or "max_new_tokens" not in r:
            raise ValueError(f"{where}: expected an object with prompt and max_new_tokens")
        rid = r.get("id", i + 1)
        if not _is_int(rid) or rid < 0:
            raise ValueError(f"{where}: id must be a whole number >= 0, got {json_text(rid)}")
        where = f"request {i + 1} (id {rid})"
        if rid in seen:
            raise ValueError(f"{where}: duplicate id")
        seen.add(rid)
        prompt = r["prompt"]
        if not isinstance(prompt, list) or not prompt:
            raise ValueError(f"{where}: prompt must be a non-empty list of token ids")
        bad = next((t for t in prompt if not _is_int(t) or t < 0), None)
        if bad is not None:
            raise ValueError(f"{where}: prompt token {json_text(bad)} is not a whole number >= 0")
        if not _is_int(r["max_new_tokens"]) or r["max_new_tokens"] < 1:
            raise ValueError(f"{where}: max_new_tokens must be a whole number >= 1, got {json_text(r['max_new_tokens'])}")
        if not _is_int(r.get("arrival", 0)) or r.get("arrival", 0) < 0:
            raise ValueError(f"{where}: arrival must be a step number >= 0, got {json_text(r.get('arrival'))}")
    return trace


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def json_text(value: object) -> str:
    return json.dumps(value)
