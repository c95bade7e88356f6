"""What every parser produces and every check an event passes before it reaches the store.

The store trusts what comes out of here (no ``full_clean`` per alert on the hot path), so the
checks the model would make are made once, here, in plain Python: severities from one alias
table, timestamps within the configured past/future bounds, no NUL (PostgreSQL text cannot
hold it), label keys and values within their limits (labels are the alert's identity, so a
too-long label is refused, never cut), and display texts (summary, name, annotations) cut to
what their columns hold."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from django.conf import settings

from itline.operation.models.alerts import Severity

FIRING = "firing"
RESOLVED = "resolved"
# PagerDuty's "acknowledge": the alert keeps firing, the sender says someone is on it.
ACKNOWLEDGED = "acknowledged"
STATUSES = (FIRING, RESOLVED, ACKNOWLEDGED)

# Every spelling a monitoring system uses, to the four itline knows. One table on purpose:
# the docs list it, and an unknown spelling is a 422 naming it (never a silent default).
SEVERITY_ALIASES: dict[str, str] = {
    "critical": Severity.CRITICAL,
    "crit": Severity.CRITICAL,
    "fatal": Severity.CRITICAL,
    "emergency": Severity.CRITICAL,
    "emerg": Severity.CRITICAL,
    "alert": Severity.CRITICAL,
    "page": Severity.CRITICAL,
    "p1": Severity.CRITICAL,
    "disaster": Severity.CRITICAL,
    "error": Severity.ERROR,
    "err": Severity.ERROR,
    "high": Severity.ERROR,
    "major": Severity.ERROR,
    "p2": Severity.ERROR,
    "warning": Severity.WARNING,
    "warn": Severity.WARNING,
    "medium": Severity.WARNING,
    "average": Severity.WARNING,
    "minor": Severity.WARNING,
    "p3": Severity.WARNING,
    "info": Severity.INFO,
    "informational": Severity.INFO,
    "information": Severity.INFO,
    "notice": Severity.INFO,
    "low": Severity.INFO,
    "none": Severity.INFO,
    "ok": Severity.INFO,
    "debug": Severity.INFO,
    "p4": Severity.INFO,
    "p5": Severity.INFO,
}
SEVERITY_NAMES = ", ".join(sorted(SEVERITY_ALIASES))

MAX_LABELS = 128
MAX_LABEL_KEY = 256
MAX_LABEL_VALUE = 2048
MAX_ANNOTATION_VALUE = 16384
MAX_FINGERPRINT = 64
SUMMARY_LEN = 1024
NAME_LEN = 200
URL_LEN = 1000
ELLIPSIS = "…"


class IngestError(ValueError):
    """A request the store must refuse as a whole; ``field`` says where (``alerts.3.labels``)."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.status = status


@dataclass(slots=True)
class NormalizedEvent:
    """One event in itline's terms, whatever format it arrived in.

    ``fingerprint`` empty: the store computes one from the source and ``dedup_key`` (when
    given, PagerDuty) or else the sorted labels. ``severity`` empty: the event only updates an
    alert that exists (PagerDuty resolve/acknowledge carry no payload); such an event for an
    unknown alert is ignored."""

    status: str
    severity: str = ""
    name: str = ""
    summary: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, Any] = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str = ""
    component_hint: str = ""
    service_hint: str = ""
    fingerprint: str = ""
    dedup_key: str = ""


# --- checks used by the parsers --------------------------------------------------------------


def cut(text: str, length: int) -> str:
    """``text`` within ``length`` characters; a cut is marked with an ellipsis."""
    return text if len(text) <= length else text[: length - 1] + ELLIPSIS


def no_nul(value: str, where: str) -> str:
    if "\x00" in value:
        raise IngestError(where, "must not contain the NUL character (\\u0000)")
    return value


def text(value: Any, where: str, *, length: int, required: bool = False) -> str:
    """A display text: a string (numbers are accepted as their text), NUL refused, cut to
    ``length``."""
    if value is None or value == "":
        if required:
            raise IngestError(where, "is required")
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise IngestError(where, f"must be a string, not {_kind(value)}")
    return cut(no_nul(str(value), where), length)


