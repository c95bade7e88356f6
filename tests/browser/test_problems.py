"""Problem management pages in Chromium: a problem manager scans for recurring incidents,
accepts the proposal, moves the problem on and records the known error; every page is
captured at desktop and phone width without sideways scrolling or console errors."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE

pytestmark = pytest.mark.browser


def _no_sideways_scrolling(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width}px wide"


def _capture(page, screenshots, name: str) -> None:
    for suffix, viewport in (("", DESKTOP), ("-phone", PHONE)):
        page.set_viewport_size(viewport)
        page.reload()
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        _no_sideways_scrolling(page)
        page.screenshot(path=screenshots / f"{name}{suffix}.png", full_page=True)
    page.set_viewport_size(DESKTOP)


def test_a_problem_manager_turns_recurring_incidents_into_a_known_error(page, sign_in, screenshots):
    from itline.cmdb.testing import make_component
    from itline.operation.services import create_incident, create_known_error

    vpn = make_component("vpn-gw-01", "network-device")
    for text in ("VPN login timeout", "Timeout at VPN login", "VPN logins time out again"):
        create_incident(by=None, title=text, component=vpn)
    create_known_error(by=None, title="Printer jams on tray 2", workaround="Use tray 1.")
    sign_in("pm.paul")

    page.get_by_role("link", name="Recurrence proposals").click()
    page.get_by_role("button", name="Scan now").click()
    expect(page.get_by_text("1 new proposal")).to_be_visible()
    _capture(page, screenshots, "proposals-list")
    page.locator("table[data-list] tbody tr a").first.click()
    expect(page.get_by_role("heading", name="Why these incidents were grouped")).to_be_visible()
    _capture(page, screenshots, "proposal-detail")

    page.get_by_label("Title").fill("VPN gateway drops logins")
    page.get_by_role("button", name="Raise problem").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("VPN gateway drops logins")
    expect(page.locator("#linked-incidents tbody tr")).to_have_count(3)
    page.get_by_role("button", name="Investigate").click()
    expect(page.locator("#problem-status")).to_have_text("Investigating")
    page.get_by_text("Mark as known error…").click()
    page.get_by_label("The workaround").fill("Connect through vpn2.example.com.")
    page.get_by_role("button", name="Mark as known error").click()
    expect(page.locator("#problem-status")).to_have_text("Known error")
    _capture(page, screenshots, "problem-detail")

    page.get_by_role("button", name="Record known error").click()
    expect(page.locator(".workaround .prose")).to_have_text("Connect through vpn2.example.com.")
    _capture(page, screenshots, "known-error-detail")

    page.goto("/problems/")
    expect(page.locator("table[data-list] tbody tr")).to_have_count(1)
    _capture(page, screenshots, "problems-list")
    page.goto("/known-errors/")
    expect(page.locator("table[data-list] tbody tr")).to_have_count(2)
    _capture(page, screenshots, "known-errors-list")
    assert page.console_errors == []
