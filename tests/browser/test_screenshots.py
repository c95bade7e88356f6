"""Pictures of the main pages at desktop and phone width, for people to look at
(test-results/screenshots/); at phone width nothing may be wider than the screen."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE

pytestmark = pytest.mark.browser


def _no_sideways_scrolling(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width}px wide"


@pytest.mark.parametrize("persona", ["admin", "desk.dana", "req.rita"])
def test_the_home_page_is_captured_at_desktop_and_phone_width(persona, page, sign_in, screenshots):
    sign_in(persona)
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    page.screenshot(path=screenshots / f"home-{persona}.png", full_page=True)

    page.set_viewport_size(PHONE)
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    _no_sideways_scrolling(page)
    page.screenshot(path=screenshots / f"home-{persona}-phone.png", full_page=True)


def test_the_functions_list_and_a_function_are_captured_at_desktop_and_phone_width(
    page, sign_in, screenshots
):
    sign_in("admin")
    for width_name, viewport in (("", DESKTOP), ("-phone", PHONE)):
        page.set_viewport_size(viewport)
        page.goto("/org/functions/")
        expect(page.locator("table[data-list] tbody tr").first).to_be_visible()
        _no_sideways_scrolling(page)
        page.screenshot(path=screenshots / f"functions-list{width_name}.png", full_page=True)

        page.get_by_role("link", name="FUN-000004").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Service Desk")
        _no_sideways_scrolling(page)
        page.screenshot(path=screenshots / f"function-FUN-000004{width_name}.png", full_page=True)
