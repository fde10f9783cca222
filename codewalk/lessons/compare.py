"""`codewalk demo compare` as data: one request trace through KsanaLLM's policy and vLLM's.

KsanaLLM mode is `codewalk.core.Scheduler` (ContinuousBatchingStrategy over PrefixCacheManager,
swap preemption); vLLM mode is `codewalk.core.vllm_scheduler.VllmScheduler` (vLLM v1's FCFS
schedule() over the C++ `VllmKVCacheManager`, recompute preemption, token budget per step). Both
get the same usable device blocks (vLLM's pool has one more: its null block 0), the same batch
and token limits and the same fake model, so every difference comes from the policies. Printed:
prefix hits, blocks held, preemptions, swaps/recomputes, tokens computed, steps to finish, and
the first step where the two schedules differ, with the functions of each engine responsible
(`compare()`; `views/compare.py` draws it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


BLOCK = 4
DEVICE_BLOCKS = 10  # usable blocks in both engines
HOST_BLOCKS = 12
MAX_BATCH = 4
STEP_TOKENS = 16
# Set explicitly, not KsanaLLM's 2.0: vLLM keeps no blocks in reserve, so with 0 on both sides every
# difference comes from the policies themselves (KsanaLLM's default would hold 2 of these 10 blocks
# back per running request).
BLOCK_THRESHOLDS = {"launch_block_threshold": 0.0, "swapin_block_threshold": 0.0}
SYSTEM = [11, 12, 13, 14, 15, 16, 17, 18]  # a shared 2-block system prompt
# (arrival step, req_id, prompt, max_new_tokens)
TRACE: list[tuple[int, int, list[int], int]] = [
    (0, 1, SYSTEM + [1, 1, 1], 6),
    (0, 2, SYSTEM + [2, 2], 6),
    (1, 3, list(range(30, 40)), 5),
    (2, 4, SYSTEM + [4], 6),
    (3, 5, [7] * 8, 4),
]
MAX_STEPS = 60


def _engines() -> tuple[Any, Any]:
    import codewalk.core as core
    from codewalk.core.vllm_scheduler import VllmScheduler, VllmSchedulerConfig

    k = core.Scheduler(core.SchedulerConfig(block_size=BLOCK, device_blocks=DEVICE_BLOCKS, host_blocks=HOST_BLOCKS,
                                            max_batch_size=MAX_BATCH, max_step_token_num=STEP_TOKENS,
                                            split_fuse_token_num=0, preempt_mode="swap", **BLOCK_THRESHOLDS))
    v = VllmScheduler(VllmSchedulerConfig(block_size=BLOCK, num_blocks=DEVICE_BLOCKS + 1, max_num_seqs=MAX_BATCH,
                                          max_num_batched_tokens=STEP_TOKENS))
    return k, v


def _k_step(d: dict[str, Any]) -> dict[str, Any]:
    prefill = {rid: n for rid, n in d["prefill"]}
    return {
        "computed": {**prefill, **{rid: 1 for rid in d["decode"]}},
        "prefill": prefill, "decode": list(d["decode"]),
        "hits": {rid: n for rid, n in d["prefix_hit_tokens"].items() if rid in prefill and n > 0},
        "preempted": list(d["swapped_out"]) + list(d["recomputed"]),
        "swapped_out": list(d["swapped_out"]), "swapped_in": list(d["swapped_in"]),
        "recomputed": list(d["recomputed"]), "finished": list(d["finished"]),
        "held": DEVICE_BLOCKS - d["usable_blocks"],
    }


def _v_step(d: dict[str, Any]) -> dict[str, Any]:
    prefill = {rid: n for rid, n in d["prefill"]}
    return {
        "computed": {**prefill, **{rid: 1 for rid in d["decode"]}},
        "prefill": prefill, "decode": list(d["decode"]),
        "hits": {rid: n for rid, n in d["prefix_hit_tokens"].items() if n > 0},
        "preempted": list(d["preempted"]), "swapped_out": [], "swapped_in": [],
        "recomputed": list(d["preempted"]), "finished": list(d["finished"]),
        "held": DEVICE_BLOCKS - d["free_blocks"],
    }


def _summary(steps: list[dict[str, Any]], prompts: dict[int, int]) -> dict[str, Any]:
    return {
        "prefix_hit_tokens": sum(sum(s["hits"].values()) for s in steps),
        "peak_blocks_held": max((s["held"] for s in steps), default=0),
        "preemptions": sum(len(s["preempted"]) for s in steps),
        "swaps_out": sum(len(s["swapped_out"]) for s in steps),
        "swaps_in": sum(len(s["swapped_in"]) for s in steps),
        "recomputes": sum(len(s["recomputed"]) for s in steps),
        "tokens_computed": sum(sum(s["computed"].values()) for s in steps),
        "prompt_tokens": sum(prompts.values()),
        "steps_to_finish": len(steps),
    }


def _why(k: dict[str, Any], v: dict[str, Any]) -> dict[str, Any]:
    """Name the mechanism behind the first differing step (the first matching rule wins)."""
    kp, vp = set(k["preempted"]), set(v["preempted"])
    if kp != vp:
        rid = min(kp ^ vp)
        return {
            "request": rid,
            "what": f"a running request ran out of blocks: KsanaLLM preempts {sorted(kp) or 'nothing'}, "
                    f"vLLM preempts {sorted(vp) or 'nothing'}",
            "why": "KsanaLLM swaps out the decoding request whose block allocation failed (or holds back new "
                   "launches), keeping its KV on the host; vLLM frees the LAST running request's blocks, "
                   "resets it to 0 computed tokens, puts it at the front of the waiting queue and admits "
                   "nothing else that step",
            "ksanallm": ["ContinuousBatchingStrategy::ProcessDecodingQueue", "PrefixCacheManager::SwapoutRequestAsync"],
            "vllm": ["Scheduler.schedule", "KVCacheManager.allocate_slots", "Scheduler._preempt_request",
                     "KVCacheManager.free"],
        }
    for rid in sorted(set(k["hits"]) & set(v["hits"])):
        if k["hits"][rid] != v["hits"][rid]:
            return {
                "request": rid,
                "what": f"request {rid} hits {k['hits'][rid]} cached tokens in KsanaLLM, {v['hits'][rid]} in vLLM",
                "why": "KsanaLLM matches every full block of the prompt and recomputes only the last token; "
                       "vLLM caps the hit at num_tokens - 1 and so recomputes the whole last block when the "
                       "prompt is block-aligned; which cached blocks survived also differs (KsanaLLM evicts the "
                       "newest unreferenced tree blocks, vLLM the head of its LRU free queue)",
                "ksanallm": ["PrefixCacheManager::GetRequestPrefixBlockNumber", "PrefixCacheManager::FreeCachedBlocks"],
                "vllm": ["KVCacheManager.get_computed_blocks", "FullAttentionManager.find_longest_cache_hit",
                         "BlockPool.get_new_blocks"],
            }
    only_v = sorted(set(v["prefill"]) - set(k["prefill"]))
    only_k = sorted(set(k["prefill"]) - set(v["prefill"]))
    if only_v or only_k:
        rid = (only_v or only_k)[0]
        same_step_hit = bool(only_v) and v["hits"].get(rid, 0) > 0
        return {
            "request": rid,
            "what": f"request {rid} is prefilled by {'vLLM' if only_v else 'KsanaLLM'} only"
                    + (f", with {v['hits'][rid]} tokens hit" if same_step_hit else ""),
            "why": ("vLLM caches a request's full blocks when it allocates them (allocate_slots → "
                    "cache_full_blocks, before the forward pass), so a request admitted later in the same step "
                    "already hits them and needs fewer tokens of the step budget; KsanaLLM adds blocks to its "
                    "tree only after they are computed (UpdateRequestTokens) and, without split-fuse, launches a "
                    "request only if its whole prompt fits max_step_token_num and its blocks fit the usable ones"
                    if same_step_hit else
                    "the engines admit differently: KsanaLLM launches a waiting request only if its whole prompt "
                    "fits the step (without split-fuse) and its blocks plus the launch threshold fit the usable "
                    "blocks; vLLM chunks a prompt to the remaining token budget but requires the whole sequence's "
                    "blocks to be free (scheduler_reserve_full_isl) and admits nothing after a preemption"),
            "ksanallm": ["ContinuousBatchingStrategy::ProcessWaitingQueue", "PrefixCacheManager::UpdateRequestTokens"],
            "vllm": ["Scheduler.schedule", "KVCacheManager.get_computed_blocks", "KVCacheManager.allocate_slots",
                     "BlockPool.cache_full_blocks"],
        }
    diff = sorted(rid for rid in set(k["computed"]) | set(v["computed"])
                  if k["computed"].get(rid) != v["computed"].get(rid))
    rid = diff[0] if diff else None
    return {
        "request": rid,
        "what": f"request {rid} computes {k['computed'].get(rid, 0)} tokens in KsanaLLM, "
                f"{v['computed'].get(rid, 0)} in vLLM",
        "why": "the engines are at different points of this request (an earlier difference in admission, "
               "chunking or preemption carried over), or one engine's batch/token limit cut it this step",
        "ksanallm": ["ContinuousBatchingStrategy::Schedule"],
        "vllm": ["Scheduler.schedule"],
    }


def lockstep(k: Any, v: Any, trace: list[Any], max_steps: int = MAX_STEPS
             ) -> Iterator[tuple[dict[str, Any] | None, dict[str, Any] | None]]:
    """Two engines stepped together over `trace` ((arrival, id, prompt, max_new_tokens) items):
    each step's `to_dict()` of each, None for an engine with nothing to do and no arrival pending."""
    for step in range(max_steps):
        for at, rid, prompt, max_new in trace:
            if at == step:
                k.add_request(rid, prompt, max_new)
                v.add_request(rid, prompt, max_new)
        pending = any(at > step for at, *_ in trace)
        a = k.step().to_dict() if k.has_work() or pending else None
        b = v.step().to_dict() if v.has_work() or pending else None
        yield a, b
        if not (k.has_work() or v.has_work() or pending):
            return


