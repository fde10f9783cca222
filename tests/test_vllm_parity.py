"""Opt-in parity test: our vLLM block-pool model against vLLM 0.33.0's own code.

Set `CODEWALK_VLLM` to a folder holding vLLM's `vllm/` package (an unzipped wheel or a source
checkout), e.g. `CODEWALK_VLLM=/tmp/vllm-0.33.0`. Without it the test is skipped.

The real `vllm/v1/core/{kv_cache_utils,block_pool,single_type_kv_cache_manager,
kv_cache_coordinator,kv_cache_manager}.py` (and `vllm/v1/kv_cache_spec_registry.py`,
`vllm/v1/hisparse/block_pool.py`, `vllm/utils/math_utils.py`) are loaded from those files. The
modules they import for types, logging, events or metrics pull in torch, zmq, msgspec and the
engine, so those — and only those — are replaced by small stand-ins, installed in `sys.modules`
for the duration of this module and removed afterwards. `vllm/__init__.py` and the other package
`__init__` files are not run. Requests are driven through the real `KVCacheManager`
(`get_computed_blocks`, `allocate_slots` with and without `full_sequence_must_fit`, `free`), with block hashes from the real
`get_request_block_hasher` and `hash_block_tokens` (sha256 over pickle).

Both sides replay the same random traces (hypothesis, `CODEWALK_VLLM_EXAMPLES` traces, default
300); after every operation hit tokens, hit/new block ids, the free queue, the cached block ids,
the hash map's groups of identical blocks and every request's block table must be identical.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import importlib.util
import logging
import os
import pickle
import sys
import types
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

VLLM_ROOT = os.environ.get("CODEWALK_VLLM")
pytestmark = pytest.mark.skipif(not VLLM_ROOT, reason="set CODEWALK_VLLM to a folder holding vLLM's vllm/ package")
EXAMPLES = int(os.environ.get("CODEWALK_VLLM_EXAMPLES", "300"))

# Real vLLM files, loaded in this order (each one's vLLM imports are real or stubbed before it).
REAL = [
    "vllm.utils.math_utils",
    "vllm.v1.kv_cache_spec_registry",
    "vllm.v1.core.kv_cache_utils",
    "vllm.v1.core.block_pool",
    "vllm.v1.hisparse.block_pool",
    "vllm.v1.core.single_type_kv_cache_manager",
    "vllm.v1.core.kv_cache_coordinator",
    "vllm.v1.core.kv_cache_manager",
]
# Packages whose __init__ must not run (it would import the engine); their submodules load from disk.
PACKAGES = ["vllm", "vllm.utils", "vllm.v1", "vllm.v1.core", "vllm.v1.hisparse", "vllm.v1.metrics",
            "vllm.distributed", "vllm.multimodal"]


def _dummy_module(name: str, **attrs: Any) -> types.ModuleType:
    """A stand-in module; names it does not define resolve to fresh, unrelated classes (type-only uses)."""
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)

    def __getattr__(attr: str) -> Any:  # noqa: N807
        if attr.startswith("__"):
            raise AttributeError(attr)
        cls = type(attr, (), {})
        setattr(mod, attr, cls)
        return cls

    mod.__getattr__ = __getattr__  # type: ignore[attr-defined]
    return mod


def _stubs() -> dict[str, types.ModuleType]:
    class KVCacheSpec:
        pass

    class AttentionSpec(KVCacheSpec):
        pass

    class FullAttentionSpec(AttentionSpec):
        def __init__(self, block_size: int) -> None:
            self.block_size = block_size
            self.dcp_sharded = False
            self.prefix_cacheable = True

    class _Kind(enum.Enum):
        FULL = "full_attention"

    class RequestStatus(enum.IntEnum):
        WAITING = 0
        RUNNING = 1
        PREEMPTED = 2

    class PrefixCacheStats:
        def record(self, **_: Any) -> None:
            pass

    return {
        "vllm.envs": _dummy_module("vllm.envs", VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES=False),
        "vllm.config": _dummy_module("vllm.config", get_current_vllm_config_or_none=lambda: None),
        "vllm.logger": _dummy_module("vllm.logger", init_logger=logging.getLogger),
        "vllm.multimodal.utils": _dummy_module("vllm.multimodal.utils"),
        "vllm.utils.hashing": _dummy_module("vllm.utils.hashing", xxhash=object(), xxhash_cbor=object()),
        "vllm.distributed.kv_events": _dummy_module("vllm.distributed.kv_events", MEDIUM_GPU="GPU", MEDIUM_CPU="CPU"),
        "vllm.v1.utils": _dummy_module("vllm.v1.utils"),
        "vllm.v1.request": _dummy_module("vllm.v1.request", RequestStatus=RequestStatus),
        "vllm.v1.metrics.stats": _dummy_module("vllm.v1.metrics.stats", PrefixCacheStats=PrefixCacheStats),
        "vllm.v1.core.kv_cache_metrics": _dummy_module("vllm.v1.core.kv_cache_metrics"),
        "vllm.v1.kv_cache_interface": _dummy_module(
            "vllm.v1.kv_cache_interface", KVCacheSpec=KVCacheSpec, AttentionSpec=AttentionSpec,
            FullAttentionSpec=FullAttentionSpec, get_kv_cache_spec_kind=lambda spec: _Kind.FULL,
            get_kv_cache_spec_sliding_window=lambda spec: None),
    }


@contextlib.contextmanager
def real_vllm(vllm_root: str) -> Iterator[types.SimpleNamespace]:
    """vLLM's real KV-cache modules from `vllm_root`, with stand-ins installed only while inside."""
    root = Path(vllm_root) / "vllm"
    assert (root / "v1" / "core" / "block_pool.py").is_file(), f"no vllm/v1/core/block_pool.py under {vllm_root}"
    saved = {k: v for k, v in sys.modules.items() if k == "vllm" or k.startswith("vllm.")}
    try:
        for pkg in PACKAGES:
            mod = types.ModuleType(pkg)
            mod.__path__ = [str(root.joinpath(*pkg.split(".")[1:]))]
            sys.modules[pkg] = mod
        sys.modules.update(_stubs())
        for name in REAL:
            path = root.joinpath(*name.split(".")[1:]).with_suffix(".py")
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec and spec.loader
            mod = importlib.util.module_from_spec(spec)
            sys.modules[name] = mod
            spec.loader.exec_module(mod)
        kcu = sys.modules["vllm.v1.core.kv_cache_utils"]
        stkm = sys.modules["vllm.v1.core.single_type_kv_cache_manager"]
        iface = sys.modules["vllm.v1.kv_cache_interface"]
        # Register the one spec we use, so the registry never runs its full (platform-dependent) setup.
        sys.modules["vllm.v1.kv_cache_spec_registry"].KVCacheSpecRegistry.register(
            iface.FullAttentionSpec, stkm.FullAttentionManager)

        def hash_fn(obj: Any) -> bytes:
            return hashlib.sha256(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)).digest()

        kcu.init_none_hash(hash_fn)
        yield types.SimpleNamespace(
            kcu=kcu, iface=iface, hash_fn=hash_fn,
            KVCacheManager=sys.modules["vllm.v1.core.kv_cache_manager"].KVCacheManager,
            RequestStatus=sys.modules["vllm.v1.request"].RequestStatus,
            files=[str(root.joinpath(*n.split(".")[1:]).with_suffix(".py")) for n in REAL])
    finally:
        for k in [k for k in sys.modules if k == "vllm" or k.startswith("vllm.")]:
            del sys.modules[k]
        sys.modules.update(saved)


