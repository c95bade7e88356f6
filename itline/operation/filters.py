"""What the service desk lists filter by: the agent queues (mine, my functions', unassigned,
breaching soon, major), filter chips for incidents and service requests, and date ranges.
Shared by the pages; each filter is a ``Q`` so queue, chips and free text combine in SQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.utils import timezone

from itline.cmdb.models import Component, Service
from itline.core.listing import Filter
from itline.operation.choices import (
    INCIDENT_OPEN_ORDERED,
    REQUEST_OPEN,
    Channel,
    ClockState,
    IncidentStatus,
    Priority,
    RequestStatus,
    RequestType,
)
from itline.operation.models import SlaClock
from itline.org.models import Function, Person, person_of

# A running clock that has passed its warning threshold, or whose target falls within this
# window, puts its incident in the "breaching soon" queue (breached ones stay in it too:
# they need attention first).
BREACHING_WINDOW = dt.timedelta(hours=2)
# Chip menus list at most this many people, services or components; a value beyond them
# (followed from a link or typed into the URL) is still offered as the active chip.
CHIP_LIMIT = 200
MIN_YEAR, MAX_YEAR = 1900, 9000


@dataclass(frozen=True)
class Queue:
    slug: str
    label: str
    condition: Callable[[Any, dt.datetime], Q]
    open_only: bool = True  # a status chip lifts this, so "mine, resolved" works
    counted: bool = True


def _me(user: Any) -> Person | None:
    return person_of(user)


def _mine(user: Any, now: dt.datetime) -> Q:
    me = _me(user)
    return Q(assignee=me) if me is not None else Q(pk__in=[])


def _my_functions(user: Any, now: dt.datetime) -> Q:
    me = _me(user)
    if me is None:
        return Q(pk__in=[])
    return Q(assigned_function__memberships__person=me)


def _unassigned(user: Any, now: dt.datetime) -> Q:
    return Q(assignee__isnull=True)


def breaching_q(now: dt.datetime) -> Q:
    # An uncorrelated IN (one pass over the running clocks in the window), not a correlated
    # EXISTS: SQLite without statistics runs the EXISTS as a range scan of the warn/due
    # indexes per incident, quadratic (minutes at 50,000 incidents; benchmarks/operation.py).
    soon = SlaClock.objects.filter(state=ClockState.RUNNING).filter(
        Q(warn_at__lte=now) | Q(due_at__lte=now + BREACHING_WINDOW)
    )
    return Q(pk__in=soon.values("incident_id"))


def _breaching(user: Any, now: dt.datetime) -> Q:
    return breaching_q(now)


def _major(user: Any, now: dt.datetime) -> Q:
    return Q(major=True)


def _any(user: Any, now: dt.datetime) -> Q:
    return Q()


INCIDENT_QUEUES: tuple[Queue, ...] = (
    Queue("open", "All open", _any),
    Queue("mine", "My incidents", _mine),
    Queue("function", "My functions'", _my_functions),
    Queue("unassigned", "Unassigned", _unassigned),
    # Not counted on every page: the running clocks past their warning can be many, and
    # counting them costs more than the page (benchmarks/operation.py). Its own page counts.
    Queue("breaching", "Breaching soon", _breaching, counted=False),
    Queue("major", "Major", _major),
    Queue("all", "Everything", _any, open_only=False, counted=False),
)
REQUEST_QUEUES: tuple[Queue, ...] = (
    Queue("open", "All open", _any),
    Queue("mine", "My requests", _mine),
    Queue("function", "My functions'", _my_functions),
    Queue("unassigned", "Unassigned", _unassigned),
    Queue("all", "Everything", _any, open_only=False, counted=False),
)


def queue_q(queue: Queue, user: Any, *, status_chosen: bool, open_statuses: tuple[str, ...]) -> Q:
    cond = queue.condition(user, timezone.now())
    if queue.open_only and not status_chosen:
        # Incidents carry a derived, indexed is_open; requests are few enough for the IN.
        cond &= (
            Q(is_open=True)
            if open_statuses == OPEN_INCIDENT_STATUSES
            else Q(status__in=open_statuses)
        )
    return cond


# --- chips ----------------------------------------------------------------------------------


CREATED_RANGES: tuple[tuple[str, str, dt.timedelta | None], ...] = (
    ("today", "Today", None),
    ("7d", "Last 7 days", dt.timedelta(days=7)),
    ("30d", "Last 30 days", dt.timedelta(days=30)),
    ("90d", "Last 90 days", dt.timedelta(days=90)),
    ("older", "Older than 90 days", dt.timedelta(days=90)),
)


def created_q(value: str) -> Q:
    now = timezone.localtime()
    for slug, _, delta in CREATED_RANGES:
        if slug != value:
            continue
        if delta is None:
            return Q(created_at__gte=now.replace(hour=0, minute=0, second=0, microsecond=0))
        if slug == "older":
            return Q(created_at__lt=now - delta)
        return Q(created_at__gte=now - delta)
    return Q()


def parse_day(text: str, label: str, errors: list[str]) -> dt.date | None:
    """A YYYY-MM-DD date typed into a range field; a bad one is reported and ignored."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        errors.append(f"{label} {text!r} is not a date (YYYY-MM-DD); it was ignored.")
        return None
    if not MIN_YEAR <= day.year <= MAX_YEAR:
        # Far-off dates overflow once shifted to UTC; no record is that old or that new.
        errors.append(f"{label} {text!r} is out of range ({MIN_YEAR}-{MAX_YEAR}); it was ignored.")
        return None
    return day


