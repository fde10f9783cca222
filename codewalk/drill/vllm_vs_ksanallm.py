"""KsanaLLM vs vLLM questions: one trace through both policies, as `codewalk demo compare` does.

KsanaLLM mode is the bound `Scheduler` (swap preemption, blocks enter the tree once computed);
vLLM mode is `VllmScheduler` over `VllmKVCacheManager` (recompute preemption of the last running
request, blocks cached at allocation, hits capped at num_tokens - 1). Same pool, limits and fake
model as the compare demo. Kinds: `hit-tokens`, `preemptions`, `steps-to-finish`,
`first-divergence`.
"""

from __future__ import annotations

import random
from typing import Any

from codewalk.drill.model import Question, Text

TOPIC = "vllm-vs-ksanallm"
BLOCK, DEVICE_BLOCKS, HOST_BLOCKS, MAX_BATCH, STEP_TOKENS, MAX_STEPS = 4, 10, 12, 4, 16, 60  # = lessons/compare.py
# = lessons/compare.py: 0, not KsanaLLM's default 2.0, so neither engine keeps blocks in reserve.
BLOCK_THRESHOLDS = {"launch_block_threshold": 0.0, "swapin_block_threshold": 0.0}
KINDS = ("hit-tokens", "preemptions", "steps-to-finish", "first-divergence")
K_SYMBOLS = {"hit-tokens": ["ksana_llm::PrefixCacheManager::GetRequestPrefixBlockNumber",
                            "ksana_llm::VllmKVCacheManager::GetComputedBlocks"],
             "preemptions": ["ksana_llm::ContinuousBatchingStrategy::ProcessDecodingQueue",
                             "codewalk.core.vllm_scheduler.VllmScheduler.step"],
             "steps-to-finish": ["ksana_llm::ContinuousBatchingStrategy::Schedule",
                                 "codewalk.core.vllm_scheduler.VllmScheduler.step"],
             "first-divergence": ["ksana_llm::ContinuousBatchingStrategy::ProcessWaitingQueue",
                                  "ksana_llm::VllmKVCacheManager::AllocateSlots",
                                  "codewalk.core.vllm_scheduler.VllmScheduler.step"]}
K_NOTES = {"hit-tokens": ["core.prefix-cache-manager.get-request-prefix-block-number"],
           "preemptions": ["core.continuous-batching-strategy.process-decoding-queue"],
           "steps-to-finish": ["core.continuous-batching-strategy.schedule"],
           "first-divergence": ["core.continuous-batching-strategy.process-waiting-queue"]}


def make_trace(rng: random.Random, kind: str) -> list[list[Any]]:
    """[arrival, req_id, prompt, max_new_tokens] rows; a shared system prompt in most of them."""
    system = list(range(11, 11 + rng.choice([4, 6, 8, 9])))
    rows = []
    n = rng.randint(2, 3) if kind == "hit-tokens" else rng.randint(3, 5)
    at = 0
    for rid in range(1, n + 1):
        own = [rid * 100 + k for k in range(rng.randint(0 if rid > 1 else 1, 6))]
        prompt = system + own if rid <= 2 or rng.random() < 0.6 else [rid * 100 + 50 + k for k in range(rng.randint(2, 12))]
        rows.append([at, rid, prompt or [rid], rng.randint(5, 10) if kind == "preemptions" else rng.randint(2, 7)])
        at += rng.choice([0, 0, 1, 2, 4, 8]) if kind == "hit-tokens" else rng.choice([0, 0, 1, 2])
    return rows


def _engines(engine: Any) -> tuple[Any, Any]:
    from codewalk.core.vllm_scheduler import VllmScheduler, VllmSchedulerConfig

    k = engine.Scheduler(engine.SchedulerConfig(block_size=BLOCK, device_blocks=DEVICE_BLOCKS, host_blocks=HOST_BLOCKS,
                                                max_batch_size=MAX_BATCH, max_step_token_num=STEP_TOKENS,
                                                split_fuse_token_num=0, preempt_mode="swap", **BLOCK_THRESHOLDS))
    v = VllmScheduler(VllmSchedulerConfig(block_size=BLOCK, num_blocks=DEVICE_BLOCKS + 1, max_num_seqs=MAX_BATCH,
                                          max_num_batched_tokens=STEP_TOKENS), manager_cls=engine.VllmKVCacheManager)
    return k, v


def _k_row(d: dict[str, Any]) -> dict[str, Any]:
    prefill = {rid: n for rid, n in d["prefill"]}
    return {"computed": {**prefill, **{rid: 1 for rid in d["decode"]}}, "prefill": prefill, "decode": list(d["decode"]),
            "hits": {int(r): n for r, n in d["prefix_hit_tokens"].items() if r in prefill and n > 0},
            "preempted": list(d["swapped_out"]) + list(d["recomputed"]), "swapped_out": list(d["swapped_out"]),
            "swapped_in": list(d["swapped_in"]), "recomputed": list(d["recomputed"]), "finished": list(d["finished"]),
            "held": DEVICE_BLOCKS - d["usable_blocks"]}


