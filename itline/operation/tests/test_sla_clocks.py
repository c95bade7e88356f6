"""Stored SLA clocks: derived from the incident's journal under its agreement, recomputed
exactly after calendar, holiday and agreement edits, and scanned for warnings and breaches
that are notified once per threshold (real SMTP)."""

from datetime import UTC, date, datetime, timedelta
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from itline.core import journal
from itline.core.models import BusinessCalendar, JournalEntry
from itline.core.services import create_calendar, update_calendar
from itline.operation import sla
from itline.operation.mail.testing import smtp_sink
from itline.operation.models import Incident, SlaClock
from itline.operation.testing import make_function, make_service
from itline.org.models import Person
from itline.relations import services as relations

AMS = ZoneInfo("Europe/Amsterdam")
OFFICE = {d: ["08:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
TARGETS = [
    {"priority": 1, "response_minutes": 15, "resolution_minutes": 240},
    {"priority": 2, "response_minutes": 60, "resolution_minutes": 480},
    {"priority": 3, "response_minutes": 120, "resolution_minutes": 960},
]


def local(*args):
    return datetime(*args, tzinfo=AMS)


@pytest.fixture
def calendar(db):
    return create_calendar(
        by=None, name="Office hours", time_zone="Europe/Amsterdam", working_hours=OFFICE
    )


@pytest.fixture
def agreement(calendar):
    return relations.create_agreement(
        by=None, name="Standard", is_default=True, calendar=calendar, targets=TARGETS
    )


def file_incident(created, *, priority=3, agreement=None, **fields):
    """An incident whose journal starts at ``created`` (as the incident verbs write it)."""
    service = fields.pop("service", None) or make_service(f"Mail {Incident.objects.count()}")
    incident = Incident(
        title="Mail is down",
        service=service,
        priority=priority,
        agreement=agreement,
        created_at=created,
        **fields,
    )
    incident.save()
    changes = {
        k: [None, v] for k, v in journal.snapshot(incident).items() if v not in (None, "", [], {})
    }
    write(incident, created, "created", changes)
    return incident


def write(incident, at, verb, changes):
    entry = journal.record(incident, by=None, verb=verb, changes=changes)
    JournalEntry.objects.filter(pk=entry.pk).update(at=at)


def move(incident, at, **after):
    """A state change at ``at``: journal row (before/after) and the incident's fields."""
    changes = {}
    for name, value in after.items():
        changes[name] = [getattr(incident, name), value]
        setattr(incident, name, value)
    Incident.objects.filter(pk=incident.pk).update(**after)
    write(incident, at, "state_changed", changes)


def clock(incident, kind):
    return SlaClock.objects.get(incident=incident, kind=kind)


# --- refresh ----------------------------------------------------------------------------------


def test_refresh_stores_both_clocks_with_their_deadlines_in_support_hours(agreement):
    incident = file_incident(local(2026, 3, 20, 16, 30))  # Friday, P3
    sla.refresh(incident, now=local(2026, 3, 20, 18, 0))
    response = clock(incident, "response")
    assert response.state == "running"
    assert response.elapsed_minutes == 30
    assert response.target_minutes == 120
    assert response.due_at == local(2026, 3, 23, 9, 30)
    assert response.warn_at == local(2026, 3, 23, 9, 0)
    assert response.agreement == agreement
    resolution = clock(incident, "resolution")
    assert resolution.due_at == local(2026, 3, 24, 14, 30)  # 30 + 540 + 390 minutes


def test_the_clocks_follow_the_journal_through_a_pause_and_a_resolution(agreement):
    start = local(2026, 3, 16, 9, 0)
    incident = file_incident(start)
    move(incident, start + timedelta(minutes=30), status="in_progress")
    move(
        incident,
        start + timedelta(hours=1),
        status="on_hold",
        hold_reason="waiting_for_customer",
    )
    sla.refresh(incident, now=start + timedelta(hours=2))
    assert clock(incident, "response").state == "stopped"
    assert clock(incident, "response").elapsed_minutes == 30
    paused = clock(incident, "resolution")
    assert (paused.state, paused.elapsed_minutes, paused.due_at) == ("paused", 60, None)

    move(incident, start + timedelta(hours=3), status="in_progress", hold_reason="")
    move(incident, start + timedelta(hours=4), status="resolved")
    sla.refresh(incident, now=start + timedelta(hours=5))
    resolved = clock(incident, "resolution")
    assert resolved.state == "stopped"
    assert resolved.elapsed_minutes == 60 + 60
    assert resolved.stopped_at == start + timedelta(hours=4)
    assert resolved.breached_at is None


def test_an_incident_without_agreement_runs_under_the_default_one(agreement, calendar):
    specific = relations.create_agreement(
        by=None,
        name="Gold",
        service=make_service("Payroll"),
        calendar=calendar,
        targets=[{"priority": 3, "response_minutes": 30, "resolution_minutes": 120}],
    )
    covered = file_incident(local(2026, 3, 16, 9, 0), agreement=specific)
    plain = file_incident(local(2026, 3, 16, 9, 0))
    now = local(2026, 3, 16, 9, 10)
    sla.refresh(covered, now=now)
    sla.refresh(plain, now=now)
    assert clock(covered, "resolution").target_minutes == 120
    assert clock(plain, "resolution").target_minutes == 960
    assert clock(plain, "resolution").agreement == agreement


def test_without_any_agreement_there_are_no_clocks_and_old_ones_go(agreement):
    incident = file_incident(local(2026, 3, 16, 9, 0))
    sla.refresh(incident, now=local(2026, 3, 16, 10, 0))
    assert incident.clocks.count() == 2
    relations.update_agreement(agreement, by=None, active=False)
    sla.refresh(incident, now=local(2026, 3, 16, 10, 0))
    assert incident.clocks.count() == 0


def test_a_priority_without_a_target_has_no_clock(agreement):
    incident = file_incident(local(2026, 3, 16, 9, 0), priority=4)
    sla.refresh(incident, now=local(2026, 3, 16, 10, 0))
    assert incident.clocks.count() == 0


# --- recompute ----------------------------------------------------------------------------------


def test_recompute_after_a_holiday_edit_gives_exactly_the_new_answer(agreement, calendar):
    incident = file_incident(local(2026, 3, 16, 16, 0))  # Monday 16:00, P3
    now = local(2026, 3, 16, 16, 30)
    sla.refresh(incident, now=now)
    assert clock(incident, "response").due_at == local(2026, 3, 17, 9, 0)
    assert clock(incident, "resolution").due_at == local(2026, 3, 18, 14, 0)

    update_calendar(
        BusinessCalendar.objects.get(pk=calendar.pk), by=None, custom_holidays=["2026-03-17"]
    )
    # Stored clocks keep the old answer until they are recomputed ...
    assert clock(incident, "response").due_at == local(2026, 3, 17, 9, 0)
    assert sla.recompute([incident.pk], now=now) == 1
    # ... then Tuesday is skipped, and the result equals a computation from scratch.
    assert clock(incident, "response").due_at == local(2026, 3, 18, 9, 0)
    assert clock(incident, "resolution").due_at == local(2026, 3, 19, 14, 0)
    engine = BusinessCalendar.objects.get(pk=calendar.pk).engine()
    assert engine.is_holiday(date(2026, 3, 17))
    fresh = sla.compute(
        local(2026, 3, 16, 16, 0),
        {"status": "new", "priority": 3},
        [],
        policy=sla.Policy(targets={3: (120, 960)}, warning_percent=75),
        calendar=engine,
        now=now,
    )
    assert clock(incident, "resolution").due_at == fresh["resolution"].due_at
    assert clock(incident, "resolution").warn_at == fresh["resolution"].warn_at


def test_recompute_after_an_agreement_edit_applies_the_new_targets(agreement):
    incident = file_incident(local(2026, 3, 16, 9, 0))
    now = local(2026, 3, 16, 9, 30)
    sla.refresh(incident, now=now)
    relations.set_targets(
        agreement,
        [{"priority": 3, "response_minutes": 60, "resolution_minutes": 600}],
        by=None,
    )
    relations.update_agreement(agreement, by=None, warning_percent=50)
    sla.recompute([incident.pk], now=now)
    resolution = clock(incident, "resolution")
    assert (resolution.target_minutes, resolution.warning_percent) == (600, 50)
    assert resolution.due_at == local(2026, 3, 17, 10, 0)
    assert resolution.warn_at == local(2026, 3, 16, 14, 0)


def test_the_recompute_command_takes_open_incidents_one_incident_or_all(agreement, calendar):
    open_one = file_incident(local(2026, 3, 16, 9, 0))
    closed = file_incident(local(2026, 3, 16, 9, 0))
    move(closed, local(2026, 3, 16, 10, 0), status="closed")
    out = StringIO()
    call_command("sla", "recompute", "--no-progress", stdout=out, stderr=StringIO())
    assert "1 incident" in out.getvalue()
    assert open_one.clocks.count() == 2 and closed.clocks.count() == 0
    call_command("sla", "recompute", "--all", stdout=out, stderr=StringIO())
    assert closed.clocks.count() == 2
    assert clock(closed, "resolution").state == "stopped"
    out = StringIO()
    call_command("sla", "recompute", "--incident", closed.reference, stdout=out, stderr=StringIO())
    assert "1 incident" in out.getvalue()
    with pytest.raises(CommandError, match="INC-999999"):
        call_command("sla", "recompute", "--incident", "INC-999999")
    with pytest.raises(CommandError, match="--agreement"):
        call_command("sla", "recompute", "--agreement", "SLA-999999")


def test_a_batch_recompute_equals_refreshing_each_incident(agreement):
    incidents = []
    for n in range(7):
        start = local(2026, 3, 16, 9, 0) + timedelta(hours=n * 5)
        incident = file_incident(start, priority=1 + n % 3)
        if n % 2:
            move(incident, start + timedelta(minutes=20 * n), status="in_progress")
        if n % 3 == 0:
            move(
                incident,
                start + timedelta(hours=1),
                status="on_hold",
                hold_reason="waiting_for_customer",
            )
        incidents.append(incident)
    now = local(2026, 3, 20, 12, 0)
    for incident in incidents:
        sla.refresh(incident, now=now)
    columns = ("incident_id", "kind", "state", "elapsed_minutes", "warn_at", "due_at", "stopped_at")
    one_by_one = sorted(SlaClock.objects.values_list(*columns))
    SlaClock.objects.all().delete()
    sla.recompute([i.pk for i in incidents], now=now, chunk_size=3)
    assert sorted(SlaClock.objects.values_list(*columns)) == one_by_one


# --- breach scan ----------------------------------------------------------------------------


@pytest.fixture
def team(db):
    lead = Person(name="Lena Lead", email="lena@example.com")
    lead.save()
    agent = Person(name="Tom Tech", email="tom@example.com")
    agent.save()
    function = make_function("Mail team", agent, lead=lead)
    return function, agent


def addresses(messages):
    return sorted(str(m["To"]).split("<")[-1].rstrip(">") for m in messages)


def test_warnings_and_breaches_are_notified_once_per_threshold(
    agreement, team, django_capture_on_commit_callbacks
):
    function, agent = team
    start = local(2026, 3, 16, 9, 0)
    incident = file_incident(start, priority=2, assigned_function=function, assignee=agent)
    move(incident, start + timedelta(minutes=5), status="in_progress")  # responded
    sla.refresh(incident, now=start + timedelta(minutes=10))
    resolution = clock(incident, "resolution")
    assert resolution.warn_at == start + timedelta(minutes=360)
    assert resolution.due_at == start + timedelta(minutes=480)

    def scan(minutes):
        with django_capture_on_commit_callbacks(execute=True):
            return sla.scan(now=start + timedelta(minutes=minutes))

    with smtp_sink() as inbox:
        assert scan(300) == sla.ScanResult(0, 0)
        assert scan(361) == sla.ScanResult(1, 0)
        assert scan(362) == sla.ScanResult(0, 0)
        warnings = list(inbox.messages)
        assert addresses(warnings) == ["lena@example.com", "tom@example.com"]
        assert all(incident.reference in m["Subject"] for m in warnings)
        assert all("warning" in m["Subject"].lower() for m in warnings)
        assert clock(incident, "resolution").warned_at == start + timedelta(minutes=361)

        assert scan(481) == sla.ScanResult(0, 1)
        assert scan(600) == sla.ScanResult(0, 0)
        breaches = inbox.messages[len(warnings) :]
        assert addresses(breaches) == ["lena@example.com", "tom@example.com"]
    assert clock(incident, "resolution").breached_at == start + timedelta(minutes=481)
    messages = list(
        journal.entries_for(incident)
        .filter(message__startswith="SLA")
        .values_list("verb", "message")
    )
    assert [verb for verb, _ in messages] == ["updated", "updated"]
    assert "75 % of the resolution target of 8 h" in messages[0][1]
    assert "resolution target of 8 h business time breached" in messages[1][1]


def test_a_clock_that_passed_its_target_unseen_is_notified_only_of_the_breach(agreement, team):
    function, agent = team
    start = local(2026, 3, 16, 9, 0)
    incident = file_incident(start, priority=1, assigned_function=function, assignee=agent)
    sla.refresh(incident, now=start)
    result = sla.scan(now=start + timedelta(hours=6))
    # Both clocks (15 min response, 4 h resolution) are overdue: two breaches, no warnings.
    assert result == sla.ScanResult(warned=0, breached=2)
    stored = clock(incident, "resolution")
    assert stored.warned_at == stored.breached_at == start + timedelta(hours=6)
    assert sla.scan(now=start + timedelta(hours=7)) == sla.ScanResult(0, 0)


def test_a_later_threshold_is_notified_again_after_the_priority_is_lowered(agreement):
    start = local(2026, 3, 16, 9, 0)
    incident = file_incident(start, priority=1)
    move(incident, start + timedelta(minutes=5), status="in_progress")
    sla.refresh(incident, now=start + timedelta(minutes=10))
    assert sla.scan(now=start + timedelta(minutes=200)) == sla.ScanResult(1, 0)
    move(incident, start + timedelta(minutes=201), priority=3)
    sla.refresh(incident, now=start + timedelta(minutes=202))
    lowered = clock(incident, "resolution")
    assert lowered.warned_at is None  # 75 % of 960 minutes lies ahead again
    assert lowered.warn_at == local(2026, 3, 17, 12, 0)  # 720 minutes: 480 Monday, 240 Tuesday
    assert sla.scan(now=local(2026, 3, 17, 12, 1)) == sla.ScanResult(1, 0)


def test_a_clock_resolved_late_records_its_breach_without_paging_anyone(agreement, team):
    function, agent = team
    start = local(2026, 3, 16, 9, 0)
    incident = file_incident(start, priority=1, assigned_function=function, assignee=agent)
    move(incident, start + timedelta(minutes=10), status="in_progress")
    move(incident, start + timedelta(hours=5), status="resolved")
    with smtp_sink() as inbox:
        sla.refresh(incident, now=start + timedelta(hours=5))
        assert sla.scan(now=start + timedelta(hours=5)) == sla.ScanResult(0, 0)
    resolution = clock(incident, "resolution")
    assert resolution.state == "stopped"
    assert resolution.breached_at == start + timedelta(hours=4)  # the instant it was due
    assert resolution.warned_at == start + timedelta(hours=3)
    assert clock(incident, "response").breached_at is None
    assert inbox.messages == []


def test_the_scan_ignores_paused_clocks_that_have_not_reached_a_threshold(agreement):
    start = local(2026, 3, 16, 9, 0)
    incident = file_incident(start, priority=1)
    move(
        incident, start + timedelta(minutes=1), status="on_hold", hold_reason="waiting_for_customer"
    )
    sla.refresh(incident, now=start + timedelta(minutes=2))
    assert sla.scan(now=start + timedelta(days=30)) == sla.ScanResult(0, 0)


def test_the_scan_task_runs_the_scan(agreement):
    from itline.operation.sla_tasks import scan_sla_breaches

    start = datetime.now(UTC) - timedelta(days=20)
    incident = file_incident(start, priority=1)
    sla.refresh(incident, now=start)
    result = scan_sla_breaches.call()
    assert result == {"warned": 0, "breached": 2}


def test_business_time_left_of_a_stored_clock_counts_only_support_hours(agreement):
    incident = file_incident(local(2026, 3, 20, 16, 0))  # Friday 16:00, P3: response 120 min
    sla.refresh(incident, now=local(2026, 3, 20, 16, 30))
    response = clock(incident, "response")
    assert response.due_at == local(2026, 3, 23, 9, 0)
    # Saturday noon: still the hour of Monday morning left, not ~45 wall-clock hours.
    assert sla.business_minutes_left(response, now=local(2026, 3, 21, 12, 0)) == 60
    assert sla.business_minutes_left(response, now=local(2026, 3, 23, 10, 0)) == -60