@pytest.fixture(scope="module")
def vllm() -> Iterator[types.SimpleNamespace]:
    with real_vllm(VLLM_ROOT or "") as v:
        yield v


class FakeRequest:
    """The attributes of vllm.v1.request.Request that the KV cache manager and block hasher read."""

    def __init__(self, v: types.SimpleNamespace, req_id: int, prompt: list[int], block_size: int) -> None:
        self.request_id = str(req_id)
        self.all_token_ids = list(prompt)
        self.num_prompt_tokens = len(prompt)
        self.num_computed_tokens = 0
        self.num_in_flight_tokens = 0
        self.num_preemptions = 0
        self.status = v.RequestStatus.WAITING
        self.skip_reading_prefix_cache = False
        self.mm_features: list[Any] = []
        self.lora_request = None
        self.cache_salt = None
        self.prompt_embeds = None
        self.shared_prefix_boundary = 0
        self.block_hashes: list[bytes] = []
        self._hasher = v.kcu.get_request_block_hasher(block_size, v.hash_fn)
        self.block_hashes.extend(self._hasher(self))

    @property
    def num_tokens(self) -> int:
        return len(self.all_token_ids)

    def append_token(self, token: int) -> None:  # Request.append_output_token_ids
        self.all_token_ids.append(token)
        self.block_hashes.extend(self._hasher(self))