def day_range_q(start: dt.date | None, end: dt.date | None) -> Q:
    """``created_at`` within [start, end] in the site's time zone (end day included)."""
    cond = Q()
    tz = timezone.get_current_timezone()
    if start is not None:
        cond &= Q(created_at__gte=dt.datetime.combine(start, dt.time.min, tzinfo=tz))
    if end is not None:
        cond &= Q(
            created_at__lt=dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        )
    return cond


def _with_current(
    options: list[tuple[str, str]], current: str, lookup: Callable[[str], str | None]
) -> list[tuple[str, str]]:
    if current and current not in {v for v, _ in options}:
        label = lookup(current)
        if label is not None:
            options.append((current, label))
    return options


def function_choices() -> list[tuple[str, str]]:
    return list(
        Function.objects.filter(active=True).order_by("name").values_list("reference", "name")
    )


def agent_choices(current: str) -> list[tuple[str, str]]:
    """People who work in a function (the ones records get assigned to), plus "me" and
    "nobody"."""
    people = list(
        Person.objects.filter(memberships__isnull=False)
        .distinct()
        .order_by("name")
        .values_list("reference", "name")[:CHIP_LIMIT]
    )
    options = [("me", "Me"), ("none", "Nobody"), *people]
    return _with_current(
        options,
        current,
        lambda v: Person.objects.filter(reference=v).values_list("name", flat=True).first(),
    )


def assignee_q(user: Any) -> Callable[[str], Q]:
    def q(value: str) -> Q:
        if value == "me":
            me = _me(user)
            return Q(assignee=me) if me is not None else Q(pk__in=[])
        if value == "none":
            return Q(assignee__isnull=True)
        return Q(assignee__reference=value)

    return q


def service_choices(current: str) -> list[tuple[str, str]]:
    options = list(Service.objects.order_by("name").values_list("reference", "name")[:CHIP_LIMIT])
    return _with_current(
        options,
        current,
        lambda v: Service.objects.filter(reference=v).values_list("name", flat=True).first(),
    )


def component_choices(current: str) -> list[tuple[str, str]]:
    options = list(Component.objects.order_by("name").values_list("reference", "name")[:CHIP_LIMIT])
    return _with_current(
        options,
        current,
        lambda v: Component.objects.filter(reference=v).values_list("name", flat=True).first(),
    )


def person_choice(current: str) -> list[tuple[str, str]]:
    """A chip for one person only (a requester or caller followed from a record)."""
    return _with_current(
        [],
        current,
        lambda v: Person.objects.filter(reference=v).values_list("name", flat=True).first(),
    )


def incident_filters(request: Any) -> tuple[Filter, ...]:
    get = request.GET.get
    return (
        Filter("status", "Status", IncidentStatus.choices, "status"),
        Filter("priority", "Priority", [(str(v), lbl) for v, lbl in Priority.choices], "priority"),
        Filter("function", "Function", function_choices, "assigned_function__reference"),
        Filter(
            "assignee", "Assignee", agent_choices(get("assignee", "")), assignee_q(request.user)
        ),
        Filter("service", "Service", service_choices(get("service", "")), "service__reference"),
        Filter(
            "component",
            "Component",
            component_choices(get("component", "")),
            "component__reference",
        ),
        Filter("caller", "Caller", person_choice(get("caller", "")), "caller__reference"),
        Filter("created", "Created", [(s, lbl) for s, lbl, _ in CREATED_RANGES], created_q),
    )


def request_filters(request: Any) -> tuple[Filter, ...]:
    get = request.GET.get
    return (
        Filter("status", "Status", RequestStatus.choices, "status"),
        Filter("type", "Type", RequestType.choices, "request_type"),
        Filter("channel", "Channel", Channel.choices, "channel"),
        Filter("function", "Function", function_choices, "assigned_function__reference"),
        Filter(
            "assignee", "Assignee", agent_choices(get("assignee", "")), assignee_q(request.user)
        ),
        Filter(
            "requester", "Requester", person_choice(get("requester", "")), "requester__reference"
        ),
        Filter("service", "Service", service_choices(get("service", "")), "service__reference"),
        Filter("created", "Created", [(s, lbl) for s, lbl, _ in CREATED_RANGES], created_q),
    )


# Ordered like the partial queue indexes of Incident (see choices.INCIDENT_OPEN_ORDERED).
OPEN_INCIDENT_STATUSES: tuple[str, ...] = INCIDENT_OPEN_ORDERED
OPEN_REQUEST_STATUSES: tuple[str, ...] = tuple(sorted(str(s) for s in REQUEST_OPEN))


def find_queue(queues: Sequence[Queue], slug: str) -> Queue:
    for queue in queues:
        if queue.slug == slug:
            return queue
    return queues[0]
