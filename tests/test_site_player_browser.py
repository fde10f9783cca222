"""The players in the system Chromium (Playwright): stepping, keys, the hash, links, escaping,
no console errors and no request beyond `file:`. Skipped without chromium or playwright."""

from __future__ import annotations

from pathlib import Path

import pytest
from browser import open_page

import codewalk.core as core
from codewalk.site import player, player_data
from codewalk.lessons.replay import prefix_cache_frames, schedule_frames

LINK = "core/bindings/src/continuous_batching.cpp.html#L12"
HOSTILE = "</script><script>window.pwned=1</script><img src=x onerror=window.pwned=2>"


def link_for(name: str) -> str | None:
    return LINK if name == "ProcessDecodingQueue" else None


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    player.write_players(out, trace=None, real=False, link_for=link_for)
    return out


def queues(page) -> dict[str, list[str]]:
    """The three queues as the page shows them ('-' marks an empty one)."""
    return {q: [t for t in page.locator(f"#{q} li").all_text_contents() if t != "-"]
            for q in ("waiting", "running", "swapped")}


def expected(step: int) -> dict[str, list[str]]:
    frame = schedule_frames(core)[step]
    return {q: [str(r) for r in ids] for q, ids in frame.queues.items()}


def assert_clean(errors: list[str], requests: list[str]) -> None:
    assert errors == []
    assert requests and all(u.startswith("file:") for u in requests), requests


def test_player_steps_with_buttons_and_keys(site: Path) -> None:
    with open_page((site / "play" / "schedule.html").as_uri()) as (page, errors, requests):
        assert page.text_content("#step") == "0" and queues(page) == expected(0)
        seen = [queues(page)]
        for step in range(1, 4):
            page.get_by_role("button", name="Next").click()
            assert page.text_content("#step") == str(step)
            assert queues(page) == expected(step)
            seen.append(queues(page))
        assert len({str(q) for q in seen}) > 1  # the queues really move
        assert page.url.endswith("#step=3")
        page.keyboard.press("ArrowRight")
        assert page.text_content("#step") == "4" and queues(page) == expected(4)
        page.get_by_role("button", name="Prev").click()
        assert page.text_content("#step") == "3" and queues(page) == expected(3)
        page.keyboard.press("ArrowLeft")
        assert page.text_content("#step") == "2"
        assert page.locator("#swapouts li").all_text_contents() == ["none"]
        page.keyboard.press("ArrowRight")  # step 3 swaps request 2 out
        assert page.locator("#swapouts li").all_text_contents() == ["2"]
        assert "used 9" in page.text_content("#blocks")
        for _ in range(20):  # past the end: stays on the last step
            page.keyboard.press("ArrowRight")
        last = len(schedule_frames(core)) - 1
        assert page.text_content("#step") == str(last) and queues(page) == expected(last)
        assert_clean(errors, requests)


def test_hash_opens_a_step_and_functions_are_linked(site: Path) -> None:
    with open_page((site / "play" / "schedule.html").as_uri() + "#step=3") as (page, errors, requests):
        assert page.text_content("#step") == "3" and queues(page) == expected(3)
        link = page.locator("#functions a")
        assert link.all_text_contents() == ["ProcessDecodingQueue"]
        assert link.get_attribute("href") == "../" + LINK
        assert "ContinuousBatchingStrategy::Schedule" in page.text_content("#functions")
        assert page.locator("#tree li.node").count() == len(schedule_frames(core)[3].snapshot["nodes"])
        page.goto((site / "play" / "schedule.html").as_uri() + "#step=1")
        assert page.text_content("#step") == "1"
        assert_clean(errors, requests)


def test_prefix_cache_player_shows_the_tree(site: Path) -> None:
    frames = prefix_cache_frames(core)
    with open_page((site / "play" / "prefix-cache.html").as_uri()) as (page, errors, requests):
        assert page.text_content("#caption") == frames[0].title
        assert page.locator("#tree li.node").count() == 0
        for _ in range(8):
            page.get_by_role("button", name="Next").click()
        assert page.text_content("#step") == "8" and page.text_content("#caption") == frames[8].title
        tokens = page.locator("#tree li.node > .tokens").all_text_contents()
        assert tokens == ["[1 2 3 4]", "[5 6 7 8]"]
        assert page.locator("#tree li.node li.node").count() == 1  # the second block hangs below the first
        assert_clean(errors, requests)


def test_hostile_text_is_shown_as_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frames = player_data.core_schedule(None)
    frames[0]["queues"]["waiting"] = [HOSTILE]
    frames[0]["function"] = f"ContinuousBatchingStrategy::Schedule → {HOSTILE}"
    monkeypatch.setattr(player_data, "core_schedule", lambda _trace: frames)
    player.write_players(tmp_path, trace=None, real=False, link_for=lambda n: "a.html#L1" if "<" in n else None)
    with open_page((tmp_path / "play" / "schedule.html").as_uri()) as (page, errors, requests):
        assert page.locator("#waiting li").all_text_contents() == [HOSTILE]
        assert page.locator("#functions a").all_text_contents() == [HOSTILE]
        assert page.evaluate("window.pwned") is None
        assert page.locator("img").count() == 0 and page.locator("script").count() == 2
        assert_clean(errors, requests)


def test_real_engine_beside_the_core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = player_data.core_schedule(None)[:2]
    real[1]["queues"]["running"] = [42]
    monkeypatch.setattr(player_data, "real_schedule", lambda _t: (real, "KsanaLLM c451219c"))
    player.write_players(tmp_path, trace=None, real=True, link_for=link_for)
    with open_page((tmp_path / "play" / "schedule.html").as_uri()) as (page, errors, requests):
        real_waiting = page.locator('[data-engine="real"] [data-part="waiting"] li')
        assert real_waiting.all_text_contents() == (expected(0)["waiting"] or ["-"])
        ended = page.locator('[data-engine="real"] [data-part="ended"]')
        differs = page.locator('[data-engine="real"] [data-part="differs"]')
        assert ended.is_hidden() and differs.text_content() == "Same as the core at this step."
        assert page.locator('[data-engine="core"] [data-part="differs"]').is_hidden()
        page.keyboard.press("ArrowRight")
        assert differs.text_content() == "Differs from the core here: queues"
        assert page.locator('[data-engine="real"] [data-part="running"] li').all_text_contents() == ["42"]
        page.keyboard.press("ArrowLeft")
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        assert queues(page) == expected(3)  # the core goes on
        assert ended.is_visible() and "ended at step 1" in ended.text_content()
        assert_clean(errors, requests)


def test_narrow_screen_and_print(site: Path) -> None:
    with open_page((site / "play" / "schedule.html").as_uri() + "#step=3") as (page, errors, requests):
        page.set_viewport_size({"width": 360, "height": 700})
        assert page.evaluate("document.documentElement.scrollWidth") <= 360  # no sideways scrolling
        page.emulate_media(media="print")
        assert page.get_by_role("button", name="Next").is_hidden()
        assert page.locator("#tree").is_visible() and page.locator("#waiting").is_visible()
        assert_clean(errors, requests)