def severity(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise IngestError(where, f"is required; one of: {SEVERITY_NAMES}")
    found = SEVERITY_ALIASES.get(value.strip().lower())
    if found is None:
        shown = cut(value.replace("\x00", "\\u0000"), 40)
        raise IngestError(where, f"unknown severity {shown!r}; use one of: {SEVERITY_NAMES}")
    return str(found)


def labels(value: Any, where: str) -> dict[str, str]:
    """Label keys and values: strings (numbers and booleans taken as their text), within the
    limits, no NUL. Refused rather than cut: labels are the alert's identity."""
    if value is None:
        return {}
    if type(value) is not dict:
        raise IngestError(where, f"must be an object of strings, not {_kind(value)}")
    if len(value) > MAX_LABELS:
        raise IngestError(where, f"has {len(value)} labels; at most {MAX_LABELS} are allowed")
    # The common case (short strings) costs one pass of cheap checks; the error paths below
    # say precisely what is wrong.
    for key, item in value.items():
        if (
            type(item) is not str
            or not key
            or len(key) > MAX_LABEL_KEY
            or len(item) > MAX_LABEL_VALUE
            or "\x00" in key
            or "\x00" in item
        ):
            return _slow_labels(value, where)
    return value


def _slow_labels(value: dict[str, Any], where: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, item in value.items():
        here = f"{where}.{_safe(key)}"
        if not key or len(key) > MAX_LABEL_KEY:
            raise IngestError(here, f"label names must have 1 to {MAX_LABEL_KEY} characters")
        no_nul(key, here)
        if isinstance(item, str):
            pass
        elif isinstance(item, bool):
            item = "true" if item else "false"
        elif isinstance(item, int | float):
            item = str(item)
        else:
            raise IngestError(here, f"must be a string, not {_kind(item)}")
        if len(item) > MAX_LABEL_VALUE:
            raise IngestError(
                here, f"is {len(item)} characters long; label values may have {MAX_LABEL_VALUE}"
            )
        out[key] = no_nul(item, here)
    return out


def annotation_map(value: Any, where: str) -> dict[str, Any]:
    """Free texts beside the labels; long values are cut, NUL refused anywhere inside."""
    if value is None:
        return {}
    if type(value) is not dict:
        raise IngestError(where, f"must be an object, not {_kind(value)}")
    for key, item in value.items():
        if (
            type(item) is not str
            or len(item) > MAX_ANNOTATION_VALUE
            or len(key) > MAX_LABEL_KEY
            or "\x00" in key
            or "\x00" in item
        ):
            break
    else:
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        here = f"{where}.{_safe(key)}"
        no_nul(key, here)
        if isinstance(item, str):
            out[cut(key, MAX_LABEL_KEY)] = cut(no_nul(item, here), MAX_ANNOTATION_VALUE)
        else:
            _deep_no_nul(item, here)
            out[cut(key, MAX_LABEL_KEY)] = item
    return out


def _deep_no_nul(value: Any, where: str) -> None:
    if isinstance(value, str):
        no_nul(value, where)
    elif isinstance(value, dict):
        for key, item in value.items():
            no_nul(str(key), where)
            _deep_no_nul(item, f"{where}.{_safe(key)}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _deep_no_nul(item, f"{where}.{index}")


def fingerprint(value: Any, where: str) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise IngestError(where, f"must be a string, not {_kind(value)}")
    if len(value) > MAX_FINGERPRINT or not value.isprintable():
        raise IngestError(
            where, f"must be 1 to {MAX_FINGERPRINT} printable characters (or left out)"
        )
    return value


ZERO_TIME = datetime(1, 1, 1, tzinfo=UTC)


class Clock:
    """``now`` and the accepted range of event times, read from the settings once per
    request (not per event)."""

    __slots__ = ("days", "future", "latest", "now", "oldest")

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.future = int(getattr(settings, "EVENTS_MAX_FUTURE_SECONDS", 900))
        self.days = int(getattr(settings, "EVENTS_MAX_AGE_DAYS", 365))
        self.latest = now + timedelta(seconds=self.future)
        self.oldest = now - timedelta(days=self.days)


def timestamp(
    value: Any, where: str, *, clock: Clock, zero_is_none: bool = False
) -> datetime | None:
    """An RFC 3339 / ISO 8601 time (a time without zone is UTC) or Unix seconds, in UTC,
    refused when further in the future or past than the settings allow. Go's zero time
    ``0001-01-01T00:00:00Z`` is Alertmanager's "none"."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise IngestError(where, "must be a time such as 2025-01-31T12:00:00Z")
    try:
        if type(value) is str:
            parsed = datetime.fromisoformat(value)
        elif isinstance(value, int | float):
            parsed = datetime.fromtimestamp(value, UTC)
        else:
            raise TypeError
    except (TypeError, ValueError, OverflowError, OSError):
        shown = cut(str(value).replace("\x00", "\\u0000"), 40)
        raise IngestError(where, f"{shown!r} is not a time such as 2025-01-31T12:00:00Z") from None
    tz = parsed.tzinfo
    if tz is not UTC:
        parsed = parsed.replace(tzinfo=UTC) if tz is None else parsed.astimezone(UTC)
    if zero_is_none and parsed == ZERO_TIME:
        return None
    if parsed > clock.latest:
        raise IngestError(
            where,
            f"{value!s:.40} is more than {clock.future} seconds in the future (check the clock)",
        )
    if parsed < clock.oldest:
        raise IngestError(where, f"{value!s:.40} is more than {clock.days} days in the past")
    return parsed


def url(value: Any, where: str, extra: dict[str, Any]) -> str:
    """The link back to the sender; a link longer than the column keeps whole in
    ``annotations.generator_url`` (a cut link would lead somewhere else)."""
    link = text(value, where, length=10**9)
    if len(link) > URL_LEN:
        extra["generator_url"] = link
        return ""
    return link


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "a boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _safe(key: Any) -> str:
    return cut(str(key).replace("\x00", "\\u0000"), 80)


# --- fingerprints ----------------------------------------------------------------------------


def computed_fingerprint(source_id: int, event: NormalizedEvent) -> str:
    """Stable per source: from the dedup key when the sender gave one, else from the sorted
    labels (as Alertmanager does). 32 hex characters."""
    if event.dedup_key:
        material = b"k\x1f" + event.dedup_key.encode()
    else:
        material = b"l\x1f" + orjson.dumps(event.labels, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.blake2b(material, digest_size=16, key=str(source_id).encode())
    return digest.hexdigest()
