"""Change risk: a score from 0 to 100 made of weighted factors, each explained in a sentence,
its level, and the approval path that follows from the level and the type.

Each factor has a ``value`` from 0 (no risk) to 1 and a ``weight`` (settings
``CHANGE_RISK_WEIGHTS``, summing to 100 by default); its ``points`` are ``weight * value`` and
the score is their sum, capped at 100. The factors:

* ``breadth`` -- how many services and customers are impacted, via the impact engine (up);
* ``criticality`` -- the highest criticality among those services;
* ``change_type`` -- emergency > normal > standard;
* ``history`` -- the failure rate of closed changes on the same nodes or from the same
  template (failed or backed out, or with a confirmed change-caused incident), damped while
  there are few of them;
* ``open_work`` -- open incidents and problems on the touched nodes;
* ``collisions`` -- blocking collisions (freezes) count fully, overlapping changes and
  maintenance partly;
* ``lead_time`` -- how long before the window the change was submitted (or is being assessed).

Levels come from ``CHANGE_RISK_MEDIUM_AT`` / ``CHANGE_RISK_HIGH_AT``; the path from
``CHANGE_APPROVAL_PATHS`` per level, except that an emergency goes to the emergency CAB and a
standard change within its template's limits needs no approval.

Everything is a read: ``assess`` writes nothing, so the form preview, submit and the
benchmark call the same function. It costs two impact queries and a handful of aggregate
queries whatever the number of nodes (``benchmarks/transition.py``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.utils import timezone

from itline.transition.choices import (
    FAILED_OUTCOMES,
    ApprovalPath,
    ChangeStatus,
    ChangeType,
    LinkStatus,
    RiskLevel,
)
from itline.transition.collisions import id_list

DEFAULT_WEIGHTS = {
    "breadth": 20,
    "criticality": 20,
    "change_type": 10,
    "history": 15,
    "open_work": 10,
    "collisions": 15,
    "lead_time": 10,
}
LABELS = {
    "breadth": "Breadth",
    "criticality": "Criticality",
    "change_type": "Change type",
    "history": "Past failures",
    "open_work": "Open incidents and problems",
    "collisions": "Collisions and freezes",
    "lead_time": "Lead time",
}
DEFAULT_PATHS = {
    RiskLevel.LOW: ApprovalPath.CHANGE_MANAGER,
    RiskLevel.MEDIUM: ApprovalPath.CHANGE_MANAGER,
    RiskLevel.HIGH: ApprovalPath.CAB,
}
TYPE_VALUES = {ChangeType.STANDARD: 0.0, ChangeType.NORMAL: 0.5, ChangeType.EMERGENCY: 1.0}
# Breadth saturates at this many impacted services or customers.
BREADTH_SERVICES = 10
BREADTH_CUSTOMERS = 5
# Open incidents + problems on the touched nodes at which the factor saturates.
OPEN_WORK_SATURATION = 3
# The failure rate counts fully from this many closed changes on; fewer are damped, none is
# "no track record".
HISTORY_MIN_CHANGES = 3
NO_HISTORY_VALUE = 0.2
NO_WINDOW_VALUE = 0.5
# Above this many ids a lookup reads the whole (small) table instead of an IN list.
ID_LIST_LIMIT = 1000


def weights() -> dict[str, int]:
    configured = getattr(settings, "CHANGE_RISK_WEIGHTS", None) or {}
    return {key: int(configured.get(key, default)) for key, default in DEFAULT_WEIGHTS.items()}


def thresholds() -> tuple[int, int]:
    return (
        int(getattr(settings, "CHANGE_RISK_MEDIUM_AT", 30)),
        int(getattr(settings, "CHANGE_RISK_HIGH_AT", 60)),
    )


def level_for(score: int) -> RiskLevel:
    medium, high = thresholds()
    if score >= high:
        return RiskLevel.HIGH
    if score >= medium:
        return RiskLevel.MEDIUM
    return RiskLevel.LOW


def approval_path_for(
    level: str, change_type: str, *, within_template: bool = False
) -> ApprovalPath:
    """The approval path of a change of ``change_type`` at risk ``level`` (also after an
    override): none for a standard change within its template, the emergency CAB for an
    emergency, else ``CHANGE_APPROVAL_PATHS[level]``."""
    if change_type == ChangeType.STANDARD and within_template:
        return ApprovalPath.NONE
    if change_type == ChangeType.EMERGENCY:
        return ApprovalPath.ECAB
    configured = getattr(settings, "CHANGE_APPROVAL_PATHS", None) or {}
    return ApprovalPath(configured.get(str(level), DEFAULT_PATHS[RiskLevel(level)]))


@dataclass(frozen=True)
class Assessment:
    """The computed risk of a change: ``score`` 0..100, its ``level``, the ``factors``
    (``{"key", "label", "weight", "value", "points", "why"}``), the ``approval_path`` and,
    for a standard change, why it is outside its template's limits (empty: within)."""

    score: int
    level: RiskLevel
    factors: list[dict[str, Any]] = field(default_factory=list)
    approval_path: ApprovalPath = ApprovalPath.CHANGE_MANAGER
    outside_template: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "level": str(self.level),
            "approval_path": str(self.approval_path),
            "factors": self.factors,
            "outside_template": self.outside_template,
        }


