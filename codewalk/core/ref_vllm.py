"""Pure-Python model of vLLM v1's (0.33.0) prefix-cache block pool, single full-attention group.

What is modelled, in vLLM's terms (`vllm/v1/core/`):

* `BlockPool` (`block_pool.py`): `num_blocks` blocks; block 0 is taken out of the free queue at
  start and serves as the null block (never handed out, never cached, never freed). A block has a
  reference count and, once it is full and cached, a block hash. The hash map keeps *every* block
  cached under a hash, in insertion order; a lookup takes the oldest (vLLM does not de-duplicate
  identical blocks, so block tables stay append-only).
* `FreeKVCacheBlockQueue` (`kv_cache_utils.py`): a doubly linked list in eviction order, block ids
  ascending at start. Allocation pops from the head and drops the popped block's hash (that is the
  eviction). A prefix hit on a block nobody references takes it out of the queue (`touch`).
  Freeing a request walks its blocks from last to first; blocks reaching ref 0 without a hash are
  put at the **head** (reused first), blocks with a hash at the **tail** (evicted last), both in
  that walk order.
* `KVCacheManager` + `FullAttentionManager` (`kv_cache_manager.py`, `single_type_kv_cache_manager.py`):
  `get_computed_blocks` walks the request's chained block hashes, capped at `num_tokens - 1`
  tokens (the last prompt token is always recomputed for its logits); `allocate_slots` counts the
  blocks it needs (new blocks plus hit blocks that sit in the free queue), returns None when the
  free queue is shorter, else touches the hits, pops new blocks and caches every block that is
  full within the tokens computed after this step (at allocation time, before the forward pass).

Block hashes: vLLM chains sha256 (or xxhash) over (parent hash, block tokens, extra keys). Which
function is used is not observable through block ids; only the chaining (a block's hash fixes its
whole prefix) and equality matter. We use our own 64-bit SplitMix chain, identical in the C++ core
(`bindings/vllm_kv_cache_manager.cpp`), and like vLLM assume it never collides.

The API is the one the C++ core binds (`codewalk.core.VllmKVCacheManager`); every refused call
raises CoreError and changes nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Sequence, Union

from codewalk.core.errors import CoreError

# vLLM's Request.request_id is a str; ints are taken too (1 and "1" are different requests).
RequestId = Union[str, int]

_M64 = (1 << 64) - 1
# The parent of a request's first block (vLLM: NONE_HASH).
NONE_HASH = 0x6E6F6E655F686173  # "none_has"


def _mix(x: int) -> int:
    """SplitMix64's finaliser over x + golden gamma (64-bit, wraps)."""
    z = (x + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


def block_hash(parent: int, tokens: Sequence[int]) -> int:
    """The hash of a full block: chained over its parent's hash and its tokens (as uint32)."""
    h = _mix(parent)
    for t in tokens:
        h = _mix(h ^ (t & 0xFFFFFFFF))
    return h


def chain_hashes(tokens: Sequence[int], block_size: int, start: list[int] | None = None) -> list[int]:
    """Hashes of every full block of `tokens`, extending `start` (the hashes already known)."""
    out = list(start) if start else []
    parent = out[-1] if out else NONE_HASH
    for i in range(len(out), len(tokens) // block_size):
        parent = block_hash(parent, tokens[i * block_size:(i + 1) * block_size])
        out.append(parent)
    return out


@dataclass(slots=True)
class _Request:
    tokens: list[int]
    hashes: list[int]
    blocks: list[int] = field(default_factory=list)
    num_cached_blocks: int = 0  # FullAttentionManager.num_cached_block
    num_computed_tokens: int = 0  # Request.num_computed_tokens, advanced as the scheduler would


def _check_int32(tokens: Sequence[int], what: str) -> list[int]:
    out = list(tokens)
    if out and (min(out) < -(1 << 31) or max(out) >= (1 << 31)):
        raise CoreError(f"{what}: tokens must be 32-bit ints")
    return out


# replay's calls: name -> (min, max) positional arguments.
REPLAY_OPS: dict[str, tuple[int, int]] = {
    "get_computed_blocks": (2, 2), "allocate_slots": (3, 5), "free": (1, 1), "free_queue": (0, 0),
    "cached_block_ids": (0, 0), "num_free_blocks": (0, 0), "num_computed_tokens": (1, 1),
    "request_block_ids": (1, 1), "has_request": (1, 1),
}
_I64 = 1 << 63
_INT_ONLY = frozenset((int,))


def _is_i64(x: Any) -> bool:
    return type(x) is int and -_I64 <= x < _I64


def _is_text(x: Any) -> bool:
    """A str request id that is valid text (the C++ core stores it as UTF-8)."""
    if type(x) is not str:
        return False
    try:
        x.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_view(tokens: Any) -> bool:
    """replay's (base, n) form of a token list: base[:n], base a list or tuple."""
    return type(tokens) is tuple and len(tokens) == 2 and type(tokens[0]) in (list, tuple)


def _check_trace(trace: Any) -> list[tuple[str, tuple]]:
    """The trace as (name, args) pairs, or CoreError for the first malformed operation."""
    if type(trace) not in (list, tuple):
        raise CoreError("replay: the trace must be a list or tuple of operation tuples")
    ops = []
    for i, op in enumerate(trace):
        def bad(detail: str) -> CoreError:
            return CoreError(f"replay: operation {i}: {detail}")  # noqa: B023

        if not isinstance(op, tuple) or not op:
            raise bad("not a non-empty tuple")
        name, args = op[0], op[1:]
        if not isinstance(name, str):
            raise bad("the operation name is not a str")
        if name not in REPLAY_OPS:
            raise bad(f"unknown operation '{name}'")
        lo, hi = REPLAY_OPS[name]
        if not lo <= len(args) <= hi:
            span = f"{lo} to {hi}" if hi != lo else f"{lo}"
            raise bad(f"{name} takes {span} arguments, got {len(args)}")
        if args and not (_is_text(args[0]) or _is_i64(args[0])):
            raise bad(f"{name}: req_id must be a str or an int (64-bit)")
        if name in ("get_computed_blocks", "allocate_slots"):
            if type(args[1]) not in (list, tuple):
                raise bad(f"{name}: tokens must be a list or tuple")
            if _is_view(args[1]) and not (_is_i64(args[1][1]) and 0 <= args[1][1] <= len(args[1][0])):
                raise bad(f"{name}: tokens (base, n) needs an int 0 <= n <= len(base)")
        if name == "allocate_slots":
            if not _is_i64(args[2]):
                raise bad("allocate_slots: num_new_tokens must be an int (64-bit)")
            if len(args) >= 4:
                if type(args[3]) not in (list, tuple):
                    raise bad("allocate_slots: hit_block_ids must be a list or tuple")
                if not all(_is_i64(b) for b in args[3]):
                    raise bad("allocate_slots: hit_block_ids must be ints (64-bit)")
            if len(args) >= 5 and type(args[4]) is not bool:
                raise bad("allocate_slots: full_sequence_must_fit must be a bool")
        ops.append((name, args))
    return ops


class VllmKVCacheManager:
    """vLLM v1's BlockPool + FreeKVCacheBlockQueue + KVCacheManager (one full-attention group)."""

    def __init__(self, num_blocks: int, block_size: int) -> None:
        num_blocks, block_size = int(num_blocks), int(block_size)
        if num_blocks < 1 or block_size < 1:
            raise CoreError(f"invalid vLLM cache config: num_blocks={num_blocks}, block_size={block_size}")
        self.num_blocks, self.block_size = num_blocks, block_size
        self.ref_cnt = [0] * num_blocks
        self.hash: list[int | None] = [None] * num_blocks
        # FreeKVCacheBlockQueue, head first; block 0 is popped at once as the null block.
        self.queue: OrderedDict[int, None] = OrderedDict((i, None) for i in range(1, num_blocks))
        self.cached: dict[int, list[int]] = {}  # BlockHashToBlockMap: hash -> block ids, oldest first
        self.requests: dict[RequestId, _Request] = {}

    # --- BlockPool -------------------------------------------------------------------------
    def _evict(self, b: int) -> None:
        """_maybe_evict_cached_block: drop the block's hash from the map."""
        h = self.hash[b]
        if h is None:
            return
        ids = self.cached[h]
        ids.remove(b)
        if not ids:
            del self.cached[h]
        self.hash[b] = None

    def _get_new_blocks(self, n: int) -> list[int]:
        out = []
        for _ in range(n):
            b, _v = self.queue.popitem(last=False)
            self._evict(b)
            self.ref_cnt[b] += 1
            out.append(b)
        return out

    def _touch(self, blocks: Sequence[int]) -> None:
        for b in blocks:
            if self.ref_cnt[b] == 0:
                del self.queue[b]
            self.ref_cnt[b] += 1

    def _free_blocks(self, ordered: Sequence[int]) -> None:
        first, last = [], []
        for b in ordered:
            self.ref_cnt[b] -= 1
            if self.ref_cnt[b] == 0:
                (first if self.hash[b] is None else last).append(b)
        for b in reversed(first):  # prepend_n keeps the list's order at the head
            self.queue[b] = None
            self.queue.move_to_end(b, last=False)
        for b in last:
            self.queue[b] = None

    # --- KVCacheManager ----------------------------------------------------------------------
    def get_computed_blocks(self, req_id: RequestId, tokens: Sequence[int]) -> tuple[list[int], int]:
        """The longest cached prefix of full blocks, at most len(tokens) - 1 tokens. Takes no references."""
        toks = _check_int32(tokens, f"get_computed_blocks({req_id})")
        if not toks:
            raise CoreError(f"get_computed_blocks({req_id}): empty token list")
        bs = self.block_size
        hits: list[int] = []
        parent = NONE_HASH
        for i in range((len(toks) - 1) // bs):
            parent = block_hash(parent, toks[i * bs:(i + 1) * bs])
            ids = self.cached.get(parent)
            if not ids:
                break
            hits.append(ids[0])
        return hits, len(hits) * bs

    def allocate_slots(self, req_id: RequestId, tokens: Sequence[int], num_new_tokens: int,
                       hit_block_ids: Sequence[int] = (), full_sequence_must_fit: bool = False) -> list[int] | None:
        """Slots for `num_new_tokens` more tokens (after the hit); the new block ids, or None if short.

        `full_sequence_must_fit` (vLLM's `scheduler_reserve_full_isl` admission gate) also refuses
        unless the blocks for all of `tokens` fit.
        """
        what = f"allocate_slots({req_id})"
        toks = _check_int32(tokens, what)
        hit = [int(b) for b in hit_block_ids]
        n_new = int(num_new_tokens)
        bs = self.block_size
        if n_new < 0:
            raise CoreError(f"{what}: negative num_new_tokens {n_new}")
        if n_new == 0 and not hit:
            raise CoreError(f"{what}: num_new_tokens must be > 0 when there is no prefix hit")
        req = self.requests.get(req_id)
        if req is not None:
            if hit:
                raise CoreError(f"{what}: a running request takes no new prefix hits")
            if len(toks) < len(req.tokens) or toks[:len(req.tokens)] != req.tokens:
                raise CoreError(f"{what}: tokens do not extend the request's tokens")
            hashes = chain_hashes(toks, bs, req.hashes)
            computed = req.num_computed_tokens
        else:
            hashes = chain_hashes(toks, bs)
            if len(hit) > len(hashes):
                raise CoreError(f"{what}: {len(hit)} hit blocks for {len(toks)} tokens")
            for i, b in enumerate(hit):
                if not 0 < b < self.num_blocks or self.hash[b] != hashes[i]:
                    raise CoreError(f"{what}: block {b} is not the cached block {i} of these tokens")
            computed = len(hit) * bs
        if computed + n_new > len(toks):
            raise CoreError(f"{what}: {computed} computed + {n_new} new tokens exceed the {len(toks)} tokens")

        def blocks_to_allocate(slots: int) -> int:
            """get_num_blocks_to_allocate: blocks missing up to `slots` tokens, plus hits in the free queue."""
            want = -(-slots // bs)
            if req is not None:
                return max(want - len(req.blocks), 0)
            return max(want - len(hit), 0) + sum(1 for b in hit if self.ref_cnt[b] == 0)

        if full_sequence_must_fit and blocks_to_allocate(len(toks)) > len(self.queue):
            return None
        need = -(-(computed + n_new) // bs)
        if blocks_to_allocate(computed + n_new) > len(self.queue):
            return None

        if req is None:
            self._touch(hit)
            req = self.requests[req_id] = _Request(toks, hashes, list(hit), len(hit), 0)
        new = self._get_new_blocks(max(need - len(req.blocks), 0))
        req.blocks.extend(new)
        # cache_blocks -> BlockPool.cache_full_blocks: every block full within the computed tokens.
        full = (computed + n_new) // bs
        for i in range(req.num_cached_blocks, full):
            b, h = req.blocks[i], hashes[i]
            self.hash[b] = h
            self.cached.setdefault(h, []).append(b)
        req.num_cached_blocks = max(req.num_cached_blocks, full)
        req.num_computed_tokens = computed + n_new
        req.tokens, req.hashes = toks, hashes
        return new

    def free(self, req_id: RequestId) -> None:
        """Release the request's blocks, last block first (tail blocks are evicted first)."""
        req = self.requests.pop(req_id, None)
        if req is None:
            raise CoreError(f"free({req_id}): unknown request")
        self._free_blocks(req.blocks[::-1])

    # --- batched calls -------------------------------------------------------------------------
    def replay(self, trace: Sequence[tuple]) -> list[Any]:
        """Run the calls of `trace`, tuples `(name, *args)`, in order; what each call returned, in order.

        Names: those of `REPLAY_OPS`, with positional arguments as the calls take them (plain ints,
        bools, lists or tuples of ints); a token list may also be given as `(base, n)`, a list or
        tuple and an int, meaning `base[:n]` (a request's growing token list, shared by its calls
        without copying). A call refused with CoreError gives `("error", message)` in
        its place and the replay goes on (a refused call changes nothing). A malformed trace (not a
        list or tuple of tuples, an unknown name, a wrong argument count or type) raises CoreError
        before any call runs. A token that is not an int in 32 bits gives that call's error.
        """
        ops = _check_trace(trace)
        out: list[Any] = []
        for name, args in ops:
            if name in ("get_computed_blocks", "allocate_slots"):
                toks = args[1]
                if _is_view(toks):
                    toks = toks[0][:toks[1]]
                    args = (args[0], toks, *args[2:])
                if not _INT_ONLY.issuperset(map(type, toks)):
                    out.append(("error", f"{name}({args[0]}): tokens must be 32-bit ints"))
                    continue
            try:
                out.append(getattr(self, name)(*args))
            except CoreError as e:
                out.append(("error", str(e)))
        return out

    # --- observation -------------------------------------------------------------------------
    def free_queue(self) -> list[int]:
        return list(self.queue)

    def cached_block_ids(self) -> list[int]:
        return sorted(b for b in range(self.num_blocks) if self.hash[b] is not None)

    def num_free_blocks(self) -> int:
        return len(self.queue)

    def request_block_ids(self, req_id: RequestId) -> list[int]:
        req = self.requests.get(req_id)
        if req is None:
            raise CoreError(f"request_block_ids({req_id}): unknown request")
        return list(req.blocks)

    def num_computed_tokens(self, req_id: RequestId) -> int:
        req = self.requests.get(req_id)
        if req is None:
            raise CoreError(f"num_computed_tokens({req_id}): unknown request")
        return req.num_computed_tokens

    def has_request(self, req_id: RequestId) -> bool:
        return req_id in self.requests

    def snapshot(self) -> dict[str, Any]:
        return {
            "block_size": self.block_size,
            "num_blocks": self.num_blocks,
            "free_queue": list(self.queue),
            "ref_cnt": list(self.ref_cnt),
            "block_hash": list(self.hash),
            "cached": {h: list(ids) for h, ids in self.cached.items()},
            "requests": {rid: {"block_ids": list(r.blocks), "num_cached_blocks": r.num_cached_blocks,
                               "num_computed_tokens": r.num_computed_tokens, "num_tokens": len(r.tokens)}
                         for rid, r in self.requests.items()},
        }

    def check_invariants(self) -> None:
        """Raise CoreError naming the first broken invariant."""
        def fail(name: str, detail: str) -> None:
            raise CoreError(f"invariant {name} broken: {detail}")

        if 0 in self.queue or self.hash[0] is not None or self.ref_cnt[0] != 0:
            fail("null-block", "block 0 is queued, cached or referenced")
        refs = [0] * self.num_blocks
        bs = self.block_size
        for rid, r in self.requests.items():
            if len(set(r.blocks)) != len(r.blocks) or 0 in r.blocks:
                fail("request-blocks", f"request {rid} holds {r.blocks}")
            if len(r.blocks) != -(-r.num_computed_tokens // bs) or r.num_computed_tokens > len(r.tokens):
                fail("request-blocks", f"request {rid}: {len(r.blocks)} blocks for {r.num_computed_tokens} tokens")
            if r.num_cached_blocks != r.num_computed_tokens // bs:
                fail("request-blocks", f"request {rid}: {r.num_cached_blocks} cached blocks")
            for i, b in enumerate(r.blocks):
                if self.hash[b] != (r.hashes[i] if i < r.num_cached_blocks else None):
                    fail("request-blocks", f"request {rid}: block {b} carries the wrong hash")
            for b in r.blocks:
                refs[b] += 1
        for b in range(1, self.num_blocks):
            if refs[b] != self.ref_cnt[b]:
                fail("ref-count", f"block {b}: ref_cnt {self.ref_cnt[b]}, held by {refs[b]}")
            if (self.ref_cnt[b] == 0) != (b in self.queue):
                fail("free-queue", f"block {b}: ref_cnt {self.ref_cnt[b]}, queued {b in self.queue}")
        entries = 0
        for h, ids in self.cached.items():
            if not ids or len(set(ids)) != len(ids):
                fail("cache-map", f"hash {h:#x} maps to {ids}")
            for b in ids:
                if self.hash[b] != h:
                    fail("cache-map", f"block {b} is in the map under a hash it does not carry")
            entries += len(ids)
        if entries != sum(h is not None for h in self.hash):
            fail("cache-map", "a block carries a hash the map does not hold")
        if len(self.queue) + sum(r > 0 for r in refs) + 1 != self.num_blocks:
            fail("conservation", "free + referenced + null != num_blocks")
