"""The maintenance calendar as iCalendar (RFC 5545), for calendar clients to subscribe to.

A recurring window is one VEVENT with its RRULE and a DTSTART in the window's own time zone
(TZID plus the VTIMEZONE definition), so the client expands it in that wall clock exactly as
``itline.core.rrule.occurrences`` does: 02:00 stays 02:00 across DST. Work orders are VEVENTs
ending at their due time (calendar clients show VEVENTs; many ignore VTODOs). UIDs are the
record references at the site's domain, so an edit updates the client's copy instead of adding
one."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from icalendar import Calendar, Event, vRecur

from itline.core.rrule import ics_rrule
from itline.operation.models import MaintenanceWindow, WorkOrder
from itline.operation.models.maintenance import WorkOrderStatus

PRODID = "-//itline//maintenance//EN"
WORK_ORDER_PAST_DAYS = 90


def _domain() -> str:
    return str(getattr(settings, "MAIL_DOMAIN", "") or "itline.local")


def uid(record: Any) -> str:
    return f"{record.reference}@{_domain()}"


def _site(path: str) -> str:
    return f"{str(getattr(settings, 'SITE_URL', '')).rstrip('/')}{path}"


def window_event(window: MaintenanceWindow) -> Event:
    zone = zoneinfo.ZoneInfo(window.time_zone)
    event = Event()
    event.add("uid", uid(window))
    event.add("summary", f"Maintenance: {window.title}")
    event.add("dtstart", window.starts_at.astimezone(zone))
    # DURATION, not DTEND: every occurrence lasts the same elapsed time (RFC 5545 3.3.6,
    # "exact" durations), also on the nights the clocks change.
    event.add("duration", window.ends_at - window.starts_at)
    event.add("dtstamp", window.updated_at)
    event.add("last-modified", window.updated_at)
    event.add("categories", ["Maintenance window"])
    event.add("transp", "OPAQUE")
    if window.rrule:
        event.add("rrule", vRecur(ics_rrule(window.rrule, window.time_zone)))
    nodes = ", ".join(sorted(n.name for n in window.nodes.all()))
    lines = [f"{window.reference} on {nodes}"]
    if window.include_dependencies:
        lines.append("Also covers what these run on.")
    if window.description:
        lines += ["", window.description]
    event.add("description", "\n".join(lines))
    event.add("url", _site(window.get_absolute_url()))
    return event


_STATUS = {
    WorkOrderStatus.OPEN: "CONFIRMED",
    WorkOrderStatus.IN_PROGRESS: "CONFIRMED",
    WorkOrderStatus.DONE: "CONFIRMED",
    WorkOrderStatus.CANCELLED: "CANCELLED",
}


def work_order_event(work_order: WorkOrder) -> Event:
    minutes = work_order.plan.estimated_minutes if work_order.plan else 60
    event = Event()
    event.add("uid", uid(work_order))
    state = {WorkOrderStatus.DONE: "done", WorkOrderStatus.CANCELLED: "cancelled"}.get(
        work_order.status  # type: ignore[call-overload]
    )
    summary = f"{work_order.reference} {work_order.title}"
    event.add("summary", f"{summary} ({state})" if state else summary)
    event.add("dtstart", work_order.due_at - timedelta(minutes=max(minutes, 15)))
    event.add("dtend", work_order.due_at)
    event.add("dtstamp", work_order.updated_at)
    event.add("last-modified", work_order.updated_at)
    event.add("status", _STATUS[work_order.status])  # type: ignore[index]
    event.add("categories", ["Work order"])
    event.add("transp", "TRANSPARENT")
    nodes = ", ".join(sorted(n.name for n in work_order.nodes.all()))
    lines = [f"Due {work_order.due_at:%Y-%m-%d %H:%M} UTC, {work_order.function}"]
    if nodes:
        lines.append(f"On: {nodes}")
    if work_order.checklist:
        lines += [
            "",
            *(("[x] " if i.get("done") else "[ ] ") + i["text"] for i in work_order.checklist),
        ]
    event.add("description", "\n".join(lines))
    event.add("url", _site(work_order.get_absolute_url()))
    return event


def build_calendar(
    *,
    name: str,
    windows: Iterable[MaintenanceWindow],
    work_orders: Iterable[WorkOrder],
) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", name)
    cal.add("refresh-interval", timedelta(minutes=15), parameters={"VALUE": "DURATION"})
    for window in windows:
        cal.add_component(window_event(window))
    for work_order in work_orders:
        cal.add_component(work_order_event(work_order))
    cal.add_missing_timezones()
    return cal


def feed(*, function: Any = None, service: Any = None, now: datetime | None = None) -> Calendar:
    """The maintenance calendar, optionally for one function (its windows and work orders) or
    one service (windows covering it or anything it runs on; work orders on those nodes)."""
    from itline.cmdb.impact import impact
    from itline.operation import maintenance

    moment = now or timezone.now()
    windows = (
        MaintenanceWindow.objects.filter(active=True)
        .select_related("function")
        .prefetch_related("nodes")
        .order_by("starts_at", "id")
    )
    work_orders = (
        WorkOrder.objects.filter(due_at__gte=moment - timedelta(days=WORK_ORDER_PAST_DAYS))
        .select_related("function", "plan")
        .prefetch_related("nodes")
        .order_by("due_at", "id")
    )
    names = []
    if function is not None:
        windows = windows.filter(function=function)
        work_orders = work_orders.filter(function=function)
        names.append(str(function))
    if service is not None:
        scope = {int(i) for i in impact([service.pk], "down").node_ids.tolist()} | {service.pk}
        wanted = [w for w in windows if maintenance.coverage_of(w.pk) & scope]
        work_orders = work_orders.filter(nodes__in=scope).distinct()
        names.append(str(service))
        return build_calendar(
            name=f"Maintenance: {' / '.join(names)}", windows=wanted, work_orders=work_orders
        )
    return build_calendar(
        name="Maintenance" + (f": {' / '.join(names)}" if names else ""),
        windows=windows,
        work_orders=work_orders,
    )
