"""Pure-Python model of KsanaLLM's `PrefixCacheManager` (c451219c), one device.

This is the executable specification the C++ core (`bindings/prefix_cache_manager.cpp`) is
diffed against; names follow KsanaLLM's so the two read side by side. Block ids seen from
outside are memory block ids: device ids 0..device_blocks-1, host ids 0..host_blocks-1.
Children are visited in token order (KsanaLLM's `unordered_map` order is unspecified).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Sequence

from codewalk.core.config import CacheConfig
from codewalk.core.errors import CoreError
from codewalk.core.ref_blocks import RUNNING, SWAPPED, WAITING, PrefixCachedBlock, PrefixCachedRequest
from codewalk.core.ref_invariants import check_prefix_cache

__all__ = ["PrefixCacheManager", "PrefixCachedBlock", "PrefixCachedRequest", "RUNNING", "SWAPPED", "WAITING"]

class PrefixCacheManager:
    """Prefix-cache block tree with reference counts, eviction and two-phase swap."""

    def __init__(self, config: Any) -> None:
        bs, dev, host = int(config.block_size), int(config.device_blocks), int(config.host_blocks)
        if bs <= 0 or dev <= 0 or host < 0:
            raise CoreError(f"invalid cache config: block_size={bs}, device_blocks={dev}, host_blocks={host}")
        self.block_size, self.device_blocks, self.host_blocks = bs, dev, host
        self.enable_prefix_caching = bool(getattr(config, "enable_prefix_caching", True))
        self.fix_upstream_bugs = bool(getattr(config, "fix_upstream_bugs", False))
        self.root = PrefixCachedBlock(is_root=True)
        # InitializeCachedBlocks: every device block starts in the FIFO free queue.
        self.free: deque[PrefixCachedBlock] = deque(PrefixCachedBlock(i) for i in range(dev))
        self.host_free: deque[int] = deque(range(host))
        self.requests: dict[int, PrefixCachedRequest] = {}
        self.reusable: dict[PrefixCachedBlock, None] = {}
        self.timed: dict[PrefixCachedBlock, None] = {}  # insertion-ordered: oldest first
        # Swap tasks: req_id -> (blocks whose KV moves, their counterpart). Copied at merge time.
        self.swapout_tasks: dict[int, tuple[list[PrefixCachedBlock], list[PrefixCachedBlock]]] = {}
        self.swapin_tasks: dict[int, tuple[list[PrefixCachedBlock], list[int]]] = {}
        self.leaked_blocks = 0  # device blocks lost by KsanaLLM's duplicate swap-in (upstream bug)

    # ------------------------------------------------------------------ counters

    def get_usable_block_number(self) -> int:
        """Free plus reusable device blocks (GetUsableBlockNumber)."""
        return len(self.free) + len(self.reusable)

    def get_future_free_block_number(self) -> int:
        """Blocks being swapped out, free once merged (GetFutureFreeBlockNumber)."""
        return sum(len(host) for _, host in self.swapout_tasks.values())

    def get_host_free_block_number(self) -> int:
        return len(self.host_free)

    def get_used_block_number(self) -> int:
        """Device blocks in use and not reusable (GetUsedBlockNumber): leaked blocks count as used."""
        return self.device_blocks - len(self.free) - len(self.reusable)

    def get_reusable_block_number(self) -> int:
        return len(self.reusable)

    def get_request_usable_block_number(self, req_id: int) -> int:
        """Usable blocks, minus this request's own matched reusable blocks (GetRequestUsableBlockNumber)."""
        req = self._request(req_id, "get_request_usable_block_number")
        own = sum(1 for cb in req.cached_blocks if cb in self.reusable)
        return len(self.free) + len(self.reusable) - own

    def get_request_step_block_number(self, req_id: int, token_num: int) -> int:
        """Blocks still to allocate so `token_num` tokens fit (GetRequestStepBlockNumber)."""
        req = self._request(req_id, "get_request_step_block_number")
        total = (token_num + self.block_size) // self.block_size
        return total - min(total, len(req.cached_blocks))

    def get_request_needed_block_num_for_one_next_token(self, req_id: int) -> int:
        """Host blocks to bring back plus one if the last block is full (GetRequestNeededBlockNumForOneNextToken)."""
        req = self._request(req_id, "get_request_needed_block_num_for_one_next_token")
        return sum(1 for cb in req.cached_blocks if not cb.is_device_location) + self._step_block_for_one_token(req)

    def request_block_ids(self, req_id: int) -> list[int]:
        """The request's device block ids as the scheduler holds them (InferRequest::kv_cache_blocks)."""
        return list(self._request(req_id, "request_block_ids").req_block_ids)

    def has_request(self, req_id: int) -> bool:
        return req_id in self.requests

    # ------------------------------------------------------------------ lookup and allocation

    def get_request_prefix_block_number(self, req_id: int, tokens: Sequence[int],
                                        check_token_num: int | None = None) -> tuple[int, int, int]:
        """Match full blocks of `tokens` against the tree; takes no references (GetRequestPrefixBlockNumber)."""
        tokens = list(tokens)
        check = len(tokens) if check_token_num is None else int(check_token_num)
        if check < 0 or check > len(tokens):
            raise CoreError(f"get_request_prefix_block_number: req {req_id}: check_token_num {check} "
                            f"outside 0..{len(tokens)}")
        req = self.requests.get(req_id)
        if req is not None and (req.req_state != WAITING or req.req_block_ids):
            raise CoreError(f"get_request_prefix_block_number: req {req_id} is {self._phase(req)}, not waiting")
        if req is None:
            req = self.requests[req_id] = PrefixCachedRequest(req_id)
        bs = self.block_size
        # Keep the earlier match only while it is still the same chain of tree blocks.
        del req.cached_blocks[self._valid_match(req, tokens):]
        cur = req.cached_blocks[-1] if req.cached_blocks else self.root
        if self.enable_prefix_caching:
            for i in range(len(req.cached_blocks), check // bs):
                cur = cur.children.get(tuple(tokens[i * bs:(i + 1) * bs]))
                if cur is None:
                    break
                req.cached_blocks.append(cur)
        shared = len(req.cached_blocks)
        req.shared_block_num = shared
        req.matched_tokens = tokens[:shared * bs]
        return shared, (check + bs) // bs - shared, shared * bs

    def _valid_match(self, req: PrefixCachedRequest, tokens: list[int]) -> int:
        """How many of the request's matched blocks are still the tree blocks holding `tokens`."""
        bs = self.block_size
        for i, cb in enumerate(req.cached_blocks):
            prev = self.root if i == 0 else req.cached_blocks[i - 1]
            if not (cb.parent is prev and cb.is_shareable and cb.is_device_location
                    and cb.token_ids == tuple(tokens[i * bs:(i + 1) * bs])):
                return i
        return len(req.cached_blocks)

    def allocate_request_blocks(self, req_id: int, block_num: int) -> list[int]:
        """Take references on matched blocks and pop `block_num` free blocks (AllocateRequestBlocks)."""
        req = self._request(req_id, "allocate_request_blocks")
        if req.req_state not in (WAITING, RUNNING) or req.swap_phase:
            raise CoreError(f"allocate_request_blocks: req {req_id} is {self._phase(req)}")
        if block_num < 0 or block_num > self.device_blocks:
            raise CoreError(f"allocate_request_blocks: req {req_id}: block_num {block_num} "
                            f"outside 0..{self.device_blocks}")
        if not req.req_block_ids and self._valid_match(req, req.matched_tokens) < len(req.cached_blocks):
            # A lookup takes no references, so its matches can be evicted before this call;
            # upstream would then reference free blocks. Only a fresh lookup may allocate.
            raise CoreError(f"allocate_request_blocks: req {req_id}: blocks matched by its lookup were "
                            f"evicted since; call get_request_prefix_block_number again")
        needed = max(0, block_num - len(self.free))
        reserved = req.cached_blocks
        if needed and self.fix_upstream_bugs and self._evictable(reserved) < needed:
            raise CoreError(f"allocate_request_blocks: req {req_id}: out of device blocks "
                            f"(asked {block_num}, free {len(self.free)})")
        # Upstream evicts first and only then finds out it was not enough.
        if needed and self.free_cached_blocks(needed, reserved) < needed:
            raise CoreError(f"allocate_request_blocks: req {req_id}: out of device blocks "
                            f"(asked {block_num}, free {len(self.free)})")
        if not req.req_block_ids:
            req.req_state = RUNNING
        del req.req_block_ids[len(req.cached_blocks):]
        for i in range(len(req.req_block_ids), len(req.cached_blocks)):
            cb = req.cached_blocks[i]
            req.req_block_ids.append(cb.memory_block_id)
            if not cb.active_requests and not cb.inactive_requests:
                self.reusable.pop(cb, None)
            cb.active_requests[req_id] = i
        for _ in range(block_num):
            cb = self.free.popleft()
            req.req_block_ids.append(cb.memory_block_id)
            req.cached_blocks.append(cb)
        return list(req.req_block_ids)

    def update_request_tokens(self, req_id: int, kvcached_tokens: Sequence[int],
                              shareable_token_num: int | None = None) -> tuple[list[int], bool]:
        """Insert newly filled blocks into the tree, merging duplicates (UpdateRequestTokens)."""
        req = self._request(req_id, "update_request_tokens")
        tokens = list(kvcached_tokens)
        shareable = len(tokens) if shareable_token_num is None else int(shareable_token_num)
        if req.req_state != RUNNING or req.swap_phase:
            raise CoreError(f"update_request_tokens: req {req_id} is {self._phase(req)}, not running")
        if shareable < 0 or shareable > len(tokens):
            raise CoreError(f"update_request_tokens: req {req_id}: shareable_token_num {shareable} "
                            f"outside 0..{len(tokens)}")
        filled = shareable // self.block_size
        merged = False
        if filled <= req.shared_block_num or not self.enable_prefix_caching:
            return list(req.req_block_ids), merged
        if len(req.cached_blocks) < filled:
            raise CoreError(f"update_request_tokens: req {req_id} holds {len(req.cached_blocks)} blocks, "
                            f"fewer than the {filled} filled ones")
        bs = self.block_size
        for i in range(req.shared_block_num, filled):
            cb = req.cached_blocks[i]
            cb.token_ids = tuple(tokens[i * bs:(i + 1) * bs])
            merged = self._append_filled_cached_block(req, i, cb) or merged
        req.shared_block_num = filled
        return list(req.req_block_ids), merged

    def _twin(self, req: PrefixCachedRequest, i: int, cb: PrefixCachedBlock
              ) -> tuple[PrefixCachedBlock, PrefixCachedBlock | None]:
        """The parent block i hangs under, and the tree block with cb's content there, if any.

        Upstream merges into the twin without taking it out of the reusable set (bug 1); the fix does.
        """
        parent = self.root if i == 0 else req.cached_blocks[i - 1]
        twin = parent.children.get(cb.token_ids)
        if twin is not None and self.fix_upstream_bugs and not twin.active_requests and not twin.inactive_requests:
            self.reusable.pop(twin, None)
        return parent, twin

    def _append_filled_cached_block(self, req: PrefixCachedRequest, i: int, cb: PrefixCachedBlock) -> bool:
        """AppendFilledCachedBlock: link a computed block under its parent, or merge into its twin."""
        parent, twin = self._twin(req, i, cb)
        if twin is not None:  # MergeFilledCachedBlocks
            twin.active_requests[req.req_id] = i
            req.cached_blocks[i] = twin
            req.req_block_ids[i] = twin.memory_block_id
            self._reset(cb)
            self.free.append(cb)
            return True
        cb.is_shareable = True
        cb.active_requests[req.req_id] = i
        cb.parent = parent
        parent.children[cb.token_ids] = cb
        self._touch_timed(cb)
        self.reusable.pop(cb, None)
        return False

    # ------------------------------------------------------------------ eviction and release

    def free_cached_blocks(self, block_num: int, reserved: Sequence[PrefixCachedBlock] = ()) -> int:
        """Evict unreferenced tree blocks, newest first, each with its subtree (FreeCachedBlocks)."""
        if block_num < 0:
            raise CoreError(f"free_cached_blocks: block_num {block_num} is negative")
        reserved_ids = {id(cb) for cb in reserved}
        freed: list[PrefixCachedBlock] = []
        for cb in reversed(list(self.timed)):
            if id(cb) in reserved_ids or not cb.is_shareable:
                continue  # a block already freed as part of an earlier subtree is no longer shareable
            if not cb.active_requests and not cb.inactive_requests:
                cb.parent.children.pop(cb.token_ids, None)
                self._free_recursively(cb, freed)
            if len(freed) >= block_num:
                break
        for cb in freed:
            self.timed.pop(cb, None)
        return len(freed)

    def _evictable(self, reserved: Sequence[PrefixCachedBlock]) -> int:
        """How many blocks free_cached_blocks could evict without touching `reserved` (dry run)."""
        reserved_ids = {id(cb) for cb in reserved}
        seen: set[int] = set()
        count = 0
        for cb in reversed(list(self.timed)):
            if id(cb) in reserved_ids or id(cb) in seen or cb.active_requests or cb.inactive_requests:
                continue
            stack = [cb]
            while stack:
                node = stack.pop()
                if id(node) not in seen:
                    seen.add(id(node))
                    count += 1
                    stack.extend(node.children.values())
        return count

    def _free_recursively(self, cb: PrefixCachedBlock, freed: list[PrefixCachedBlock]) -> None:
        """FreeCachedBlockRecursively: children first, then the block itself, into the free queue."""
        for key in sorted(cb.children):
            self._free_recursively(cb.children[key], freed)
        self.reusable.pop(cb, None)
        self._reset(cb)
        self.free.append(cb)
        freed.append(cb)

    def _drop_subtree(self, cb: PrefixCachedBlock, freed: list[PrefixCachedBlock]) -> None:
        """A swapped-out block's descendants leave the tree with it.

        Upstream frees them all (FreeCachedBlockRecursively), even a block another swapped
        request still holds; with fix_upstream_bugs such a block is only detached, and rejoins
        the tree when its holder swaps back in.
        """
        if not self.fix_upstream_bugs or not cb.inactive_requests:
            self._free_recursively(cb, freed)
            return
        cb.parent = None
        self.timed.pop(cb, None)
        children, cb.children = cb.children, {}
        for key in sorted(children):
            self._drop_subtree(children[key], freed)

    def destroy_finished_request(self, req_id: int) -> None:
        """Drop a request's references; unfilled blocks go back to the free queue (DestroyFinishedRequest)."""
        req = self._request(req_id, "destroy_finished_request")
        if req.req_state == SWAPPED or req.swap_phase:
            raise CoreError(f"destroy_finished_request: req {req_id} is {self._phase(req)}; "
                            f"use destroy_swapped_request")
        if req.req_state != WAITING:
            for cb in req.cached_blocks:
                if not cb.is_shareable:
                    self._reset(cb)
                    self.free.append(cb)
                    continue
                cb.active_requests.pop(req_id, None)
                if not cb.active_requests and not cb.inactive_requests:
                    self.reusable[cb] = None
        del self.requests[req_id]

    # ------------------------------------------------------------------ swap out

    def swapout_request_async(self, req_id: int) -> tuple[int, int]:
        """Detach the request's device blocks it alone uses and start copying them to host (SwapoutRequestAsync)."""
        req = self._request(req_id, "swapout_request_async")
        if req.req_state != RUNNING or req.swap_phase:
            raise CoreError(f"swapout_request_async: req {req_id} is {self._phase(req)}, not running")
        if self.swapin_tasks:
            raise CoreError(f"swapout_request_async: req {req_id}: swap-in of req "
                            f"{next(iter(self.swapin_tasks))} is still in progress")
        dev = [cb for cb in reversed(req.cached_blocks)
               if cb.is_device_location and len(cb.active_requests) <= 1]
        if len(self.host_free) < len(dev):
            raise CoreError(f"swapout_request_async: req {req_id}: needs {len(dev)} host blocks, "
                            f"{len(self.host_free)} free")
        self._set_state(req, SWAPPED)
        freed: list[PrefixCachedBlock] = []
        for cb in dev:
            if cb.is_shareable:
                cb.parent.children.pop(cb.token_ids, None)
                cb.parent = None
                children, cb.children = cb.children, {}
                for key in sorted(children):
                    self._drop_subtree(children[key], freed)
                self.timed.pop(cb, None)
        for cb in freed:
            self.timed.pop(cb, None)
        host = [PrefixCachedBlock(self.host_free.popleft(), is_device_location=False) for _ in dev]
        self.swapout_tasks[req_id] = (dev, host)
        req.swap_phase = "swapping_out"
        return len(dev), len(freed)

    def merge_swapout_request(self, req_id: int) -> None:
        """Finish the copy and return the device blocks to the free queue (MergeSwapoutRequest)."""
        task = self.swapout_tasks.pop(req_id, None)
        if task is None:
            raise CoreError(f"merge_swapout_request: req {req_id} has no swap-out in progress")
        for dev_cb, host_cb in zip(*task):  # SwapoutCachedBlock: the two objects trade memory
            dev_cb.memory_block_id, host_cb.memory_block_id = host_cb.memory_block_id, dev_cb.memory_block_id
            dev_cb.is_device_location, host_cb.is_device_location = False, True
            self.free.append(host_cb)
        self.requests[req_id].swap_phase = ""

    # ------------------------------------------------------------------ swap in

    def swapin_request_async(self, req_id: int) -> int:
        """Reserve device blocks for the request's host blocks plus its next token (SwapinRequestAsync)."""
        req = self._request(req_id, "swapin_request_async")
        if req.req_state != SWAPPED or req.swap_phase:
            raise CoreError(f"swapin_request_async: req {req_id} is {self._phase(req)}, not swapped")
        if self.swapout_tasks:
            raise CoreError(f"swapin_request_async: req {req_id}: swap-out of req "
                            f"{next(iter(self.swapout_tasks))} is still in progress")
        host_blocks = [cb for cb in req.cached_blocks if not cb.is_device_location]
        step = self._step_block_for_one_token(req)
        need = len(host_blocks) + step
        short = need - len(self.free)
        if short > 0 and self.fix_upstream_bugs and self._evictable(()) < short:
            raise CoreError(f"swapin_request_async: req {req_id}: out of device blocks (needs {need})")
        if short > 0 and self.free_cached_blocks(short) < short:
            raise CoreError(f"swapin_request_async: req {req_id}: out of device blocks (needs {need})")
        dev_ids = [self.free.popleft().memory_block_id for _ in host_blocks]
        for _ in range(step):
            cb = self.free.popleft()
            req.req_block_ids.append(cb.memory_block_id)
            req.cached_blocks.append(cb)
        self.swapin_tasks[req_id] = (host_blocks, dev_ids)
        req.swap_phase = "swapping_in"
        return need

    def merge_swapin_request(self, req_id: int) -> list[int]:
        """Finish the copy and put the blocks back into the tree, merging twins (MergeSwapinRequest)."""
        task = self.swapin_tasks.pop(req_id, None)
        if task is None:
            raise CoreError(f"merge_swapin_request: req {req_id} has no swap-in in progress")
        req = self.requests[req_id]
        for host_cb, dev_id in zip(*task):  # SwapinCachedBlock
            if host_cb.is_device_location:
                # Another request's swap-in already brought this shared block back; upstream
                # drops the spare device block here without returning it.
                if self.fix_upstream_bugs:
                    self.free.append(PrefixCachedBlock(dev_id))
                else:
                    self.leaked_blocks += 1
                continue
            self.host_free.append(host_cb.memory_block_id)
            host_cb.memory_block_id, host_cb.is_device_location = dev_id, True
        for i, cb in enumerate(req.cached_blocks):
            if cb.parent is None and cb.is_shareable:
                self._append_swapin_cached_block(req, i, cb)
            else:
                req.req_block_ids[i] = cb.memory_block_id
        req.swap_phase = ""
        self._set_state(req, RUNNING)
        return list(req.req_block_ids)

    def _append_swapin_cached_block(self, req: PrefixCachedRequest, i: int, cb: PrefixCachedBlock) -> None:
        """AppendSwapinCachedBlock: relink a swapped-in block, or merge it into a twin now in the tree."""
        parent, twin = self._twin(req, i, cb)
        if twin is not None:  # MergeSwapinCachedBlocks
            for other_id, index in cb.inactive_requests.items():
                twin.inactive_requests[other_id] = index
                self.requests[other_id].cached_blocks[index] = twin
            req.req_block_ids[i] = twin.memory_block_id
            self._reset(cb)
            self.free.append(cb)
            return
        cb.parent = parent
        parent.children[cb.token_ids] = cb
        req.req_block_ids[i] = cb.memory_block_id
        self._touch_timed(cb)

    def destroy_swapped_request(self, req_id: int) -> None:
        """Drop a swapped request: its own host blocks are freed, shared ones lose a reference (DestroySwappedRequest)."""
        req = self._request(req_id, "destroy_swapped_request")
        if req.req_state != SWAPPED or req.swap_phase:
            raise CoreError(f"destroy_swapped_request: req {req_id} is {self._phase(req)}, not swapped")
        for cb in req.cached_blocks:
            if not cb.is_device_location:
                if not cb.active_requests and len(cb.inactive_requests) <= 1:
                    self.host_free.append(cb.memory_block_id)
                    cb.inactive_requests.clear()
                    cb.memory_block_id = -1
                    continue
                cb.inactive_requests.pop(req_id, None)
                continue
            last_holder = not cb.active_requests and len(cb.inactive_requests) == 1
            if last_holder and cb.parent is None and cb.is_shareable:  # detached by _drop_subtree
                self._reset(cb)
                self.free.append(cb)
                continue
            if last_holder:
                self.reusable[cb] = None
            cb.inactive_requests.pop(req_id, None)
        del self.requests[req_id]

    # ------------------------------------------------------------------ helpers

    def _request(self, req_id: int, op: str) -> PrefixCachedRequest:
        req = self.requests.get(req_id)
        if req is None:
            raise CoreError(f"{op}: req {req_id} does not exist")
        return req

    @staticmethod
    def _phase(req: PrefixCachedRequest) -> str:
        return req.swap_phase.replace("_", " ") or req.req_state

    def _step_block_for_one_token(self, req: PrefixCachedRequest) -> int:
        """GetRequestStepBlockNumberForOneNextToken: one more block when the last one is full."""
        return 1 if req.cached_blocks and req.cached_blocks[-1].is_shareable else 0

    def _set_state(self, req: PrefixCachedRequest, state: str) -> None:
        """UpdateCachedRequestState: move the request between active and inactive on its shared blocks."""
        src, dst = (RUNNING, SWAPPED) if state == SWAPPED else (SWAPPED, RUNNING)
        if req.req_state != src:
            return
        req.req_state = state
        for cb in req.cached_blocks:
            if cb.is_shareable:
                a, b = (cb.active_requests, cb.inactive_requests) if state == SWAPPED else \
                    (cb.inactive_requests, cb.active_requests)
                b[req.req_id] = a.pop(req.req_id, 0)

    def _reset(self, cb: PrefixCachedBlock) -> None:
        """ResetCachedBlock: forget content, links and references; keep the memory."""
        cb.is_shareable, cb.is_device_location = False, True
        cb.token_ids = ()
        cb.active_requests.clear()
        cb.inactive_requests.clear()
        cb.parent = None
        cb.children = {}

    def _touch_timed(self, cb: PrefixCachedBlock) -> None:
        """AppendCachedBlockToTimedList: (re)insert at the newest end."""
        self.timed.pop(cb, None)
        self.timed[cb] = None

    # ------------------------------------------------------------------ inspection

    def snapshot(self) -> dict[str, Any]:
        """Everything observable: tree nodes, timed list, reusable set, free queue, requests."""
        nodes = []
        stack = [(k, c) for k, c in sorted(self.root.children.items(), reverse=True)]
        while stack:
            _, cb = stack.pop()
            nodes.append(self._node_dict(cb))
            stack.extend(sorted(cb.children.items(), reverse=True))
        return {
            "block_size": self.block_size,
            "nodes": nodes,
            "timed": [cb.memory_block_id for cb in self.timed],
            "reusable": sorted(cb.memory_block_id for cb in self.reusable),
            "free": [cb.memory_block_id for cb in self.free],
            "host_free": list(self.host_free),
            "requests": {rid: self._request_dict(r) for rid, r in sorted(self.requests.items())},
            "usable": self.get_usable_block_number(),
            "future_free": self.get_future_free_block_number(),
            "leaked": self.leaked_blocks,
        }

    def _node_dict(self, cb: PrefixCachedBlock) -> dict[str, Any]:
        return {
            "block_id": cb.memory_block_id,
            "tokens": list(cb.token_ids),
            "parent": None if cb.parent is None or cb.parent.is_root else cb.parent.memory_block_id,
            "children": [c.memory_block_id for _, c in sorted(cb.children.items())],
            "active_requests": sorted(cb.active_requests),
            "inactive_requests": sorted(cb.inactive_requests),
            "shareable": cb.is_shareable,
            "on_device": cb.is_device_location,
        }

    @staticmethod
    def _request_dict(req: PrefixCachedRequest) -> dict[str, Any]:
        return {
            "state": req.swap_phase or req.req_state,
            "shared_block_num": req.shared_block_num,
            "blocks": [{"block_id": cb.memory_block_id, "on_device": cb.is_device_location,
                        "shareable": cb.is_shareable} for cb in req.cached_blocks],
            "block_ids": list(req.req_block_ids),
        }

    def check_invariants(self) -> None:
        """Raise CoreError naming the first broken invariant."""
        check_prefix_cache(self)
