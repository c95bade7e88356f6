"""The left navigation: every entry opens a working page, and on a phone the Menu button
shows and hides it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE

pytestmark = pytest.mark.browser


def test_every_entry_of_the_left_navigation_opens_a_page_without_an_error(page, sign_in):
    sign_in("admin")  # the administrator sees every entry
    sidebar = page.get_by_role("navigation", name="Main", exact=True)
    links = sidebar.get_by_role("link")
    entries = [
        (links.nth(i).get_attribute("href"), links.nth(i).inner_text())
        for i in range(links.count())
    ]
    assert len(entries) > 20, entries

    problems = []
    for href, label in entries:
        page.console_errors.clear()
        response = page.goto(href)
        status = response.status if response else None
        if status is None or status >= 400:
            problems.append(f"{label} ({href}): HTTP {status}")
            continue
        if href.startswith("/api/"):
            # Swagger UI (vendored by django-ninja) draws its own heading after loading.
            expect(page.locator(".swagger-ui .info .title")).to_be_visible()
            continue
        expect(page.locator("h1").first).to_be_visible()
        if href.startswith("/admin/"):
            continue  # Django's own admin: no itline frame
        current = page.get_by_role("navigation", name="Main", exact=True).locator(
            "a[aria-current=page]"
        )
        if current.count() != 1 or current.get_attribute("href") != href:
            problems.append(f"{label} ({href}): not marked as the current page")
        csp = [e for e in page.console_errors if "Content Security Policy" in e or "Uncaught" in e]
        if csp:
            problems.append(f"{label} ({href}): {csp}")
    assert not problems, "\n".join(problems)


def test_the_phone_layout_menu_button_opens_the_navigation(page, sign_in):
    page.set_viewport_size(PHONE)
    sign_in("desk.dana")
    sidebar = page.get_by_role("navigation", name="Main", exact=True)
    menu = page.get_by_role("button", name="Menu")

    expect(sidebar).to_be_hidden()
    expect(menu).to_have_attribute("aria-expanded", "false")

    menu.click()
    expect(sidebar).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "true")

    page.keyboard.press("Escape")
    expect(sidebar).to_be_hidden()
    expect(menu).to_be_focused()

    menu.click()
    sidebar.get_by_role("link", name="People").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("People")
    expect(sidebar).to_be_hidden()
