"""codewalk/lessons/paging.py and `codewalk demo paged-vs-contiguous`: exact slot counts on hand-computed
workloads, determinism, and the < 4 % vs 60–80 % property of the default workload."""

from __future__ import annotations

import json

import pytest

from codewalk.lessons import paging
from codewalk.cli import build_parser, main
from codewalk.lessons.paging import Request

# 15, 128 and 1037 tokens with blocks of 16: 1, 8 and 65 blocks; last-block tails 1, 0 and 3.
THREE = [Request(0, 10, 5), Request(1, 100, 28), Request(2, 1000, 37)]


def test_blocks_for() -> None:
    assert [paging.blocks_for(n, 16) for n in (1, 15, 16, 17, 128, 1037)] == [1, 1, 1, 2, 8, 65]


def test_peak_exact_on_three_requests() -> None:
    c = paging.contiguous_peak(THREE, 2048)
    assert (c.reserved, c.used, c.internal_fragmentation, c.reservation_waste) == (3 * 2048, 1180, 4964, 0)
    assert c.wasted == 4964
    assert c.waste_pct == pytest.approx(100 * 4964 / 6144)  # 80.79 %
    p = paging.paged_peak(THREE, 16)
    assert (p.reserved, p.used, p.internal_fragmentation, p.reservation_waste) == (74 * 16, 1180, 4, 0)
    assert p.waste_pct == pytest.approx(100 * 4 / 1184)  # 0.34 %


def test_lifetime_exact_on_one_request() -> None:
    # prompt 3, output 4: lengths 4, 5, 6, 7 over the four decode steps (22 slot-steps of KV).
    r = [Request(0, 3, 4)]
    c = paging.contiguous_lifetime(r, 10)
    # 4 steps × 10 reserved; 3+2+1+0 held for tokens to come; 4 × (10 − 7) never used.
    assert (c.reserved, c.used, c.reservation_waste, c.internal_fragmentation) == (40, 22, 6, 12)
    p = paging.paged_lifetime(r, 4)
    # blocks of 4: 1, 2, 2, 2 → 7 blocks × 4 slots.
    assert (p.reserved, p.used, p.internal_fragmentation, p.reservation_waste) == (28, 22, 6, 0)


def test_lifetime_matches_stepwise_simulation() -> None:
    work = paging.generate_workload(50, seed=7, max_len=512)
    used = reserved_paged = reserved_contig = reservation = 0
    for r in work:
        for i in range(1, r.output + 1):
            length = r.prompt + i
            used += length
            reserved_paged += 8 * paging.blocks_for(length, 8)
            reserved_contig += 512
            reservation += r.tokens - length
    c, p = paging.contiguous_lifetime(work, 512), paging.paged_lifetime(work, 8)
    assert (c.used, c.reserved, c.reservation_waste) == (used, reserved_contig, reservation)
    assert (p.used, p.reserved) == (used, reserved_paged)


def test_concurrency() -> None:
    assert paging.concurrent_contiguous(4096, 2048) == 2
    assert paging.concurrent_paged(THREE, 4096, 16) == 3  # 74 of 256 blocks
    assert paging.concurrent_paged(THREE, 1000, 16) == 2  # 62 blocks: 1 + 8 fit, 65 does not


def test_workload_deterministic_and_bounded() -> None:
    a = paging.generate_workload(300, seed=5, max_len=1024)
    assert a == paging.generate_workload(300, seed=5, max_len=1024)
    assert a != paging.generate_workload(300, seed=6, max_len=1024)
    assert all(r.prompt >= 1 and r.output >= 1 and r.tokens <= 1024 for r in a)


def test_workload_is_skewed() -> None:
    work = paging.generate_workload()
    totals = [r.tokens for r in work]
    mean = sum(totals) / len(totals)
    assert paging.percentile(totals, 50) < mean  # long tail pulls the mean above the median
    assert paging.percentile(totals, 99) > 3 * paging.percentile(totals, 50)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_default_workload_waste_property(seed: int) -> None:
    """The paper's claim emerges from the arithmetic: < 4 % paged, 60–80 % contiguous."""
    doc = paging.compare(paging.generate_workload(seed=seed))
    for view in ("peak", "lifetime"):
        assert doc[view]["paged"]["waste_pct"] < 4
        assert 60 <= doc[view]["contiguous"]["waste_pct"] <= 80
        assert doc[view]["paged"]["reservation_waste"] == 0
    assert doc["concurrency"]["paged"] > 3 * doc["concurrency"]["contiguous"]


def test_paged_waste_bounded_by_one_block_per_request() -> None:
    for block in (1, 8, 16, 32, 128):
        work = paging.generate_workload(200, seed=block)
        assert paging.paged_peak(work, block).internal_fragmentation <= len(work) * (block - 1)
    assert paging.paged_peak(paging.generate_workload(200), 1).wasted == 0


def test_invalid_input() -> None:
    with pytest.raises(ValueError):
        paging.contiguous_peak([Request(0, 2000, 100)], 2048)
    with pytest.raises(ValueError):
        paging.paged_peak(THREE, 0)
    with pytest.raises(ValueError):
        paging.generate_workload(10, max_len=1)


def test_cli_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "paged-vs-contiguous", "--requests", "200", "--seed", "3", "--block-size", "32",
                 "--max-len", "4096", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["demo"] == "paged-vs-contiguous"
    assert (doc["seed"], doc["block_size"], doc["max_len"]) == (3, 32, 4096)
    assert doc["workload"]["requests"] == 200
    assert set(doc["workload"]["total"]) == {"mean", "p50", "p90", "p99", "max"}
    for view in ("peak", "lifetime"):
        for scheme in ("contiguous", "paged"):
            s = doc[view][scheme]
            assert set(s) == {"scheme", "reserved", "used", "internal_fragmentation", "reservation_waste",
                              "wasted", "waste_pct"}
            assert s["reserved"] == s["used"] + s["wasted"]
    assert set(doc["concurrency"]) == {"budget_slots", "contiguous", "paged"}
    assert len(doc["sample"]) == 8 and doc["sample"][0]["paged_waste"] < 32


def test_cli_json_deterministic(capsys: pytest.CaptureFixture[str]) -> None:
    main(["demo", "paged-vs-contiguous", "--requests", "100", "--json"])
    first = capsys.readouterr().out
    main(["demo", "paged-vs-contiguous", "--requests", "100", "--json"])
    assert capsys.readouterr().out == first


def test_cli_rich_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "paged-vs-contiguous", "--requests", "50"]) == 0
    out = capsys.readouterr().out
    assert "contiguous" in out and "paged" in out and "% wasted" in out


def test_cli_keeps_core_demos_and_rejects_bad_values() -> None:
    parser = build_parser()
    for name in ("prefix-cache", "schedule", "paged-vs-contiguous", "online-softmax"):
        assert parser.parse_args(["demo", name]).name == name
    with pytest.raises(SystemExit):
        parser.parse_args(["demo", "paged-vs-contiguous", "--block-size", "0"])
