"""The maintenance iCalendar feed, read the way a calendar client reads it: parsed with the
``icalendar`` library and expanded with ``recurring_ical_events``; the expansion must equal
itline's own occurrences, across DST, with stable UIDs and per-function/per-service feeds."""

import zoneinfo
from datetime import UTC, datetime, timedelta

import icalendar
import pytest
import recurring_ical_events

from itline.cmdb.testing import make_component, relate
from itline.core.models import ApiToken
from itline.core.rrule import occurrences
from itline.core.testing import make_user
from itline.operation import maintenance
from itline.operation.services import maintenance as verbs
from itline.operation.testing import make_function, make_service

AMS = zoneinfo.ZoneInfo("Europe/Amsterdam")
NY = zoneinfo.ZoneInfo("America/New_York")


@pytest.fixture(autouse=True)
def _fresh_cache():
    maintenance.forget()
    yield
    maintenance.forget()


@pytest.fixture
def world(db):
    carl = make_user("carl", "change_manager")
    dba = make_function("Database team")
    net = make_function("Network team")
    shop = make_service("Web shop")
    db1, sw = make_component("db-1"), make_component("core-switch-1", "network-device")
    relate(shop, db1, "runs-on")
    patching = verbs.create_window(
        by=carl,
        title="Database patching",
        nodes=[db1],
        function=dba,
        starts_at=datetime(2030, 1, 6, 2, tzinfo=AMS),
        ends_at=datetime(2030, 1, 6, 4, tzinfo=AMS),
        rrule="FREQ=WEEKLY;BYDAY=SU;UNTIL=20301231T000000",
        time_zone="Europe/Amsterdam",
    )
    network = verbs.create_window(
        by=carl,
        title="Network maintenance",
        nodes=[sw],
        function=net,
        starts_at=datetime(2030, 1, 3, 22, tzinfo=NY),
        ends_at=datetime(2030, 1, 4, 1, tzinfo=NY),
        rrule="FREQ=MONTHLY;BYDAY=1TH",
        time_zone="America/New_York",
    )
    wo = verbs.create_work_order(
        by=carl,
        title="Check RAID",
        function=dba,
        nodes=[db1],
        due_at=datetime.now(UTC) + timedelta(days=3),
        checklist=["Read controller log"],
    )
    _, secret = ApiToken.issue(user=carl, name="calendar", scope="read")
    return {
        "carl": carl,
        "dba": dba,
        "net": net,
        "shop": shop,
        "patching": patching,
        "network": network,
        "wo": wo,
        "token": secret,
    }


def fetch(client, world, **params):
    answer = client.get("/maintenance/feed.ics", {"token": world["token"], **params})
    assert answer.status_code == 200, answer.content
    assert answer["Content-Type"].startswith("text/calendar")
    return icalendar.Calendar.from_ical(answer.content)


def events_of(cal, prefix):
    return [c for c in cal.walk("VEVENT") if str(c["UID"]).startswith(prefix)]


def test_recurring_windows_expand_in_a_calendar_client_as_itline_expands_them(client, world):
    cal = fetch(client, world)
    start, end = datetime(2030, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC)
    expanded = recurring_ical_events.of(cal).between(start, end)
    for window in (world["patching"], world["network"]):
        theirs = sorted(
            (e["DTSTART"].dt.astimezone(UTC), e["DTEND"].dt.astimezone(UTC))
            for e in expanded
            if str(e["UID"]).startswith(window.reference + "@")
        )
        ours = occurrences(
            window.starts_at, window.ends_at, window.rrule, window.time_zone, start, end
        )
        assert len(ours) in (12, 52)  # first Thursdays of 2030; Sundays until the UNTIL
        assert [s for s, _ in theirs] == [s for s, _ in ours]
        # Ends agree except inside a clock change: the feed says DURATION (exact, RFC 5545),
        # which this client adds in wall time, so only those nights may differ.
        differ = [(t, o) for t, o in zip(theirs, ours, strict=True) if t != o]
        clock_changes = {"2030-03-31", "2030-10-27"}  # Europe; US changes are on other days
        assert {t[0].date().isoformat() for t, _ in differ} <= clock_changes


def test_a_recurring_window_carries_its_time_zone_and_a_utc_until(client, world):
    cal = fetch(client, world)
    [event] = events_of(cal, world["patching"].reference)
    assert event["DTSTART"].params["TZID"] == "Europe/Amsterdam"
    assert event["DTSTART"].dt.hour == 2
    assert event["RRULE"]["UNTIL"][0].tzinfo is not None
    zones = {str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")}
    assert {"Europe/Amsterdam", "America/New_York"} <= zones


def test_uids_are_stable_across_fetches_and_edits(client, world):
    first = {str(e["UID"]) for e in fetch(client, world).walk("VEVENT")}
    verbs.update_window(world["patching"], by=world["carl"], title="DB patching")
    second = fetch(client, world)
    assert {str(e["UID"]) for e in second.walk("VEVENT")} == first
    [event] = events_of(second, world["patching"].reference)
    assert str(event["SUMMARY"]) == "Maintenance: DB patching"
    assert f"{world['wo'].reference}@" in " ".join(first)


def test_a_function_feed_has_only_that_functions_windows_and_work_orders(client, world):
    cal = fetch(client, world, function=world["net"].reference)
    assert [str(e["UID"]).split("@")[0] for e in cal.walk("VEVENT")] == [world["network"].reference]
    assert str(cal["X-WR-CALNAME"]) == "Maintenance: Network team"


def test_a_service_feed_has_the_windows_on_what_the_service_runs_on(client, world):
    cal = fetch(client, world, service=world["shop"].reference)
    refs = sorted(str(e["UID"]).split("@")[0] for e in cal.walk("VEVENT"))
    assert refs == sorted([world["patching"].reference, world["wo"].reference])


def test_a_deleted_window_leaves_the_feed(client, world):
    verbs.delete_window(world["network"], by=world["carl"])
    cal = fetch(client, world)
    assert not events_of(cal, world["network"].reference)


def test_the_feed_needs_a_valid_token_or_a_session(client, world):
    assert client.get("/maintenance/feed.ics").status_code == 401
    assert client.get("/maintenance/feed.ics", {"token": "itl_wrong"}).status_code == 401
    token = ApiToken.objects.get(name="calendar")
    token.revoked_at = datetime.now(UTC)
    token.save()
    assert client.get("/maintenance/feed.ics", {"token": world["token"]}).status_code == 401
    client.force_login(world["carl"])
    assert client.get("/maintenance/feed.ics").status_code == 200


def test_a_portal_user_token_gets_no_feed(client, world):
    rita = make_user("rita", "requester")
    _, secret = ApiToken.issue(user=rita, name="cal", scope="read")
    assert client.get("/maintenance/feed.ics", {"token": secret}).status_code == 403


def test_an_unknown_filter_is_a_404_not_an_empty_calendar(client, world):
    answer = client.get("/maintenance/feed.ics", {"token": world["token"], "service": "SVC-999999"})
    assert answer.status_code == 404
