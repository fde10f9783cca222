"""FlashAttention's tiling with the online softmax, checked against naive attention.

Pure Python (lists and `math`), small enough to read next to the paper (Dao et al., 2022,
Algorithm 1; the online softmax is Milakov & Gimelshein, 2018). For each query row q:

    naive:  s_j = q·k_j / √d,  m = max_j s_j,  p_j = exp(s_j − m),  out = Σ p_j v_j / Σ p_j

    tiled:  m = −∞, l = 0, acc = 0
            for each tile T of B keys/values:
                m_new = max(m, max_{j∈T} s_j)
                scale = exp(m − m_new)             # rescale what was summed under the old max
                l     = l · scale + Σ_{j∈T} exp(s_j − m_new)
                acc   = acc · scale + Σ_{j∈T} exp(s_j − m_new) v_j
                m     = m_new
            out = acc / l

Only one tile of K/V is touched at a time, which is what lets the GPU kernel keep it in on-chip
SRAM instead of writing the N×N score matrix to HBM.
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass
from typing import Any

Matrix = list[list[float]]


@dataclass(frozen=True, slots=True)
class TileStep:
    """What one tile did to a query row's running state."""

    tile: int
    start: int
    stop: int  # exclusive
    tile_max: float
    m_old: float
    m_new: float
    scale: float  # exp(m_old − m_new); 0 for the first tile
    l: float

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["m_old"] = None if math.isinf(self.m_old) else self.m_old  # JSON has no -Infinity
        return d


def random_matrix(rows: int, cols: int, rng: random.Random) -> Matrix:
    """rows × cols standard-normal entries."""
    return [[rng.gauss(0.0, 1.0) for _ in range(cols)] for _ in range(rows)]


def random_qkv(seq: int, dim: int, seed: int = 0) -> tuple[Matrix, Matrix, Matrix]:
    """Q, K, V of shape seq × dim, deterministic for a seed."""
    if seq < 1 or dim < 1:
        raise ValueError("seq and dim must be >= 1")
    rng = random.Random(seed)
    return random_matrix(seq, dim, rng), random_matrix(seq, dim, rng), random_matrix(seq, dim, rng)


def _scores(q: list[float], keys: Matrix, start: int, stop: int, scale: float) -> list[float]:
    return [sum(a * b for a, b in zip(q, keys[j])) * scale for j in range(start, stop)]


def naive_attention(q: Matrix, k: Matrix, v: Matrix) -> Matrix:
    """softmax(QKᵀ/√d)V, one full row of scores at a time (max-subtracted for stability)."""
    d = len(q[0])
    inv = 1.0 / math.sqrt(d)
    out = []
    for row in q:
        s = _scores(row, k, 0, len(k), inv)
        m = max(s)
        p = [math.exp(x - m) for x in s]
        total = sum(p)
        out.append([sum(p[j] * v[j][c] for j in range(len(v))) / total for c in range(len(v[0]))])
    return out


def tiled_attention(q: Matrix, k: Matrix, v: Matrix, block: int,
                    trace_row: int | None = None) -> tuple[Matrix, list[TileStep]]:
    """Attention over K/V tiles of `block` rows with the online softmax.

    Returns the output and, for query row `trace_row` (if given), one TileStep per tile.
    The last tile is shorter when `block` does not divide the sequence length.
    """
    if block < 1:
        raise ValueError("block must be >= 1")
    d = len(q[0])
    dv = len(v[0])
    inv = 1.0 / math.sqrt(d)
    out: Matrix = []
    trace: list[TileStep] = []
    for i, row in enumerate(q):
        m, l, acc = -math.inf, 0.0, [0.0] * dv
        for t, start in enumerate(range(0, len(k), block)):
            stop = min(start + block, len(k))
            s = _scores(row, k, start, stop, inv)
            tile_max = max(s)
            m_new = max(m, tile_max)
            scale = math.exp(m - m_new)  # exp(-inf) == 0.0 on the first tile
            p = [math.exp(x - m_new) for x in s]
            l = l * scale + sum(p)
            acc = [acc[c] * scale + sum(p[j] * v[start + j][c] for j in range(len(p))) for c in range(dv)]
            if i == trace_row:
                trace.append(TileStep(t, start, stop, tile_max, m, m_new, scale, l))
            m = m_new
        out.append([a / l for a in acc])
    return out, trace


def max_abs_diff(a: Matrix, b: Matrix) -> float:
    """Largest |a_ij − b_ij|."""
    return max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb))


def rescaling_row(q: Matrix, k: Matrix, v: Matrix, block: int) -> int:
    """The first query row whose running max grows after the first tile (0 if none does).

    That row's trace shows the rescaling step, which is the point of the online softmax.
    """
    for i in range(len(q)):
        _, trace = tiled_attention([q[i]], k, v, block, trace_row=0)
        if any(0.0 < s.scale < 1.0 for s in trace):
            return i
    return 0


def check(seq: int = 64, dim: int = 16, block: int = 16, seed: int = 0,
          trace_row: int | None = None) -> dict[str, Any]:
    """Run both on random Q/K/V; the demo's `--json` document minus its header.

    The traced row is `trace_row`, or by default the first row whose max grows mid-way.
    """
    q, k, v = random_qkv(seq, dim, seed)
    if trace_row is None:
        trace_row = rescaling_row(q, k, v, block)
    if not 0 <= trace_row < seq:
        raise ValueError("trace_row out of range")
    naive = naive_attention(q, k, v)
    tiled, trace = tiled_attention(q, k, v, block, trace_row=trace_row)
    diff = max_abs_diff(naive, tiled)
    return {"seq": seq, "dim": dim, "block": block, "seed": seed, "tiles": -(-seq // block),
            "max_abs_diff": diff, "tolerance": 1e-9, "ok": diff <= 1e-9,
            "trace_row": trace_row, "trace": [s.to_dict() for s in trace],
            "row_naive": naive[trace_row][:4], "row_tiled": tiled[trace_row][:4]}


def document(seq: int = 64, dim: int = 16, block: int = 16, seed: int = 0) -> dict[str, Any]:
    """The `--json` document of `codewalk demo online-softmax`: the check plus a tiny traced case."""
    main = check(seq, dim, block, seed)
    tiny = check(min(seq, 10), min(dim, 4), min(block, 4), seed)
    return {"demo": "online-softmax", **main, "tiny": tiny}
