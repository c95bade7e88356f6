"""The agent's incident path in a real browser: open the queue, open an incident from it with
the keyboard, assign it to oneself (a), comment (c, Ctrl-Enter), resolve (r); reload and back
give the same page. Then the on-call path on a phone. Screenshots at both widths."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE

pytestmark = pytest.mark.browser


@pytest.fixture
def incidents(demo):
    """A mail service run by Infrastructure Operations (Tom Tanaka works there), with a few
    open incidents, one of them close to its resolution target."""
    from django.utils import timezone

    from itline.cmdb import services as cmdb
    from itline.cmdb.models import ComponentType, RelationType
    from itline.operation import services
    from itline.operation.models import SlaClock
    from itline.org.models import Function, Person

    infra = Function.objects.get(name="Infrastructure Operations")
    mail = cmdb.create_service(by=None, name="Mail", criticality=4, owner_function=infra)
    relay = cmdb.create_component(
        by=None,
        name="mail-relay-01",
        component_type=ComponentType.objects.get(slug="server"),
        owner_function=infra,
    )
    cmdb.relate(mail, relay, RelationType.objects.get(slug="runs-on"), by=None)
    caller = Person.objects.get(name="Bea Bianchi")
    made = {
        "bounce": services.create_incident(
            by=None,
            title="Outgoing mail bounces with 554",
            description="Since 08:10 every mail to external domains bounces.",
            service=mail,
            component=relay,
            urgency=1,
            caller=caller,
            channel="phone",
        ),
        "slow": services.create_incident(
            by=None, title="Mail slow to arrive", service=mail, urgency=3, impact=3
        ),
        "quota": services.create_incident(
            by=None, title="Mailbox quota warning", component=relay, urgency=3, impact=3
        ),
    }
    now = timezone.now()
    SlaClock.objects.update_or_create(
        incident=made["bounce"],
        kind="resolution",
        defaults={
            "target_minutes": 240,
            "state": "running",
            "started_at": now,
            "computed_at": now,
            "elapsed_minutes": 200,
            "warn_at": now - dt.timedelta(minutes=20),
            "due_at": now + dt.timedelta(minutes=40),
        },
    )
    return made


def test_an_agent_takes_comments_and_resolves_an_incident_from_the_queue(
    page, sign_in, screenshots, incidents
):
    bounce = incidents["bounce"]
    sign_in("tech.tom")
    page.get_by_role("navigation", name="Main", exact=True).get_by_role(
        "link", name="Incidents"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Incidents")
    rows = page.locator("table[data-list] tbody tr")
    expect(rows).to_have_count(3)

    # The queue of my functions, narrowed to priority P1/P2 by a chip; state in the URL.
    tabs = page.get_by_role("navigation", name="Queues")
    tabs.get_by_role("link", name=re.compile(r"^My functions'")).click()
    expect(page).to_have_url(re.compile(r"queue=function"))
    expect(rows.first).to_contain_text("Outgoing mail bounces")
    expect(rows.first.locator("td > .pill.sla")).to_have_class(re.compile(r"amber"))
    page.screenshot(path=screenshots / "incidents-queue.png", full_page=True)

    # j selects the first row, Enter opens it.
    page.keyboard.press("j")
    expect(rows.first).to_have_class(re.compile(r"selected"))
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(rf"/incidents/{bounce.reference}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Outgoing mail bounces")
    page.screenshot(path=screenshots / "incident.png")

    # a: assign to me
    page.keyboard.press("a")
    expect(page.locator("#messages")).to_contain_text("is assigned to you")
    expect(page.locator("#properties")).to_contain_text("Tom Tanaka")

    # c: comment (an internal note), Ctrl-Enter sends; the timeline updates in place
    page.keyboard.press("c")
    composer = page.get_by_label("Message")
    expect(composer).to_be_focused()
    composer.fill("Relay rejects: certificate of the smart host expired at 08:04.")
    composer.press("Control+Enter")
    expect(page.locator("#activity .msg-note")).to_contain_text("certificate of the smart host")
    expect(composer).to_have_value("")

    # r: resolve (once out of the composer, where r is just a letter)
    page.get_by_role("heading", name="Activity").click()
    page.keyboard.press("r")
    resolution = page.get_by_label("How was it resolved?")
    expect(resolution).to_be_focused()
    resolution.fill("Renewed the smart host certificate and flushed the queue.")
    page.get_by_label("Category").select_option("configuration")
    resolution.press("Control+Enter")
    expect(page.locator("#record-head")).to_contain_text("Resolved")
    expect(page.locator("#messages")).to_contain_text(f"{bounce.reference} is resolved.")
    expect(page.get_by_role("button", name="Close")).to_be_visible()
    page.screenshot(path=screenshots / "incident-resolved.png", full_page=True)

    # Reload gives the same page; back leads to the queue as it was.
    page.reload()
    expect(page.locator("#record-head")).to_contain_text("Resolved")
    expect(page.locator("#activity")).to_contain_text("Renewed the smart host certificate")
    page.go_back()
    expect(page).to_have_url(re.compile(r"queue=function"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Incidents")
    expect(rows).to_have_count(2)  # the resolved one left the open queue, not a stale copy
    assert not page.console_errors, "\n".join(page.console_errors)  # type: ignore[attr-defined]


def test_the_on_call_path_works_on_a_phone(page, sign_in, screenshots, incidents):
    bounce = incidents["bounce"]
    page.set_viewport_size(PHONE)
    sign_in("tech.tom")
    page.goto("/incidents/")
    expect(page.locator("table[data-list] tbody tr")).to_have_count(3)
    page.screenshot(path=screenshots / "incidents-queue-phone.png", full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the queue is {width}px wide"

    page.get_by_role("link", name=bounce.reference).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Outgoing mail bounces")
    page.screenshot(path=screenshots / "incident-phone.png")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the incident page is {width}px wide"

    page.get_by_role("button", name="Start work").click()
    expect(page.locator("#record-head")).to_contain_text("In progress")
    page.get_by_label("Message").fill("On it from the train.")
    page.get_by_role("button", name="Add").click()
    expect(page.locator("#activity")).to_contain_text("On it from the train.")
    page.get_by_text("Resolve…").click()
    page.get_by_label("How was it resolved?").fill("Certificate renewed.")
    page.screenshot(path=screenshots / "incident-resolve-phone.png")
    page.get_by_role("button", name="Resolve", exact=True).click()
    expect(page.locator("#record-head")).to_contain_text("Resolved")
    page.screenshot(path=screenshots / "incident-resolved-phone.png", full_page=True)
    assert not page.console_errors, "\n".join(page.console_errors)  # type: ignore[attr-defined]


def test_a_phone_call_becomes_a_request_and_then_a_linked_incident(
    page, sign_in, screenshots, incidents
):
    sign_in("desk.dana")
    page.goto("/requests/new/")
    page.get_by_label("Requester").fill("bea.bianchi")
    option = page.locator("#id_requester-options option").first
    expect(option).to_have_attribute("value", re.compile(r"^PER-\d+ Bea Bianchi$"))
    page.get_by_label("Requester").fill(option.get_attribute("value") or "")
    page.get_by_label("Subject").fill("Label printer in hall 3 prints blank labels")
    page.get_by_label("Type").select_option("fault_report")
    expect(page.get_by_label("Channel")).to_have_value("phone")
    page.screenshot(path=screenshots / "request-phone-intake.png", full_page=True)
    page.get_by_role("button", name="Register request").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Label printer")
    expect(page.locator("#record-head")).to_contain_text("via Phone")
    page.screenshot(path=screenshots / "request.png", full_page=True)

    page.get_by_role("link", name="Turn into incident…").click()
    expect(page.get_by_label("Title")).to_have_value("Label printer in hall 3 prints blank labels")
    page.get_by_label("Component").fill("mail-relay-01")
    page.get_by_label("Component").dispatch_event("change")
    expect(page.locator("#impact-proposal")).to_contain_text("Proposed impact")
    page.screenshot(path=screenshots / "request-convert.png", full_page=True)
    page.get_by_role("button", name="Register incident").click()
    expect(page).to_have_url(re.compile(r"/incidents/INC-\d+/$"))
    expect(page.locator("#properties")).to_contain_text("Bea Bianchi")
    expect(page.locator("#properties")).to_contain_text("Label printer")  # the request it follows

    page.set_viewport_size(PHONE)
    page.goto("/requests/?queue=all")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the request queue is {width}px wide"
    page.screenshot(path=screenshots / "requests-queue-phone.png", full_page=True)
    assert not page.console_errors, "\n".join(page.console_errors)  # type: ignore[attr-defined]


def test_bulk_assign_saved_views_and_in_place_priority(page, sign_in, screenshots, incidents):
    sign_in("tech.tom")
    page.goto("/incidents/?queue=unassigned")
    rows = page.locator("table[data-list] tbody tr")
    expect(rows).to_have_count(3)

    # Save the unassigned queue narrowed to P4 as a view; it comes back as a chip.
    chips = page.get_by_role("group", name="Filters")
    chips.get_by_text("Priority", exact=True).click()
    chips.get_by_role("link", name="P4 low").click()
    expect(page).to_have_url(re.compile(r"priority=4"))
    expect(rows).to_have_count(2)
    page.get_by_text("Save this view").click()
    page.get_by_label("Name").fill("Quiet ones")
    page.get_by_role("button", name="Save", exact=True).click()
    views = page.get_by_role("group", name="Saved views")
    expect(views.get_by_role("link", name="Quiet ones")).to_have_attribute("aria-current", "true")

    # Tick both rows and give them to me in one go; the list updates in place.
    page.get_by_label("Select all rows on this page").check()
    expect(page.locator("[data-bulk-count]")).to_have_text("2 selected")
    page.get_by_label("Person").select_option("me")
    page.get_by_role("button", name="Assign selected").click()
    expect(page.locator("#messages")).to_contain_text("Assigned 2 to Tom Tanaka")
    expect(rows).to_have_count(0)  # no longer unassigned
    page.screenshot(path=screenshots / "incidents-bulk-assigned.png", full_page=True)

    # Impact and urgency in place: the priority pill follows.
    quota = incidents["quota"]
    page.goto(f"/incidents/{quota.reference}/")
    expect(page.locator("#record-head")).to_contain_text("P4 low")
    page.get_by_label("Impact", exact=True).select_option("1")
    expect(page.locator("#record-head")).to_contain_text("P3 medium")
    expect(page.locator("#messages")).to_contain_text("Priority is now P3 medium")
    assert not page.console_errors, "\n".join(page.console_errors)  # type: ignore[attr-defined]
