"""Browser fixtures: the test app on a real HTTP server, and Debian's Chromium driven by
Playwright (never a downloaded browser: `playwright install` is not used).

`live_server` serves the very `app` fixture, so rows written through `db`/`make` and
through `app.test_client()` are what the browser sees. Set `app_config` keys before
`live_server` (or `app`) is first requested to change the served configuration.
"""

from __future__ import annotations

import os

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
TIMEOUT_MS = 10_000


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium from /usr/bin/chromium, shared by the whole run."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: the browser tests need Debian's chromium package "
                    "(the test setup script installs it; do not run `playwright install`).",
                    pytrace=False)
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                             headless=True)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


def _page(browser, options):
    context = browser.new_context(**options)
    context.set_default_timeout(TIMEOUT_MS)
    return context, context.new_page()


@pytest.fixture
def page(browser):
    """A page in a fresh phone-sized context (390x844, mobile, touch)."""
    context, page = _page(browser, PHONE)
    yield page
    context.close()


@pytest.fixture
def desktop_page(browser):
    """A page in a fresh desktop context (1280x900)."""
    context, page = _page(browser, DESKTOP)
    yield page
    context.close()

