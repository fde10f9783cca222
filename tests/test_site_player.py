"""The site's players as files: what write_players writes, the embedded trace, escaping, links, traces."""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

import codewalk.core as core
from codewalk.site import player, player_data
from codewalk.lessons.replay import prefix_cache_frames, schedule_frames

HOSTILE = "</script><script>alert(1)</script>"
DATA = re.compile(r'<script type="application/json" id="player-data">(.*?)</script>', re.S)


def embedded(page: Path) -> dict[str, Any]:
    """The JSON document a player page carries."""
    found = DATA.findall(page.read_text(encoding="utf-8"))
    assert len(found) == 1
    return json.loads(found[0])


def no_links(_name: str) -> None:
    return None


def test_writes_both_pages_and_assets(tmp_path: Path) -> None:
    written = player.write_players(tmp_path, trace=None, real=False, link_for=no_links)
    play = tmp_path / "play"
    assert sorted(p.name for p in written) == ["player.css", "player.js", "prefix-cache.html", "schedule.html"]
    assert all(p.parent == play and p.stat().st_size > 0 for p in written)
    page = (play / "schedule.html").read_text(encoding="utf-8")
    assert 'href="prefix-cache.html"' in page and 'src="player.js"' in page
    assert '<button type="button" id="next">Next</button>' in page
    assert '<button type="button" id="prev">Prev</button>' in page
    assert 'id="step"' in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page)  # nothing leaves the machine
    js = (play / "player.js").read_text(encoding="utf-8")
    assert "innerHTML" not in js and "fetch(" not in js  # text only; no request


def test_rebuild_leaves_unchanged_files_alone(tmp_path: Path) -> None:
    first = player.write_players(tmp_path, trace=None, real=False, link_for=no_links)
    stamps = {p: p.stat().st_mtime_ns for p in first}
    for p in first:
        os.utime(p, ns=(1, 1))
    again = player.write_players(tmp_path, trace=None, real=False, link_for=lambda n: f"{n}.html")
    assert again == first and set(stamps) == set(again)
    changed = {p.name for p in again if p.stat().st_mtime_ns != 1}
    assert changed == {"schedule.html", "prefix-cache.html"}  # the links changed; the assets did not
    assert sorted(p.name for p in (tmp_path / "play").iterdir()) == sorted(p.name for p in first)  # no temp left


def test_schedule_frames_match_the_core(tmp_path: Path) -> None:
    player.write_players(tmp_path, trace=None, real=False, link_for=no_links)
    doc = embedded(tmp_path / "play" / "schedule.html")
    assert doc["kind"] == "schedule" and [e["key"] for e in doc["engines"]] == ["core"]
    frames = doc["engines"][0]["frames"]
    expected = schedule_frames(core)
    assert len(frames) == len(expected) > 3
    for got, want in zip(frames, expected):
        assert got["label"] == want.title
        assert got["queues"] == {k: [str(r) for r in want.queues[k]] for k in ("waiting", "running", "swapped")}
        assert [f["name"] for f in got["functions"]] == want.function.split(" → ")
        b = got["blocks"]
        assert b["free"] == len(want.snapshot["free"]) and b["reusable"] == len(want.snapshot["reusable"])
        assert b["used"] + b["free"] + b["reusable"] == b["total"] == 9
        assert got["swapouts"] == [str(r) for r in want.result.get("swapped_out", [])]
        ids = [n["block_id"] for n in want.snapshot["nodes"]]
        assert sorted(_tree_ids(got["tree"])) == sorted(str(i) for i in ids)
    # The built-in trace swaps: some step has a swap-out and a non-empty swapped queue.
    assert any(f["swapouts"] for f in frames) and any(f["queues"]["swapped"] for f in frames)


def _tree_ids(nodes: list[dict[str, Any]]) -> list[str]:
    return [i for n in nodes for i in [n["id"], *_tree_ids(n["children"])]]


def test_prefix_cache_page_steps_every_call(tmp_path: Path) -> None:
    player.write_players(tmp_path, trace=None, real=False, link_for=no_links)
    doc = embedded(tmp_path / "play" / "prefix-cache.html")
    frames = doc["engines"][0]["frames"]
    expected = prefix_cache_frames(core)
    assert [f["caption"] for f in frames] == [f.title for f in expected]
    assert [f["functions"][0]["name"] for f in frames] == [f.function for f in expected]
    shared = frames[8]["tree"]  # B computed: A's two full blocks, used by A, B and C (B's tail is not full)
    assert [(n["tokens"], n["active"]) for n in (shared[0], shared[0]["children"][0])] == [
        ("1 2 3 4", ["1", "2", "3"]), ("5 6 7 8", ["1", "2", "3"])]
    assert all(n["reusable"] for n in frames[13]["tree"])  # D's finished blocks stay cached, reusable


