"""Builders for tests that send events: a source with its credential, payloads in each wire
format, and the POST itself through Django's test client."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from django.utils import timezone

from itline.operation.ingest import config
from itline.operation.models import EventSource


def make_source(
    name: str = "prometheus", kind: str = "alertmanager", auth: str = "token"
) -> tuple[EventSource, str]:
    """A source and its secret (token, routing key or HMAC secret)."""
    return config.create_source(by=None, name=name, kind=kind, auth=auth)


def iso(value: datetime | None = None) -> str:
    return (value or timezone.now()).isoformat().replace("+00:00", "Z")


def am_alert(
    alertname: str = "HighLatency",
    *,
    status: str = "firing",
    instance: str = "web-01:9100",
    severity: str | None = "critical",
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    fingerprint: str | None = None,
    **labels: str,
) -> dict[str, Any]:
    """One alert as Alertmanager puts it in a webhook payload."""
    all_labels = {"alertname": alertname, "instance": instance, **labels}
    if severity is not None:
        all_labels["severity"] = severity
    alert = {
        "status": status,
        "labels": all_labels,
        "annotations": {"summary": f"{alertname} on {instance}"},
        "startsAt": iso(starts_at),
        "endsAt": iso(ends_at) if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
    }
    if fingerprint is not None:
        alert["fingerprint"] = fingerprint
    return alert


def am_payload(*alerts: dict[str, Any]) -> dict[str, Any]:
    """The webhook body version 4 around ``alerts``."""
    return {
        "receiver": "itline",
        "status": "resolved" if all(a["status"] == "resolved" for a in alerts) else "firing",
        "alerts": list(alerts),
        "groupLabels": {"alertname": alerts[0]["labels"].get("alertname", "")} if alerts else {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": '{}:{alertname="HighLatency"}',
        "truncatedAlerts": 0,
    }


def post(client: Any, path: str, body: Any, token: str | None = None, **headers: str) -> Any:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    if token is not None:
        headers.setdefault("Authorization", f"Bearer {token}")
    return client.post(path, raw, content_type="application/json", headers=headers)
