"""Builders for tests of the alert pages (like itline.operation.testing): alerts with their
history written directly, as ingestion would have left them, so a page test states exactly
the alerts it shows without running ingestion and correlation."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from itline.operation.models.alerts import (
    Alert,
    AlertGroup,
    AlertStatus,
    AlertTransition,
    EventSource,
    EventSourceKind,
    Severity,
)


def make_source(name: str = "prometheus", kind: str = EventSourceKind.ALERTMANAGER) -> EventSource:
    source = EventSource(name=name, kind=kind)
    source.new_secret()
    source.save()
    return source


def make_alert(
    source: EventSource,
    name: str,
    *,
    severity: str = Severity.ERROR,
    component: Any = None,
    service: Any = None,
    labels: dict[str, str] | None = None,
    history: list[tuple[str, datetime]] | None = None,
    group: AlertGroup | None = None,
    **fields: Any,
) -> Alert:
    """An alert whose state is the last of ``history`` (default: firing since 10 minutes),
    with one AlertTransition row per entry."""
    now = timezone.now()
    history = history or [(AlertStatus.FIRING, now - timedelta(minutes=10))]
    labels = labels if labels is not None else {"alertname": name}
    status, changed = history[-1]
    fingerprint = hashlib.sha256(
        f"{source.pk}:{name}:{sorted(labels.items())}".encode()
    ).hexdigest()[:32]
    alert = Alert.objects.create(
        fingerprint=fingerprint,
        source=source,
        name=name,
        status=status,
        severity=severity,
        summary=fields.pop("summary", f"{name} on {getattr(component, 'name', 'somewhere')}"),
        labels=labels,
        component=component,
        service=service,
        group=group,
        starts_at=history[0][1],
        ends_at=changed if status == AlertStatus.RESOLVED else None,
        first_seen_at=history[0][1],
        last_seen_at=max(changed, now - timedelta(seconds=30)),
        changed_at=changed,
        transitions=len(history),
        **fields,
    )
    AlertTransition.objects.bulk_create(
        AlertTransition(
            alert=alert,
            status=st,
            severity=severity,
            at=at,
            received_at=at,
            component=component,
            service=service,
            summary=alert.summary,
        )
        for st, at in history
    )
    return alert


def make_group(title: str, *alerts: Alert, probable_cause: Any = None, **fields: Any) -> AlertGroup:
    worst = min(alerts, key=lambda a: list(Severity.values).index(a.severity)) if alerts else None
    group = AlertGroup(
        title=title,
        severity=fields.pop("severity", worst.severity if worst else Severity.ERROR),
        probable_cause=probable_cause,
        firing_count=sum(1 for a in alerts if a.status == AlertStatus.FIRING),
        alert_count=len(alerts),
        **fields,
    )
    group.save()
    Alert.objects.filter(pk__in=[a.pk for a in alerts]).update(group=group)
    for alert in alerts:
        alert.group = group
    return group
