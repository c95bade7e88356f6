"""The change calendar's iCalendar feed, read back with the ``icalendar`` library (and
``recurring_ical_events`` for recurring freeze windows, as a calendar client expands them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar
import pytest
import recurring_ical_events
from django.urls import reverse
from django.utils import timezone

from itline.cmdb.testing import make_component
from itline.core.models import ApiToken
from itline.core.testing import make_user
from itline.operation import maintenance
from itline.operation.testing import make_service
from itline.transition import services
from itline.transition.testing import make_change, make_freeze, window

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_maintenance_snapshot():
    maintenance.forget()
    yield
    maintenance.forget()


@pytest.fixture
def tech(db):
    return make_user("tech", "technician", name="Tom Tech")


def token_of(user, scope="read"):
    return ApiToken.issue(user=user, name=f"calendar-{scope}", scope=scope)[1]


def feed(client, **params):
    response = client.get(reverse("transition:calendar-feed"), params)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/calendar")
    return icalendar.Calendar.from_ical(response.content)


def events(cal):
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def test_a_submitted_change_is_an_event_with_its_window_risk_and_link(client, tech):
    start, end = window()
    change = make_change("Upgrade PostgreSQL", by=tech, start=start, end=end)
    services.submit_change(change, by=tech)
    draft = make_change("Still a draft", by=tech)
    cal = feed(client, token=token_of(tech))
    found = events(cal)
    event = found[f"{change.reference}@itline"]
    assert event.decoded("DTSTART") == start and event.decoded("DTEND") == end
    assert str(event["SUMMARY"]).startswith(f"{change.reference} Upgrade PostgreSQL [")
    assert str(event["URL"]).endswith(change.get_absolute_url())
    assert f"{draft.reference}@itline" not in found
    assert str(cal["PRODID"]) == "-//itline//change calendar//EN"


def test_a_recurring_freeze_window_expands_in_the_client_like_in_itline(client, tech):
    year = timezone.now().year + 1  # within the feed's horizon
    first = datetime(year, 1, 29, 23, 0, tzinfo=UTC)  # 30 January, 00:00 in Amsterdam
    make_freeze(
        "Month-end freeze",
        start=first,
        end=first + timedelta(days=2),
        rrule="FREQ=MONTHLY;BYMONTHDAY=30",
        time_zone="Europe/Amsterdam",
    )
    cal = feed(client, token=token_of(tech))
    (master,) = [e for e in cal.walk("VEVENT") if str(e["SUMMARY"]).startswith("Change freeze")]
    assert "RRULE" in master
    occurrences = recurring_ical_events.of(cal).between(
        datetime(year, 1, 1, tzinfo=UTC), datetime(year, 7, 1, tzinfo=UTC)
    )
    starts = sorted(
        o.decoded("DTSTART").astimezone(UTC)
        for o in occurrences
        if str(o["SUMMARY"]).startswith("Change freeze")
    )
    # February has no 30th; summer time moves the UTC hour, the local midnight stays.
    assert [s.strftime("%m-%d %H:%M") for s in starts] == [
        "01-29 23:00",
        "03-29 22:00",
        "04-29 22:00",
        "05-29 22:00",
        "06-29 22:00",
    ]
    assert cal.walk("VTIMEZONE")


def test_the_feed_follows_the_service_and_risk_filters(client, tech):
    payroll = make_service("Payroll")
    db = make_component("db-01", "database")
    on_payroll = make_change("On payroll", nodes=[payroll], by=tech)
    elsewhere = make_change("Elsewhere", nodes=[db], by=tech)
    for c in (on_payroll, elsewhere):
        services.submit_change(c, by=tech)
    token = token_of(tech)
    found = events(feed(client, token=token, service=payroll.reference))
    assert f"{on_payroll.reference}@itline" in found
    assert f"{elsewhere.reference}@itline" not in found
    services.override_risk(on_payroll, by=None, level="high", reason="Payroll day")
    services.override_risk(elsewhere, by=None, level="low", reason="Routine")
    high = events(feed(client, token=token, risk="high"))
    assert f"{on_payroll.reference}@itline" in high
    assert f"{elsewhere.reference}@itline" not in high


def test_a_global_freeze_shows_in_every_filtered_feed(client, tech):
    payroll = make_service("Payroll")
    frz = make_freeze("Year-end freeze")
    found = events(feed(client, token=token_of(tech), service=payroll.reference))
    assert f"{frz.reference}@itline" in found


def test_the_session_also_reads_the_feed(client, tech):
    client.force_login(tech)
    feed(client)


def test_no_token_or_a_bad_token_is_refused(client, tech):
    assert client.get(reverse("transition:calendar-feed")).status_code == 401
    client.force_login(tech)
    bad = client.get(reverse("transition:calendar-feed"), {"token": "itl_nonsense"})
    assert bad.status_code == 401  # a bad token never falls back to the session


def test_a_requester_token_may_not_read_the_change_calendar(client):
    rita = make_user("rita", "requester")
    response = client.get(reverse("transition:calendar-feed"), {"token": token_of(rita)})
    assert response.status_code == 403


def test_a_bad_filter_is_a_400_naming_it(client, tech):
    response = client.get(
        reverse("transition:calendar-feed"), {"token": token_of(tech), "risk": "huge"}
    )
    assert response.status_code == 400 and b"Unknown risk" in response.content
