"""The approver inbox, the CAB pages, the change calendar (month/week/day, filters, the table
view), the freeze window pages, and the release and deployment lists."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from itline.cmdb.testing import make_component
from itline.core.testing import make_user
from itline.operation import maintenance
from itline.operation.testing import make_service
from itline.org.models import person_of
from itline.transition import services
from itline.transition.choices import ChangeStatus
from itline.transition.models import CabMeeting, Deployment, FreezeWindow
from itline.transition.testing import make_change, make_delegation, make_freeze, window

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_maintenance_snapshot():
    maintenance.forget()
    yield
    maintenance.forget()


@pytest.fixture
def tech(db):
    return make_user("tech", "technician", name="Tom Tech")


@pytest.fixture
def carla(db):
    return make_user("carla", "change_manager", name="Carla Change")


# --- approver inbox -------------------------------------------------------------------------


def test_the_inbox_lists_pending_approvals_and_approves_inline(client, tech, carla):
    change = make_change("Upgrade the engine", by=tech)
    services.submit_change(change, by=tech)
    client.force_login(carla)
    text = client.get(reverse("transition:approvals")).content.decode()
    assert change.reference in text and "Approve" in text
    vote = services.pending_for(person_of(carla)).get()
    response = client.post(
        reverse("transition:approval-decide", args=[vote.pk]),
        {"decision": "approved", "comment": "Go"},
    )
    assert response.status_code == 302
    change.refresh_from_db()
    assert change.status == ChangeStatus.APPROVED
    assert (
        "Nothing awaits your approval"
        in client.get(reverse("transition:approvals")).content.decode()
    )


def test_a_delegate_sees_the_approvals_of_whom_they_stand_in_for(client, tech, carla):
    change = make_change(by=tech)
    services.submit_change(change, by=tech)
    dana = make_user("dana", "technician", name="Dana Delegate")
    make_delegation(person_of(carla), person_of(dana))
    client.force_login(dana)
    text = client.get(reverse("transition:approvals")).content.decode()
    assert change.reference in text and "you are their delegate" in text


def test_rejecting_in_the_inbox_without_a_comment_keeps_the_row_with_the_error(client, tech, carla):
    change = make_change(by=tech)
    services.submit_change(change, by=tech)
    client.force_login(carla)
    vote = services.pending_for(person_of(carla)).get()
    response = client.post(
        reverse("transition:approval-decide", args=[vote.pk]), {"decision": "rejected"}
    )
    assert response.status_code == 422
    assert "Say why you reject it" in response.content.decode()


# --- CAB ------------------------------------------------------------------------------------


def _cab_change(tech, title):
    change = make_change(title, by=tech)
    services.submit_change(change, by=tech, send_for_approval=False)
    services.override_risk(change, by=None, level="high", reason="Touches payroll")
    services.request_approval(change, by=tech)
    return change


def test_a_cab_meeting_is_planned_decided_per_item_and_its_minutes_download(client, tech, carla):
    make_user("cm2", "change_manager", name="Second Manager")  # the CAB quorum is two
    change = _cab_change(tech, "Move payroll to the new cluster")
    client.force_login(carla)
    assert "1 change awaits" in client.get(reverse("transition:cab-list")).content.decode()
    starts = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(reverse("transition:cab-create"), {"kind": "cab", "starts_at": starts})
    meeting = CabMeeting.objects.get()
    assert response["Location"] == meeting.get_absolute_url()
    page = client.get(meeting.get_absolute_url()).content.decode()
    assert change.reference in page and "Impact:" in page and "High risk" in page
    item = meeting.items.get()
    client.post(
        reverse("transition:cab-decide", args=[meeting.reference, item.pk]),
        {"decision": "approved", "notes": "Do it on Sunday"},
    )
    change.refresh_from_db()
    assert change.status == ChangeStatus.APPROVED
    minutes = client.get(reverse("transition:cab-minutes", args=[meeting.reference]))
    assert minutes["Content-Type"].startswith("text/markdown")
    assert change.reference in minutes.content.decode()


def test_planning_a_meeting_without_a_start_says_why(client, carla):
    client.force_login(carla)
    response = client.post(reverse("transition:cab-create"), {"kind": "cab"}, follow=True)
    assert "The meeting was not planned." in response.content.decode()
    assert CabMeeting.objects.count() == 0


# --- calendar -------------------------------------------------------------------------------


def test_the_month_shows_changes_by_risk_maintenance_and_shaded_freezes(client, tech):
    from itline.operation.models import MaintenanceWindow

    db = make_component("db-01", "database")
    start, end = window(timedelta(days=1))
    change = make_change("Upgrade the engine", nodes=[db], by=tech, start=start, end=end)
    services.submit_change(change, by=tech)
    mw = MaintenanceWindow(title="Storage firmware", starts_at=start, ends_at=end)
    mw.save()
    mw.nodes.set([db])
    make_freeze("Month-end freeze", start=start - timedelta(hours=2), end=end + timedelta(days=1))
    client.force_login(tech)
    day = timezone.localtime(start).date().isoformat()
    for view in ("month", "week", "day"):
        response = client.get(reverse("transition:calendar") + f"?view={view}&date={day}")
        text = response.content.decode()
        assert response.status_code == 200, view
        assert change.reference in text and "Storage firmware" in text, view
        assert "Month-end freeze" in text, view
    month = client.get(reverse("transition:calendar") + f"?date={day}").content.decode()
    assert 'class="cal-item ' + change.effective_risk in month
    assert "frozen" in month and 'id="calendar-table"' in month


def test_calendar_filters_by_risk_and_service_and_keep_the_state_in_links(client, tech):
    payroll = make_service("Payroll")
    db = make_component("db-01", "database")
    start, end = window(timedelta(days=1))
    on_payroll = make_change("On payroll", nodes=[payroll], by=tech, start=start, end=end)
    elsewhere = make_change("Elsewhere", nodes=[db], by=tech, start=start, end=end)
    for c in (on_payroll, elsewhere):
        services.submit_change(c, by=tech)
    client.force_login(tech)
    day = timezone.localtime(start).date().isoformat()
    text = client.get(
        reverse("transition:calendar") + f"?view=week&date={day}&service={payroll.reference}"
    ).content.decode()
    assert on_payroll.reference in text and elsewhere.reference not in text
    assert f"service={payroll.reference}" in text  # prev/next keep the filter
    assert f"feed.ics?service={payroll.reference}" in text
    high = client.get(reverse("transition:calendar") + f"?date={day}&risk=high").content.decode()
    assert on_payroll.reference not in high


def test_a_bad_calendar_url_says_what_was_ignored(client, tech):
    client.force_login(tech)
    response = client.get(
        reverse("transition:calendar") + "?view=year&date=soon&risk=huge&service=SVC-999999"
    )
    text = response.content.decode()
    assert response.status_code == 200
    assert "Unknown view" in text and "is not a date" in text
    assert "Unknown risk" in text and "There is no service" in text


def test_the_calendar_query_count_does_not_grow_with_changes(client, tech):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(tech)
    start, end = window(timedelta(days=1))
    day = timezone.localtime(start).date().isoformat()
    url = reverse("transition:calendar") + f"?date={day}"

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    services.submit_change(make_change(by=tech, start=start, end=end), by=tech)
    few = count()
    for n in range(6):
        services.submit_change(
            make_change(by=tech, start=start + timedelta(hours=n), end=end + timedelta(hours=n)),
            by=tech,
        )
    assert count() == few


# --- freeze windows, releases, deployments ----------------------------------------------------


def test_a_freeze_window_is_created_with_services_and_listed(client, carla):
    payroll = make_service("Payroll")
    client.force_login(carla)
    start = timezone.localtime() + timedelta(days=3)
    response = client.post(
        reverse("transition:freeze-create"),
        {
            "title": "Payroll run",
            "services": payroll.reference,
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
            "rrule": "FREQ=MONTHLY;BYMONTHDAY=25",
            "time_zone": "Europe/Amsterdam",
            "active": "on",
        },
    )
    window_ = FreezeWindow.objects.get()
    assert response["Location"] == window_.get_absolute_url()
    assert list(window_.services.all()) == [payroll.node_ptr]
    listing = client.get(reverse("transition:freeze-list")).content.decode()
    assert "Payroll run" in listing and "FREQ=MONTHLY" in listing
    detail = client.get(window_.get_absolute_url()).content.decode()
    assert "Next occurrences" in detail and "Payroll" in detail


def test_a_freeze_window_with_a_bad_rule_or_ending_first_is_refused(client, carla):
    client.force_login(carla)
    start = timezone.localtime() + timedelta(days=3)
    response = client.post(
        reverse("transition:freeze-create"),
        {
            "title": "Broken",
            "starts_at": start.strftime("%Y-%m-%dT%H:%M"),
            "ends_at": (start - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "rrule": "FREQ=SOMETIMES",
            "time_zone": "Europe/Amsterdam",
        },
    )
    assert response.status_code == 422
    text = response.content.decode()
    assert "must end after it starts" in text and "RRULE" in text.upper()
    assert FreezeWindow.objects.count() == 0


def test_technicians_may_not_create_freeze_windows(client, tech):
    client.force_login(tech)
    assert client.get(reverse("transition:freeze-create")).status_code == 403


def test_deployments_filter_unplanned_ones_and_releases_list(client, tech):
    from itline.transition.models import Release

    web = make_component("web-01")
    release = Release.objects.create(name="Shop", version="2.4.0")
    covered = make_change(nodes=[web], by=tech, status=ChangeStatus.IMPLEMENTING)
    now = timezone.now()
    Deployment.objects.create(
        node=web,
        version="2.4.0",
        environment="production",
        status="succeeded",
        started_at=now,
        change=covered,
        release=release,
    )
    stray = Deployment.objects.create(
        node=web,
        version="2.4.1-hotfix",
        environment="production",
        status="succeeded",
        started_at=now,
    )
    client.force_login(tech)
    text = client.get(reverse("transition:deployment-list") + "?planned=unplanned").content.decode()
    assert "2.4.1-hotfix" in text and ">2.4.0<" not in text
    assert (
        client.get(reverse("transition:deployment-detail", args=[stray.reference])).status_code
        == 200
    )
    releases = client.get(reverse("transition:release-list")).content.decode()
    assert "Shop" in releases and release.reference in releases
    assert client.get(release.get_absolute_url()).status_code == 200
