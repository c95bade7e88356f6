"""The change calendar as iCalendar (RFC 5545), for calendar clients subscribing to a filter.

Changes are one event each (their planned window, in UTC) from ``PAST`` ago to ``AHEAD``
ahead. Freeze and maintenance windows are one event per window: a recurring window carries
its RRULE with DTSTART in its own time zone (a VTIMEZONE is included), so clients expand it
exactly as itline does, 02:00 staying 02:00 across DST."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django.utils import timezone

from itline.transition.change_calendar import (
    CalendarFilter,
    changes_between,
    freeze_entries,
    maintenance_entries,
)
from itline.transition.choices import ChangeStatus

PAST = dt.timedelta(days=90)
AHEAD = dt.timedelta(days=400)
PRODID = "-//itline//change calendar//EN"
CONFIRMED = {
    ChangeStatus.APPROVED,
    ChangeStatus.SCHEDULED,
    ChangeStatus.IMPLEMENTING,
    ChangeStatus.IMPLEMENTED,
    ChangeStatus.IN_REVIEW,
    ChangeStatus.CLOSED,
}


def _abs(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path if path else ""


def change_calendar_ics(
    flt: CalendarFilter | None = None, *, base_url: str = "", now: dt.datetime | None = None
) -> Any:
    """An ``icalendar.Calendar`` of the change calendar under ``flt``."""
    from icalendar import Calendar, Event

    flt = flt or CalendarFilter()
    now = now or timezone.now()
    start, end = now - PAST, now + AHEAD
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    name = "itline changes" + "".join(f" · {v}" for v in flt.query().values())
    cal.add("x-wr-calname", name)
    stamp = now.astimezone(dt.UTC)
    node_ids = flt.node_ids()

    for change in changes_between(start, end, flt, node_ids).iterator(chunk_size=500):
        assert change.planned_start and change.planned_end
        event = Event()
        event.add("uid", f"{change.reference}@itline")
        event.add("dtstamp", stamp)
        event.add("dtstart", change.planned_start.astimezone(dt.UTC))
        event.add("dtend", change.planned_end.astimezone(dt.UTC))
        event.add(
            "summary",
            f"{change.reference} {change.title} [{change.effective_risk} risk]",
        )
        event.add(
            "description",
            f"{change.get_change_type_display()} change, {change.get_status_display().lower()}, "
            f"{change.effective_risk} risk."
            + (f" Function: {change.function.name}." if change.function else ""),
        )
        event.add("categories", ["Change", f"Risk {change.effective_risk}"])
        event.add("status", "CONFIRMED" if change.status in CONFIRMED else "TENTATIVE")
        event.add("last-modified", change.updated_at.astimezone(dt.UTC))
        url = _abs(base_url, change.get_absolute_url())
        if url:
            event.add("url", url)
        cal.add_component(event)

    seen: set[tuple[str, int]] = set()
    windows = [("freeze", e.obj) for e in freeze_entries(start, end, node_ids)]
    windows += [("maintenance", e.obj) for e in maintenance_entries(start, end, node_ids)]
    for kind, window in windows:
        if (kind, window.pk) in seen:
            continue
        seen.add((kind, window.pk))
        cal.add_component(_window_event(kind, window, stamp, base_url))
    cal.add_missing_timezones()
    return cal


def _window_event(kind: str, window: Any, stamp: dt.datetime, base_url: str) -> Any:
    from icalendar import Event

    event = Event()
    event.add("uid", f"{window.reference}@itline")
    event.add("dtstamp", stamp)
    if window.rrule:
        from itline.core.rrule import ics_rrule

        zone = zoneinfo.ZoneInfo(window.time_zone)
        event.add("dtstart", window.starts_at.astimezone(zone))
        event.add("dtend", window.ends_at.astimezone(zone))
        event.add("rrule", ics_rrule(window.rrule, window.time_zone))
    else:
        event.add("dtstart", window.starts_at.astimezone(dt.UTC))
        event.add("dtend", window.ends_at.astimezone(dt.UTC))
    if kind == "freeze":
        event.add("summary", f"Change freeze: {window.title}")
        event.add("description", window.reason or "No changes except emergencies.")
        event.add("categories", ["Freeze"])
    else:
        event.add("summary", f"Maintenance: {window.title}")
        event.add("description", window.description or "Planned maintenance.")
        event.add("categories", ["Maintenance"])
        event.add("transp", "TRANSPARENT")
    try:
        url = _abs(base_url, window.get_absolute_url())
    except Exception:
        url = ""
    if url:
        event.add("url", url)
    return event
