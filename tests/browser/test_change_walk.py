"""Done-when walk of issue 6 in Chromium: a technician raises a normal change, sees its risk
factors and a collision with another change on a related component while filling in the
form, submits it; the change manager raises its risk so it goes to the CAB, plans a CAB
meeting and approves it there; the change is scheduled, implemented, and its drafted
post-implementation review is completed. Every step is captured at desktop and phone width
in test-results/screenshots/change-walk-*.png (and /root/scratch/T4 when it exists)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE

pytestmark = pytest.mark.browser

SCRATCH = Path("/root/scratch/T4")


class Camera:
    """Screenshots at desktop and phone width; at phone width nothing may be wider than the
    screen."""

    def __init__(self, page: Any, folder: Path, prefix: str) -> None:
        self.page, self.folders, self.prefix, self.n = page, [folder], prefix, 0
        if SCRATCH.is_dir():
            self.folders.append(SCRATCH)

    def __call__(self, name: str) -> None:
        self.n += 1
        stem = f"{self.prefix}-{self.n:02d}-{name}"
        for folder in self.folders:
            self.page.screenshot(path=folder / f"{stem}.png", full_page=True)
        self.page.set_viewport_size(PHONE)
        try:
            width = self.page.evaluate("document.documentElement.scrollWidth")
            if width > PHONE["width"]:
                wide = self.page.evaluate(
                    "Array.from(document.querySelectorAll('main *')).filter(e => "
                    "e.getBoundingClientRect().right > innerWidth + 1).slice(0, 5)"
                    ".map(e => e.tagName + '.' + e.className)"
                )
                raise AssertionError(f"{self.page.url} is {width}px wide on a phone: {wide}")
            for folder in self.folders:
                self.page.screenshot(path=folder / f"{stem}-phone.png", full_page=True)
        finally:
            self.page.set_viewport_size(DESKTOP)


def _structure() -> tuple[Any, Any, Any]:
    """The shop application runs on its database; another change is already planned on the
    application in the window we will pick."""
    from itline.cmdb.testing import make_component, relate
    from itline.transition import services
    from itline.transition.testing import make_change

    app = make_component("shop-app", "application")
    db = make_component("shop-db", "database")
    relate(app, db)
    start = timezone.localtime().replace(hour=10, minute=0, second=0, microsecond=0) + timedelta(
        days=4
    )
    other = make_change(
        "Deploy shop-app 5.2", nodes=[app], start=start, end=start + timedelta(hours=3)
    )
    services.submit_change(other, by=None)
    return db, other, start


def test_a_normal_change_walks_from_draft_through_cab_to_its_review(page, sign_in, screenshots):
    _db, other, start = _structure()
    shoot = Camera(page, screenshots, "change-walk")
    # A long walk on a shared, busy machine: wait longer than the default for each step.
    page.set_default_timeout(30_000)
    expect.set_options(timeout=15_000)

    # --- 1. Tom raises the change; the form shows risk and the collision as he goes ------
    sign_in("tech.tom")
    page.goto("/changes/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Changes")
    shoot("list-empty")
    page.get_by_role("link", name="New change").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New change")
    page.get_by_label("Title").fill("Upgrade shop-db to PostgreSQL 17")
    add = page.get_by_label("Add a service or component")
    add.fill("shop-db")
    add.press("Enter")
    expect(page.locator("#node-chips")).to_contain_text("shop-db")
    expect(page.locator("#preview")).to_contain_text("Set the window")
    page.get_by_label("Window start").fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Window end").fill((start + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Implementation plan").fill("Fail over, upgrade the standby, fail back.")
    page.get_by_label("Backout plan").fill("Fail back to the old primary.")
    page.get_by_label("Backout plan").blur()
    preview = page.locator("#preview")
    expect(preview).to_contain_text(other.reference)
    expect(preview).to_contain_text("Deploy shop-app 5.2")
    expect(preview.locator(".factor-list")).to_contain_text("Collisions")
    expect(preview.locator("#preview-score")).to_be_visible()
    shoot("form-live-risk-and-collision")
    page.get_by_role("button", name="Save draft").click()
    expect(page).to_have_url(re.compile(r"/changes/CHG-\d{6}/$"))
    ref = re.search(r"CHG-\d{6}", page.url).group(0)  # type: ignore[union-attr]
    expect(page.locator("#change-status")).to_have_text("Draft")
    shoot("draft")

    # --- 2. readiness ticked over HTMX, then submitted: risk and the collision on record -
    readiness = page.locator("#readiness")
    while readiness.get_by_role("button", name=re.compile("^Mark done")).count():
        before = readiness.get_by_role("button", name=re.compile("^Mark done")).count()
        readiness.get_by_role("button", name=re.compile("^Mark done")).first.click()
        expect(readiness.get_by_role("button", name=re.compile("^Mark done"))).to_have_count(
            before - 1
        )
    page.get_by_role("button", name="Submit", exact=True).click()
    expect(page.locator("#change-status")).to_have_text("Awaiting approval")
    expect(page.locator("#risk table.factors")).to_be_visible()
    expect(page.locator("#collisions")).to_contain_text(other.reference)
    expect(page.locator("#collisions")).to_contain_text("shop-app")
    shoot("submitted-risk-and-collision")

    # --- 3. Carla sends it to the CAB and the board approves it --------------------------
    sign_in("cm.carla")
    page.goto(f"/changes/{ref}/")
    panel = page.locator("#panel-override")
    panel.locator("summary").click()
    panel.get_by_label("Risk level").select_option("high")
    panel.get_by_label("Reason").fill("Checkout depends on it in the busiest week.")
    panel.get_by_role("button", name="Override risk").click()
    expect(page.locator("#change-risk")).to_contain_text("High risk")
    expect(page.locator("#approvals")).to_contain_text("Change Advisory Board")
    shoot("overridden-to-cab")

    page.goto("/cab/")
    page.get_by_label("Starts").fill(
        (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    )
    shoot("cab-plan")
    page.get_by_role("button", name="Plan meeting").click()
    expect(page).to_have_url(re.compile(r"/cab/CAB-\d{6}/$"))
    item = page.locator("article.agenda-item", has_text=ref)
    expect(item).to_contain_text("Impact:")
    item.get_by_label("Notes").fill("Approved; keep the old primary for a week.")
    shoot("cab-agenda")
    item.get_by_role("button", name="Approve").click()
    expect(page.locator("article.agenda-item", has_text=ref)).to_contain_text("CAB: Approved")
    expect(page.locator("pre.minutes")).to_contain_text(ref)
    shoot("cab-decided")

    # --- 4. scheduled, implemented, and the review drafted from the window's evidence ----
    page.goto(f"/changes/{ref}/")
    expect(page.locator("#change-status")).to_have_text("Approved")
    page.get_by_role("button", name="Schedule", exact=True).click()
    expect(page.locator("#change-status")).to_have_text("Scheduled")
    page.get_by_role("button", name="Start implementation").click()
    expect(page.locator("#change-status")).to_have_text("Implementing")
    panel = page.locator("#panel-implement")
    panel.locator("summary").click()
    panel.get_by_label("Outcome").select_option("successful")
    panel.get_by_role("button", name="Implementation done").click()
    expect(page.locator("#change-status")).to_have_text("Implemented")
    review = page.locator("#review")
    expect(review).to_contain_text("Post-implementation review")
    expect(review).to_contain_text(ref)
    shoot("review-drafted")
    review.get_by_label("Summary").fill("Upgrade done in 70 minutes; no incidents followed.")
    review.get_by_label("Lessons").fill("Take the base backup the day before.")
    review.get_by_role("button", name="Complete review").click()
    expect(page.locator("#review")).to_contain_text("Completed")
    shoot("review-completed")

    page.goto(f"/change-calendar/?view=week&date={start.date().isoformat()}")
    expect(page.locator(".cal-grid")).to_contain_text(ref)
    shoot("calendar-week")
    assert not page.console_errors, page.console_errors
