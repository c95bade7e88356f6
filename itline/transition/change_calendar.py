"""What the change calendar shows for a period and a filter: changes with a window (coloured by
their effective risk), maintenance windows (Operation's occurrences) and freeze windows
(shaded). One read used by the calendar page, the iCalendar feed and the change page's
"calendar position"; pure reads, a fixed number of queries whatever the period holds."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet

from itline.cmdb.models import Node
from itline.org.models import Function
from itline.transition.choices import CHANGE_ON_CALENDAR, RiskLevel
from itline.transition.models import Change

# A calendar query asks at most this much; the feed's horizon is within it.
MAX_SPAN = dt.timedelta(days=800)
# Shown per period at most (a month of a large installation); the page says when cut.
MAX_CHANGES = 2000


@dataclass(frozen=True)
class CalendarFilter:
    """The filter a calendar page or feed URL carries (references, "" for any)."""

    service: str = ""
    function: str = ""
    risk: str = ""

    @classmethod
    def from_query(cls, get: Any, errors: list[str] | None = None) -> CalendarFilter:
        errors = errors if errors is not None else []
        service = (get.get("service") or "").strip().upper()
        function = (get.get("function") or "").strip().upper()
        risk = (get.get("risk") or "").strip().lower()
        if risk and risk not in RiskLevel.values:
            errors.append(f"Unknown risk {risk!r}; the filter was ignored.")
            risk = ""
        if service and not Node.objects.filter(reference=service).exists():
            errors.append(f"There is no service {service!r}; the filter was ignored.")
            service = ""
        if function and not Function.objects.filter(reference=function).exists():
            errors.append(f"There is no function {function!r}; the filter was ignored.")
            function = ""
        return cls(service=service, function=function, risk=risk)

    def query(self) -> dict[str, str]:
        return {
            k: v
            for k, v in (
                ("service", self.service),
                ("function", self.function),
                ("risk", self.risk),
            )
            if v
        }

    def node_ids(self) -> list[int] | None:
        """The nodes a service filter covers: the service and everything it runs on."""
        if not self.service:
            return None
        from itline.cmdb.impact import impact

        node_id = Node.objects.filter(reference=self.service).values_list("pk", flat=True).first()
        if node_id is None:
            return []
        return [int(n) for n in impact([node_id], "down").node_ids.tolist()]


@dataclass
class Entry:
    kind: str  # change | maintenance | freeze
    ref: str
    title: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    url: str
    risk: str = ""
    status: str = ""
    status_label: str = ""
    obj: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def overlaps(self, start: dt.datetime, end: dt.datetime) -> bool:
        return self.starts_at < end and self.ends_at > start


def risk_q(level: str) -> Q:
    """Changes whose effective risk (the override, else the computed level) is ``level``."""
    return Q(risk_override=level) | Q(risk_override="", risk_level=level)


def changes_between(
    start: dt.datetime, end: dt.datetime, flt: CalendarFilter, node_ids: list[int] | None
) -> QuerySet[Change]:
    qs = Change.objects.filter(
        status__in=CHANGE_ON_CALENDAR,
        planned_start__lt=end,
        planned_end__gt=start,
    )
    if node_ids is not None:
        qs = qs.filter(
            pk__in=Change.nodes.through.objects.filter(node_id__in=node_ids).values("change_id")
        )
    if flt.function:
        qs = qs.filter(function__reference=flt.function)
    if flt.risk:
        qs = qs.filter(risk_q(flt.risk))
    return qs.select_related("function").order_by("planned_start", "id")


def entries_between(
    start: dt.datetime, end: dt.datetime, flt: CalendarFilter | None = None
) -> tuple[list[Entry], bool]:
    """Every calendar entry overlapping [start, end) under ``flt``, by start; and whether
    the changes were cut at MAX_CHANGES."""
    flt = flt or CalendarFilter()
    if end - start > MAX_SPAN:
        end = start + MAX_SPAN
    node_ids = flt.node_ids()
    changes = list(changes_between(start, end, flt, node_ids)[: MAX_CHANGES + 1])
    cut = len(changes) > MAX_CHANGES
    out = [change_entry(c) for c in changes[:MAX_CHANGES]]
    # A risk or function filter is about changes; windows stay visible (they constrain them).
    out += maintenance_entries(start, end, node_ids)
    out += freeze_entries(start, end, node_ids)
    out.sort(key=lambda e: (e.starts_at, {"freeze": 0, "maintenance": 1, "change": 2}[e.kind]))
    return out, cut


def change_entry(change: Change) -> Entry:
    assert change.planned_start and change.planned_end
    return Entry(
        kind="change",
        ref=change.reference,
        title=change.title,
        starts_at=change.planned_start,
        ends_at=change.planned_end,
        url=change.get_absolute_url(),
        risk=change.effective_risk,
        status=change.status,
        status_label=change.get_status_display(),
        obj=change,
    )


def maintenance_entries(
    start: dt.datetime, end: dt.datetime, node_ids: list[int] | None
) -> list[Entry]:
    try:
        from itline.operation.maintenance import windows_between
    except ImportError:  # Operation's maintenance module lands in the same change set
        return []
    out = []
    for occ in windows_between(start, end, node_ids=node_ids):
        window = occ.window
        out.append(
            Entry(
                kind="maintenance",
                ref=window.reference,
                title=window.title,
                starts_at=occ.starts_at,
                ends_at=occ.ends_at,
                url=_url_of(window),
                obj=window,
            )
        )
    return out


def freeze_entries(start: dt.datetime, end: dt.datetime, node_ids: list[int] | None) -> list[Entry]:
    from itline.transition.freeze import freezes_between

    out = []
    for occ in freezes_between(start, end, node_ids=node_ids):
        window = occ.window
        out.append(
            Entry(
                kind="freeze",
                ref=window.reference,
                title=window.title,
                starts_at=occ.starts_at,
                ends_at=occ.ends_at,
                url=window.get_absolute_url(),
                obj=window,
                extra={"global": occ.node_ids is None, "reason": window.reason},
            )
        )
    return out


def _url_of(obj: Any) -> str:
    try:
        return str(obj.get_absolute_url())
    except Exception:
        return ""


def neighbours(change: Change, days: int = 3) -> tuple[dt.datetime, dt.datetime, list[Entry]]:
    """The week around a change's window and what else is on the calendar then on the same
    nodes or what they run on: the change page's "calendar position"."""
    assert change.planned_start and change.planned_end
    start = (change.planned_start - dt.timedelta(days=days)).replace(
        minute=0, second=0, microsecond=0
    )
    end = start + dt.timedelta(days=2 * days + 1)
    if change.planned_end > end:
        end = change.planned_end + dt.timedelta(hours=1)
    ids = list(change.nodes.values_list("pk", flat=True))
    scope: list[int] | None = None
    if ids:
        from itline.cmdb.impact import impact

        scope = sorted(
            {
                *impact(ids, "down").node_ids.tolist(),
                *impact(ids, "up").node_ids.tolist(),
            }
        )
    entries = [change_entry(change)]
    if scope is not None:
        others = changes_between(start, end, CalendarFilter(), scope).exclude(pk=change.pk)
        entries += [change_entry(c) for c in others[:20]]
    entries += maintenance_entries(start, end, scope)
    entries += freeze_entries(start, end, scope)
    entries.sort(key=lambda e: (e.obj is not change, e.starts_at))
    return start, end, entries
