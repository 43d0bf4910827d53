"""Browser tests: Debian's Chromium driven by Playwright against Django's live server.

Chromium comes from the system (`apt-get install chromium`; KITH_CHROMIUM names another
binary): Playwright's own browser download is not used. A missing browser is a failure
with instructions, not a skip."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; the test body still talks to
# the database synchronously, which is safe here (one thread, the live server has its own).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def chromium_path() -> str | None:
    candidate = os.environ.get("KITH_CHROMIUM") or "/usr/bin/chromium"
    return candidate if os.path.exists(candidate) else shutil.which("chromium")


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        pytest.fail("Browser tests need Chromium: `apt-get install chromium` (Debian/Ubuntu), "
                    "or set KITH_CHROMIUM to a Chromium binary.")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                        "--disable-background-networking"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1360, "height": 900}, base_url=live_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshots(tmp_path) -> Path:
    """Where the test saves its screenshots: KITH_SCREENSHOT_DIR (docs/screenshots refreshes
    the ones in the README), else a temporary folder."""
    folder = Path(os.environ.get("KITH_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
