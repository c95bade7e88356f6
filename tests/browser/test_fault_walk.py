"""Done-when walk of issue 4 in Chromium: a requester reports a fault in the portal, the
service desk agent turns it into an incident, a technician resolves it, and the requester sees
it resolved in the portal and closes the request. Every step is captured at desktop and phone
width in test-results/screenshots/fault-walk-*.png."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE

pytestmark = pytest.mark.browser


def _catalogue_service() -> Any:
    """A catalogue service Rita's unit uses, run by a function the technician belongs to."""
    from itline.cmdb import services
    from itline.org.models import Customer, Function

    return services.create_service(
        by=None,
        name="Warehouse Scanning",
        lifecycle="live",
        criticality=2,
        catalogue_visible=True,
        owner_function=Function.objects.get(name="Infrastructure Operations"),
        customers=[Customer.objects.get(business_unit__name="Warehousing")],
    )


class Camera:
    """Screenshots of the current page at desktop and phone width; at phone width nothing
    may be wider than the screen."""

    def __init__(self, page: Any, folder: Path) -> None:
        self.page, self.folder, self.n = page, folder, 0

    def __call__(self, name: str) -> None:
        self.n += 1
        stem = f"fault-walk-{self.n:02d}-{name}"
        self.page.screenshot(path=self.folder / f"{stem}.png", full_page=True)
        # Resizing re-lays out the same document: typed input and flash messages stay.
        self.page.set_viewport_size(PHONE)
        try:
            width = self.page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{self.page.url} is {width}px wide on a phone"
            self.page.screenshot(path=self.folder / f"{stem}-phone.png", full_page=True)
        finally:
            self.page.set_viewport_size(DESKTOP)


def test_a_fault_walks_from_the_portal_to_resolution_and_back_to_the_requester(
    page, sign_in, screenshots
):
    _catalogue_service()
    shoot = Camera(page, screenshots)
    # Console errors (CSP violations among them) seen on the requester's pages; the agent
    # pages have their own browser tests.
    portal_errors: list[str] = []
    page.on(
        "console",
        lambda msg: (
            portal_errors.append(f"{page.url}: {msg.text}")
            if msg.type == "error"
            and not re.match(r"https?://[^/]+/(incidents|requests)/", page.url)
            else None
        ),
    )

    # --- 1. Rita reports the fault in the portal --------------------------------------------
    sign_in("req.rita")
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Rita Rossi")
    shoot("requester-home")
    page.get_by_role("link", name=re.compile("^Report a fault")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Submit a request")
    expect(page.get_by_label("Fault report")).to_be_checked()
    page.get_by_label("Service", exact=True).select_option(label="Warehouse Scanning")
    page.get_by_label("Short summary").fill("Handheld scanners cannot log in")
    page.get_by_label("Details").fill(
        "All scanners in hall 3 show 'session refused' since 7:00. Hall 2 works."
    )
    page.get_by_label("Attachments").set_input_files(
        files=[{"name": "scanner.png", "mimeType": "image/png", "buffer": b"\x89PNG photo"}]
    )
    shoot("submit-form")
    page.get_by_role("button", name="Submit request").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Handheld scanners cannot log in")
    expect(page.get_by_role("status").filter(has_text="has been received")).to_be_visible()
    reference = re.search(r"REQ-\d{6}", page.url)
    assert reference, page.url
    req_ref = reference.group(0)
    expect(page.locator(".page-head .pill")).to_have_text("Received")
    expect(page.get_by_role("link", name="scanner.png")).to_be_visible()
    shoot("request-submitted")

    page.get_by_role("link", name="My requests", exact=True).first.click()
    expect(page.get_by_role("link", name="Handheld scanners cannot log in")).to_be_visible()
    shoot("my-requests")

    # --- 2. The service desk agent turns it into an incident -----------------------------
    sign_in("desk.dana")
    page.goto(f"/requests/{req_ref}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Handheld scanners cannot log in")
    shoot("desk-request")
    page.get_by_role("link", name="Turn into incident…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Turn {req_ref} into an incident")
    expect(page.get_by_label("Title")).to_have_value("Handheld scanners cannot log in")
    shoot("desk-convert-form")
    page.get_by_role("button", name="Register incident").click()
    expect(page).to_have_url(re.compile(r"/incidents/INC-\d{6}/$"))
    inc_ref = re.search(r"INC-\d{6}", page.url).group(0)  # type: ignore[union-attr]
    expect(page.get_by_role("heading", level=1)).to_contain_text("Handheld scanners cannot log in")
    shoot("desk-incident")

    # --- 3. The technician resolves the incident -------------------------------------------
    sign_in("tech.tom")
    page.goto(f"/incidents/{inc_ref}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Handheld scanners cannot log in")
    shoot("technician-incident")
    panel = page.locator("#panel-resolve")
    panel.locator("summary").click()
    panel.get_by_label("How was it resolved?").fill(
        "Renewed the expired certificate of the scanner gateway."
    )
    shoot("technician-resolve-form")
    panel.get_by_role("button", name="Resolve", exact=True).click()
    expect(page.locator("#record-head .pill").first).to_have_text("Resolved")
    shoot("technician-resolved")

    # --- 4. Rita sees it resolved in the portal and closes the request --------------------
    sign_in("req.rita")
    expect(page.get_by_text(req_ref)).to_be_visible()  # on her home page, still to confirm
    shoot("requester-home-to-confirm")
    page.get_by_role("link", name="My requests", exact=True).first.click()
    row = page.locator(".record-row", has_text="Handheld scanners cannot log in")
    expect(row.locator(".pill")).to_have_text("Resolved")
    row.get_by_role("link").click()
    expect(page.locator(".page-head .pill")).to_have_text("Resolved")
    expect(page.locator(".answer")).to_contain_text("Renewed the expired certificate")
    shoot("requester-sees-resolved")
    page.get_by_role("link", name=inc_ref).click()
    expect(page.locator(".page-head .pill")).to_have_text("Fixed")
    expect(page.locator(".answer")).to_contain_text("Renewed the expired certificate")
    shoot("requester-sees-the-fault")
    page.get_by_role("link", name=req_ref).click()

    page.get_by_role("link", name="Yes, it is solved: close the request").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Close")
    shoot("requester-confirms-close")
    page.get_by_role("button", name="Yes, close the request").click()

    expect(page.locator(".page-head .pill")).to_have_text("Closed")
    expect(page.get_by_text("This request is closed and takes no more replies")).to_be_visible()
    expect(page.get_by_role("link", name="Close request")).to_have_count(0)
    shoot("requester-closed")
    assert portal_errors == [], "\n".join(portal_errors)

    from itline.operation.models import Incident, ServiceRequest

    assert ServiceRequest.objects.get(reference=req_ref).status == "closed"
    assert Incident.objects.get(reference=inc_ref).status == "closed"
