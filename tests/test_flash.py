"""codewalk/lessons/flash.py and `codewalk demo online-softmax`: tiled online-softmax attention equals the
naive softmax(QKᵀ/√d)V."""

from __future__ import annotations

import json
import math

import pytest

from codewalk.lessons import flash
from codewalk.cli import main


@pytest.mark.parametrize("seq,dim,block", [(1, 1, 1), (7, 3, 2), (16, 8, 16), (33, 5, 8), (50, 16, 7),
                                           (64, 4, 64), (20, 6, 100), (37, 2, 1)])
@pytest.mark.parametrize("seed", [0, 11])
def test_tiled_equals_naive(seq: int, dim: int, block: int, seed: int) -> None:
    q, k, v = flash.random_qkv(seq, dim, seed)
    tiled, _ = flash.tiled_attention(q, k, v, block)
    assert flash.max_abs_diff(flash.naive_attention(q, k, v), tiled) <= 1e-9


def test_large_scores_do_not_overflow() -> None:
    # exp(1000) overflows; both versions subtract the (running) max first.
    q = [[100.0, 0.0]]
    k = [[float(x), 0.0] for x in (5, 14, 3, 20, 20)]
    v = [[float(i), 1.0] for i in range(5)]
    naive = flash.naive_attention(q, k, v)
    tiled, _ = flash.tiled_attention(q, k, v, 2)
    assert flash.max_abs_diff(naive, tiled) <= 1e-9
    assert naive[0][0] == pytest.approx(3.5)  # the two equal top scores split the weight


def test_trace_records_running_max_and_sum() -> None:
    q, k, v = flash.random_qkv(10, 4, 3)
    _, trace = flash.tiled_attention(q, k, v, 4, trace_row=2)
    assert [(s.start, s.stop) for s in trace] == [(0, 4), (4, 8), (8, 10)]  # last tile is short
    assert math.isinf(trace[0].m_old) and trace[0].scale == 0.0
    s = [sum(a * b for a, b in zip(q[2], kj)) / 2.0 for kj in k]  # √4 = 2
    for step in trace:
        assert step.tile_max == pytest.approx(max(s[step.start:step.stop]))
        assert step.m_new == pytest.approx(max(s[:step.stop]))
        assert step.l == pytest.approx(sum(math.exp(x - step.m_new) for x in s[:step.stop]))
        if not math.isinf(step.m_old):
            assert step.scale == pytest.approx(math.exp(step.m_old - step.m_new))


def test_check_picks_a_row_that_rescales() -> None:
    doc = flash.check(10, 4, 4, seed=0)
    assert any(0 < s["scale"] < 1 for s in doc["trace"])
    assert doc["ok"] and doc["tiles"] == 3


def test_invalid_block() -> None:
    q, k, v = flash.random_qkv(4, 2, 0)
    with pytest.raises(ValueError):
        flash.tiled_attention(q, k, v, 0)


def test_cli_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "online-softmax", "--seq", "30", "--dim", "6", "--block", "7", "--seed", "2",
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["demo"] == "online-softmax"
    assert (doc["seq"], doc["dim"], doc["block"], doc["seed"], doc["tiles"]) == (30, 6, 7, 2, 5)
    assert doc["ok"] is True and doc["max_abs_diff"] <= 1e-9 and doc["tolerance"] == 1e-9
    assert len(doc["trace"]) == 5
    assert set(doc["trace"][0]) == {"tile", "start", "stop", "tile_max", "m_old", "m_new", "scale", "l"}
    assert doc["trace"][0]["m_old"] is None  # −∞ is not JSON
    tiny = doc["tiny"]
    assert (tiny["seq"], tiny["dim"], tiny["block"]) == (10, 4, 4) and tiny["ok"]


def test_cli_rich_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "online-softmax"]) == 0
    out = capsys.readouterr().out
    assert "max |naive" in out and "equal within 1e-09" in out and "running state" in out
