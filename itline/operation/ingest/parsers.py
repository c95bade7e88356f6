"""The three wire formats, parsed into ``NormalizedEvent`` lists or refused whole with an
``IngestError`` naming the field (``alerts.3.labels.instance``).

* itline JSON: one event object or a list of them (docs/events.md);
* Alertmanager webhook payload version 4, as ``notify/webhook`` sends it (``groupKey``,
  ``receiver``, ``commonLabels`` … are ignored: each alert carries all it needs);
* PagerDuty Events API v2 (``routing_key``, ``event_action``, ``dedup_key``, ``payload``).

Bodies are parsed with orjson, which refuses invalid UTF-8 and lone surrogates."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson
from django.utils import timezone

from itline.operation.ingest import events as ev
from itline.operation.ingest.events import IngestError, NormalizedEvent


def load_json(body: bytes | str) -> Any:
    if not body.strip():
        raise IngestError("request", "the body is empty; send a JSON document", status=400)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise IngestError("request", f"the body is not valid JSON: {exc}", status=400) from None


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise IngestError(where, f"must be an object, not {ev._kind(value)}")
    return value


# --- itline JSON -------------------------------------------------------------------------------

ITLINE_FIELDS = frozenset(
    {
        "source",
        "fingerprint",
        "status",
        "severity",
        "name",
        "summary",
        "labels",
        "annotations",
        "starts_at",
        "ends_at",
        "generator_url",
        "component",
        "service",
    }
)


def parse_itline(
    body: Any, *, source_name: str | None = None, now: datetime | None = None
) -> list[NormalizedEvent]:
    """One event object or a list of them. ``source``, when given, must name the source the
    credential belongs to (the credential decides)."""
    clock = ev.Clock(now or timezone.now())
    data = load_json(body) if isinstance(body, bytes | str) else body
    if isinstance(data, dict):
        items, prefix = [data], ""
    elif isinstance(data, list):
        if not data:
            raise IngestError("request", "the list is empty; send at least one event")
        items, prefix = data, "{}."
    else:
        raise IngestError("request", "must be an event object or a list of event objects")
    out = []
    for index, item in enumerate(items):
        where = prefix.format(index)
        obj = _object(item, where.rstrip(".") or "request")
        unknown = set(obj) - ITLINE_FIELDS
        if unknown:
            name = sorted(unknown)[0]
            raise IngestError(
                f"{where}{ev._safe(name)}",
                "is not a field of an itline event; known: " + ", ".join(sorted(ITLINE_FIELDS)),
            )
        given_source = obj.get("source")
        if (
            given_source not in (None, "")
            and source_name is not None
            and given_source != source_name
        ):
            raise IngestError(
                f"{where}source",
                f"the credential belongs to source {source_name!r}, not {ev._safe(given_source)!r}",
            )
        status = obj.get("status", ev.FIRING)
        if status not in (ev.FIRING, ev.RESOLVED):
            raise IngestError(f"{where}status", "must be 'firing' or 'resolved'")
        lbls = ev.labels(obj.get("labels"), f"{where}labels")
        extra: dict[str, Any] = {}
        notes = ev.annotation_map(obj.get("annotations"), f"{where}annotations")
        link = ev.url(obj.get("generator_url"), f"{where}generator_url", extra)
        name = ev.text(obj.get("name") or lbls.get("alertname"), f"{where}name", length=ev.NAME_LEN)
        summary = ev.text(
            obj.get("summary") or notes.get("summary") or name,
            f"{where}summary",
            length=ev.SUMMARY_LEN,
        )
        fingerprint = ev.fingerprint(obj.get("fingerprint"), f"{where}fingerprint")
        if not lbls and not fingerprint:
            raise IngestError(
                f"{where}labels", "give labels or a fingerprint: they identify the alert"
            )
        starts = ev.timestamp(obj.get("starts_at"), f"{where}starts_at", clock=clock)
        ends = ev.timestamp(obj.get("ends_at"), f"{where}ends_at", clock=clock)
        if starts and ends and ends < starts:
            raise IngestError(f"{where}ends_at", "is before starts_at")
        out.append(
            NormalizedEvent(
                status=status,
                severity=ev.severity(obj.get("severity", "warning"), f"{where}severity"),
                name=name,
                summary=summary,
                labels=lbls,
                annotations={**notes, **extra},
                starts_at=starts,
                ends_at=ends,
                generator_url=link,
                component_hint=ev.text(obj.get("component"), f"{where}component", length=200),
                service_hint=ev.text(obj.get("service"), f"{where}service", length=200),
                fingerprint=fingerprint,
            )
        )
    return out


# --- Alertmanager webhook v4 --------------------------------------------------------------------


def parse_alertmanager(body: Any, *, now: datetime | None = None) -> list[NormalizedEvent]:
    """The webhook payload version 4. Severity comes from the ``severity`` label (warning when
    there is none), the name from ``alertname``, the summary from the ``summary`` (or
    ``description``) annotation."""
    clock = ev.Clock(now or timezone.now())
    data = _object(load_json(body) if isinstance(body, bytes | str) else body, "request")
    version = data.get("version", "4")
    if version != "4":
        raise IngestError(
            "version", f"payload version {ev._safe(version)!r} is not supported; 4 is"
        )
    alerts = data.get("alerts")
    if not isinstance(alerts, list):
        raise IngestError("alerts", "is required: the list of alerts")
    out = []
    for index, item in enumerate(alerts):
        where = f"alerts.{index}."
        obj = _object(item, f"alerts.{index}")
        status = obj.get("status")
        if status not in (ev.FIRING, ev.RESOLVED):
            raise IngestError(f"{where}status", "must be 'firing' or 'resolved'")
        lbls = ev.labels(obj.get("labels"), f"{where}labels")
        if not lbls:
            raise IngestError(f"{where}labels", "is required: the labels identify the alert")
        notes = ev.annotation_map(obj.get("annotations"), f"{where}annotations")
        extra: dict[str, Any] = {}
        link = ev.url(obj.get("generatorURL"), f"{where}generatorURL", extra)
        name = ev.text(lbls.get("alertname"), f"{where}labels.alertname", length=ev.NAME_LEN)
        summary_text = notes.get("summary") or notes.get("description") or name
        sev = lbls.get("severity")
        out.append(
            NormalizedEvent(
                status=status,
                severity=ev.severity(sev, f"{where}labels.severity") if sev else "warning",
                name=name,
                summary=ev.cut(
                    summary_text if isinstance(summary_text, str) else name, ev.SUMMARY_LEN
                ),
                labels=lbls,
                annotations={**notes, **extra},
                starts_at=ev.timestamp(
                    obj.get("startsAt"), f"{where}startsAt", clock=clock, zero_is_none=True
                ),
                ends_at=(
                    ev.timestamp(
                        obj.get("endsAt"), f"{where}endsAt", clock=clock, zero_is_none=True
                    )
                    if status == ev.RESOLVED
                    else None
                ),
                generator_url=link,
                fingerprint=ev.fingerprint(obj.get("fingerprint"), f"{where}fingerprint"),
            )
        )
    return out


# --- PagerDuty Events API v2 ---------------------------------------------------------------------

PD_ACTIONS = {"trigger": ev.FIRING, "resolve": ev.RESOLVED, "acknowledge": ev.ACKNOWLEDGED}
PD_DEDUP_LEN = 255


def pagerduty_routing_key(data: Any) -> str:
    """The routing key (the source's credential) of a parsed body, '' when there is none."""
    key = data.get("routing_key") if isinstance(data, dict) else None
    return key if isinstance(key, str) else ""


def parse_pagerduty(body: Any, *, now: datetime | None = None) -> list[NormalizedEvent]:
    """One event. ``trigger`` needs ``payload.summary``, ``payload.source`` and
    ``payload.severity``; a trigger without ``dedup_key`` gets a new one (returned to the
    caller, as PagerDuty does). ``payload.source`` is the component hint, ``payload.group``
    the service hint; source, component, group and class are the labels."""
    clock = ev.Clock(now or timezone.now())
    data = _object(load_json(body) if isinstance(body, bytes | str) else body, "request")
    if not pagerduty_routing_key(data):
        raise IngestError("routing_key", "is missing or blank")
    action = data.get("event_action")
    if action not in PD_ACTIONS:
        raise IngestError("event_action", "must be one of: trigger, acknowledge, resolve")
    dedup = data.get("dedup_key")
    if dedup is not None and not isinstance(dedup, str | int):
        raise IngestError("dedup_key", "must be a string")
    dedup = ev.no_nul(str(dedup), "dedup_key") if dedup not in (None, "") else ""
    if len(dedup) > PD_DEDUP_LEN:
        raise IngestError("dedup_key", f"must be at most {PD_DEDUP_LEN} characters")
    status = PD_ACTIONS[action]
    if status != ev.FIRING:
        if not dedup:
            raise IngestError("dedup_key", f"is required to {action} an alert")
        return [NormalizedEvent(status=status, dedup_key=dedup, labels={"dedup_key": dedup})]
    payload = _object(data.get("payload"), "payload")
    summary = ev.text(
        payload.get("summary"), "payload.summary", length=ev.SUMMARY_LEN, required=True
    )
    source = ev.text(payload.get("source"), "payload.source", length=255, required=True)
    sev = ev.severity(payload.get("severity"), "payload.severity")
    lbls = {"dedup_key": dedup or uuid.uuid4().hex, "source": source}
    for key in ("component", "group", "class"):
        value = ev.text(payload.get(key), f"payload.{key}", length=ev.MAX_LABEL_VALUE)
        if value:
            lbls[key] = value
    notes: dict[str, Any] = {}
    details = payload.get("custom_details")
    if details not in (None, "", {}):
        ev._deep_no_nul(details, "payload.custom_details")
        notes["custom_details"] = details
    for key in ("client", "links", "images"):
        if data.get(key) not in (None, "", []):
            ev._deep_no_nul(data[key], key)
            notes[key] = data[key]
    extra: dict[str, Any] = {}
    link = ev.url(data.get("client_url"), "client_url", extra)
    return [
        NormalizedEvent(
            status=ev.FIRING,
            severity=sev,
            name=ev.cut(lbls.get("class") or summary, ev.NAME_LEN),
            summary=summary,
            labels=lbls,
            annotations={**notes, **extra},
            starts_at=ev.timestamp(payload.get("timestamp"), "payload.timestamp", clock=clock),
            generator_url=link,
            component_hint=source,
            service_hint=lbls.get("group", ""),
            dedup_key=lbls["dedup_key"],
        )
    ]
