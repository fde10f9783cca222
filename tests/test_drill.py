"""codewalk drill: answers computed by the C++ core agree with the Python reference; feedback,
zh output, resolvable symbols, determinism, --json, stats. No network; a few seconds."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from rich.console import Console

import codewalk.core as core
import codewalk.core.reference as reference
from codewalk import drill
from codewalk.lessons import paging
from codewalk.notes.schema import Note, Notes
from codewalk.cli import main
from codewalk.drill import facts, stats
from codewalk.drill import paged_attention as pa
from codewalk.drill import vllm_vs_ksanallm as vk
from codewalk.cli.drill import run_interactive
from codewalk.drill import doc as view

SEEDS = range(100)


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory) -> facts.FactBank:
    """The shipped notes against the built-in corpus, indexed once for the module."""
    old = os.environ.get("CODEWALK_HOME")
    os.environ["CODEWALK_HOME"] = str(tmp_path_factory.mktemp("drill-home"))
    try:
        b = facts.load_bank()
        b.locate("core", "ksana_llm::PrefixCacheManager")  # open the index now
        for name in ("ksanallm", "vllm"):
            b.has_checkout(name)
        return b
    finally:
        if old is None:
            os.environ.pop("CODEWALK_HOME", None)
        else:
            os.environ["CODEWALK_HOME"] = old


@pytest.mark.parametrize("topic", drill.TOPICS)
def test_core_answers_agree_with_reference(topic: str) -> None:
    kinds = set()
    for seed in SEEDS:
        q = drill.generate(topic, seed)
        kinds.add(q.kind)
        assert drill.recompute(q, reference) == q.value, (topic, q.kind, seed)
        assert drill.is_right(q, q.answer_text.en if q.form != "choice" else q.answer)
    assert kinds == set(drill.computed_kinds(topic))
    assert len(kinds) >= 3


@pytest.mark.parametrize("topic", drill.TOPICS)
def test_every_kind_agrees_with_reference(topic: str) -> None:
    for kind in drill.computed_kinds(topic):
        for seed in range(25):
            q = drill.generate(topic, seed, kind=kind)
            assert drill.recompute(q, reference) == q.value, (topic, kind, seed)


def test_compare_replay_matches_the_compare_demo() -> None:
    from codewalk.lessons.compare import compare

    for seed in range(15):
        q = drill.generate(vk.TOPIC, seed)
        doc = compare([tuple(row) for row in q.scenario["trace"]])
        assert q.replay["steps"] == doc["steps"]
        assert q.replay["divergence"] == (doc["divergence"] or {}).get("step")


def test_paging_answers_match_closed_form() -> None:
    for seed in range(40):
        q = drill.generate(pa.TOPIC, seed, kind="admitted")
        s = q.scenario
        reqs = [paging.Request(i, p, o) for i, (p, o) in enumerate(s["requests"])]
        assert q.value[1] == paging.concurrent_paged(reqs, s["budget_blocks"] * s["block_size"], s["block_size"])
        q = drill.generate(pa.TOPIC, seed, kind="paged-blocks")
        assert q.value == sum(paging.blocks_for(p + o, q.scenario["block_size"]) for p, o in q.scenario["requests"])


def test_same_seed_same_question(bank: facts.FactBank) -> None:
    for topic in drill.TOPICS:
        for seed in (0, 7, 42):
            a = view.question_doc(drill.generate(topic, seed, bank), "en", bank)
            b = view.question_doc(drill.generate(topic, seed, bank), "en", bank)
            assert json.dumps(a, default=str) == json.dumps(b, default=str)
        texts = {drill.generate(topic, s, bank).prompt.en for s in range(10)}
        assert len(texts) >= 8


def test_no_question_names_a_symbol_that_does_not_resolve(bank: facts.FactBank) -> None:
    by_id = bank.notes.by_id()
    for topic in drill.TOPICS:
        kinds = list(drill.computed_kinds(topic)) + bank.kinds(topic)
        for kind in kinds:
            for seed in range(30):
                q = drill.generate(topic, seed, bank, kind=kind)
                for source, symbol in q.symbols:
                    assert bank.locate(source, symbol) is not None, (topic, kind, seed, symbol)
                for note_id in q.notes:
                    assert note_id in by_id, note_id
                symbols, notes = view.links(q, bank)
                assert len(symbols) == len(q.symbols)
    assert bank.kinds("prefix-cache") and bank.kinds("paged-attention")
    for note in bank.usable:  # ksanallm/vllm notes only with a checkout of that source
        assert note.source == "core" or bank.has_checkout(note.source)


def test_a_note_whose_symbol_does_not_resolve_is_skipped(bank: facts.FactBank) -> None:
    good = next(n for n in bank.usable if facts.note_topic(n) == "prefix-cache")
    ghost = Note(id="core.ghost", symbol="ksana_llm::PrefixCacheManager::NoSuchFunction", source="core",
                 path=good.path, title="a function that is not there", en="x", zh="x")
    other = Note(id="ksanallm.elsewhere", symbol=good.symbol, source="ksanallm", path=good.path, title="t",
                 en="x", zh="x")
    notes = Notes(notes=[good, ghost, other], sources=bank.notes.sources)
    fb = facts.FactBank(notes)
    fb.checkouts._indexes = dict(bank.checkouts._indexes)  # the core index already built
    fb.checkouts._indexes["ksanallm"] = None  # as if no KsanaLLM checkout, even when CI has one
    fb._located = {}
    fb.usable = [n for n in notes.notes if facts.note_topic(n) and fb.locate(n.source, n.symbol) is not None]
    assert [n.id for n in fb.usable] == [good.id]


def _console() -> Console:
    return Console(record=True, width=120, color_system=None)


def test_wrong_answer_feedback_shows_answer_replay_and_links(bank: facts.FactBank) -> None:
    q = drill.generate("prefix-cache", 3, kind="evict")
    wrong = str(q.answer + 1)
    seen: list[tuple[str, bool]] = []
    console = _console()
    asked, right = run_interactive([q], "en", bank, console, ask=lambda _: wrong,
                                        on_answer=lambda qq, ok: seen.append((qq.kind, ok)))
    out = console.export_text()
    assert (asked, right) == (1, 0) and seen == [("evict", False)]
    assert f"wrong — answer: {q.answer}" in out and f"you typed: '{wrong}'" in out
    assert "FreeCachedBlocks" in out and "DestroyFinishedRequest" in out  # the replay's frames
    assert "bindings/prefix_cache_manager.cpp:" in out
    assert "core.prefix-cache-manager.free-cached-blocks" in out

    console = _console()
    assert run_interactive([q], "en", bank, console, ask=lambda _: str(q.answer)) == (1, 1)
    assert "right — answer" in console.export_text()


def test_interactive_choice_pair_and_unreadable(bank: facts.FactBank) -> None:
    q = drill.generate("scheduler", 1, kind="preempt")
    q2 = drill.generate("vllm-vs-ksanallm", 2, kind="hit-tokens")
    typed = " ".join(map(str, q2.answer)) if isinstance(q2.answer, list) else str(q2.answer)
    # an unreadable answer is explained and asked again, not counted wrong
    answers = iter([q.answer, "?? nonsense", typed, ""])
    qs = [q, q2, q]
    console = _console()
    assert run_interactive(qs, "en", bank, console, ask=lambda _: next(answers)) == (2, 2)
    out = console.export_text()
    assert "could not read that as an answer" in out and "'?? nonsense'" in out
    assert "first difference" in out or "KsanaLLM (ContinuousBatchingStrategy)" in out  # compare replay


def test_zh_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drill", "--seed", "0", "--count", "4", "--lang", "zh", "--non-interactive"]) == 0
    out = capsys.readouterr().out
    assert "答案" in out and "解释" in out
    for topic, seed in zip(drill.TOPICS, range(4)):
        q = drill.generate(topic, seed)
        assert q.prompt.zh and q.explanation.zh and any("\u4e00" <= c <= "\u9fff" for c in q.prompt.zh)


def test_json_document_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drill", "--json", "--seed", "5", "--count", "8"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["drill"] == {"seed": 5, "count": 8, "topics": list(drill.TOPICS)}
    assert len(doc["questions"]) == 8
    for i, q in enumerate(doc["questions"]):
        assert q["topic"] == drill.TOPICS[i % 4] and q["seed"] == 5 + i
        assert {"kind", "question", "form", "choices", "answer", "answer_text", "explanation", "symbols", "notes",
                "replay", "scenario", "value"} <= set(q)
        assert q["form"] in ("int", "pair", "sequence", "choice")
        assert all({"source", "symbol", "path", "line"} <= set(s) for s in q["symbols"])


def _answer_all(monkeypatch: pytest.MonkeyPatch, answers: list[str]) -> None:
    it = iter(answers)

    def fake_input(_: str = "") -> str:
        try:
            return next(it)
        except StopIteration:
            raise EOFError from None

    monkeypatch.setattr("builtins.input", fake_input)


def test_stats_file_updated(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                            codewalk_home: Path) -> None:
    q0 = drill.generate("paged-attention", 10, facts.load_bank())
    right = q0.answer if q0.form == "choice" else q0.answer_text.en
    _answer_all(monkeypatch, [right, "a"])  # the second (seed 11) is a choice whose answer is b
    assert main(["drill", "--topic", "paged-attention", "--seed", "10", "--count", "2", "--no-replay"]) == 0
    path = stats.stats_path()
    assert path.parent == codewalk_home / "drill"
    s = json.loads(path.read_text())["topics"]["paged-attention"]
    assert (s["asked"], s["right"], s["streak"], s["best_streak"]) == (2, 1, 0, 1) and s["last_seen"]
    capsys.readouterr()
    assert main(["drill", "--stats", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["topics"]["paged-attention"]["asked"] == 2


def test_corrupt_stats_file_is_reported_and_kept(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = stats.stats_path()
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert main(["drill", "--stats"]) == 1
    err = capsys.readouterr().err
    assert str(path) in err and "not a drill stats file" in err
    assert path.read_text() == "{not json"  # --stats never touches it

    _answer_all(monkeypatch, ["1 1"])  # a readable (wrong) pair: an unreadable one is asked again
    assert main(["drill", "--topic", "prefix-cache", "--seed", "0", "--count", "1", "--no-replay"]) == 0
    err = capsys.readouterr().err
    backups = list(path.parent.glob(path.name + ".corrupt-*"))
    assert len(backups) == 1 and backups[0].read_text() == "{not json"
    assert str(backups[0]) in err
    assert json.loads(path.read_text())["topics"]["prefix-cache"]["asked"] == 1


def test_stats_record_and_wrong_shape(tmp_path: Path) -> None:
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"topics": []}))
    with pytest.raises(stats.StatsError):
        stats.load(p)
    s = stats.record(stats.record(stats.empty(), "scheduler", True), "scheduler", True)
    stats.save(p, s)
    assert stats.load(p)[0]["topics"]["scheduler"]["best_streak"] == 2
    assert [x.name for x in tmp_path.iterdir()] == ["s.json"]  # no temp file left behind


def test_parse_forms() -> None:
    from codewalk.drill.model import parse

    assert parse("int", " 7 ") == 7 and parse("int", "7 8") is None
    assert parse("pair", "3, 5") == [3, 5] and parse("pair", "3") is None
    assert parse("sequence", "2 1 3") == [2, 1, 3]
    assert parse("choice", "B)", 4) == "b" and parse("choice", "e", 4) is None
