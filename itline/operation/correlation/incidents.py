"""From alert groups to incidents: open one incident per group when a rule says so, post
updates to it while alerts join and resolve, resolve it when every alert of the group has
resolved (if the rules allow), and reopen it when the group fires again soon after.

Which alerts may open an incident: firing, not suppressed by a maintenance window, not
silenced, not flapping, matched by an active rule that opens incidents, at or above the
rule's severity threshold, and firing for at least the rule's minimum duration. The
incident gets the group's probable cause as component and the group's service; impact is
proposed by the impact engine as for any incident; urgency follows the worst severity."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q

from itline.core import journal
from itline.core.errors import DomainError
from itline.core.models import JournalEntry
from itline.operation import events
from itline.operation.choices import INCIDENT_OPEN, IncidentStatus, ResolutionCategory
from itline.operation.correlation.decisions import clock, decide
from itline.operation.correlation.grouping import Batch, node_of
from itline.operation.correlation.rules import match
from itline.operation.models import Alert, AlertGroup, AlertRule, Incident
from itline.operation.models.alerts import SEVERITY_RANK, AlertGroupStatus, AlertStatus, Severity

logger = logging.getLogger(__name__)

URGENCY = {"critical": 1, "error": 2, "warning": 3, "info": 3}
LISTED = 20  # alerts named in one incident note or resolution


def _rank(severity: str) -> int:
    return SEVERITY_RANK.get(severity, 0)  # type: ignore[call-overload,no-any-return]


def _label(batch: Batch, alert: Alert) -> str:
    return f"{alert.name or alert.fingerprint[:16]} on {batch.name(node_of(alert))}"


def _listing(batch: Batch, alerts: list[Alert], extra: Any = None) -> str:
    parts = [
        _label(batch, a) + (f" ({extra(a)})" if extra is not None else "") for a in alerts[:LISTED]
    ]
    if len(alerts) > LISTED:
        parts.append(f"and {len(alerts) - LISTED} more")
    return ", ".join(parts)


def _is_live(incident: Incident | None) -> bool:
    return incident is not None and incident.status in INCIDENT_OPEN


def members(batch: Batch, group_ids: list[int]) -> dict[int, list[Alert]]:
    """The alerts of the groups, through the batch's identity map."""
    found: dict[int, list[Alert]] = defaultdict(list)
    if not group_ids:
        return found
    for alert in Alert.objects.filter(group_id__in=group_ids).order_by("changed_at", "id"):
        held = batch.alerts.setdefault(alert.pk, alert)
        found[held.group_id].append(held)  # type: ignore[index]
    return found


@dataclass
class Counts:
    total: int = 0
    firing: int = 0
    flapping: int = 0
    worst: str = ""  # the worst severity of the firing alerts, else of all


def counts(group_ids: list[int]) -> dict[int, Counts]:
    """Per group, its alerts counted in SQL (one query): a storm's group holds thousands of
    alerts, and a run must not load them all to count them."""
    live = Q(status=AlertStatus.FIRING, suppressed_by__isnull=True)
    severities = [s.value for s in Severity]
    aggregates: dict[str, Any] = {
        "total": Count("id"),
        "firing": Count("id", filter=live),
        "flapping": Count("id", filter=Q(flapping=True)),
    }
    for sev in severities:
        aggregates[f"f_{sev}"] = Count("id", filter=live & Q(severity=sev))
        aggregates[f"a_{sev}"] = Count("id", filter=Q(severity=sev))
    found: dict[int, Counts] = {}
    rows: Any = (
        Alert.objects.filter(group_id__in=group_ids)
        .order_by()
        .values("group_id")
        .annotate(**aggregates)
    )
    ranked = sorted(severities, key=_rank, reverse=True)
    for row in rows:
        prefix = "f_" if row["firing"] else "a_"
        worst = next((sev for sev in ranked if row[prefix + sev]), "")
        found[row["group_id"]] = Counts(row["total"], row["firing"], row["flapping"], worst)
    return found


