"""Headless Debian Chromium for tests, through Playwright (never `playwright install`: we drive the
system browser at /usr/bin/chromium so the test sees what an analyst's browser sees).

Usage::

    from _chromium import open_page, chromium_available
    with open_page(path_to_html, tmp_path) as page:      # page: playwright Page, fully loaded
        page.console   # list of (type, text) console messages
        page.errors    # list of uncaught page errors (str)
        page.requests  # list of URLs the page tried to fetch (besides the file itself)
        page.query_selector_all(".finding")

Network: every request other than the file itself is recorded and aborted, so a report that
tries to reach the network both fails the check and cannot leak anything.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("TRIAGE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_available() -> bool:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        return False
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


def require_chromium() -> None:
    """Skip the calling test with a reason when Chromium or Playwright is missing."""
    if not chromium_available():
        message = f"needs Chromium at {CHROMIUM} and the 'playwright' Python package"
        if os.environ.get("CI"):  # CI installs both (scripts/setup-env): a skip there would hide a failure
            pytest.fail(message)
        pytest.skip(message)


@contextlib.contextmanager
def open_page(html_path: str | os.PathLike, profile_dir: str | os.PathLike, *,
              width: int = 1360, height: int = 900, timeout_ms: int = 30000) -> Iterator:
    """Open a local HTML file in headless Chromium; yields the Page with .console/.errors/.requests."""
    from playwright.sync_api import sync_playwright

    html_path = Path(html_path).resolve()
    url = html_path.as_uri()
    profile = Path(profile_dir) / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": width, "height": height}, timeout=timeout_ms)
        try:
            page = ctx.pages[0] if ctx.pages else ctx.new_page()
            page.console = []
            page.errors = []
            page.requests = []
            page.on("console", lambda m: page.console.append((m.type, m.text)))
            page.on("pageerror", lambda exc: page.errors.append(str(exc)))

            def route(r):
                if r.request.url == url:
                    r.continue_()
                else:
                    page.requests.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.goto(url, wait_until="load", timeout=timeout_ms)
            yield page
        finally:
            ctx.close()
