"""The built-in corpus's site in a real browser (system Chromium through Playwright, from file://).

Skips cleanly when Playwright or Chromium is missing (see tests/browser.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser import open_page

pytest.importorskip("playwright.sync_api")


def _only_file(requests: list[str]) -> None:
    assert requests and all(u.startswith("file:") for u in requests), [u for u in requests if not u.startswith("file:")]


def test_call_link_lands_on_definition_line_with_its_note(core_site: Path) -> None:
    url = (core_site / "core/bindings/continuous_batching.cpp.html").as_uri()
    with open_page(url) as (page, errors, requests):
        link = page.locator("a.x", has_text="ProcessWaitingQueue").first
        link.hover()
        tip = page.locator("#cw-tip")
        tip.wait_for(state="visible")
        assert "ContinuousBatchingStrategy::ProcessWaitingQueue" in tip.inner_text()
        assert "note:" in tip.inner_text()  # the target's note title
        link.click()
        page.wait_for_function("location.hash.startsWith('#L')")
        line = page.locator(":target")
        assert "void ContinuousBatchingStrategy::ProcessWaitingQueue(" in line.inner_text()
        note = line.locator("aside.note")
        assert note.count() == 1 and note.locator(".title").is_visible()
        body = note.locator("details").first
        assert not body.locator("p").first.is_visible()
        body.locator("summary").click()
        assert body.locator("p").first.is_visible()
        assert errors == []
        _only_file(requests)


def test_keyboard_focus_shows_the_tooltip(core_site: Path) -> None:
    url = (core_site / "core/bindings/continuous_batching.cpp.html").as_uri()
    with open_page(url) as (page, errors, requests):
        page.locator("a.x").first.focus()
        page.locator("#cw-tip").wait_for(state="visible")
        assert page.locator("#cw-tip").inner_text().strip()
        assert errors == []


def test_search_finds_a_definition(core_site: Path) -> None:
    with open_page((core_site / "index.html").as_uri()) as (page, errors, requests):
        page.locator('input[type="search"]').fill("ProcessWaitingQueue")
        first = page.locator("#results a").first
        first.wait_for()
        assert first.inner_text() == "ksana_llm::ContinuousBatchingStrategy::ProcessWaitingQueue"
        first.click()
        page.wait_for_function("location.hash.startsWith('#L')")
        assert "ProcessWaitingQueue(" in page.locator(":target").inner_text()
        assert errors == []
        _only_file(requests)


def test_guide_excerpt_links_into_code(core_site: Path) -> None:
    with open_page((core_site / "guides/ksanallm-scheduler.html").as_uri()) as (page, errors, requests):
        link = page.locator("p.where a").first
        name = link.inner_text().split(" — ")[0].rsplit("::", 1)[-1]
        link.click()
        page.wait_for_function("location.hash.startsWith('#L')")
        assert name in page.locator(":target").inner_text()
        assert errors == []
        _only_file(requests)


def test_dispatch_overrides_are_offered_and_reachable_by_keyboard(tmp_path: Path) -> None:
    from codewalk.site import data
    from codewalk.site.build import build_site
    from tests.test_site import SCHED_CPP, SCHED_H

    root = tmp_path / "fx"
    (root / "engine").mkdir(parents=True)
    (root / "engine" / "sched.h").write_text(SCHED_H)
    (root / "engine" / "sched.cpp").write_text(SCHED_CPP)
    build_site(tmp_path / "site", {"fixture": data.Target(root)}, "en", jobs=1)
    url = (tmp_path / "site/fixture/engine/sched.cpp.html").as_uri()
    with open_page(url) as (page, errors, requests):
        call = page.locator("#L8 a.x", has_text="Step")
        call.focus()
        tip = page.locator("#cw-tip")
        tip.wait_for(state="visible")
        assert "overrides: eng::Derived::Step" in tip.inner_text()
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('#cw-tip') !== null")
        page.keyboard.press("Enter")
        page.wait_for_function("location.hash === '#L6'")
        assert "Derived::Step" in page.locator(":target").inner_text()
        assert errors == []
        _only_file(requests)
