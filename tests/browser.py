"""Open a page of a built site in the system Chromium through Playwright (never its own download).

`open_page(url)` yields (page, console_errors, requests): every console error and uncaught page
error, and every URL the page requested (so a test can assert nothing left `file:`). Tests that
import this skip cleanly when Playwright or Chromium is missing.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from typing import Iterator

import pytest


def chromium() -> str:
    """Path of the system Chromium, or skip the calling test."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no chromium on PATH")
    return path


@contextmanager
def open_page(url: str) -> Iterator[tuple[object, list[str], list[str]]]:
    """A loaded page of url in headless Chromium, with its console errors and requested URLs."""
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = chromium()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=["--no-sandbox"], headless=True)
        try:
            page = browser.new_page()
            errors: list[str] = []
            requests: list[str] = []
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("request", lambda req: requests.append(req.url))
            page.goto(url)
            yield page, errors, requests
        finally:
            browser.close()