# --- helpers ------------------------------------------------------------------------------


def _plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word if n == 1 else (words or word + 's')}"


def _names_list(names: list[str], total: int) -> str:
    shown = ", ".join(names)
    return shown + (f" and {total - len(names)} more" if total > len(names) else "")


def _fetch(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return list(cursor.fetchall())


def _service_rows(ids: np.ndarray) -> list[tuple[int, str, int]]:
    """(id, name, criticality) of the services among ``ids``."""
    from itline.cmdb.models import Node, Service

    if not len(ids):
        return []
    sql = (
        f"SELECT s.node_ptr_id, n.name, s.criticality FROM {Service._meta.db_table} s "  # noqa: S608
        f"JOIN {Node._meta.db_table} n ON n.id = s.node_ptr_id"
    )
    if len(ids) <= ID_LIST_LIMIT:
        return [
            (int(a), b, int(c))
            for a, b, c in _fetch(f"{sql} WHERE s.node_ptr_id IN ({id_list(ids.tolist())})")
        ]
    wanted = set(ids.tolist())
    return [(int(a), b, int(c)) for a, b, c in _fetch(sql) if a in wanted]


def _customer_count(service_ids: list[int]) -> int:
    from itline.cmdb.models import Service

    if not service_ids:
        return 0
    table = Service.customers.through._meta.db_table
    if len(service_ids) <= ID_LIST_LIMIT:
        rows = _fetch(
            f"SELECT COUNT(DISTINCT customer_id) FROM {table} "  # noqa: S608 - ints only
            f"WHERE service_id IN ({id_list(service_ids)})"
        )
        return int(rows[0][0])
    wanted = set(service_ids)
    links = _fetch(f"SELECT service_id, customer_id FROM {table}")  # noqa: S608
    return len({c for s, c in links if s in wanted})


def _factor(key: str, weight: int, value: float, why: str) -> dict[str, Any]:
    value = max(0.0, min(1.0, value))
    return {
        "key": key,
        "label": LABELS[key],
        "weight": weight,
        "value": round(value, 2),
        "points": round(weight * value, 1),
        "why": why,
    }


# --- the factors --------------------------------------------------------------------------


def _breadth_and_criticality(node_ids: list[int], w: dict[str, int]) -> list[dict[str, Any]]:
    from itline.cmdb.choices import Criticality
    from itline.cmdb.impact import impact

    up = impact(node_ids, "up")
    service_ids = up.node_ids[up.is_service]  # impacted services and touched services
    services = _service_rows(service_ids)
    customers = _customer_count([s[0] for s in services])
    n = len(services)
    value = max(min(1.0, n / BREADTH_SERVICES), min(1.0, customers / BREADTH_CUSTOMERS))
    if n:
        by_rank = sorted(services, key=lambda s: (-s[2], s[1]))
        names = _names_list([s[1] for s in by_rank[:3]], n)
        why = (
            f"It affects {_plural(n, 'service')} ({names}) "
            f"serving {_plural(customers, 'customer')}, through the service structure."
        )
    else:
        why = "No service depends on what it touches."
    breadth = _factor("breadth", w["breadth"], value, why)
    if services:
        top = max(services, key=lambda s: (s[2], s[1]))
        crit_value = (top[2] - 1) / 4
        crit_why = (
            f"The most critical service affected is {top[1]} "
            f"({Criticality(top[2]).label.lower()} criticality)."
        )
    else:
        crit_value = 0.0
        crit_why = "No service is affected, so no service criticality applies."
    return [breadth, _factor("criticality", w["criticality"], crit_value, crit_why)]


def _change_type(change_type: str, w: dict[str, int]) -> dict[str, Any]:
    why = {
        ChangeType.STANDARD: "A standard change follows a pre-approved, proven template.",
        ChangeType.NORMAL: "A normal change is planned and assessed, but not pre-approved.",
        ChangeType.EMERGENCY: "An emergency change is made under time pressure, with less testing.",
    }[ChangeType(change_type)]
    return _factor("change_type", w["change_type"], TYPE_VALUES[ChangeType(change_type)], why)


def _history(
    node_ids: list[int], template_id: int | None, change_id: int | None, w: dict[str, int]
) -> dict[str, Any]:
    from django.db import connection

    from itline.transition.models import Change, ChangeIncidentLink

    days = int(getattr(settings, "CHANGE_RISK_HISTORY_DAYS", 365))
    since = timezone.now() - timedelta(days=days)
    similar = (
        f"c.id IN (SELECT change_id FROM {Change.nodes.through._meta.db_table} "  # noqa: S608
        f"WHERE node_id IN ({id_list(node_ids)}))"
    )
    params: list[Any] = [LinkStatus.CONFIRMED, *sorted(FAILED_OUTCOMES)]
    params += [ChangeStatus.CLOSED, connection.ops.adapt_datetimefield_value(since)]
    if template_id is not None:
        similar = f"({similar} OR c.template_id = %s)"
        params.append(int(template_id))
    own = ""
    if change_id is not None:
        own = " AND c.id <> %s"
        params.append(int(change_id))
    # One aggregate: the closed changes on these nodes or from this template, and how many of
    # them failed, were backed out or have a confirmed change-caused incident.
    ((total, failed),) = _fetch(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN EXISTS (SELECT 1 FROM "  # noqa: S608 - ints
        f"{ChangeIncidentLink._meta.db_table} l WHERE l.change_id = c.id AND l.status = %s) "
        f"OR c.outcome IN ({', '.join(['%s'] * len(FAILED_OUTCOMES))}) THEN 1 ELSE 0 END), 0) "
        f"FROM {Change._meta.db_table} c WHERE c.status = %s AND c.closed_at >= %s "
        f"AND {similar}{own}",
        params,
    )
    total, failed = int(total), int(failed)
    where = "on these nodes" + (" or from this template" if template_id is not None else "")
    if not total:
        return _factor(
            "history",
            w["history"],
            NO_HISTORY_VALUE,
            f"No change {where} was closed in the last {days} days: there is no track record.",
        )
    rate = failed / total
    damping = min(1.0, total / HISTORY_MIN_CHANGES)
    why = (
        f"{failed} of {_plural(total, 'closed change')} {where} in the last {days} days "
        f"failed, were backed out or caused an incident ({rate:.0%})."
    )
    if damping < 1:
        why += f" Counted at {damping:.0%}: too few changes for a firm rate."
    return _factor("history", w["history"], rate * damping, why)


def _open_work(node_ids: list[int], w: dict[str, int]) -> dict[str, Any]:
    from itline.operation.choices import PROBLEM_OPEN
    from itline.operation.models import Incident, Problem

    ids = id_list(node_ids)
    on = f"(component_id IN ({ids}) OR service_id IN ({ids}))"
    statuses = sorted(PROBLEM_OPEN)
    ((incidents, problems),) = _fetch(
        f"SELECT (SELECT COUNT(*) FROM {Incident._meta.db_table} WHERE is_open AND {on}), "  # noqa: S608
        f"(SELECT COUNT(*) FROM {Problem._meta.db_table} WHERE {on} AND status IN "
        f"({', '.join(['%s'] * len(statuses))}))",
        statuses,
    )
    incidents, problems = int(incidents), int(problems)
    total = incidents + problems
    if total:
        why = (
            f"{_plural(incidents, 'open incident')} and {_plural(problems, 'open problem')} "
            "on the touched services and components: they are unstable already."
        )
    else:
        why = "No open incident or problem on the touched services and components."
    return _factor("open_work", w["open_work"], total / OPEN_WORK_SATURATION, why)


def _collisions(collisions: list[dict[str, Any]], w: dict[str, int]) -> dict[str, Any]:
    blocking = [c for c in collisions if c.get("blocking")]
    changes = [c for c in collisions if c["kind"] == "change" and not c.get("blocking")]
    others = [c for c in collisions if c["kind"] != "change" and not c.get("blocking")]
    if blocking:
        refs = ", ".join(c["ref"] for c in blocking[:3])
        return _factor(
            "collisions",
            w["collisions"],
            1.0,
            f"{_plural(len(blocking), 'blocking collision')} ({refs}): the window is frozen.",
        )
    if not collisions:
        return _factor(
            "collisions", w["collisions"], 0.0, "Nothing else is planned on or near it then."
        )
    parts = []
    if changes:
        parts.append(
            f"{_plural(len(changes), 'other change')} ({', '.join(c['ref'] for c in changes[:3])})"
        )
    if others:
        parts.append(
            f"{_plural(len(others), 'other window')} ({', '.join(c['ref'] for c in others[:3])})"
        )
    value = 0.25 * len(changes) + 0.15 * len(others)
    return _factor(
        "collisions",
        w["collisions"],
        value,
        " and ".join(parts) + " overlap the window on the same or related nodes.",
    )


def _lead_time(
    planned_start: datetime | None, submitted_at: datetime | None, w: dict[str, int]
) -> dict[str, Any]:
    short = float(getattr(settings, "CHANGE_RISK_LEAD_SHORT_HOURS", 24))
    comfortable = float(getattr(settings, "CHANGE_RISK_LEAD_OK_HOURS", 120))
    if planned_start is None:
        return _factor("lead_time", w["lead_time"], NO_WINDOW_VALUE, "No window is planned yet.")
    asked = submitted_at or timezone.now()
    hours = (planned_start - asked).total_seconds() / 3600
    when = "submitted" if submitted_at else "assessed"
    if hours <= 0:
        return _factor(
            "lead_time",
            w["lead_time"],
            1.0,
            f"The window starts before the change was {when}: no time to review it.",
        )
    if hours <= short:
        value = 1.0
    elif hours >= comfortable:
        value = 0.0
    else:
        value = (comfortable - hours) / (comfortable - short)
    shown = f"{hours:.0f} hours" if hours < 48 else f"{hours / 24:.1f} days"
    why = f"It was {when} {shown} before the window"
    why += f" (under {short:.0f} hours counts fully, {comfortable:.0f} hours or more not at all)."
    return _factor("lead_time", w["lead_time"], value, why)


def template_issues(
    template: Any, node_ids: list[int], start: datetime | None, end: datetime | None
) -> list[str]:
    """Why a standard change from ``template`` on these nodes and window would be outside its
    limits (empty: within). A template names nodes and/or component types; neither: any node."""
    from itline.cmdb.models import Component

    if template is None:
        return ["A standard change needs a standard change template."]
    issues = []
    if not template.active:
        issues.append(f"The template {template.name} is no longer active.")
    if start and end and end - start > timedelta(minutes=template.max_duration_minutes):
        minutes = int((end - start).total_seconds() // 60)
        issues.append(
            f"The window lasts {minutes} minutes; the template allows "
            f"{template.max_duration_minutes}."
        )
    if template.pk is not None and node_ids:
        allowed_nodes = set(template.nodes.values_list("pk", flat=True))
        type_ids = set(template.component_types.values_list("pk", flat=True))
        if allowed_nodes or type_ids:
            outside = set(node_ids) - allowed_nodes
            if outside and type_ids:
                outside -= set(
                    Component.objects.filter(
                        pk__in=outside, component_type_id__in=type_ids
                    ).values_list("pk", flat=True)
                )
            if outside:
                from itline.cmdb.models import Node

                names = sorted(Node.objects.filter(pk__in=outside).values_list("name", flat=True))
                issues.append(f"The template does not cover {_names_list(names[:3], len(names))}.")
    return issues


# --- the assessment -----------------------------------------------------------------------


def assess(
    change: Any,
    *,
    node_ids: Iterable[int] | None = None,
    collisions: list[dict[str, Any]] | None = None,
) -> Assessment:
    """The risk of ``change`` (saved or not). ``node_ids`` replaces its saved nodes (for a
    form preview); ``collisions`` saves recomputing them when the caller has them (submit
    stores both). Pure read."""
    from itline.transition.collisions import check

    if node_ids is None:
        node_ids = change.nodes.values_list("pk", flat=True) if change.pk else []
    nodes = sorted({int(n) for n in node_ids})
    change_type = change.change_type or ChangeType.NORMAL
    start, end = change.planned_start, change.planned_end
    if collisions is None:
        collisions = (
            check(
                nodes=nodes,
                start=start,
                end=end,
                exclude_change_id=change.pk,
                change_type=change_type,
            )
            if nodes and start and end
            else []
        )
    w = weights()
    factors = [
        *_breadth_and_criticality(nodes, w),
        _change_type(change_type, w),
        _history(nodes, change.template_id, change.pk, w),
        _open_work(nodes, w),
        _collisions(collisions, w),
        _lead_time(start, change.submitted_at, w),
    ]
    score = min(100, round(sum(f["points"] for f in factors)))
    level = level_for(score)
    outside: list[str] = []
    if change_type == ChangeType.STANDARD:
        outside = template_issues(change.template, nodes, start, end)
    path = approval_path_for(level, change_type, within_template=not outside)
    return Assessment(score, level, factors, path, outside)


@dataclass(frozen=True)
class Preview:
    """What the change form shows while it is being filled in."""

    assessment: Assessment
    collisions: list[dict[str, Any]]

    @property
    def blocking(self) -> bool:
        return any(c.get("blocking") for c in self.collisions)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.assessment.as_dict(),
            "collisions": self.collisions,
            "blocking": self.blocking,
        }


def preview(
    *,
    node_ids: Iterable[int],
    start: datetime | None,
    end: datetime | None,
    change_type: str,
    template: Any = None,
    change: Any = None,
) -> Preview:
    """Risk and collisions of a change being edited, before anything is saved: ``change`` is
    the saved change being edited (excluded from its own collisions), if any."""
    from itline.transition.collisions import check
    from itline.transition.models import Change

    nodes = sorted({int(n) for n in node_ids})
    draft = Change(
        change_type=change_type,
        template=template,
        planned_start=start,
        planned_end=end,
        submitted_at=getattr(change, "submitted_at", None),
    )
    draft.pk = getattr(change, "pk", None)
    collisions = (
        check(
            nodes=nodes,
            start=start,
            end=end,
            exclude_change_id=draft.pk,
            change_type=change_type,
        )
        if nodes and start and end and end > start
        else []
    )
    return Preview(assess(draft, node_ids=nodes, collisions=collisions), collisions)
