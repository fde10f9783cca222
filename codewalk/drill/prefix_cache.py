"""Prefix-cache questions, answered by running `PrefixCacheManager` (KsanaLLM's block tree).

Kinds: `evict` (what FreeCachedBlocks leaves of a prefix), `lookup` (what
GetRequestPrefixBlockNumber returns), `swap-out` (what SwapoutRequestAsync moves and frees),
`usable` (free + reusable after requests finish). Each `solve` takes the engine module —
`codewalk.core` for the question, `codewalk.core.reference` for the independent recomputation.
"""

from __future__ import annotations

import random
from typing import Any, Callable

from codewalk.drill.model import Question, Text

TOPIC = "prefix-cache"
CORE = "core"
SYM = "ksana_llm::PrefixCacheManager::"


def _prompts(rng: random.Random, bs: int) -> dict[str, Any]:
    """A and B: B shares A's first `shared` tokens, then goes its own way."""
    a_len = rng.randint(2 * bs + 1, 5 * bs + bs - 1)
    shared = rng.choice([rng.randint(1, a_len - 1), bs * rng.randint(1, max(1, (a_len - 1) // bs))])
    b_len = shared + rng.randint(1, 3 * bs)
    base = rng.randrange(100, 900) * 10
    a = list(range(base, base + a_len))
    b = a[:shared] + list(range(base + 5000, base + 5000 + b_len - shared))
    return {"block_size": bs, "a": a, "b": b, "shared": shared}


class _Trace:
    """Runs calls on one manager and keeps a demo frame (title, function, result, snapshot) per call."""

    def __init__(self, engine: Any, bs: int, device: int, host: int) -> None:
        self.m = engine.PrefixCacheManager(engine.CacheConfig(block_size=bs, device_blocks=device, host_blocks=host))
        self.frames: list[dict[str, Any]] = []

    def act(self, title: str, function: str, call: Callable[[], Any]) -> Any:
        result = call()
        plain = [list(x) if isinstance(x, tuple) else x for x in result] if isinstance(result, tuple) else result
        self.frames.append({"title": title, "function": function, "result": plain, "snapshot": self.m.snapshot()})
        return result

    def compute(self, rid: int, name: str, tokens: list[int]) -> None:
        """Lookup, allocate and compute a prompt, as the scheduler does for one prefill."""
        m = self.m
        shared, unique, _ = self.act(f"{name} looks up its {len(tokens)}-token prompt", "GetRequestPrefixBlockNumber",
                                     lambda: m.get_request_prefix_block_number(rid, tokens))
        self.act(f"{name} gets {unique} new block(s)", "AllocateRequestBlocks",
                 lambda: m.allocate_request_blocks(rid, unique))
        self.act(f"{name} is computed", "UpdateRequestTokens", lambda: m.update_request_tokens(rid, tokens))

    def finish(self, rid: int, name: str) -> None:
        self.act(f"{name} finishes", "DestroyFinishedRequest", lambda: self.m.destroy_finished_request(rid))


def cached_prefix_blocks(snapshot: dict[str, Any], tokens: list[int]) -> int:
    """How many leading full blocks of `tokens` are in the tree (walked from the root by content)."""
    bs = snapshot["block_size"]
    by_id = {n["block_id"]: n for n in snapshot["nodes"]}
    level = [n for n in snapshot["nodes"] if n["parent"] is None]
    count = 0
    for i in range(len(tokens) // bs):
        want = tokens[i * bs:(i + 1) * bs]
        node = next((n for n in level if n["tokens"] == want), None)
        if node is None:
            break
        count += 1
        level = [by_id[c] for c in node["children"]]
    return count


# ---------------------------------------------------------------------- evict


def make_evict(rng: random.Random) -> dict[str, Any]:
    s = _prompts(rng, rng.choice([4, 8, 16]))
    s["b_running"] = rng.random() < 0.35
    s["device_blocks"] = rng.choice([40, 64, 100])
    a_full = len(s["a"]) // s["block_size"]
    s["evict"] = rng.randint(1, a_full + 2)
    return s


def solve_evict(engine: Any, s: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    t = _Trace(engine, s["block_size"], s["device_blocks"], 16)
    t.compute(1, "A", s["a"])
    t.compute(2, "B", s["b"])
    t.finish(1, "A")
    if not s["b_running"]:
        t.finish(2, "B")
    t.act(f"FreeCachedBlocks({s['evict']})", "FreeCachedBlocks", lambda: t.m.free_cached_blocks(s["evict"]))
    return cached_prefix_blocks(t.m.snapshot(), s["a"]), {"kind": "frames", "frames": t.frames}


def phrase_evict(s: dict[str, Any], answer: int, freed: int) -> tuple[Text, Text]:
    bs, a, b, k = s["block_size"], s["a"], s["b"], s["evict"]
    a_full = len(a) // bs
    b_state = ("B is still running" if s["b_running"] else "B finishes too")
    b_zh = "B 仍在运行" if s["b_running"] else "B 也结束"
    q = Text(f"Block size {bs}, {s['device_blocks']} device blocks. Request A ({len(a)} tokens) is computed, then "
             f"B ({len(b)} tokens, sharing A's first {s['shared']}). A finishes; {b_state}. "
             f"`FreeCachedBlocks({k})` runs. How many of A's {a_full} full blocks are still cached in the tree?",
             f"块大小 {bs}，{s['device_blocks']} 个设备块。请求 A（{len(a)} 个 token）先算完，然后是 B（{len(b)} 个 "
             f"token，与 A 共享前 {s['shared']} 个）。A 结束；{b_zh}。接着执行 `FreeCachedBlocks({k})`。"
             f"A 的 {a_full} 个满块中还有几个留在前缀树里？")
    e = Text(f"FreeCachedBlocks is not LRU: it walks the timed list from the newest end, skips blocks a running "
             f"request references, and frees each unreferenced block together with its whole subtree. "
             f"It freed {freed} block(s) here; {answer} of A's {a_full} full blocks remain.",
             f"FreeCachedBlocks 不是 LRU：它从时间链表最新的一端开始，跳过仍被运行中请求引用的块，每释放一个无人引用的块，"
             f"就连同它的整棵子树一起释放。这里共释放了 {freed} 个块；A 的 {a_full} 个满块还剩 {answer} 个。")
    return q, e


# ---------------------------------------------------------------------- lookup


def make_lookup(rng: random.Random) -> dict[str, Any]:
    s = _prompts(rng, rng.choice([4, 8, 16]))
    bs, a = s["block_size"], s["a"]
    shape = rng.choice(["prefix-of-a", "aligned-prefix", "diverges"])
    if shape == "prefix-of-a":  # C is a leading part of A's prompt
        c = a[:rng.randint(1, len(a))]
    elif shape == "aligned-prefix":
        c = a[:bs * rng.randint(1, len(a) // bs)]
    else:
        cut = rng.randint(0, len(a) - 1)
        c = a[:cut] + [7] * rng.randint(1, 2 * bs)
    s.update(c=c, shape=shape, device_blocks=64, a_running=rng.random() < 0.5)
    return s


def solve_lookup(engine: Any, s: dict[str, Any]) -> tuple[list[int], dict[str, Any]]:
    t = _Trace(engine, s["block_size"], s["device_blocks"], 16)
    t.compute(1, "A", s["a"])
    if not s["a_running"]:
        t.finish(1, "A")
    shared, unique, tokens = t.act(f"C looks up its {len(s['c'])}-token prompt", "GetRequestPrefixBlockNumber",
                                   lambda: t.m.get_request_prefix_block_number(3, s["c"]))
    return [tokens, unique], {"kind": "frames", "frames": t.frames}


def phrase_lookup(s: dict[str, Any], answer: list[int]) -> tuple[Text, Text]:
    bs, a, c = s["block_size"], s["a"], s["c"]
    common = next((i for i, (x, y) in enumerate(zip(a, c)) if x != y), min(len(a), len(c)))
    state, state_zh = ("still running", "仍在运行") if s["a_running"] else ("finished", "已结束")
    q = Text(f"Block size {bs}. Request A ({len(a)} tokens) has been computed and is {state}. Request C's prompt "
             f"has {len(c)} tokens, the first {common} equal to A's. `GetRequestPrefixBlockNumber` for C returns "
             f"(shared_block_num, unique_block_num, shared_token_num): what are shared_token_num and "
             f"unique_block_num?",
             f"块大小 {bs}。请求 A（{len(a)} 个 token）已经算完，{state_zh}。请求 C 的 prompt 有 {len(c)} 个 token，"
             f"前 {common} 个与 A 相同。对 C 调用 `GetRequestPrefixBlockNumber` 返回 (shared_block_num, "
             f"unique_block_num, shared_token_num)：shared_token_num 和 unique_block_num 各是多少？")
    tokens, unique = answer
    e = Text(f"Only full blocks whose exact contents sit in the tree match: {tokens // bs} block(s), {tokens} "
             f"tokens. unique_block_num = (check_token_num + block_size) // block_size - shared = "
             f"({len(c)} + {bs}) // {bs} - {tokens // bs} = {unique}"
             + (" — one block more than needed, because the prompt is block-aligned" if len(c) % bs == 0 else "")
             + ". The lookup takes no references.",
             f"只有内容与树中完全一致的满块才算命中：{tokens // bs} 个块，{tokens} 个 token。unique_block_num = "
             f"(check_token_num + block_size) // block_size - shared = ({len(c)} + {bs}) // {bs} - {tokens // bs} = "
             f"{unique}" + ("——prompt 恰好按块对齐，所以多算了一块" if len(c) % bs == 0 else "") + "。查找不登记任何引用。")
    return q, e


# ---------------------------------------------------------------------- swap-out


def make_swap(rng: random.Random) -> dict[str, Any]:
    s = _prompts(rng, rng.choice([4, 8]))
    s.update(device_blocks=64, a_running=rng.random() < 0.4)
    return s


def solve_swap(engine: Any, s: dict[str, Any]) -> tuple[list[int], dict[str, Any]]:
    t = _Trace(engine, s["block_size"], s["device_blocks"], 32)
    t.compute(1, "A", s["a"])
    t.compute(2, "B", s["b"])
    if not s["a_running"]:
        t.finish(1, "A")
    host, freed = t.act("B is swapped out", "SwapoutRequestAsync", lambda: t.m.swapout_request_async(2))
    t.act("the copy completes", "MergeSwapoutRequest", lambda: t.m.merge_swapout_request(2))
    return [host, freed], {"kind": "frames", "frames": t.frames}


def phrase_swap(s: dict[str, Any], answer: list[int]) -> tuple[Text, Text]:
    bs, a, b = s["block_size"], s["a"], s["b"]
    state, state_zh = ("still running", "仍在运行") if s["a_running"] else ("finished (its blocks stay cached)",
                                                                         "已结束（它的块仍留在缓存里）")
    q = Text(f"Block size {bs}. A ({len(a)} tokens) and then B ({len(b)} tokens, sharing A's first {s['shared']}) "
             f"are computed; A is {state}. B is preempted: `SwapoutRequestAsync(B)` returns (blocks moved to host, "
             f"other tree blocks freed with a detached subtree). What are the two numbers?",
             f"块大小 {bs}。先算完 A（{len(a)} 个 token），再算完 B（{len(b)} 个 token，与 A 共享前 {s['shared']} 个）；"
             f"A {state_zh}。B 被抢占：`SwapoutRequestAsync(B)` 返回（换到主机的块数，随被摘下的子树一起释放的其他树上块数）。"
             f"这两个数各是多少？")
    host, freed = answer
    e = Text(f"Swap-out moves, tail to head, only the device blocks no other running request uses: {host} block(s) "
             f"go to host. A finished request's reference does not count, so when A no longer runs the shared "
             f"blocks move too, and detaching a tree block frees its whole subtree — A's cached tail: {freed} "
             f"block(s). The device blocks return to the free queue at MergeSwapoutRequest.",
             f"换出时从尾到头只挑没有其他运行中请求在用的设备块：{host} 个块去了主机。已结束请求的引用不算数，所以 A 不再运行时"
             f"共享块也会被换出；把树上的块摘下会释放它的整棵子树——也就是 A 缓存着的尾部：{freed} 个块。"
             f"设备块在 MergeSwapoutRequest 时回到空闲队列。")
    return q, e


# ---------------------------------------------------------------------- usable


def make_usable(rng: random.Random) -> dict[str, Any]:
    bs = rng.choice([4, 8])
    s = _prompts(rng, bs)
    s.update(device_blocks=rng.randint(20, 40), twin=rng.random() < 0.4, finish=rng.choice(["A", "B", "both"]))
    return s


def solve_usable(engine: Any, s: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    t = _Trace(engine, s["block_size"], s["device_blocks"], 16)
    m = t.m
    if s["twin"]:  # C, A's twin, is allocated before A is computed, so it merges into A's blocks later
        t.act("C (same prompt as A) looks up before A is computed", "GetRequestPrefixBlockNumber",
              lambda: m.get_request_prefix_block_number(3, s["a"]))
        t.act("C gets its own blocks", "AllocateRequestBlocks",
              lambda: m.allocate_request_blocks(3, m.get_request_prefix_block_number(3, s["a"])[1]))
    t.compute(1, "A", s["a"])
    t.compute(2, "B", s["b"])
    if s["finish"] in ("A", "both"):
        t.finish(1, "A")
    if s["finish"] in ("B", "both"):
        t.finish(2, "B")
    if s["twin"]:
        t.act("C is computed: its full blocks merge into A's", "UpdateRequestTokens",
              lambda: m.update_request_tokens(3, s["a"]))
    return m.get_usable_block_number(), {"kind": "frames", "frames": t.frames}


def phrase_usable(s: dict[str, Any], answer: int, snap: dict[str, Any]) -> tuple[Text, Text]:
    bs, a, b = s["block_size"], s["a"], s["b"]
    who = {"A": ("A finishes", "A 结束"), "B": ("B finishes", "B 结束"), "both": ("both finish", "两者都结束")}[s["finish"]]
    twin = (" Before A was computed, C (same prompt as A) looked up and got its own blocks; after the finishes C "
            "is computed." if s["twin"] else "")
    twin_zh = ("在 A 算完之前，C（与 A 的 prompt 相同）已经查找并拿到了自己的块；上述请求结束后 C 才算完。" if s["twin"] else "")
    q = Text(f"Block size {bs}, {s['device_blocks']} device blocks. A ({len(a)} tokens) and B ({len(b)} tokens, "
             f"sharing A's first {s['shared']}) are computed; {who[0]}.{twin} What does "
             f"`GetUsableBlockNumber()` return?",
             f"块大小 {bs}，{s['device_blocks']} 个设备块。A（{len(a)} 个 token）和 B（{len(b)} 个 token，与 A 共享前 "
             f"{s['shared']} 个）都已算完；{who[1]}。{twin_zh}`GetUsableBlockNumber()` 返回多少？")
    free, reusable = len(snap["free"]), len(snap["reusable"])
    bug = (" With the twin merge, upstream bug 1 can leave a block C now uses in the reusable set, so usable "
           "is over-counted." if s["twin"] else "")
    bug_zh = "发生孪生合并时，上游 bug 1 可能把 C 正在使用的块留在可复用集合里，于是可用块被多算。" if s["twin"] else ""
    e = Text(f"usable = free blocks + reusable tree blocks (cached, referenced by nobody) = {free} + {reusable} = "
             f"{answer}.{bug}",
             f"可用块 = 空闲块 + 可复用的树上块（仍缓存、无人引用）= {free} + {reusable} = {answer}。{bug_zh}")
    return q, e


# ---------------------------------------------------------------------- the topic


def generate(kind: str, rng: random.Random, seed: int) -> Question:
    import codewalk.core as core

    make, solve = KINDS[kind]
    s = make(rng)
    answer, replay = solve(core, s)
    last = replay["frames"][-1]
    if kind == "evict":
        q, e = phrase_evict(s, answer, last["result"])
        form, shown, sym = "int", str(answer), ["FreeCachedBlocks"]
        notes = ["core.prefix-cache-manager.free-cached-blocks"]
    elif kind == "lookup":
        q, e = phrase_lookup(s, answer)
        form, shown, sym = "pair", f"{answer[0]} {answer[1]}", ["GetRequestPrefixBlockNumber"]
        notes = ["core.prefix-cache-manager.get-request-prefix-block-number"]
    elif kind == "swap-out":
        q, e = phrase_swap(s, answer)
        form, shown, sym = "pair", f"{answer[0]} {answer[1]}", ["SwapoutRequestAsync", "MergeSwapoutRequest"]
        notes = ["core.prefix-cache-manager.swapout-request-async"]
    else:
        q, e = phrase_usable(s, answer, last["snapshot"])
        form, shown, sym = "int", str(answer), ["UpdateRequestTokens", "DestroyFinishedRequest"]
        notes = ["core.prefix-cache-manager.update-request-tokens"]
    return Question(TOPIC, kind, seed, q, form, answer, Text(shown, shown), e, scenario=s, replay=replay,
                    symbols=[(CORE, SYM + name) for name in sym], notes=notes)


def recompute(kind: str, scenario: dict[str, Any], engine: Any) -> Any:
    """The answer of `kind` on `scenario`, computed by `engine` (e.g. codewalk.core.reference)."""
    return KINDS[kind][1](engine, scenario)[0]


KINDS: dict[str, tuple[Callable[[random.Random], dict[str, Any]], Callable[[Any, dict[str, Any]], Any]]] = {
    "evict": (make_evict, solve_evict),
    "lookup": (make_lookup, solve_lookup),
    "swap-out": (make_swap, solve_swap),
    "usable": (make_usable, solve_usable),
}