def test_link_for_links_the_functions(tmp_path: Path) -> None:
    asked: list[str] = []

    def link_for(name: str) -> str | None:
        asked.append(name)
        if name == "ProcessDecodingQueue":
            return "core/bindings/src/continuous_batching.cpp.html#L12"
        return "javascript:alert(1)" if name == "ProcessWaitingQueue" else None

    player.write_players(tmp_path, trace=None, real=False, link_for=link_for)
    assert "ContinuousBatchingStrategy::Schedule" in asked and "AllocateRequestBlocks" in asked
    assert len(asked) == len(set(asked))  # asked once per name
    fns = [f for fr in embedded(tmp_path / "play" / "schedule.html")["engines"][0]["frames"] for f in fr["functions"]]
    hrefs = {f["name"]: f["href"] for f in fns}
    assert hrefs["ProcessDecodingQueue"] == "../core/bindings/src/continuous_batching.cpp.html#L12"
    assert hrefs["ProcessWaitingQueue"] is None  # a script URL is never a link
    assert hrefs["ContinuousBatchingStrategy::Schedule"] is None


def test_hostile_text_is_embedded_as_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frames = player_data.core_schedule(None)
    frames[0]["function"] = f"ContinuousBatchingStrategy::Schedule → {HOSTILE}"
    frames[0]["queues"]["waiting"] = [HOSTILE]
    frames[0]["result"]["prefix_hit_tokens"] = {HOSTILE: 4}
    monkeypatch.setattr(player_data, "core_schedule", lambda _trace: frames)
    player.write_players(tmp_path, trace=None, real=False, link_for=lambda n: f"x.html?{n}",
                         trace_name=f"<b>{HOSTILE}.json")
    page = (tmp_path / "play" / "schedule.html").read_text(encoding="utf-8")
    assert "<script>alert" not in page and "<b>" not in page
    assert page.count("</script>") == 2  # the data element's and player.js's, nothing else
    assert html.escape(f"<b>{HOSTILE}.json") in page
    first = embedded(tmp_path / "play" / "schedule.html")["engines"][0]["frames"][0]
    assert first["queues"]["waiting"] == [HOSTILE]
    assert first["functions"][1] == {"name": HOSTILE, "href": f"../x.html?{HOSTILE}"}
    assert first["hits"] == [f"req {HOSTILE}: 4 tokens"]


def test_embed_json_escapes_markup() -> None:
    text = player.embed_json({"a": "</script>&<!--\u2028"})
    assert not set("<>&") & set(text) and "\u2028" not in text
    assert json.loads(text) == {"a": "</script>&<!--\u2028"}


def test_trace_file(tmp_path: Path) -> None:
    trace = [{"id": 7, "arrival": 0, "prompt": [1, 2, 3, 4, 5], "max_new_tokens": 2},
             {"id": 9, "arrival": 1, "prompt": [1, 2, 3, 4, 6], "max_new_tokens": 3}]
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(trace), encoding="utf-8")
    loaded = player.load_trace(path)
    player.write_players(tmp_path / "site", trace=loaded, real=False, link_for=no_links, trace_name=path.name)
    doc = embedded(tmp_path / "site" / "play" / "schedule.html")
    frames = doc["engines"][0]["frames"]
    assert "trace from trace.json" in doc["intro"]
    assert [f["queues"] for f in frames] == [{k: [str(r) for r in f.queues[k]] for k in f.queues}
                                             for f in schedule_frames(core, trace)]
    seen = {r for f in frames for q in f["queues"].values() for r in q}
    assert seen == {"7", "9"}
    # 9 arrives after 7 is computed: its first block is a prefix hit, and it prefills the one token left
    assert frames[1]["hits"] == ["req 9: 4 tokens"] and "prefill: 9 (1 token)" in frames[1]["activity"]


@pytest.mark.parametrize("text, message", [
    ("not json", "not JSON"),
    ("[]", "non-empty JSON list"),
    ('[{"prompt": [1], "max_new_tokens": 0}]', "request 1 (id 1): max_new_tokens"),
    ('[{"prompt": [1, -2], "max_new_tokens": 1}]', "prompt token -2"),
])
def test_bad_trace_file_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=re.escape(message)) as e:
        player.load_trace(path)
    assert str(e.value).startswith(f"--trace {path}: ") and "\n" not in str(e.value)