class RealVllm:
    """vLLM's KVCacheManager for one full-attention group, driven as its scheduler would."""

    def __init__(self, v: types.SimpleNamespace, num_blocks: int, block_size: int) -> None:
        self.v, self.block_size = v, block_size
        group = types.SimpleNamespace(kv_cache_spec=v.iface.FullAttentionSpec(block_size), role=None,
                                      is_eagle_group=False)
        config = types.SimpleNamespace(num_blocks=num_blocks, kv_cache_groups=[group], needs_kv_cache_zeroing=False,
                                       prefix_cache_retention_interval=None, has_mamba_layers=False)
        self.mgr = v.KVCacheManager(config, max_model_len=1 << 20, scheduler_block_size=block_size,
                                    hash_block_size=block_size, enable_caching=True)
        self.pool = self.mgr.block_pool
        self.requests: dict[int, FakeRequest] = {}

    def admit(self, req_id: int, prompt: list[int], chunk: int, full: bool) -> tuple[list[int], int, list[int] | None]:
        req = FakeRequest(self.v, req_id, prompt, self.block_size)
        blocks, n_hit, _ = self.mgr.get_computed_blocks(req)
        hit = blocks.get_block_ids()[0]
        n_new = min(chunk, req.num_tokens - n_hit)
        new = self.mgr.allocate_slots(req, n_new, n_hit, blocks, full_sequence_must_fit=full)
        if new is None:
            return hit, n_hit, None
        req.num_computed_tokens = n_hit + n_new  # the scheduler's bookkeeping after scheduling
        req.status = self.v.RequestStatus.RUNNING
        self.requests[req_id] = req
        return hit, n_hit, new.get_block_ids()[0]

    def advance(self, req_id: int, chunk: int, token: int) -> list[int] | None:
        req = self.requests[req_id]
        if req.num_computed_tokens == req.num_tokens:
            req.append_token(token)
        n_new = min(chunk, req.num_tokens - req.num_computed_tokens)
        new = self.mgr.allocate_slots(req, n_new)
        if new is None:
            return None
        req.num_computed_tokens += n_new
        return new.get_block_ids()[0]

    def free(self, req_id: int) -> None:
        self.mgr.free(self.requests.pop(req_id))

    def tokens(self, req_id: int) -> list[int]:
        return list(self.requests[req_id].all_token_ids)

    def state(self) -> dict[str, Any]:
        groups = []
        for entry in self.pool.cached_block_hash_to_block._cache.values():
            groups.append([entry.block_id] if isinstance(entry, self.v.kcu.KVCacheBlock) else list(entry))
        return {
            "free_queue": [b.block_id for b in self.pool.free_block_queue.get_all_free_blocks()],
            "num_free": self.pool.get_num_free_blocks(),
            "cached": sorted(b.block_id for b in self.pool.blocks if b.block_hash is not None),
            "groups": sorted(groups),
            "tables": {rid: self.mgr.get_block_ids(r.request_id)[0] for rid, r in self.requests.items()},
            "computed": {rid: r.num_computed_tokens for rid, r in self.requests.items()},
        }


class Ours:
    """codewalk.core's VllmKVCacheManager (C++ or the reference) behind the same driver; `key` turns the
    driver's request number into the id passed to the manager (an int, or a str as vLLM's own)."""

    def __init__(self, cls: Any, num_blocks: int, block_size: int, key: Callable[[int], Any] = int) -> None:
        self.p = cls(num_blocks, block_size)
        self.key = key
        self.toks: dict[int, list[int]] = {}

    def admit(self, req_id: int, prompt: list[int], chunk: int, full: bool) -> tuple[list[int], int, list[int] | None]:
        hit, n_hit = self.p.get_computed_blocks(self.key(req_id), prompt)
        new = self.p.allocate_slots(self.key(req_id), prompt, min(chunk, len(prompt) - n_hit), hit, full)
        if new is not None:
            self.toks[req_id] = list(prompt)
        return hit, n_hit, new

    def advance(self, req_id: int, chunk: int, token: int) -> list[int] | None:
        toks = self.toks[req_id]
        done = self.p.num_computed_tokens(self.key(req_id))
        if done == len(toks):
            toks.append(token)
        return self.p.allocate_slots(self.key(req_id), toks, min(chunk, len(toks) - done), [])

    def free(self, req_id: int) -> None:
        self.p.free(self.key(req_id))
        del self.toks[req_id]

    def tokens(self, req_id: int) -> list[int]:
        return list(self.toks[req_id])

    def state(self) -> dict[str, Any]:
        snap = self.p.snapshot()
        assert sorted(snap["requests"], key=str) == sorted((self.key(r) for r in self.toks), key=str)
        return {
            "free_queue": self.p.free_queue(),
            "num_free": self.p.num_free_blocks(),
            "cached": self.p.cached_block_ids(),
            "groups": sorted(snap["cached"].values()),
            "tables": {rid: self.p.request_block_ids(self.key(rid)) for rid in self.toks},
            "computed": {rid: self.p.num_computed_tokens(self.key(rid)) for rid in self.toks},
        }


