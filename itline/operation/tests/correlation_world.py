"""Builders for correlation tests: alerts written the way ingestion writes them (state, one
transition row per change, ``pending`` set), so each test can say "db-1 fires at 12:00"
and then run correlation at a chosen moment."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from itline.cmdb.models import Node
from itline.operation import correlation
from itline.operation.models import Alert, AlertTransition, EventSource

# An hour ago, on the minute: recent, as in real operation (incident verbs use the real clock).
T0 = (datetime.now(UTC) - timedelta(hours=1)).replace(second=0, microsecond=0)


def at(seconds: float) -> datetime:
    """``T0`` plus ``seconds``: test clocks read as offsets from T0."""
    return T0 + timedelta(seconds=seconds)


def source(name: str = "prometheus", kind: str = "alertmanager") -> EventSource:
    found = EventSource.objects.filter(name=name).first()
    if found is None:
        found = EventSource(name=name, kind=kind)
        found.save()
    return found


def _transition(alert: Alert, when: datetime) -> None:
    AlertTransition.objects.create(
        alert=alert,
        status=alert.status,
        severity=alert.severity,
        at=when,
        received_at=when,
        component_id=alert.component_id,
        service_id=alert.service_id,
        summary=alert.summary,
    )


def fire(
    name: str,
    node: Node | None = None,
    *,
    when: datetime | None = None,
    severity: str = "critical",
    service: Node | None = None,
    labels: dict[str, str] | None = None,
    src: EventSource | None = None,
) -> Alert:
    """A firing event for the alert ``name`` on ``node`` (a component, or a service when
    ``node`` is one): a new alert, or the existing one firing again."""
    when = when or T0
    component_id = service_id = None
    if node is not None and node.kind == "service":
        service_id = node.pk
    elif node is not None:
        component_id = node.pk
    if service is not None:
        service_id = service.pk
    labels = {"alertname": name, **(labels or {})}
    if node is not None:
        labels.setdefault("instance", node.name)
    fingerprint = hashlib.sha256(repr(sorted(labels.items())).encode()).hexdigest()[:32]
    alert = Alert.objects.filter(fingerprint=fingerprint).first()
    if alert is None:
        alert = Alert(
            fingerprint=fingerprint,
            source=src or source(),
            name=name,
            status="firing",
            severity=severity,
            summary=f"{name} on {node.name if node else 'somewhere'}",
            labels=labels,
            component_id=component_id,
            service_id=service_id,
            starts_at=when,
            first_seen_at=when,
            last_seen_at=when,
            changed_at=when,
            transitions=1,
            pending=True,
        )
        alert.save()
    else:
        assert alert.status == "resolved", f"{name} is already firing"
        alert.status = "firing"
        alert.severity = severity
        alert.starts_at = when
        alert.ends_at = None
        alert.last_seen_at = when
        alert.changed_at = when
        alert.transitions += 1
        alert.pending = True
        alert.save()
    _transition(alert, when)
    return alert


def resolve(alert: Alert, *, when: datetime | None = None) -> Alert:
    when = when or T0
    alert.refresh_from_db()
    assert alert.status == "firing", f"{alert} is not firing"
    alert.status = "resolved"
    alert.ends_at = when
    alert.last_seen_at = when
    alert.changed_at = when
    alert.transitions += 1
    alert.pending = True
    alert.save()
    _transition(alert, when)
    return alert


def run(*alerts: Alert, now: datetime | None = None) -> Any:
    """Correlate the given alerts (as ingestion does after its commit) at ``now`` (default:
    the latest change); returns the alert, refreshed (the first one when several)."""
    correlation.correlate([a.pk for a in alerts], now=now or max(a.changed_at for a in alerts))
    for alert in alerts:
        alert.refresh_from_db()
    return alerts[0]


def whats(obj: Any) -> list[str]:
    """The ``what`` of each decision, for short assertions."""
    obj.refresh_from_db()
    return [d["what"] for d in obj.decisions]


def decision(obj: Any, starting: str) -> dict[str, Any]:
    obj.refresh_from_db()
    found = [d for d in obj.decisions if d["what"].startswith(starting)]
    assert found, f"no decision starting {starting!r} in {[d['what'] for d in obj.decisions]}"
    return found[-1]
