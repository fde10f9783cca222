"""The browser tests' one way to open a page: the system Chromium driven by Playwright for Python.

Playwright's own browser download is not reachable here, so the system `chromium` is launched
through `executable_path`; without it (or without the `playwright` package) the test is skipped.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from typing import Any, Iterator

import pytest


def chromium() -> str:
    """The system Chromium's path, or skip the calling test."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("no system chromium on PATH")
    return path


@contextmanager
def open_page(url: str) -> Iterator[tuple[Any, list[str], list[str]]]:
    """Open `url` in headless Chromium; yield (page, console_errors, requests).

    `console_errors` collects console messages of type error and uncaught page errors; `requests`
    every URL the page asked for (the document itself included), so a test can check that none
    leaves `file:`."""
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = chromium()
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox"], headless=True)
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url)
            yield page, errors, requests
        finally:
            browser.close()