def _v_row(d: dict[str, Any]) -> dict[str, Any]:
    prefill = {rid: n for rid, n in d["prefill"]}
    return {"computed": {**prefill, **{rid: 1 for rid in d["decode"]}}, "prefill": prefill, "decode": list(d["decode"]),
            "hits": {int(r): n for r, n in d["prefix_hit_tokens"].items() if n > 0},
            "preempted": list(d["preempted"]), "swapped_out": [], "swapped_in": [], "recomputed": list(d["preempted"]),
            "finished": list(d["finished"]), "held": DEVICE_BLOCKS - d["free_blocks"]}


def replay(engine: Any, trace: list[list[Any]]) -> dict[str, Any]:
    """Both engines stepped in lock-step over the trace: {"steps": [{step, ksanallm, vllm}]}."""
    from codewalk.lessons.compare import lockstep

    ks: list[dict[str, Any]] = []
    vs: list[dict[str, Any]] = []
    first_launch: dict[str, dict[int, int]] = {"ksanallm": {}, "vllm": {}}
    for a, b in lockstep(*_engines(engine), trace, MAX_STEPS):
        if a is not None:
            for rid, _ in a["prefill"]:
                first_launch["ksanallm"].setdefault(rid, int(a["prefix_hit_tokens"].get(rid, 0)))
            ks.append(_k_row(a))
        if b is not None:
            for rid, n in b["prefix_hit_tokens"].items():
                first_launch["vllm"].setdefault(int(rid), n)
            vs.append(_v_row(b))
    n = max(len(ks), len(vs))
    steps = [{"step": i, "ksanallm": ks[i] if i < len(ks) else None, "vllm": vs[i] if i < len(vs) else None}
             for i in range(n)]
    return {"kind": "compare", "trace": trace, "steps": steps, "first_hits": first_launch,
            "summary": {"ksanallm": _totals(ks), "vllm": _totals(vs)}, "divergence": _divergence(steps)}