def evaluate(batch: Batch, *, every_alert: bool = False) -> None:
    """Bring every touched group up to date: counts, status, and its incident. Counts come
    from SQL; alert objects are loaded only where a decision needs them: every alert of a
    group that may resolve (nothing firing), and otherwise the alerts of this run (only a
    changed alert can newly qualify for an incident; ``every_alert`` -- the minute tick --
    looks at every firing alert of a group without an incident, for minimum durations)."""
    group_ids = sorted(g for g in batch.touched if g not in batch.merged)
    if not group_ids:
        return
    for group_id in group_ids:
        batch.group(group_id)
    incidents = {
        i.pk: i
        for i in Incident.objects.filter(
            pk__in=[batch.groups[g].incident_id for g in group_ids if batch.groups[g].incident_id]
        )
    }
    tally = counts(group_ids)
    full = []
    for group_id in group_ids:
        group = batch.groups[group_id]
        incident = incidents.get(group.incident_id) if group.incident_id else None
        c = tally.get(group_id, Counts())
        if c.firing == 0 or (every_alert and not _is_live(incident)):
            full.append(group_id)
    by_group = members(batch, full)
    held: dict[int, list[Alert]] = defaultdict(list)
    wanted = set(group_ids) - set(full)
    for alert in batch.alerts.values():
        if alert.group_id in wanted:
            held[alert.group_id].append(alert)  # type: ignore[index]
    batch.remember_names(
        [
            n
            for alerts in (*by_group.values(), *held.values())
            for a in alerts
            if (n := node_of(a)) is not None
        ]
    )
    for group_id in group_ids:
        group = batch.groups[group_id]
        incident = incidents.get(group.incident_id) if group.incident_id else None
        alerts = by_group.get(group_id) if group_id in by_group else held.get(group_id, [])
        alerts = sorted(alerts or [], key=lambda a: (a.changed_at, a.pk))
        _evaluate(batch, group, alerts, incident, tally.get(group_id, Counts()))
        batch.to_save.add(group_id)


def _evaluate(
    batch: Batch, group: AlertGroup, alerts: list[Alert], incident: Incident | None, c: Counts
) -> None:
    """``alerts``: every alert of the group when nothing fires, else those this run holds."""
    firing = [a for a in alerts if a.status == AlertStatus.FIRING and a.suppressed_by_id is None]
    group.alert_count = c.total
    group.firing_count = c.firing
    if c.worst:
        group.severity = c.worst
    flapping = [a for a in alerts if a.flapping]
    if not c.firing and not c.flapping:
        _settle(batch, group, alerts, incident)
        return
    if group.status == AlertGroupStatus.RESOLVED:
        group.status = AlertGroupStatus.OPEN
        group.resolved_at = None
    if not c.firing:
        decide(
            group,
            "waiting for flapping alerts",
            f"Every alert has resolved, but {_listing(batch, flapping)} is flapping; the group "
            "resolves once it has been quiet for its rule's flap window.",
            at=batch.now,
        )
        return
    opened_now = _open_or_reopen(batch, group, firing, incident)
    incident = group.incident if group.incident_id else None
    if _is_live(incident) and not opened_now:
        _post_updates(batch, group, incident, c.firing)  # type: ignore[arg-type]


# --- opening ------------------------------------------------------------------------------


def _why_not(batch: Batch, alert: Alert, rule: AlertRule | None) -> str | None:
    """Why this firing alert cannot open an incident, or None when it can (duration aside)."""
    if rule is None:
        return "No active alert rule matches its source and labels, so it is recorded only."
    if not rule.open_incident:
        return f"Rule {rule.name!r} records alerts only; it does not open incidents."
    if not rule.severity_reached(alert.severity):
        return (
            f"Its severity {alert.severity} is below the threshold {rule.min_severity} of "
            f"rule {rule.name!r}."
        )
    if alert.flapping:
        return (
            f"It is flapping; rule {rule.name!r} opens no incident for it until it has been "
            f"quiet for {rule.flap_window_seconds} s."
        )
    if alert.is_silenced(batch.now):
        return (
            f"It is silenced until {clock(alert.silenced_until)}"  # type: ignore[arg-type]
            + (f": {alert.silence_reason}" if alert.silence_reason else "")
            + "."
        )
    return None


