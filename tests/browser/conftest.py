"""Browser tests: Playwright (sync API) driving Debian's Chromium against pytest-django's live
server, with the demo organisation loaded.

Chromium comes from the distribution, not from ``playwright install`` (which needs network
access to a CDN): ``CHROMIUM_PATH`` names the binary, default ``/usr/bin/chromium``. Without it
the tests are skipped locally and fail under CI, so a CI image without a browser cannot pass
silently."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
    if os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    message = f"Chromium not found at {path} (set CHROMIUM_PATH to its binary)."
    if _in_ci():
        pytest.fail(
            f"{message} CI must run the browser tests; install the chromium package.", pytrace=False
        )
    pytest.skip(f"{message} Install it with `apt-get install chromium` to run the browser tests.")


@pytest.fixture(scope="module")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    # The sync API keeps an asyncio loop running in this thread, so Django's async-safety check
    # would refuse the ORM calls the tests make (demo data, database flush) while the browser is
    # open. Nothing here is async; allow it only while the browser lives.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
            )
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def demo(transactional_db: None) -> None:
    """The demo organisation, committed so the live server thread sees it; the transactional
    test flushes it afterwards."""
    from itline.org import demo as demo_data

    demo_data.load()


@pytest.fixture
def page(browser: Any, live_server: Any, demo: None) -> Iterator[Any]:
    """A fresh browser context (no cookies) at desktop size, with the live server as base URL.
    Console errors are collected on ``page.console_errors`` (CSP violations show up there)."""
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.console_errors = []  # type: ignore[attr-defined]
    page.on(
        "console",
        lambda msg: page.console_errors.append(msg.text) if msg.type == "error" else None,
    )
    page.on("pageerror", lambda exc: page.console_errors.append(str(exc)))
    yield page
    context.close()


@pytest.fixture
def sign_in_with_form(page: Any) -> Callable[[str], None]:
    """Sign in through the login form as a demo persona (password ``demo``)."""
    from playwright.sync_api import expect

    from itline.org.demo import DEMO_PASSWORD

    def run(username: str) -> None:
        page.goto("/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).not_to_have_url(re.compile(r"/login/"))

    return run


@pytest.fixture
def sign_in(page: Any, live_server: Any) -> Callable[[str], None]:
    """Start signed in as a demo persona, on its home page. The login form has its own tests
    (test_sign_in.py); the others take a session cookie, which is quicker."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    def run(username: str) -> None:
        client = Client()
        client.force_login(get_user_model().objects.get(username=username))
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        page.context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}]
        )
        page.goto("/")

    return run


@pytest.fixture(scope="session")
def screenshots(pytestconfig: pytest.Config) -> Path:
    path = pytestconfig.rootpath / "test-results" / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path
