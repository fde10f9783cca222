"""`codewalk demo split-fuse`: one chunked prefill across steps, on the C++ core and its Python twin."""

from __future__ import annotations

import json

import pytest

import codewalk.core as core
from codewalk.cli import main
from codewalk.core import reference
from codewalk.lessons import split_fuse


def _chunks(steps: list[dict]) -> list[tuple[int, list[int], int, int]]:
    return [(r["step"], r["chunk"], r["asked_blocks"], r["new_blocks"]) for r in steps if "chunk" in r]


@pytest.mark.parametrize("engine", [core, reference], ids=["cpp", "python"])
def test_roomy_pool_chunks_the_prompt_by_eight(engine) -> None:
    steps = split_fuse.frames(engine, split_fuse.SCENARIOS["roomy"])
    assert _chunks(steps) == [(1, [0, 8], 3, 3), (2, [8, 16], 5, 2), (3, [16, 22], 6, 1)]
    for r in steps:
        if "chunk" in r:  # the request holds exactly what (n + bs) / bs asked for: one token of room ahead
            assert len(r["long_blocks"]) == split_fuse.step_blocks(r["chunk"][1]) == r["asked_blocks"]
    # it waits between chunks, decodes from the step after its last chunk, and request 1 decodes throughout
    assert [2 in r["waiting"] for r in steps[1:4]] == [True, True, False]
    assert 2 in steps[4]["decode"] and all(1 in r["decode"] for r in steps[1:4])
    assert not any(r["events"] for r in steps)


@pytest.mark.parametrize("engine", [core, reference], ids=["cpp", "python"])
def test_tight_pool_recomputes_the_chunked_prompt_and_turns_split_fuse_off(engine) -> None:
    steps = split_fuse.frames(engine, split_fuse.SCENARIOS["tight"])
    dropped = next(r for r in steps if any("recomputed" in e for e in r["events"]))
    assert "split-fuse disabled for the rest of the run" in dropped["events"] and dropped["long_blocks"] == []
    resumed = next(r for r in steps if r["step"] > dropped["step"] and "chunk" in r)
    # readmitted whole: its four full blocks (16 tokens) come from the prefix tree, the last 6 tokens are computed
    assert resumed["chunk"] == [16, 22] and resumed["last_chunk"]
    assert "prefix cache hit: 16 tokens already computed" in resumed["events"]
    assert resumed["new_blocks"] == split_fuse.step_blocks(22) - 16 // split_fuse.BLOCK
    assert steps[-1]["finished"] == [2]


def test_both_engines_give_the_same_document() -> None:
    assert split_fuse.document(core) == split_fuse.document(reference)


def test_cli_json_and_table(capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one table row per line
    assert main(["demo", "split-fuse", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["split_fuse_token_num"] == 8 and set(doc["scenarios"]) == {"roomy", "tight"}
    assert main(["demo", "split-fuse"]) == 0
    out = capsys.readouterr().out
    assert "[8, 16)" in out and "split-fuse disabled" in out and "tight: 8 device blocks" in out


def test_config_is_fully_explicit() -> None:
    """The demo sets every SchedulerConfig field, so changed defaults cannot change its output."""
    import dataclasses
    import inspect

    from codewalk.core.config import SchedulerConfig

    fields = {f.name for f in dataclasses.fields(SchedulerConfig)}
    src = inspect.getsource(split_fuse.config)
    assert fields and all(f"{name}=" in src for name in fields), sorted(n for n in fields if f"{n}=" not in src)