def _open_or_reopen(
    batch: Batch, group: AlertGroup, firing: list[Alert], incident: Incident | None
) -> bool:
    """Open (or reopen) the group's incident when an alert qualifies; explain otherwise.
    True when an incident was opened or reopened now."""
    if _is_live(incident):
        return False
    if group.probable_cause_id is None and group.service_id is None:
        why = (
            "Its alerts are not mapped to a component or service, and an incident needs one. "
            "Add a mapping rule for their labels."
        )
        decide(group, "no incident", why, at=batch.now)
        for alert in firing:
            if decide(alert, "no incident", why, at=batch.now):
                batch.mark(alert)
        return False
    ready: list[tuple[Alert, AlertRule]] = []
    waiting: list[tuple[Alert, AlertRule]] = []
    for alert in firing:
        rule = match(batch.rules, alert)
        reason = _why_not(batch, alert, rule)
        if reason is not None:
            if decide(alert, "no incident", reason, at=batch.now):
                batch.mark(alert)
            continue
        assert rule is not None
        due = alert.changed_at + timedelta(seconds=rule.min_duration_seconds)
        (ready if due <= batch.now else waiting).append((alert, rule))
    if not ready:
        if waiting:
            for alert, rule in waiting:
                due = alert.changed_at + timedelta(seconds=rule.min_duration_seconds)
                if decide(
                    alert,
                    f"waiting {rule.min_duration_seconds} s minimum duration",
                    f"Rule {rule.name!r} opens an incident once the alert has fired for "
                    f"{rule.min_duration_seconds} s: at {clock(due)}, if it is still firing.",
                    at=batch.now,
                ):
                    batch.mark(alert)
            decide(
                group,
                "waiting for minimum duration",
                f"{_listing(batch, [a for a, _ in waiting])} must keep firing for the minimum "
                "duration of its rule before an incident is opened.",
                at=batch.now,
            )
        else:
            decide(
                group,
                "no incident",
                "No firing alert of the group qualifies; each alert's page says why.",
                at=batch.now,
            )
        return False
    alert, rule = max(ready, key=lambda pair: (_rank(pair[0].severity), -pair[0].pk))
    qualifies = (
        f"{_label(batch, alert)} ({alert.severity}) matches rule {rule.name!r}: severity at "
        f"least {rule.min_severity}, firing since {clock(alert.changed_at)} (minimum "
        f"{rule.min_duration_seconds} s), not flapping."
    )
    if incident is not None and incident.status == IncidentStatus.RESOLVED:
        from itline.operation.services import can_reopen, reopen_incident

        if can_reopen(incident, batch.now):
            reopen_incident(
                incident, by=None, reason=f"Monitoring: {_label(batch, alert)} fired again."
            )
            decide(group, f"reopened incident {incident.reference}", qualifies, at=batch.now)
            _tell(batch, [a for a, _ in ready], f"reopened incident {incident.reference}")
            batch.stats["incidents_reopened"] += 1
            return True
    opened = _open_incident(batch, group, alert, qualifies)
    if opened is None:
        return False
    if incident is not None:
        decide(
            group,
            f"replaced incident {incident.reference}",
            f"{incident.reference} is {incident.get_status_display().lower()} and can no longer "
            f"be reopened, so {opened.reference} was opened.",
            at=batch.now,
        )
    _tell(batch, [a for a, _ in ready], f"opened incident {opened.reference}", qualifies)
    return True


def _tell(batch: Batch, alerts: list[Alert], what: str, why: str = "") -> None:
    for alert in alerts:
        if decide(
            alert, what, why or f"Its group qualified for an incident ({what}).", at=batch.now
        ):
            batch.mark(alert)


def _open_incident(
    batch: Batch, group: AlertGroup, trigger: Alert, qualifies: str
) -> Incident | None:
    from itline.cmdb.models import Component, Service
    from itline.operation.services import create_incident

    cause = group.probable_cause_id
    component = Component.objects.filter(pk=cause).first() if cause else None
    service = Service.objects.filter(pk=group.service_id).first() if group.service_id else None
    if service is None and component is None and cause is not None:
        service = Service.objects.filter(pk=cause).first()
    firing = [a for a in batch.alerts.values() if a.group_id == group.pk]
    lines = [
        f"Opened by monitoring from alert group {group.reference}.",
        "",
        f"Probable cause: {batch.name(cause)}.",
        f"Trigger: {_label(batch, trigger)} ({trigger.severity}) since "
        f"{clock(trigger.changed_at)}.",
    ]
    if trigger.summary:
        lines.append(f"Summary: {trigger.summary}")
    if trigger.labels:
        lines.append("Labels: " + ", ".join(f"{k}={v}" for k, v in sorted(trigger.labels.items())))
    lines += ["", f"Alerts: {_listing(batch, firing, lambda a: a.status)}."]
    if trigger.generator_url:
        lines.append(f"Source: {trigger.generator_url}")
    try:
        with transaction.atomic():
            incident = create_incident(
                by=None,
                title=group.title[:200],
                description="\n".join(lines),
                service=service,
                component=component,
                urgency=URGENCY.get(trigger.severity, 2),
                channel="monitoring",
            )
    except (ValidationError, DomainError, PermissionDenied) as exc:
        message = "; ".join(getattr(exc, "messages", None) or [str(exc)])
        decide(group, "could not open an incident", message, at=batch.now)
        logger.warning("alert group %s: no incident: %s", group.reference, message)
        return None
    group.incident = incident
    decide(group, f"opened incident {incident.reference}", qualifies, at=batch.now)
    batch.stats["incidents_opened"] += 1
    return incident