def _totals(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {"preemptions": sum(len(s["preempted"]) for s in rows), "steps_to_finish": len(rows),
            "prefix_hit_tokens": sum(sum(s["hits"].values()) for s in rows),
            "peak_blocks_held": max((s["held"] for s in rows), default=0)}


def _divergence(steps: list[dict[str, Any]]) -> int | None:
    for s in steps:
        a, b = s["ksanallm"], s["vllm"]
        if a is None or b is None:
            return s["step"]
        if (a["computed"], a["hits"], sorted(a["preempted"])) != (b["computed"], b["hits"], sorted(b["preempted"])):
            return s["step"]
    return None


def solve(kind: str, engine: Any, s: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    doc = replay(engine, s["trace"])
    if kind == "hit-tokens":
        rid = s["target"]
        value: Any = [doc["first_hits"]["ksanallm"].get(rid, -1), doc["first_hits"]["vllm"].get(rid, -1)]
    elif kind == "first-divergence":
        value = doc["divergence"]
    else:
        key = "preemptions" if kind == "preemptions" else "steps_to_finish"
        value = [doc["summary"]["ksanallm"][key], doc["summary"]["vllm"][key]]
    return value, doc


def recompute(kind: str, scenario: dict[str, Any], engine: Any) -> Any:
    """The answer of `kind` on `scenario`, computed by `engine` (e.g. codewalk.core.reference)."""
    return solve(kind, engine, scenario)[0]


def _setup(trace: list[list[Any]]) -> Text:
    system = [t for t in trace[0][2] if 11 <= t < 100]
    rows = "; ".join(f"{rid}: {len(p)} tokens at step {at}, {m} new"
                     + (" (starts with the system prompt)" if p[:len(system)] == system else "")
                     for at, rid, p, m in trace)
    rows_zh = "；".join(f"{rid}：{len(p)} 个 token，第 {at} 步到达，生成 {m} 个"
                       + ("（以系统提示开头）" if p[:len(system)] == system else "")
                       for at, rid, p, m in trace)
    return Text(f"Block size {BLOCK}, {DEVICE_BLOCKS} usable device blocks in each engine, batch ≤ {MAX_BATCH}, "
                f"≤ {STEP_TOKENS} tokens per step; KsanaLLM's Scheduler (swap preemption, no split-fuse) vs vLLM v1's "
                f"scheduler (chunked prefill, recompute preemption). A {len(system)}-token system prompt. Requests "
                f"(steps from 0): {rows}.",
                f"块大小 {BLOCK}，两个引擎各有 {DEVICE_BLOCKS} 个可用设备块，batch ≤ {MAX_BATCH}，每步 ≤ {STEP_TOKENS} 个 "
                f"token；KsanaLLM 的 Scheduler（换出式抢占，不开 split-fuse）对比 vLLM v1 的调度器（分块 prefill，重算式"
                f"抢占）。系统提示长 {len(system)} 个 token。请求（步数从 0 开始）：{rows_zh}。")


QUESTIONS = {
    "hit-tokens": (Text("How many prompt tokens does request {rid} reuse from the prefix cache when it is first "
                        "launched, under KsanaLLM's policy and under vLLM's? (KsanaLLM first)",
                        "请求 {rid} 第一次启动时从前缀缓存复用多少个 prompt token？分别按 KsanaLLM 和 vLLM 的策略（先写 KsanaLLM）。"),
                   Text("KsanaLLM matches every full block already computed into its tree and recomputes only the "
                        "last token when the whole prompt matches; vLLM caps a hit at num_tokens - 1, so it "
                        "recomputes the whole last block of a block-aligned prompt, but it caches blocks at "
                        "allocation, so a request admitted in the same step as its prefix's owner already hits. "
                        "Here: KsanaLLM {a}, vLLM {b}.",
                        "KsanaLLM 命中树中所有已算完的满块，整个 prompt 都命中时只重算最后一个 token；vLLM 的命中最多 "
                        "num_tokens - 1 个，所以按块对齐的 prompt 要重算整个最后一块，但它在分配时就缓存块，同一步里后"
                        "被接纳的请求已能命中。这里：KsanaLLM {a}，vLLM {b}。")),
    "preemptions": (Text("How many preemptions happen in each engine before every request finishes? (KsanaLLM first)",
                         "所有请求结束之前，两个引擎各发生多少次抢占？（先写 KsanaLLM）"),
                    Text("KsanaLLM preempts the decoding request whose block allocation failed, by swap, and otherwise "
                         "just holds back launches; vLLM preempts the LAST running request by recompute and retries, "
                         "possibly several times in one step. Counted: KsanaLLM {a}, vLLM {b}.",
                         "KsanaLLM 抢占分配失败的那个 decode 请求（换出），否则只是暂停启动新请求；vLLM 抢占最后一个运行中"
                         "的请求（重算）后重试，一步里可能抢占好几次。计数：KsanaLLM {a}，vLLM {b}。")),
    "steps-to-finish": (Text("How many steps does each engine take until every request has finished? (KsanaLLM first)",
                             "两个引擎各用多少步让所有请求结束？（先写 KsanaLLM）"),
                        Text("KsanaLLM launches a waiting request only when its whole prompt fits the step's token "
                             "budget and its blocks fit; vLLM chunks prompts to the budget and admits behind the "
                             "full-sequence gate; preemptions (swap vs recompute) cost steps differently. "
                             "Steps: KsanaLLM {a}, vLLM {b}.",
                             "KsanaLLM 只有当整个 prompt 放得进本步 token 预算、块也够时才启动等待请求；vLLM 按预算把 prompt "
                             "分块，并在整序列准入门之后接纳；抢占（换出或重算）消耗的步数也不同。步数：KsanaLLM {a}，vLLM {b}。")),
    "first-divergence": (Text("At which step do the two schedules first differ (tokens computed, hits or preemptions)?",
                              "两个调度第一次出现差异（计算的 token、命中或抢占）是在第几步？"),
                         Text("Step {a} is the first where the engines compute different tokens, hit different "
                              "prefixes or preempt differently; the replay marks it.",
                              "第 {a} 步是两个引擎第一次在计算的 token、命中的前缀或抢占上不同；回放中标出了这一步。")),
}


def generate(kind: str, rng: random.Random, seed: int) -> Question:
    import codewalk.core as core

    plain = rng.random() < 0.2  # now and then accept a trace where nothing interesting happens
    for _ in range(200):
        s: dict[str, Any] = {"trace": make_trace(rng, kind)}
        if kind == "hit-tokens":
            s["target"] = rng.choice([r[1] for r in s["trace"][1:]])
        value, doc = solve(kind, core, s)
        ok = value is not None and (kind != "hit-tokens" or min(value) >= 0)
        if ok and not plain and kind in ("preemptions", "first-divergence"):
            ok = max(value) > 0 if kind == "preemptions" else value > 0
        if ok:
            break
    else:  # pragma: no cover
        raise RuntimeError(f"no {kind} scenario for seed {seed}")
    q, e = QUESTIONS[kind]
    a, b = (value if isinstance(value, list) else [value, value])
    fill = {"rid": s.get("target", ""), "a": a, "b": b}
    setup = _setup(s["trace"])
    prompt = Text(f"{setup.en} {q.en.format(**fill)}", f"{setup.zh}{q.zh.format(**fill)}")
    form = "int" if kind == "first-divergence" else "pair"
    shown = str(value) if form == "int" else f"{a} {b}"
    labelled = Text(shown if form == "int" else f"KsanaLLM {a}, vLLM {b}", shown if form == "int" else f"KsanaLLM {a}，vLLM {b}")
    return Question(TOPIC, kind, seed, prompt, form, value, labelled, Text(e.en.format(**fill), e.zh.format(**fill)),
                    scenario=s, replay=doc, symbols=[("core", x) for x in K_SYMBOLS[kind]], notes=K_NOTES[kind])