# Request ids as our manager gets them: ints, or strs shaped like vLLM's ("cmpl-<uuid>-0" style).
ID_KINDS: dict[str, Callable[[int], Any]] = {"int": int, "str": lambda rid: f"cmpl-{rid:08x}-0"}


PROMPT = st.lists(st.sampled_from([1, 2, 3, 4]), min_size=1, max_size=5).flatmap(
    lambda fam: st.integers(0, 6).map(lambda tail: [t for f in fam for t in (f,) * 3] + [9] * tail))
RID = st.integers(0, 3)
OP = st.one_of(
    st.tuples(st.just("admit"), RID, PROMPT, st.integers(1, 24), st.booleans()),
    st.tuples(st.just("advance"), RID, st.integers(1, 8), st.sampled_from([1, 2, 9])),
    st.tuples(st.just("advance"), RID, st.integers(1, 8), st.sampled_from([1, 2, 9])),
    st.tuples(st.just("free"), RID),
)
TRACE = st.tuples(st.sampled_from([1, 2, 3, 4]), st.integers(1, 24), st.lists(OP, min_size=20, max_size=80))

STATS = {"traces": 0, "ops": 0, "hits": 0, "refused": 0, "evictions": 0}


def replay(v: types.SimpleNamespace, cls: Any, block_size: int, num_blocks: int, ops: list,
           key: Callable[[int], Any] = int) -> None:
    real, ours = RealVllm(v, num_blocks, block_size), Ours(cls, num_blocks, block_size, key)
    assert ours.state() == real.state()
    STATS["traces"] += 1
    for i, op in enumerate(ops):
        kind = op[0]
        running = sorted(real.requests)
        assert running == sorted(ours.toks)
        if kind == "admit":  # a waiting request: the op's id, or the lowest id not running
            rid = op[1] if op[1] not in running else min(set(range(len(running) + 1)) - set(running))
        elif running:  # advance or free one of the running requests
            rid = running[op[1] % len(running)]
        else:
            continue
        hashed = {(blk.block_id, blk.block_hash) for blk in real.pool.blocks if blk.block_hash is not None}
        if kind == "admit":
            a, b = real.admit(rid, *op[2:]), ours.admit(rid, *op[2:])
            STATS["hits"] += a[1] > 0
            STATS["refused"] += a[2] is None
        elif kind == "advance":
            a, b = real.advance(rid, op[2], op[3]), ours.advance(rid, op[2], op[3])
            STATS["refused"] += a is None
        else:
            a, b = real.free(rid), ours.free(rid)
        STATS["ops"] += 1
        STATS["evictions"] += len(hashed - {(blk.block_id, blk.block_hash) for blk in real.pool.blocks})
        assert a == b, f"op {i} {op}: vLLM {a} != ours {b}"
        assert ours.state() == real.state(), f"after op {i} {op}"
        if rid in real.requests:
            assert ours.tokens(rid) == real.tokens(rid)
    ours.p.check_invariants()


@pytest.mark.parametrize("ids", sorted(ID_KINDS))
@pytest.mark.parametrize("impl", ["core", "reference"])
def test_parity_with_real_vllm(vllm: types.SimpleNamespace, impl: str, ids: str) -> None:
    from core_impls import load

    cls = load(impl).VllmKVCacheManager

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(trace=TRACE)
    def check(trace: tuple) -> None:
        replay(vllm, cls, *trace, key=ID_KINDS[ids])

    for k in STATS:
        STATS[k] = 0
    check()
    print(f"\nvLLM parity ({impl}, {ids} ids): {STATS}")
    assert STATS["traces"] >= min(EXAMPLES, 200)


def test_hand_scenario_on_real_vllm(vllm: types.SimpleNamespace) -> None:
    """The 64-token example of tests/test_core_vllm.py, on vLLM's own code."""
    real = RealVllm(vllm, 10, 16)
    toks = list(range(64))
    assert real.admit(1, toks, 64, True) == ([], 0, [1, 2, 3, 4])
    real.free(1)
    assert real.state()["free_queue"] == [5, 6, 7, 8, 9, 4, 3, 2, 1]
    assert real.admit(2, toks, 64, True) == ([1, 2, 3], 48, [5])
    assert real.state()["free_queue"] == [6, 7, 8, 9, 4]
    assert real.state()["groups"] == [[1], [2], [3], [4, 5]]