def compare(trace: list[tuple[int, int, list[int], int]] | None = None) -> dict[str, Any]:
    """Replay the trace through both engines; the whole comparison as a JSON-ready dict."""
    trace = trace if trace is not None else TRACE
    ks: list[dict[str, Any]] = []
    vs: list[dict[str, Any]] = []
    for a, b in lockstep(*_engines(), trace):
        if a is not None:
            ks.append(_k_step(a))
        if b is not None:
            vs.append(_v_step(b))
    divergence = None
    for i in range(max(len(ks), len(vs))):
        a = ks[i] if i < len(ks) else None
        b = vs[i] if i < len(vs) else None
        if a is None or b is None:
            divergence = {"step": i, "request": None,
                          "what": f"{'KsanaLLM' if a is None else 'vLLM'} has finished; the other still runs",
                          "why": "the earlier differences add up", "ksanallm": [], "vllm": []}
            break
        if (a["computed"], a["hits"], sorted(a["preempted"])) != (b["computed"], b["hits"], sorted(b["preempted"])):
            divergence = {"step": i, **_why(a, b)}
            break
    prompts = {rid: len(p) for _, rid, p, _ in trace}
    return {
        "config": {"block_size": BLOCK, "usable_blocks": DEVICE_BLOCKS, "host_blocks": HOST_BLOCKS,
                   "max_batch_size": MAX_BATCH, "max_step_tokens": STEP_TOKENS,
                   "ksanallm": "Scheduler(preempt_mode='swap', split_fuse_token_num=0, launch_block_threshold=0.0, "
                               "swapin_block_threshold=0.0)",
                   "vllm": "VllmScheduler(chunked prefill, reserve_full_isl, recompute preemption)"},
        "trace": [{"arrival": at, "req_id": rid, "prompt": p, "max_new_tokens": m} for at, rid, p, m in trace],
        "steps": [{"step": i, "ksanallm": ks[i] if i < len(ks) else None, "vllm": vs[i] if i < len(vs) else None}
                  for i in range(max(len(ks), len(vs)))],
        "summary": {"ksanallm": _summary(ks, prompts), "vllm": _summary(vs, prompts)},
        "divergence": divergence,
    }
