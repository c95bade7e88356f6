"""Recurrence rules (RFC 5545 ``RRULE``) for windows and plans: validation with messages a
person can act on, and expansion into occurrences.

Wall clock. A rule is expanded in the local time of its time zone, not in UTC: "every Sunday
02:00-04:00 in Europe/Amsterdam" stays 02:00 local when the clocks change, so its UTC start
moves by an hour twice a year. Each occurrence lasts exactly ``ends_at - starts_at`` (elapsed
time). A local start that does not exist (02:30 on the spring-forward night) is read with the
offset before the gap, so it starts at 03:30 local, as RFC 5545 section 3.3.5 prescribes; an
ambiguous one (the repeated hour in autumn) is the first of the two.

Bounds. dateutil expands lazily but a rule that can never match (``FREQ=DAILY;BYMONTH=2;
BYMONTHDAY=30``) makes it walk day by day to the year 9999 (seconds of CPU). Validation probes
the rule 400 years before dateutil's end of time -- the Gregorian calendar repeats every 400
years, so weekdays and leap years are the same there -- where such a walk is short, and refuses
rules without an occurrence. Sub-hourly frequencies and huge counts are refused too, and one
expansion returns at most ``MAX_OCCURRENCES``."""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from dateutil.rrule import rrule as DateutilRule
from dateutil.rrule import rrulestr
from django.core.exceptions import ValidationError

MAX_COUNT = 10_000
MAX_INTERVAL = 1_000
MAX_OCCURRENCES = 10_000
ALLOWED_FREQS = ("YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY")
_UNTIL = re.compile(r"UNTIL=(\d{8})(T(\d{6}))?(Z)?", re.IGNORECASE)
_PROBE_START = datetime(2026, 1, 1, 0, 0)


class TooManyOccurrences(ValueError):
    """The asked range would expand to more than ``MAX_OCCURRENCES`` occurrences."""


def normalize_rrule(text: str) -> str:
    """The rule as stored: upper case, without an ``RRULE:`` prefix or spaces."""
    text = (text or "").strip().replace(" ", "")
    if text.upper().startswith("RRULE:"):
        text = text[len("RRULE:") :]
    return text.upper()


