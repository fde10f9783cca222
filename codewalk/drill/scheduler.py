"""Scheduler questions, answered by stepping `Scheduler` (KsanaLLM's ContinuousBatchingStrategy).

Kinds: `preempt` (who is preempted at step S, by swap or recompute), `finish-step` (when a
request finishes), `launch-order` (in which order requests are first prefilled: FCFS after
BalanceWaitingReqs' longest-first), `prefix-hit` (tokens a request reuses when launched).
"""

from __future__ import annotations

import random
from typing import Any

from codewalk.drill.model import Question, Text, multiple_choice

TOPIC = "scheduler"
SYM = "ksana_llm::ContinuousBatchingStrategy::"
MAX_STEPS = 120
# Set explicitly, not KsanaLLM's default 2.0: on pools of 7-16 blocks, 2 blocks kept free per running
# request would leave little to ask about. The setup text says so.
BLOCK_THRESHOLDS = {"launch_block_threshold": 0.0, "swapin_block_threshold": 0.0}


def make_trace(rng: random.Random, tight: bool = False) -> dict[str, Any]:
    """A small pool and 3-5 requests, some sharing a system prompt; prompt lengths all differ."""
    bs = 4
    n = rng.randint(3, 5)
    system = list(range(500, 500 + rng.choice([4, 5, 8])))
    lengths = rng.sample(range(2, 15), n)
    reqs = []
    for i, length in enumerate(lengths):
        rid = i + 1
        if rng.random() < 0.5 and length > len(system):
            prompt = system + [rid * 100 + k for k in range(length - len(system))]
        else:
            prompt = [rid * 100 + k for k in range(length)]
        reqs.append({"id": rid, "arrival": rng.randint(0, 3), "prompt": prompt, "max_new_tokens": rng.randint(2, 8)})
    return {
        "block_size": bs,
        "device_blocks": rng.randint(7, 10) if tight else rng.randint(8, 16),
        "host_blocks": 24,
        "max_batch_size": rng.choice([3, 4]),
        "max_step_token_num": rng.choice([16, 32, 64]),
        "split_fuse_token_num": rng.choice([0, 0, 6]),
        "preempt_mode": rng.choice(["swap", "recompute"]),
        "requests": reqs,
    }


def run(engine: Any, s: dict[str, Any]) -> list[dict[str, Any]]:
    """Step the scenario to the end; one demo frame (step dict in `result`, snapshot, queues) per step."""
    keys = ("block_size", "device_blocks", "host_blocks", "max_batch_size", "max_step_token_num",
            "split_fuse_token_num", "preempt_mode")
    sched = engine.Scheduler(engine.SchedulerConfig(**{k: s[k] for k in keys}, **BLOCK_THRESHOLDS))
    pending = sorted(s["requests"], key=lambda r: (r["arrival"], r["id"]))
    frames: list[dict[str, Any]] = []
    while (pending or sched.has_work()) and len(frames) < MAX_STEPS:
        while pending and pending[0]["arrival"] <= sched.step_count:
            q = pending.pop(0)
            sched.add_request(q["id"], q["prompt"], q["max_new_tokens"])
        d = sched.step().to_dict()
        d["prefix_hit_tokens"] = {int(k): v for k, v in d["prefix_hit_tokens"].items()}
        frames.append({"title": f"step {d['step']}", "result": d, "snapshot": sched.cache.snapshot(),
                       "queues": {k: d[k] for k in ("waiting", "running", "swapped")}})
    return frames


def first_preemption(frames: list[dict[str, Any]]) -> list[Any] | None:
    """[step, req_id, 'swap'|'recompute'] of the first step that preempts exactly one request."""
    for f in frames:
        d = f["result"]
        out = [(r, "swap") for r in d["swapped_out"]] + [(r, "recompute") for r in d["recomputed"]]
        if len(out) == 1:
            return [d["step"], out[0][0], out[0][1]]
        if out:
            return None
    return None


def finish_step(frames: list[dict[str, Any]], rid: int) -> int:
    return next((f["result"]["step"] for f in frames if rid in f["result"]["finished"]), -1)


def launch_order(frames: list[dict[str, Any]]) -> list[int]:
    order: list[int] = []
    for f in frames:
        for rid, _ in f["result"]["prefill"]:
            if rid not in order:
                order.append(rid)
    return order


def first_hit(frames: list[dict[str, Any]], rid: int) -> int:
    for f in frames:
        d = f["result"]
        if any(r == rid for r, _ in d["prefill"]):
            return int(d["prefix_hit_tokens"].get(rid, 0))
    return -1


