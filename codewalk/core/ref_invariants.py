"""The prefix cache's invariants, checked on the reference model (the C++ core checks the same list)."""

from __future__ import annotations

from collections import deque
from typing import Protocol

from codewalk.core.errors import CoreError
from codewalk.core.ref_blocks import PrefixCachedBlock, PrefixCachedRequest


class CacheState(Protocol):
    """What the checks read of a `ref_prefix_cache.PrefixCacheManager` (which imports this module)."""

    root: PrefixCachedBlock
    free: deque[PrefixCachedBlock]
    host_free: deque[int]
    requests: dict[int, PrefixCachedRequest]
    reusable: dict[PrefixCachedBlock, None]
    timed: dict[PrefixCachedBlock, None]
    swapout_tasks: dict[int, tuple[list[PrefixCachedBlock], list[PrefixCachedBlock]]]
    swapin_tasks: dict[int, tuple[list[PrefixCachedBlock], list[int]]]
    fix_upstream_bugs: bool
    leaked_blocks: int
    device_blocks: int
    host_blocks: int


def _fail(name: str, detail: str) -> None:
    raise CoreError(f"invariant '{name}' broken: {detail}")


def _tree_nodes(m: CacheState) -> list[PrefixCachedBlock]:
    nodes, stack = [], list(m.root.children.items())
    while stack:
        key, cb = stack.pop()
        if cb.token_ids != key:
            _fail("child-key", f"block {cb.memory_block_id} is filed under other tokens")
        if not (cb.is_shareable and cb.is_device_location):
            _fail("tree-blocks-filled", f"block {cb.memory_block_id} in the tree is not a filled device block")
        for child in cb.children.values():
            if child.parent is not cb:
                _fail("parent-link", f"block {child.memory_block_id} does not point back to its parent")
        nodes.append(cb)
        stack.extend(cb.children.items())
    return nodes


def check_prefix_cache(m: CacheState) -> None:
    """Raise CoreError naming the first broken invariant of `m`."""
    nodes = _tree_nodes(m)
    in_tree = {id(cb) for cb in nodes}
    for cb in m.root.children.values():
        if cb.parent is not m.root:
            _fail("parent-link", f"top block {cb.memory_block_id} does not point to the root")
    if {id(cb) for cb in m.timed} != in_tree:
        _fail("timed-list", "the timed list and the tree hold different blocks")
    truly_reusable = {id(cb) for cb in nodes if not cb.active_requests and not cb.inactive_requests}
    listed = {id(cb) for cb in m.reusable}
    if not truly_reusable <= listed or not listed <= in_tree:
        _fail("reusable-set", "an unreferenced tree block is not reusable, or a reusable block left the tree")
    if m.fix_upstream_bugs and listed != truly_reusable:
        _fail("reusable-set", "a reusable block is referenced by a request")
    free_ids = [cb.memory_block_id for cb in m.free]
    for cb in m.free:
        if id(cb) in in_tree or cb.is_shareable or cb.active_requests or cb.inactive_requests:
            _fail("free-blocks-clean", f"free block {cb.memory_block_id} still carries content or references")
    _check_requests(m, in_tree)
    _check_conservation(m, nodes, free_ids)


def _check_requests(m: CacheState, in_tree: set[int]) -> None:
    free = {id(cb) for cb in m.free}
    for rid, req in m.requests.items():
        for i, cb in enumerate(req.cached_blocks):
            if req.req_state == "waiting" and not req.req_block_ids:
                continue  # a lookup takes no references: its matches may be evicted (allocation then refuses)
            if id(cb) in free:
                _fail("held-block-not-free", f"req {rid} block {i} ({cb.memory_block_id}) is in the free queue")
            refs = cb.active_requests if req.req_state == "running" else cb.inactive_requests
            if cb.is_shareable and refs.get(rid) != i:
                _fail("request-refs", f"req {rid} block {i} does not record the request's reference")
            if cb.is_shareable and cb.is_device_location and cb.parent is not None and id(cb) not in in_tree:
                _fail("request-refs", f"req {rid} block {i} hangs off a detached parent")
        if req.req_block_ids and not req.swap_phase and req.req_state == "running":
            held = [cb.memory_block_id for cb in req.cached_blocks]
            if held != req.req_block_ids:
                _fail("block-table", f"req {rid} block table {req.req_block_ids} != its blocks {held}")


def _check_conservation(m: CacheState, nodes: list[PrefixCachedBlock], free_ids: list[int]) -> None:
    """Every device block id is in exactly one place; so is every host block id."""
    device: list[int] = list(free_ids) + [cb.memory_block_id for cb in nodes]
    host: list[int] = list(m.host_free)
    seen: set[int] = {id(cb) for cb in nodes} | {id(cb) for cb in m.free}
    for req in m.requests.values():
        for cb in req.cached_blocks:
            if id(cb) in seen:
                continue
            seen.add(id(cb))
            (device if cb.is_device_location else host).append(cb.memory_block_id)
    for rid, (dev, host_blocks) in m.swapout_tasks.items():
        host.extend(cb.memory_block_id for cb in host_blocks)  # copy pending: host side reserved
    for rid, (_, dev_ids) in m.swapin_tasks.items():
        device.extend(dev_ids)
    if len(device) != len(set(device)) or len(device) + m.leaked_blocks != m.device_blocks:
        _fail("device-conservation", f"{len(device)} device blocks accounted for, "
                                     f"{len(set(device))} distinct, {m.leaked_blocks} leaked, of {m.device_blocks}")
    if len(host) != len(set(host)) or len(host) != m.host_blocks:
        _fail("host-conservation", f"{len(host)} host blocks accounted for ({len(set(host))} distinct) "
                                   f"of {m.host_blocks}")
