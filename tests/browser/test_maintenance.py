"""Maintenance in Chromium: the calendar shows a recurring window and a work order (month and
week, desktop and phone), and a technician works a work order through its checklist (HTMX
ticks) to completion."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from tests.browser.conftest import PHONE

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def planned(demo: None) -> dict[str, Any]:
    from django.utils import timezone

    from itline.cmdb.testing import make_component
    from itline.operation import maintenance
    from itline.operation.services import maintenance as verbs
    from itline.org.models import Function

    maintenance.forget()
    ops = Function.objects.get(name="Infrastructure Operations")
    db = make_component("pg-db-01")
    now = timezone.localtime()
    start = (now + timedelta(days=1)).replace(hour=2, minute=0, second=0, microsecond=0)
    window = verbs.create_window(
        by=None,
        title="Sunday database patching",
        nodes=[db],
        function=ops,
        starts_at=start,
        ends_at=start + timedelta(hours=2),
        rrule="FREQ=WEEKLY",
    )
    wo = verbs.create_work_order(
        by=None,
        title="Backup restore test",
        function=ops,
        nodes=[db],
        due_at=now + timedelta(days=2),
        checklist=["Restore last night's backup", "Compare row counts"],
    )
    return {"window": window, "wo": wo}


def warm_up(page: Any) -> None:
    """The live server's first answer imports every URL module; on a busy machine that takes
    longer than the default timeout, which is meant for the pages under test."""
    page.goto("/login/", timeout=90_000)


def test_the_calendar_shows_windows_and_work_orders(page, sign_in, planned, screenshots):
    from playwright.sync_api import expect

    warm_up(page)
    sign_in("tech.tom")
    page.goto("/maintenance/")
    expect(page.get_by_role("heading", name="Maintenance calendar")).to_be_visible()
    month = page.locator("table.cal-month")
    expect(
        month.get_by_role("link", name=re.compile("Sunday database patching")).first
    ).to_be_visible()
    expect(month.get_by_role("link", name=re.compile("Backup restore test"))).to_be_visible()
    expect(month.locator("td.shaded").first).to_be_visible()
    page.screenshot(path=str(screenshots / "maintenance-calendar-month.png"), full_page=True)

    page.get_by_role("link", name="Week").click()
    expect(page).to_have_url(re.compile(r"view=week"))
    expect(page.locator("ol.cal-week")).to_be_visible()
    page.screenshot(path=str(screenshots / "maintenance-calendar-week.png"), full_page=True)
    page.reload()  # the view lives in the URL
    expect(page.locator("ol.cal-week")).to_be_visible()

    page.set_viewport_size(PHONE)
    page.goto("/maintenance/")
    expect(page.locator("table.cal-month")).to_be_visible()
    page.screenshot(path=str(screenshots / "maintenance-calendar-phone.png"), full_page=True)
    assert not page.console_errors


def test_a_technician_ticks_the_checklist_and_completes_the_work_order(
    page, sign_in, planned, screenshots
):
    from playwright.sync_api import expect

    wo = planned["wo"]
    warm_up(page)
    sign_in("tech.tom")
    page.goto(f"/maintenance/work-orders/{wo.reference}/")
    expect(page.get_by_role("heading", name="Backup restore test")).to_be_visible()
    first = page.get_by_role("checkbox", name="Restore last night's backup")
    first.click()
    expect(first).to_have_attribute("aria-checked", "true")
    expect(page.locator("#wo-status")).to_contain_text("In progress")  # swapped by HTMX
    expect(page.get_by_role("button", name="Start")).to_have_count(0)
    page.get_by_role("checkbox", name="Compare row counts").click()
    expect(page.locator("#checklist-progress")).to_have_text("2 of 2 done")
    page.screenshot(path=str(screenshots / "maintenance-work-order.png"), full_page=True)

    page.get_by_label("What was done").fill("Restored in 14 minutes; row counts match.")
    page.get_by_role("button", name="Complete work order").click()
    expect(page.locator("#messages")).to_contain_text(f"Completed {wo.reference}")
    expect(page.locator("#wo-status")).to_contain_text("Done")
    expect(page.locator("p.prose", has_text="Restored in 14 minutes")).to_be_visible()

    page.set_viewport_size(PHONE)
    page.reload()
    page.screenshot(path=str(screenshots / "maintenance-work-order-phone.png"), full_page=True)
    assert not page.console_errors
