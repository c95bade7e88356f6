"""The Transition demo: 90 days of changes and deployments consistent with their journal, the
month-end freeze, templates pipelines match, change-caused incidents, and what is ahead."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from itline.core.journal import content_type_for
from itline.core.models import JournalEntry
from itline.transition import demo
from itline.transition.choices import ChangeStatus
from itline.transition.models import (
    CabMeeting,
    Change,
    ChangeIncidentLink,
    ChangeNode,
    ChangeReview,
    ChangeTemplate,
    Deployment,
    FreezeWindow,
    Release,
)


@pytest.fixture(scope="module")
def loaded(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    from itline.cmdb import demo as cmdb_demo
    from itline.operation import demo as operation_demo
    from itline.org import demo as org_demo
    from itline.relations import demo as relations_demo

    with django_db_blocker.unblock(), transaction.atomic():
        for module in (org_demo, cmdb_demo, relations_demo):
            for _, run in module.steps():
                run()
        operation_demo.load()
        for _, run in demo.steps():
            run()
        yield
        transaction.set_rollback(True)


pytestmark = pytest.mark.django_db


def test_ninety_days_of_changes_of_every_type_with_mostly_good_outcomes(loaded):
    now = timezone.now()
    changes = Change.objects.all()
    types = Counter(changes.values_list("change_type", flat=True))
    assert set(types) == {"standard", "normal", "emergency"}
    assert 250 <= sum(types.values()) <= 500
    implemented = changes.filter(actual_start__isnull=False).order_by("actual_start")
    first = implemented.values_list("actual_start", flat=True)[0]
    assert now - timedelta(days=91) <= first <= now - timedelta(days=85)
    outcomes = Counter(changes.exclude(outcome="").values_list("outcome", flat=True))
    done = sum(outcomes.values())
    assert outcomes["successful"] / done > 0.8
    assert outcomes["failed"] + outcomes["backed_out"] >= 3
    assert outcomes["successful_with_issues"] >= 3
    statuses = set(changes.values_list("status", flat=True))
    assert {"closed", "implemented", "scheduled", "awaiting_approval", "implementing"} <= statuses


def test_every_change_journal_ends_in_its_status(loaded):
    last: dict[int, str] = {}
    rows = (
        JournalEntry.objects.filter(content_type=content_type_for(Change))
        .order_by("at", "id")
        .values_list("object_id", "changes")
    )
    for object_id, changes in rows:
        if "status" in changes:
            last[int(object_id)] = changes["status"][1]
    current = dict(Change.objects.values_list("pk", "status"))
    assert last == current


def test_deployments_to_three_environments_most_production_ones_under_a_change(loaded):
    environments = Counter(Deployment.objects.values_list("environment", flat=True))
    assert set(environments) == {"test", "staging", "production"}
    assert sum(environments.values()) >= 300
    production = Deployment.objects.filter(environment="production")
    unplanned = production.filter(change__isnull=True).count()
    assert 1 <= unplanned <= production.count() * 0.1
    assert Release.objects.count() == 6
    assert Deployment.objects.filter(release__isnull=False).exists()


def test_templates_freeze_windows_reviews_and_caused_incidents(loaded):
    matched = ChangeTemplate.objects.exclude(deployment_match={}).count()
    assert ChangeTemplate.objects.count() == 6 and matched == 4
    month_end = FreezeWindow.objects.get(title="Month-end closing freeze")
    assert month_end.rrule == "FREQ=MONTHLY;BYMONTHDAY=-2"
    assert not month_end.services.exists()
    # No history change other than an emergency was implemented in a month-end freeze.
    for change in Change.objects.exclude(change_type="emergency").filter(
        actual_start__isnull=False
    ):
        assert not demo._in_freeze(change.actual_start), change.reference
    closed = Change.objects.filter(status=ChangeStatus.CLOSED).count()
    assert ChangeReview.objects.filter(status="completed").count() == closed
    assert ChangeReview.objects.filter(status="draft").exists()
    links = Counter(ChangeIncidentLink.objects.values_list("status", flat=True))
    assert links["confirmed"] >= 2 and links["suggested"] >= 1


def test_the_calendar_ahead_has_a_collision_and_a_change_awaiting_the_cab(loaded):
    ahead = Change.objects.filter(planned_start__gt=timezone.now())
    assert ahead.filter(status="scheduled").count() >= 3
    assert any(c.collisions for c in ahead.filter(status="scheduled"))
    waiting = Change.objects.get(status="awaiting_approval", approval_path="cab")
    meeting = CabMeeting.objects.get()
    assert list(meeting.items.values_list("change", flat=True)) == [waiting.pk]
    assert ChangeNode.objects.filter(change=waiting).exists()
