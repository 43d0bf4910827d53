"""Browser tests: Debian's Chromium driven by Playwright against Django's live server.

Chromium comes from the system (`apt-get install chromium`; KITH_CHROMIUM names another
binary): Playwright's own browser download is not used. A missing browser is a failure
with instructions, not a skip."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import PASSWORD


def chromium_path() -> str | None:
    candidate = os.environ.get("KITH_CHROMIUM") or "/usr/bin/chromium"
    return candidate if os.path.exists(candidate) else shutil.which("chromium")


@pytest.fixture(scope="session")
def browser(django_db_setup):
    # After the test database exists: creating it is synchronous work that must not run
    # beside Playwright's event loop.
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        pytest.fail("Browser tests need Chromium: `apt-get install chromium` (Debian/Ubuntu), "
                    "or set KITH_CHROMIUM to a Chromium binary.")
    # Playwright's sync API keeps an event loop running in this thread; the tests (and the
    # test database's teardown) still talk to the database synchronously, which is safe
    # here: one thread, and the live server has its own. Restored when the browser closes.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=path, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                        "--disable-background-networking"])
        yield browser
        browser.close()
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


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


def sign_in(page, email):
    """Sign in through the login form and land on the home page."""
    from playwright.sync_api import expect

    page.goto("/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name=re.compile("Sign in|Log in", re.I)).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Welcome back")
