"""`codewalk demo split-fuse` as data: one chunked prefill followed across steps, computed on the core.

A short request (id 1) is decoding when a 22-token prompt (id 2) arrives. With
split_fuse_token_num=8 the long prompt is prefilled 8 tokens at a time, in the same batches as the
short request's decode steps. Each row shows the chunk, the blocks KsanaLLM's sizing rule asks for
(`GetRequestStepBlockNumber`: (n + block_size) / block_size blocks for n tokens, always one token of
room ahead) and the block ids the request holds afterwards.

The same trace runs twice: on a roomy pool, and on a pool so tight that the short request's decode
runs out of blocks while the long one is half-prefilled. Then ProcessDecodingQueue recomputes the
chunked request and turns split-fuse off for good; the recomputed prompt finds its computed blocks
in the prefix cache. Every config value is set here, so the output does not depend on defaults.
`document(engine)` is the whole demo; `views/split_fuse.py` draws it.
"""

from __future__ import annotations

from typing import Any

BLOCK = 4
SPLIT = 8
SHORT_ID, LONG_ID = 1, 2
SHORT_PROMPT = [1, 2, 3, 4, 5, 6]
LONG_PROMPT = list(range(100, 122))  # 22 tokens: chunks of 8, 8, 6
LONG_ARRIVAL = 1
SCENARIOS = {"roomy": 24, "tight": 8}  # device blocks


def config(engine: Any, device_blocks: int) -> Any:
    """The scheduler configuration of the demo, every field explicit."""
    return engine.SchedulerConfig(block_size=BLOCK, device_blocks=device_blocks, host_blocks=8, max_batch_size=4,
                                  max_step_token_num=64, split_fuse_token_num=SPLIT, preempt_mode="swap",
                                  enable_prefix_caching=True, waiting_timeout_steps=None,
                                  max_waiting_queue_len=None, launch_block_threshold=0.0,
                                  swapin_block_threshold=0.0, swapout_block_threshold=1.0,
                                  fix_upstream_bugs=False)


def step_blocks(tokens: int, block_size: int = BLOCK) -> int:
    """GetRequestStepBlockNumber's total for `tokens` tokens: (n + bs) / bs, one token of room ahead."""
    return (tokens + block_size) // block_size


def frames(engine: Any, device_blocks: int, max_steps: int = 40) -> list[dict[str, Any]]:
    """Step the core on the demo trace; one row per step, following the long request's prefill."""
    s = engine.Scheduler(config(engine, device_blocks))
    s.add_request(SHORT_ID, SHORT_PROMPT, 8)
    done = 0  # tokens of the long prompt whose KV is computed
    split_on = True
    rows: list[dict[str, Any]] = []
    while len(rows) < max_steps and (s.has_work() or s.step_count < LONG_ARRIVAL):
        if s.step_count == LONG_ARRIVAL:
            s.add_request(LONG_ID, LONG_PROMPT, 3)
        held_before = len(_blocks(s, LONG_ID))
        d = s.step().to_dict()
        row: dict[str, Any] = {"step": d["step"], "decode": d["decode"], "events": []}
        if LONG_ID in d["recomputed"]:
            row["events"].append("recomputed: its KV dropped, back to the front of the waiting queue")
            if split_on and done < len(LONG_PROMPT):
                row["events"].append("split-fuse disabled for the rest of the run")
                split_on = False
            done = 0
        chunk = dict((rid, n) for rid, n in d["prefill"]).get(LONG_ID)
        if chunk is not None:
            hit = d["prefix_hit_tokens"].get(LONG_ID, 0)
            start = hit if hit else done
            if hit:
                row["events"].append(f"prefix cache hit: {hit} tokens already computed")
            end = start + chunk
            row["chunk"] = [start, end]
            row["last_chunk"] = end == len(LONG_PROMPT)
            row["asked_blocks"] = step_blocks(end)
            done = end
        row["long_blocks"] = _blocks(s, LONG_ID)
        if chunk is not None:  # shared prefix blocks are reused from the tree, not allocated
            row["new_blocks"] = len(row["long_blocks"]) - held_before - hit // BLOCK
        row["usable_blocks"] = d["usable_blocks"]
        row["waiting"], row["finished"], row["swapped_out"] = d["waiting"], d["finished"], d["swapped_out"]
        rows.append(row)
    return rows


def _blocks(s: Any, rid: int) -> list[int]:
    return list(s.cache.request_block_ids(rid)) if s.cache.has_request(rid) else []


def document(engine: Any) -> dict[str, Any]:
    """Both scenarios, with the configuration that produced them."""
    out: dict[str, Any] = {"demo": "split-fuse", "block_size": BLOCK, "split_fuse_token_num": SPLIT,
                           "long_prompt_tokens": len(LONG_PROMPT), "scenarios": {}}
    for name, device_blocks in SCENARIOS.items():
        out["scenarios"][name] = {"device_blocks": device_blocks, "steps": frames(engine, device_blocks)}
    return out
