"""The Operation demo: 90 days of history that is the size the issue promises, consistent with
its own journal (so the SLA clocks derived from it are right), alive for every persona, and
the same every time for the same moment."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction

from itline.core.journal import content_type_for
from itline.core.models import JournalEntry
from itline.operation import demo
from itline.operation.choices import INCIDENT_OPEN, REQUEST_OPEN
from itline.operation.demo.simulation import Simulation
from itline.operation.demo.world import World
from itline.operation.models import Incident, KnownError, Message, Problem, ServiceRequest, SlaClock

# A Wednesday morning: desks are working, a weekend lies inside the last week.
NOW = dt.datetime(2026, 3, 18, 10, 30, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def loaded(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    """Every demo up to Operation, loaded once for this module and rolled back after it."""
    from itline.cmdb import demo as cmdb_demo
    from itline.org import demo as org_demo
    from itline.relations import demo as relations_demo

    with django_db_blocker.unblock(), transaction.atomic():
        for module in (org_demo, cmdb_demo, relations_demo):
            for _, run in module.steps():
                run()
        demo.load(now=NOW)
        yield
        transaction.set_rollback(True)


def _last_status(model: type[Any]) -> dict[int, str]:
    """The status each record's journal ends in (the last row that names a status)."""
    last: dict[int, str] = {}
    rows = (
        JournalEntry.objects.filter(content_type=content_type_for(model))
        .order_by("at", "id")
        .values_list("object_id", "changes")
    )
    for object_id, changes in rows:
        if "status" in changes:
            last[int(object_id)] = changes["status"][1]
    return last


@pytest.mark.django_db
def test_the_demo_has_three_thousand_requests_and_incidents_of_every_kind(loaded: None) -> None:
    requests = ServiceRequest.objects.count()
    incidents = Incident.objects.count()
    assert 1_600 <= requests <= 2_100
    assert 1_000 <= incidents <= 1_400
    assert 2_800 <= requests + incidents <= 3_300
    assert Problem.objects.count() == 20
    assert KnownError.objects.count() == 15
    types = Counter(ServiceRequest.objects.values_list("request_type", flat=True))
    assert set(types) == {"question", "order", "fault_report", "complaint", "improvement_proposal"}
    channels = set(ServiceRequest.objects.values_list("channel", flat=True))
    assert channels == {"portal", "email", "phone", "api"}
    assert set(Message.objects.values_list("kind", flat=True)) == {
        "reply",
        "note",
        "email_in",
        "email_out",
        "update",
    }
    # history spread over 90 days, nothing in the future
    first = Incident.objects.order_by("created_at").values_list("created_at", flat=True)[0]
    assert NOW - dt.timedelta(days=92) <= first <= NOW - dt.timedelta(days=85)
    assert not Incident.objects.filter(created_at__gt=NOW).exists()
    operation_types = [content_type_for(m) for m in (Incident, ServiceRequest, Problem, KnownError)]
    assert not JournalEntry.objects.filter(content_type__in=operation_types, at__gt=NOW).exists()


@pytest.mark.django_db
def test_major_incidents_have_stakeholder_updates_and_merged_duplicates(loaded: None) -> None:
    majors = Incident.objects.filter(major=True)
    assert majors.count() == 5
    assert majors.filter(status__in=INCIDENT_OPEN).count() == 1
    incident_type = content_type_for(Incident)
    for major in majors:
        updates = Message.objects.filter(
            content_type=incident_type, object_id=str(major.pk), kind="update"
        )
        assert updates.count() >= 2, major
        assert all(m.to_addresses for m in updates)
        assert major.merged.exists() or major.requests.exists(), major
    merged = Incident.objects.filter(merged_into__isnull=False)
    assert merged.exists()
    assert set(merged.values_list("status", flat=True)) == {"closed"}


@pytest.mark.django_db
def test_problems_link_incidents_and_known_errors_carry_workarounds(loaded: None) -> None:
    statuses = Counter(Problem.objects.values_list("status", flat=True))
    assert set(statuses) == {"new", "investigating", "known_error", "resolved", "closed"}
    for problem in Problem.objects.all():
        assert problem.incidents.count() >= 1, problem
    assert Problem.objects.exclude(root_cause="").count() >= 10
    assert not KnownError.objects.filter(workaround="").exists()
    assert Incident.objects.filter(known_error__isnull=False).exclude(workaround="").exists()