def test_missing_trace_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"--trace .*nope\.json: No such file"):
        player.load_trace(tmp_path / "nope.json")


def test_bad_trace_list_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"request 2 \(id 1\): duplicate id"):
        player.write_players(tmp_path, trace=[{"prompt": [1], "max_new_tokens": 1},
                                              {"id": 1, "prompt": [2], "max_new_tokens": 1}],
                             real=False, link_for=no_links)
    assert not (tmp_path / "play").exists()


def test_real_without_a_build_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CODEWALK_KSANALLM", raising=False)
    player.write_players(tmp_path, trace=None, real=True, link_for=no_links)
    page = (tmp_path / "play" / "schedule.html").read_text(encoding="utf-8")
    doc = embedded(tmp_path / "play" / "schedule.html")
    assert [e["key"] for e in doc["engines"]] == ["core"]
    assert "real scheduler is not shown" in doc["note"] and 'id="real-note"' in page
    assert "codewalk upstream build" in doc["note"]


def test_real_not_built_for_a_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checkout = tmp_path / "ksanallm"
    checkout.mkdir()
    monkeypatch.setenv("CODEWALK_KSANALLM", str(checkout))
    frames, why = player_data.real_schedule(None)
    assert frames is None and "is not built" in why


def test_real_frames_beside_the_core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = player_data.core_schedule(None)[:3]  # stands for a real engine whose trace is shorter
    real[1]["queues"]["waiting"] = [99]
    ids = {n["block_id"]: n["block_id"] + 100 for n in real[2]["snapshot"]["nodes"]}  # same tree, other ids
    for n in real[2]["snapshot"]["nodes"]:
        n.update(block_id=ids[n["block_id"]], parent=ids.get(n["parent"]), children=[ids[c] for c in n["children"]])
    monkeypatch.setattr(player_data, "real_schedule", lambda _t: (real, "KsanaLLM c451219c (/src)"))
    player.write_players(tmp_path, trace=None, real=True, link_for=no_links)
    doc = embedded(tmp_path / "play" / "schedule.html")
    assert [e["key"] for e in doc["engines"]] == ["core", "real"] and doc["note"] == ""
    assert len(doc["engines"][1]["frames"]) == 3 and doc["engines"][1]["name"].startswith("real: KsanaLLM")
    assert [f["differs"] for f in doc["engines"][1]["frames"]] == [[], ["queues"], ["block ids"]]
    assert "differs" not in doc["engines"][0]["frames"][0]
    page = (tmp_path / "play" / "schedule.html").read_text(encoding="utf-8")
    assert page.count('data-part="waiting"') == 2 and page.count('id="waiting"') == 1


def test_module_entry_point(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[{"prompt": [1], "max_new_tokens": "x"}]', encoding="utf-8")
    assert player.main([str(tmp_path / "out"), "--trace", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--trace {bad}: request 1 (id 1): max_new_tokens" in err
    assert player.main([str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "play" / "schedule.html").is_file()


@pytest.mark.real
def test_real_scheduler_beside_the_core(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """With KsanaLLM's scheduler built (CODEWALK_KSANALLM; CODEWALK_UPSTREAM_TEST_HOME reuses a build),
    the page carries its trace beside the core's, step for step as `demo schedule --engine real` replays it."""
    from upstream_env import KSANA, in_upstream_home

    from codewalk.upstream.build import build, engine

    def make() -> tuple[list[Any], dict[str, Any]]:
        build(KSANA)
        player.write_players(tmp_path, trace=None, real=True, link_for=no_links)
        return schedule_frames(engine(KSANA, build_if_missing=False)), embedded(tmp_path / "play" / "schedule.html")

    want, doc = in_upstream_home(tmp_path_factory, make)
    assert [e["key"] for e in doc["engines"]] == ["core", "real"] and doc["note"] == ""
    real = doc["engines"][1]["frames"]
    assert [f["queues"] for f in real] == [{k: [str(r) for r in f.queues[k]] for k in f.queues} for f in want]
    assert real[0]["tree"] and real[0]["blocks"]["total"] == 9
    # The core mirrors it on the built-in trace, up to which free block ids a swap-in is handed
    assert all(f["differs"] in ([], ["block ids"]) for f in real)