def solve(kind: str, engine: Any, s: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    frames = run(engine, s)
    if kind == "preempt":
        value: Any = first_preemption(frames)
    elif kind == "finish-step":
        value = finish_step(frames, s["target"])
    elif kind == "launch-order":
        value = launch_order(frames)
    else:
        value = first_hit(frames, s["target"])
    return value, {"kind": "frames", "frames": frames}


def recompute(kind: str, scenario: dict[str, Any], engine: Any) -> Any:
    """The answer of `kind` on `scenario`, computed by `engine` (e.g. codewalk.core.reference)."""
    return solve(kind, engine, scenario)[0]


# ---------------------------------------------------------------------- phrasing


def _setup(s: dict[str, Any]) -> Text:
    rows = "; ".join(f"{r['id']}: {len(r['prompt'])} tokens at step {r['arrival']}, {r['max_new_tokens']} new"
                     for r in s["requests"])
    rows_zh = "；".join(f"{r['id']}：{len(r['prompt'])} 个 token，第 {r['arrival']} 步到达，生成 {r['max_new_tokens']} 个"
                       for r in s["requests"])
    sharing = [r["id"] for r in s["requests"] if r["prompt"][0] == 500]
    share = f" Requests {sharing} start with the same {_system_len(s)}-token system prompt." if len(sharing) > 1 else ""
    share_zh = f"请求 {sharing} 以相同的 {_system_len(s)} 个 token 的系统提示开头。" if len(sharing) > 1 else ""
    sf = s["split_fuse_token_num"]
    return Text(f"Scheduler: block size {s['block_size']}, {s['device_blocks']} device blocks, batch ≤ "
                f"{s['max_batch_size']}, ≤ {s['max_step_token_num']} tokens per step, split-fuse "
                f"{sf or 'off'}, preempt_mode={s['preempt_mode']}, launch/swap-in block thresholds 0 (KsanaLLM's "
                f"default is 2.0). Requests (steps count from 0): {rows}.{share}",
                f"调度器：块大小 {s['block_size']}，{s['device_blocks']} 个设备块，batch ≤ {s['max_batch_size']}，"
                f"每步 ≤ {s['max_step_token_num']} 个 token，split-fuse {sf or '关闭'}，preempt_mode={s['preempt_mode']}，"
                f"launch/swap-in 块阈值为 0（KsanaLLM 默认 2.0）。"
                f"请求（步数从 0 开始）：{rows_zh}。{share_zh}")


def _system_len(s: dict[str, Any]) -> int:
    shared = [r["prompt"] for r in s["requests"] if r["prompt"][0] == 500]
    return sum(1 for t in shared[0] if 500 <= t < 600) if shared else 0


def generate(kind: str, rng: random.Random, seed: int) -> Question:
    import codewalk.core as core

    for _ in range(200):  # redraw until the scenario asks something well-defined
        s = make_trace(rng, tight=kind == "preempt")
        if kind in ("finish-step", "prefix-hit"):
            pool = [r["id"] for r in s["requests"]]
            if kind == "prefix-hit":
                pool = [r["id"] for r in s["requests"] if r["prompt"][0] == 500]
                if len(pool) < 2:
                    continue
            s["target"] = rng.choice(pool)
        value, replay = solve(kind, core, s)
        if value is not None and value != -1 and not (kind == "preempt" and value[0] >= MAX_STEPS - 1):
            break
    else:  # pragma: no cover - the draws above always find one
        raise RuntimeError(f"no {kind} scenario for seed {seed}")
    setup = _setup(s)
    return _question(kind, seed, s, value, replay, setup, rng)


def _question(kind: str, seed: int, s: dict[str, Any], value: Any, replay: dict[str, Any], setup: Text,
              rng: random.Random) -> Question:
    choices: list[Text] = []
    answer: Any = value
    if kind == "preempt":
        step, rid, mode = value
        right = Text(f"request {rid} — {mode}", f"请求 {rid}——{'换出' if mode == 'swap' else '重算'}")
        wrong = [Text(f"request {r['id']} — {m}", f"请求 {r['id']}——{'换出' if m == 'swap' else '重算'}")
                 for r in s["requests"] for m in ("swap", "recompute")]
        choices, answer = multiple_choice(rng, right, wrong)
        q = Text(f"{setup.en} Which request is preempted at step {step}, and by swap or recompute?",
                 f"{setup.zh}第 {step} 步哪个请求被抢占？是换出（swap）还是重算（recompute）？")
        if mode == "recompute" and s["preempt_mode"] == "swap":  # split-fuse's own recompute path
            e = Text(f"At step {step} ProcessDecodingQueue runs short of blocks while split-fuse is on: it recomputes "
                     f"the half-prefilled waiting request {rid} (RecomputeChunkedWaitingRequests, its KV dropped) and "
                     f"turns split-fuse off for good — a recompute although preempt_mode=swap.",
                     f"第 {step} 步 ProcessDecodingQueue 在开启 split-fuse 时块不够：它重算只 prefill 了一半的等待请求 {rid}"
                     f"（RecomputeChunkedWaitingRequests，丢弃其 KV），并永久关闭 split-fuse——尽管 preempt_mode=swap，"
                     f"这里是重算。")
        else:
            e = Text(f"At step {step} ProcessDecodingQueue cannot give request {rid} the block for its next token. With "
                     f"more than one request decoding and no swap-out pending, the request that failed is preempted: "
                     f"preempt_mode={s['preempt_mode']} → "
                     + ("swap (its KV goes to host)." if mode == "swap" else
                        "recompute (its KV is dropped; it goes to the front of the waiting queue)."),
                     f"第 {step} 步 ProcessDecodingQueue 无法为请求 {rid} 分配下一个 token 所需的块。当有不止一个请求在 "
                     f"decode 且没有待完成的换出时，分配失败的那个请求被抢占：preempt_mode={s['preempt_mode']} → "
                     + ("换出（KV 拷到主机）。" if mode == "swap" else "重算（丢弃 KV，放回等待队列队首）。"))
        return Question(TOPIC, kind, seed, q, "choice", answer, right, e, scenario=s, choices=choices, replay=replay,
                        symbols=[("core", SYM + "ProcessDecodingQueue"), ("core", SYM + "PreemptRequest"),
                                 ("core", SYM + "RecomputeChunkedWaitingRequests")],
                        notes=["core.continuous-batching-strategy.process-decoding-queue"], value=value)
    if kind == "finish-step":
        rid = s["target"]
        q = Text(f"{setup.en} At which step does request {rid} finish?",
                 f"{setup.zh}请求 {rid} 在第几步结束？")
        e = Text(f"Request {rid} finishes at step {value}: its prompt is prefilled (whole, or in split-fuse chunks) "
                 f"when ProcessWaitingQueue launches it, every step after samples one token, and "
                 f"UpdateRunningRequests finishes it when max_new_tokens is reached; waiting, swaps and preemptions "
                 f"in between delay it — the replay shows each step.",
                 f"请求 {rid} 在第 {value} 步结束：ProcessWaitingQueue 启动它时做 prefill（整段，或按 split-fuse 分块），"
                 f"之后每步采样一个 token，达到 max_new_tokens 时由 UpdateRunningRequests 结束；中间的等待、换入换出和"
                 f"抢占都会推迟它——回放里有每一步。")
        return Question(TOPIC, kind, seed, q, "int", value, Text(str(value), str(value)), e, scenario=s,
                        replay=replay, symbols=[("core", SYM + "UpdateRunningRequests"), ("core", SYM + "Schedule")],
                        notes=["core.continuous-batching-strategy.update-running-requests"])
    if kind == "launch-order":
        shown = " ".join(map(str, value))
        q = Text(f"{setup.en} In which order are the requests first prefilled?",
                 f"{setup.zh}这些请求第一次被 prefill 的顺序是什么？")
        e = Text("The waiting queue is strict FCFS with head-of-line blocking, but requests arriving in the same "
                 "step enter it longest-first (BalanceWaitingReqs), and a request is launched only when its blocks "
                 f"plus the launch threshold fit the usable blocks and its prompt fits the step. Order: {shown}.",
                 "等待队列严格先来先服务、队头阻塞；但同一步到达的请求按剩余 prefill 长度从长到短进入队列（BalanceWaitingReqs），"
                 f"而且只有当它的块数加启动阈值放得下、prompt 放得进本步时才会启动。顺序：{shown}。")
        return Question(TOPIC, kind, seed, q, "sequence", value, Text(shown, shown), e, scenario=s, replay=replay,
                        symbols=[("core", SYM + "ProcessWaitingQueue"), ("core", SYM + "Schedule")],
                        notes=["core.continuous-batching-strategy.process-waiting-queue"])
    rid = s["target"]
    q = Text(f"{setup.en} How many prompt tokens does request {rid} reuse from the prefix cache when it is first "
             f"launched?",
             f"{setup.zh}请求 {rid} 第一次启动时从前缀缓存复用了多少个 prompt token？")
    e = Text(f"The lookup on the first chunk matches only full blocks already computed and in the tree: a request "
             f"launched in the same step as the one sharing its prefix, or before that one's prefill completes, "
             f"hits nothing; when the whole prompt matches, the last token is recomputed. Here: {value}.",
             f"对第一个分块做前缀查找时，只有已经算完、挂进树里的满块才能命中：与共享前缀的请求同一步启动、或在对方 prefill "
             f"完成前启动，都命中不了；整个 prompt 都命中时最后一个 token 仍要重算。这里是 {value}。")
    return Question(TOPIC, kind, seed, q, "int", value, Text(str(value), str(value)), e, scenario=s, replay=replay,
                    symbols=[("core", SYM + "ProcessWaitingQueue"),
                             ("core", "ksana_llm::PrefixCacheManager::GetRequestPrefixBlockNumber")],
                    notes=["core.continuous-batching-strategy.process-waiting-queue",
                           "core.prefix-cache-manager.get-request-prefix-block-number"])


KINDS = ("preempt", "finish-step", "launch-order", "prefix-hit")