@pytest.mark.django_db
def test_every_record_ends_its_journal_in_the_status_it_has(loaded: None) -> None:
    for model in (Incident, ServiceRequest, Problem):
        last = _last_status(model)
        for pk, status in model.objects.values_list("pk", "status"):
            assert last.get(pk) == status, (model.__name__, pk, status, last.get(pk))
    # and every record starts with a "created" row at its creation time
    created = dict(
        JournalEntry.objects.filter(
            content_type=content_type_for(Incident), verb="created"
        ).values_list("object_id", "at")
    )
    for pk, at in Incident.objects.values_list("pk", "created_at"):
        assert created[str(pk)] == at


@pytest.mark.django_db
def test_every_incident_has_clocks_derived_from_its_journal(loaded: None) -> None:
    incidents = Incident.objects.count()
    assert SlaClock.objects.filter(kind="resolution").count() == incidents
    assert SlaClock.objects.filter(kind="response").count() == incidents
    done = SlaClock.objects.filter(kind="resolution", incident__status__in=["resolved", "closed"])
    assert set(done.values_list("state", flat=True)) == {"stopped"}
    open_clocks = SlaClock.objects.filter(kind="resolution", incident__status__in=INCIDENT_OPEN)
    assert set(open_clocks.values_list("state", flat=True)) <= {"running", "paused"}
    # responded incidents: the response clock stopped at the response
    for clock in SlaClock.objects.filter(
        kind="response", incident__responded_at__isnull=False
    ).select_related("incident")[:200]:
        assert clock.state == "stopped"
        assert clock.stopped_at == clock.incident.responded_at
    # realistic service: most resolution targets met, some missed
    stopped = SlaClock.objects.filter(kind="resolution", state="stopped")
    breached = stopped.filter(breached_at__isnull=False).count() / stopped.count()
    assert 0.03 < breached < 0.3


@pytest.mark.django_db
def test_the_personas_find_live_queues(loaded: None) -> None:
    def open_incidents(name: str) -> Any:
        return Incident.objects.filter(assignee__name=name, status__in=INCIDENT_OPEN)

    tom = open_incidents("Tom Tanaka")
    assert tom.count() >= 5
    warned = SlaClock.objects.filter(
        incident__in=tom, kind="resolution", state="running", warn_at__lte=NOW
    )
    assert warned.filter(due_at__gt=NOW).exists()  # about to breach
    assert warned.filter(due_at__lte=NOW).exists()  # breached
    assert open_incidents("Dana Desmond").count() >= 3
    assert ServiceRequest.objects.filter(
        assignee__name="Dana Desmond", status__in=REQUEST_OPEN
    ).exists()
    assert open_incidents("Ingrid Iversen").filter(major=True).exists()
    assert (
        Problem.objects.filter(owner__name="Paul Petrov")
        .exclude(status__in=["resolved", "closed"])
        .count()
        >= 3
    )
    assert ServiceRequest.objects.filter(
        requester__name="Rita Rossi", status="waiting_for_requester"
    ).exists()
    assert Incident.objects.filter(status__in=INCIDENT_OPEN, assignee__isnull=True).exists()


@pytest.mark.django_db
def test_the_same_moment_gives_the_same_history(loaded: None) -> None:
    again = Simulation(World.load(), NOW)
    again.run()

    def fingerprint(records: Any) -> list[tuple[Any, ...]]:
        return sorted((r.created_at, r.title, r.status) for r in records)

    assert fingerprint(again.incidents) == fingerprint(Incident.objects.all())
    assert fingerprint(again.requests) == fingerprint(ServiceRequest.objects.all())
    assert len(again.rows) == JournalEntry.objects.filter(
        content_type__in=[
            content_type_for(m) for m in (Incident, ServiceRequest, Problem, KnownError)
        ]
    ).count() + sum(1 for row in again.rows if type(row.obj).__name__ == "Improvement")