# --- updating -----------------------------------------------------------------------------


def _note(incident: Incident, message: str) -> None:
    """A line on the incident's timeline from monitoring: history, no notification."""
    journal.record(incident, by=None, verb=JournalEntry.Verb.UPDATED, message=message)


def _post_updates(batch: Batch, group: AlertGroup, incident: Incident, firing: int) -> None:
    joined = [a for a in batch.joined.get(group.pk, []) if a.group_id == group.pk]
    if joined:
        _note(
            incident,
            f"Monitoring: {_listing(batch, joined, lambda a: a.severity)} joined "
            f"{group.reference}.",
        )
    left = batch.left.get(group.pk, [])
    if left:
        _note(
            incident,
            f"Monitoring: {_listing(batch, left)} resolved; {firing} alert(s) of "
            f"{group.reference} still firing.",
        )
    old = batch.cause_changed.get(group.pk)
    new = group.probable_cause_id
    if old is not None and new is not None and old != new and incident.component_id == old:
        from itline.cmdb.models import Component
        from itline.operation.services import update_incident

        component = Component.objects.filter(pk=new).first()
        if component is not None:
            update_incident(incident, by=None, component=component)
            _note(
                incident,
                f"Monitoring: probable cause of {group.reference} is now {component.name}.",
            )


# --- resolving ----------------------------------------------------------------------------


def _settle(
    batch: Batch, group: AlertGroup, alerts: list[Alert], incident: Incident | None
) -> None:
    """No alert of the group is firing or flapping: the group resolves, and its incident
    with it when every rule involved allows."""
    if group.status != AlertGroupStatus.OPEN:
        return
    group.status = AlertGroupStatus.RESOLVED
    group.resolved_at = batch.now
    decide(
        group,
        "resolved",
        f"All {len(alerts)} alert(s) resolved or are suppressed; the last at "
        f"{clock(max((a.changed_at for a in alerts), default=batch.now))}.",
        at=batch.now,
    )
    events.publish(group, "alert_group.resolved")
    batch.stats["groups_resolved"] += 1
    if not _is_live(incident):
        return
    assert incident is not None
    keeping = [
        (a, r)
        for a in alerts
        if (r := match(batch.rules, a)) is not None and r.open_incident and not r.auto_resolve
    ]
    if keeping:
        alert, rule = keeping[0]
        decide(
            group,
            f"left incident {incident.reference} open",
            f"Rule {rule.name!r} (for {_label(batch, alert)}) does not resolve incidents "
            "automatically; resolve it by hand.",
            at=batch.now,
        )
        return
    from itline.operation.services import resolve_incident

    resolution = (
        f"Resolved by monitoring: every alert of {group.reference} resolved — "
        f"{_listing(batch, alerts, lambda a: 'resolved ' + clock(a.changed_at))}."
    )
    try:
        with transaction.atomic():
            resolve_incident(
                incident, by=None, resolution=resolution, category=ResolutionCategory.FIXED
            )
    except (ValidationError, DomainError) as exc:
        decide(group, f"could not resolve {incident.reference}", str(exc), at=batch.now)
        return
    decide(group, f"resolved incident {incident.reference}", resolution, at=batch.now)
    batch.stats["incidents_resolved"] += 1


# --- merging ------------------------------------------------------------------------------


def merge_incidents(batch: Batch, other: AlertGroup, into: AlertGroup) -> None:
    """When two groups merge, so do their open incidents: the younger group's incident is
    closed as a duplicate of the older one's (or handed over when the older has none)."""
    theirs = Incident.objects.filter(pk=other.incident_id).first() if other.incident_id else None
    if not _is_live(theirs):
        return
    assert theirs is not None
    ours = Incident.objects.filter(pk=into.incident_id).first() if into.incident_id else None
    if not _is_live(ours):
        into.incident = theirs
        decide(
            into, f"took over incident {theirs.reference}", f"from {other.reference}", at=batch.now
        )
        return
    assert ours is not None
    from itline.operation.services import merge_incident

    try:
        with transaction.atomic():
            merge_incident(theirs, into=ours, by=None)
    except (ValidationError, DomainError) as exc:
        decide(into, f"could not merge {theirs.reference}", str(exc), at=batch.now)
        return
    decide(
        into,
        f"merged incident {theirs.reference} into {ours.reference}",
        f"{other.reference} and {into.reference} are one situation.",
        at=batch.now,
    )