def _parts(text: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for chunk in text.split(";"):
        if not chunk:
            continue
        key, sep, value = chunk.partition("=")
        if not sep or not key or not value:
            raise ValidationError(f"{chunk!r} is not a NAME=VALUE part of a rule.")
        if key in parts:
            raise ValidationError(f"{key} is given twice.")
        parts[key] = value
    return parts


def _local_until(text: str, tz: zoneinfo.ZoneInfo) -> str:
    """Rewrite a UTC ``UNTIL=...Z`` into the local wall time of ``tz`` (dateutil needs UNTIL
    and DTSTART both naive: we expand naive local times)."""

    def local(match: re.Match[str]) -> str:
        if not match.group(4):
            return match.group(0)
        moment = datetime.strptime(match.group(1) + (match.group(3) or "000000"), "%Y%m%d%H%M%S")
        wall = moment.replace(tzinfo=UTC).astimezone(tz).replace(tzinfo=None)
        return f"UNTIL={wall:%Y%m%dT%H%M%S}"

    return _UNTIL.sub(local, text)


@lru_cache(maxsize=2048)
def _rule(text: str, tz_name: str, dtstart: datetime) -> DateutilRule:
    """The dateutil rule over naive local times from ``dtstart`` (naive local)."""
    tz = zoneinfo.ZoneInfo(tz_name)
    try:
        rule = rrulestr(_local_until(text, tz), dtstart=dtstart, cache=False)
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValidationError(f"This is not a valid recurrence rule: {exc}.") from None
    if not isinstance(rule, DateutilRule):  # an RRULE set (several lines) would be an rruleset
        raise ValidationError("Give one RRULE, e.g. FREQ=WEEKLY;BYDAY=SU.")
    return rule


def validate_rrule(text: str) -> None:
    """Raise ``ValidationError`` naming what is wrong with ``text`` as a single RRULE; returns
    quietly for a rule we can expand in bounded time."""
    rule_text = normalize_rrule(text)
    if not rule_text:
        raise ValidationError("Give a recurrence rule, e.g. FREQ=WEEKLY;BYDAY=SU.")
    if "\n" in rule_text or ":" in rule_text:
        raise ValidationError(
            "Give only the RRULE value (e.g. FREQ=WEEKLY;BYDAY=SU); "
            "DTSTART, EXDATE and RDATE lines are not supported here."
        )
    parts = _parts(rule_text)
    freq = parts.get("FREQ")
    if not freq:
        raise ValidationError("The rule needs a FREQ, e.g. FREQ=WEEKLY.")
    if freq not in ALLOWED_FREQS:
        raise ValidationError(f"FREQ={freq} is not allowed; use one of {', '.join(ALLOWED_FREQS)}.")
    if "COUNT" in parts and "UNTIL" in parts:
        raise ValidationError("Give COUNT or UNTIL, not both.")
    for key, limit in (("COUNT", MAX_COUNT), ("INTERVAL", MAX_INTERVAL)):
        if key in parts and not (parts[key].isdigit() and 1 <= int(parts[key]) <= limit):
            raise ValidationError(f"{key} must be a whole number from 1 to {limit}.")
    rule = _rule(rule_text, "UTC", _PROBE_START)
    # Probe for "can this rule ever match" near the end of dateutil's calendar, where a rule
    # without matches gives up after a short walk instead of one to the year 9999.
    probe_start = _PROBE_START.replace(year=_PROBE_START.year + 400 * 19)
    probe = rule.replace(dtstart=probe_start, count=None, until=None)
    if next(iter(probe), None) is None:
        raise ValidationError("This rule never produces an occurrence (check BYMONTH/BYMONTHDAY).")


def _naive_local(moment: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("Give aware datetimes.")
    return moment.astimezone(tz).replace(tzinfo=None)


def _aware(local: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    """A naive local time as an aware UTC datetime (gap: offset before it; fold: first)."""
    return local.replace(tzinfo=tz).astimezone(UTC)


def occurrences(
    starts_at: datetime,
    ends_at: datetime,
    rrule: str,
    tz: str,
    start: datetime,
    end: datetime,
) -> list[tuple[datetime, datetime]]:
    """Every occurrence ``(start, end)`` (aware, UTC) of the window ``starts_at``-``ends_at``
    repeated by ``rrule`` in the wall clock of ``tz`` that overlaps ``[start, end)``, in order.
    An empty ``rrule`` is a one-off. Raises ``TooManyOccurrences`` past ``MAX_OCCURRENCES``
    and ``ValidationError`` for an invalid rule."""
    duration = ends_at - starts_at
    if start >= end or duration <= timedelta(0):
        return []
    if not (rrule or "").strip():
        if starts_at < end and ends_at > start:
            return [(starts_at.astimezone(UTC), ends_at.astimezone(UTC))]
        return []
    zone = zoneinfo.ZoneInfo(tz)
    rule = _rule(normalize_rrule(rrule), tz, _naive_local(starts_at, zone))
    # An occurrence overlaps [start, end) iff it starts in (start - duration, end). Search a
    # day wider in local time (offsets differ by hours at most), then filter exactly in UTC.
    slack = timedelta(days=1)
    low = _naive_local(start - duration, zone) - slack
    high = _naive_local(end, zone) + slack
    found: list[tuple[datetime, datetime]] = []
    for local in rule.xafter(low, inc=True):
        if local > high:
            break
        begins = _aware(local, zone)
        if begins < end and begins + duration > start:
            if len(found) >= MAX_OCCURRENCES:
                raise TooManyOccurrences(
                    f"More than {MAX_OCCURRENCES} occurrences in the asked range; ask a shorter one."
                )
            found.append((begins, begins + duration))
    return found


def last_occurrence_end(
    starts_at: datetime, ends_at: datetime, rrule: str, tz: str
) -> datetime | None:
    """The end of the last occurrence, or None for an endless rule (no COUNT/UNTIL)."""
    if not (rrule or "").strip():
        return ends_at.astimezone(UTC)
    text = normalize_rrule(rrule)
    parts = _parts(text)
    if "COUNT" not in parts and "UNTIL" not in parts:
        return None
    zone = zoneinfo.ZoneInfo(tz)
    rule = _rule(text, tz, _naive_local(starts_at, zone))
    last = None
    for local in rule:  # bounded: COUNT <= MAX_COUNT, UNTIL ends the walk
        last = local
    if last is None:
        return None if "COUNT" not in parts else ends_at.astimezone(UTC)
    return _aware(last, zone) + (ends_at - starts_at)


def first_occurrence(starts_at: datetime, rrule: str, tz: str) -> datetime | None:
    """The first occurrence's start (None when the rule yields nothing from ``starts_at``)."""
    if not (rrule or "").strip():
        return starts_at.astimezone(UTC)
    zone = zoneinfo.ZoneInfo(tz)
    rule = _rule(normalize_rrule(rrule), tz, _naive_local(starts_at, zone))
    local = next(iter(rule), None)
    return None if local is None else _aware(local, zone)


def ics_rrule(rrule: str, tz: str) -> dict[str, Any]:
    """The rule as an ``icalendar`` vRecur mapping, with a local UNTIL turned into UTC (RFC
    5545: with a TZID'd DTSTART, UNTIL must be given in UTC)."""
    from icalendar import vRecur

    text = normalize_rrule(rrule)
    zone = zoneinfo.ZoneInfo(tz)

    def utc(match: re.Match[str]) -> str:
        if match.group(4):
            return match.group(0)
        local = datetime.strptime(match.group(1) + (match.group(3) or "000000"), "%Y%m%d%H%M%S")
        return f"UNTIL={_aware(local, zone):%Y%m%dT%H%M%SZ}"

    return dict(vRecur.from_ical(_UNTIL.sub(utc, text)))


def describe(rrule: str) -> str:
    """A short English reading of common rules ("weekly on SU", "monthly on day 1")."""
    if not (rrule or "").strip():
        return "once"
    try:
        parts = _parts(normalize_rrule(rrule))
    except ValidationError:
        return rrule
    freq = parts.get("FREQ", "").lower()
    interval = parts.get("INTERVAL", "1")
    words = [freq if interval == "1" else f"every {interval} {_UNITS.get(freq, freq)}"]
    if "BYDAY" in parts:
        words.append("on " + ", ".join(_DAYS.get(d[-2:], d) for d in parts["BYDAY"].split(",")))
        if parts["BYDAY"][0] in "+-0123456789":
            words[-1] = "on the " + ", ".join(
                f"{d[:-2]} {_DAYS.get(d[-2:], d)}" for d in parts["BYDAY"].split(",")
            )
    if "BYMONTHDAY" in parts:
        words.append(f"on day {parts['BYMONTHDAY']}")
    if "BYMONTH" in parts:
        words.append(f"in month {parts['BYMONTH']}")
    if "COUNT" in parts:
        words.append(f"{parts['COUNT']} times")
    if "UNTIL" in parts:
        words.append(f"until {parts['UNTIL'][:4]}-{parts['UNTIL'][4:6]}-{parts['UNTIL'][6:8]}")
    return " ".join(words)


_UNITS = {
    "yearly": "years",
    "monthly": "months",
    "weekly": "weeks",
    "daily": "days",
    "hourly": "hours",
}
_DAYS = {"MO": "Mon", "TU": "Tue", "WE": "Wed", "TH": "Thu", "FR": "Fri", "SA": "Sat", "SU": "Sun"}

__all__ = [
    "MAX_OCCURRENCES",
    "TooManyOccurrences",
    "describe",
    "first_occurrence",
    "ics_rrule",
    "last_occurrence_end",
    "normalize_rrule",
    "occurrences",
    "validate_rrule",
]
