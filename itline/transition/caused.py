"""Change-caused incidents.

An incident opened on a component the change touched -- or on something that depends on it,
up to ``CHANGE_CAUSED_INCIDENT_DEPTH`` steps up the structure (the services it supports, the
applications on a patched server) -- from the start of the change's implementation until
``CHANGE_CAUSED_INCIDENT_HOURS`` after its end is *suggested* as caused by the change, with
the reason (when, where, and the path that relates it to the touched item). A person
confirms or dismisses each suggestion; a confirmed link counts the change as failed in the
change metrics. Incidents the change was raised to fix are never suggested, and a dismissed
suggestion is not made again. The periodic task (``itline.transition.tasks``) scans recently
implemented changes; suggestions are also made on demand."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from itline.cmdb.models import Node
from itline.core import journal
from itline.core.errors import DomainError, TransitionError
from itline.core.models import JournalEntry
from itline.core.services import create_record, require
from itline.org.models import person_of
from itline.transition.choices import ChangeStatus, LinkStatus
from itline.transition.models import Change, ChangeIncidentLink

DECIDE = "transition.change_changeincidentlink"
# Changes past implementation: only they have an "after" to look at.
IMPLEMENTED = (ChangeStatus.IMPLEMENTED, ChangeStatus.IN_REVIEW, ChangeStatus.CLOSED)
LINK_TRANSITIONS: dict[str, frozenset[str]] = {
    LinkStatus.SUGGESTED: frozenset({LinkStatus.CONFIRMED, LinkStatus.DISMISSED}),
    LinkStatus.CONFIRMED: frozenset({LinkStatus.DISMISSED}),
    LinkStatus.DISMISSED: frozenset({LinkStatus.CONFIRMED}),
}


def caused_window(change: Change) -> tuple[datetime, datetime] | None:
    """From the start of the implementation to the configured hours after its end."""
    start = change.actual_start or change.planned_start
    end = change.actual_end or change.planned_end
    if start is None or end is None:
        return None
    return start, max(start, end) + timedelta(hours=settings.CHANGE_CAUSED_INCIDENT_HOURS)


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days {hours % 24} h"


def suggest_caused_incidents(
    change: Change, *, now: datetime | None = None
) -> list[ChangeIncidentLink]:
    """Create the suggestions not made before for ``change``; returns the new links."""
    from itline.cmdb.impact import impact
    from itline.operation.models import Incident

    if change.status not in IMPLEMENTED:
        return []
    window = caused_window(change)
    if window is None:
        return []
    start, until = window
    until = min(until, now or timezone.now())
    touched = sorted(set(change.nodes.values_list("pk", flat=True)))
    if not touched or until <= start:
        return []
    reach = impact(touched, "up", depth=settings.CHANGE_CAUSED_INCIDENT_DEPTH)
    scope = set(reach.node_ids.tolist()) | set(touched)
    already = ChangeIncidentLink.objects.filter(change=change).values("incident_id")
    fixing = change.incidents.values("pk")
    candidates = list(
        Incident.objects.filter(
            Q(component_id__in=scope) | Q(service_id__in=scope),
            created_at__gte=start,
            created_at__lt=until,
            merged_into__isnull=True,
        )
        .exclude(pk__in=already)
        .exclude(pk__in=fixing)
        .order_by("created_at", "id")
        .values("pk", "reference", "created_at", "component_id", "service_id")
    )
    if not candidates:
        return []
    node_of = {
        c["pk"]: c["component_id"] if c["component_id"] in scope else c["service_id"]
        for c in candidates
    }
    paths = {pk: [n] if n in touched else reach.path(n) for pk, n in node_of.items()}
    needed = set(touched) | {n for path in paths.values() for n in path}
    names = dict(Node.objects.filter(pk__in=needed).values_list("pk", "name"))
    end = change.actual_end or change.planned_end or start
    made = []
    with transaction.atomic():
        for c in candidates:
            path = [names.get(n, "?") for n in paths[c["pk"]]]
            when = (
                f"{_duration(c['created_at'] - end)} after {change.reference} ended"
                if c["created_at"] >= end
                else f"while {change.reference} was being implemented"
            )
            related = (
                f"; it depends on {path[0]}, which the change touched "
                f"({' -> '.join(reversed(path))})"
                if len(path) > 1
                else ", which the change touched"
            )
            link = ChangeIncidentLink(
                change=change,
                incident_id=c["pk"],
                reason=f"{c['reference']} was opened on {path[-1]} {when}{related}.",
            )
            create_record(link, by=None)
            made.append(link)
        journal.record(
            change,
            by=None,
            verb=JournalEntry.Verb.UPDATED,
            message="suggested as caused by this change: "
            + ", ".join(c["reference"] for c in candidates),
        )
    return made


def _decide(link: ChangeIncidentLink, *, by: Any, status: str) -> ChangeIncidentLink:
    require(by, DECIDE)
    with transaction.atomic():
        current = (
            ChangeIncidentLink.objects.select_for_update()
            .select_related("change", "incident")
            .get(pk=link.pk)
        )
        allowed = LINK_TRANSITIONS.get(current.status, frozenset())
        if status not in allowed:
            raise TransitionError(
                f"The link of {current.incident.reference} to {current.change.reference} is "
                f"already {current.get_status_display().lower()}.",
                allowed=sorted(allowed),
            )
        before = journal.snapshot(current)
        current.status = status
        current.decided_by = person_of(by) if by is not None else None
        current.updated_by = by if getattr(by, "pk", None) else None
        current.save()
        journal.record(
            current,
            by=by,
            verb=JournalEntry.Verb.STATE_CHANGED,
            changes=journal.diff(before, journal.snapshot(current)),
        )
        verb = "confirmed" if status == LinkStatus.CONFIRMED else "dismissed"
        journal.record(
            current.change,
            by=by,
            verb=JournalEntry.Verb.UPDATED,
            message=f"{verb} {current.incident.reference} as caused by this change",
        )
        journal.record(
            current.incident,
            by=by,
            verb=JournalEntry.Verb.UPDATED,
            message=f"{verb} as caused by {current.change.reference}",
        )
    for f in ChangeIncidentLink._meta.concrete_fields:
        setattr(link, f.attname, getattr(current, f.attname))
    return link


def confirm_link(link: ChangeIncidentLink, *, by: Any) -> ChangeIncidentLink:
    """The incident was caused by the change: the change counts as failed in the metrics."""
    return _decide(link, by=by, status=LinkStatus.CONFIRMED)


def dismiss_link(link: ChangeIncidentLink, *, by: Any) -> ChangeIncidentLink:
    """Not caused by the change; the suggestion is not made again."""
    return _decide(link, by=by, status=LinkStatus.DISMISSED)


def link_incident(
    change: Change, incident: Any, *, by: Any, reason: str = ""
) -> ChangeIncidentLink:
    """A person links an incident the scan did not suggest, confirmed at once."""
    require(by, DECIDE)
    if change.status not in IMPLEMENTED:
        raise DomainError(
            f"{change.reference} is not implemented yet; only an implemented change can cause "
            "incidents.",
            field="change",
        )
    with transaction.atomic():
        link, created = ChangeIncidentLink.objects.get_or_create(
            change=change,
            incident=incident,
            defaults={"reason": reason or "Linked by hand.", "status": LinkStatus.SUGGESTED},
        )
        if created:
            journal.record(link, by=by, verb=JournalEntry.Verb.CREATED)
        if link.status != LinkStatus.CONFIRMED:
            link = confirm_link(link, by=by)
    return link


def recently_implemented(now: datetime | None = None) -> QuerySet[Change]:
    """Changes whose caused-incident period has not ended yet (with an hour's slack for a
    late scan)."""
    now = now or timezone.now()
    since = now - timedelta(hours=settings.CHANGE_CAUSED_INCIDENT_HOURS + 1)
    return Change.objects.filter(status__in=IMPLEMENTED).filter(
        Q(actual_end__gte=since) | Q(actual_end__isnull=True, planned_end__gte=since)
    )


def scan(now: datetime | None = None) -> int:
    """Suggest caused incidents for every recently implemented change; returns how many."""
    made = 0
    for change in recently_implemented(now).iterator(chunk_size=100):
        made += len(suggest_caused_incidents(change, now=now))
    return made
