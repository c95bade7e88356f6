"""The events demo: 90 days of alert history that agrees with the incident history (the alert
fires before its incident is opened, on the incident's component, and resolves near its
resolution; dependents are grouped with the cause; open incidents keep alerts firing), with
noise that opened no incident, a flapping alert and unmapped alerts, the fingerprints that
ingestion computes, and the console working on it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from itertools import pairwise
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Count

from itline.core.models import Sequence
from itline.core.testing import PASSWORD, make_user
from itline.operation import demo, demo_alerts, demo_maintenance
from itline.operation.choices import INCIDENT_OPEN
from itline.operation.models import Alert, AlertGroup, AlertTransition, EventSource, Incident

NOW = dt.datetime(2026, 3, 18, 10, 30, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def loaded(django_db_setup: Any, django_db_blocker: Any) -> Iterator[demo_alerts.Simulation]:
    from itline.cmdb import demo as cmdb_demo
    from itline.org import demo as org_demo
    from itline.relations import demo as relations_demo

    with django_db_blocker.unblock(), transaction.atomic():
        for module in (org_demo, cmdb_demo, relations_demo):
            for _, run in module.steps():
                run()
        demo.load(now=NOW)
        demo_maintenance.load(now=NOW)  # before the alerts, as in DEMO_MODULES
        yield demo_alerts.load(now=NOW)
        transaction.set_rollback(True)


pytestmark = pytest.mark.django_db


def test_monitoring_incidents_have_the_alert_that_raised_them_just_before(loaded: Any) -> None:
    monitored = Incident.objects.filter(channel="monitoring", component__isnull=False)
    groups = {g.incident_id: g for g in AlertGroup.objects.filter(incident__isnull=False)}
    covered = [i for i in monitored if i.pk in groups]
    assert len(covered) > 0.8 * monitored.count() > 100
    for inc in covered[:200]:
        group = groups[inc.pk]
        assert group.probable_cause_id == inc.component_id
        assert dt.timedelta(0) < inc.created_at - group.opened_at <= dt.timedelta(minutes=5)
        cause = AlertTransition.objects.filter(
            component_id=inc.component_id, at=group.opened_at, status="firing"
        )
        assert cause.exists(), inc.reference
        if inc.resolved_at:
            assert group.status == "resolved"
            assert abs(group.resolved_at - inc.resolved_at) < dt.timedelta(minutes=20)


def test_open_incidents_keep_their_alerts_firing_and_resolved_ones_do_not(loaded: Any) -> None:
    open_groups = AlertGroup.objects.filter(
        incident__status__in=INCIDENT_OPEN, incident__created_at__gte=NOW - dt.timedelta(days=90)
    )
    assert open_groups.exists()
    for group in open_groups:
        assert group.status == "open" and group.firing_count >= 1
    # every alert's state is its last transition, and transitions alternate
    for alert in Alert.objects.order_by("?")[:300]:
        states = list(alert.history.order_by("at", "id").values_list("status", flat=True))
        assert states and states[-1] == alert.status
        assert len(states) == alert.transitions
        assert all(a != b for a, b in pairwise(states))


def test_dependents_are_grouped_with_their_cause_and_every_decision_is_explained(
    loaded: Any,
) -> None:
    multi = AlertGroup.objects.annotate(n=Count("alerts")).filter(n__gt=1, incident__isnull=False)
    assert multi.count() > 50
    group = multi.first()
    assert any(d["what"].startswith("opened incident") for d in group.decisions)
    grouped = [a for a in group.alerts.all() if a.component_id != group.probable_cause_id]
    assert grouped and any(d["what"] == "grouped" for d in grouped[0].decisions)


def test_noise_flapping_and_unmapped_alerts_are_there_without_incidents(loaded: Any) -> None:
    warnings = AlertGroup.objects.filter(severity="warning", incident__isnull=True)
    assert warnings.count() > 300
    flapping = Alert.objects.get(flapping=True)
    assert flapping.transitions > 30 and flapping.status == "firing"
    assert flapping.group.incident_id is None
    unmapped = Alert.objects.filter(component__isnull=True, service__isnull=True)
    assert unmapped.count() == len(demo_alerts.UNMAPPED_HOSTS)
    assert unmapped.filter(status="firing").count() >= 1
    assert AlertTransition.objects.filter(at__lt=NOW - dt.timedelta(days=80)).exists()
    assert not AlertTransition.objects.filter(at__gt=NOW).exists()


def test_alerts_inside_maintenance_windows_are_recorded_but_suppressed(loaded: Any) -> None:
    suppressed = [
        a
        for a in Alert.objects.filter(name__in=["PostgresDown", "HostUnreachable", "InterfaceDown"])
        if any(d["what"].startswith("suppressed by MW-") for d in a.decisions)
    ]
    assert len(suppressed) >= 5
    quiet = AlertGroup.objects.filter(decisions__icontains="is suppressed by MW-")
    assert quiet.count() >= 5 and not quiet.filter(incident__isnull=False).exists()


def test_the_fingerprints_are_those_ingestion_computes_so_live_events_update_them(
    loaded: Any,
) -> None:
    from itline.operation.ingest import NormalizedEvent, ingest

    alert = (
        Alert.objects.filter(source__name="prometheus", status="firing")
        .exclude(component=None)
        .first()
    )
    source = EventSource.objects.get(name="prometheus")
    result = ingest(
        source,
        [
            NormalizedEvent(
                status="firing", severity=alert.severity, name=alert.name, labels=dict(alert.labels)
            )
        ],
        received_at=NOW + dt.timedelta(seconds=5),
    )
    assert result.new == 0 and result.accepted == 1
    assert EventSource.hash(demo_alerts.DEMO_TOKENS["prometheus"]) == source.token_hash
    refs = AlertGroup.objects.values_list("reference", flat=True)
    assert len(set(refs)) == len(refs)
    assert Sequence.objects.get(prefix="ALG").value == len(refs)


def test_the_console_and_an_alert_page_work_on_the_demo(loaded: Any, client: Any) -> None:
    make_user("e3demo", "technician")
    client.login(username="e3demo", password=PASSWORD)
    page = client.get("/alerts/")
    assert page.status_code == 200 and "Open groups" in page.content.decode()
    alert = Alert.objects.get(flapping=True)
    assert client.get(alert.get_absolute_url()).status_code == 200
    group = AlertGroup.objects.filter(incident__isnull=False).first()
    assert client.get(group.get_absolute_url()).status_code == 200
