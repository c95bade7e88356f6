"""Post-implementation reviews that draft themselves.

When a change is implemented, ``draft_review`` gathers the evidence of its window (actual or
planned start to end, plus ``CHANGE_REVIEW_MARGIN_MINUTES`` after it): alert transitions and
alert groups and incidents on the touched items and their direct neighbours in the structure
(one step up and one step down through the impact engine), the SLA clocks those incidents
breached, the deployments recorded under the change, the suggested or confirmed
change-caused incidents and the outcome. It stores them in ``ChangeReview.draft`` with a
generated summary the owner starts from; ``complete_review`` (the owner or a change manager)
records the summary and lessons, after which the change can close. A draft is refreshed while
it is still a draft (the periodic task does so once the margin has passed)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from itline.cmdb.models import Node
from itline.core import journal
from itline.core.errors import ConflictError
from itline.core.models import JournalEntry
from itline.org.models import person_of
from itline.transition.choices import ChangeOutcome, ReviewStatus
from itline.transition.models import Change, ChangeReview

MANAGE_REVIEWS = "transition.change_changereview"
# Evidence lists are for reading, not for audits of a thousand rows; counts stay exact.
SHOWN = 25


def review_window(change: Change, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The period the review looks at: the change's actual (else planned) window, plus the
    margin after it."""
    now = now or timezone.now()
    start = change.actual_start or change.planned_start or change.created_at
    end = change.actual_end or change.planned_end or now
    if end < start:
        end = start
    margin = timedelta(minutes=settings.CHANGE_REVIEW_MARGIN_MINUTES)
    return start, end + margin


def _scope(node_ids: list[int]) -> tuple[list[int], list[int]]:
    """The touched nodes and their neighbours one step up and down the structure."""
    from itline.cmdb.impact import impact

    touched = sorted(set(node_ids))
    if not touched:
        return [], []
    near: set[int] = set()
    for direction in ("up", "down"):
        near.update(impact(touched, direction, depth=1).node_ids.tolist())
    return touched, sorted(near - set(touched))


def gather_evidence(change: Change, now: datetime | None = None) -> dict[str, Any]:
    """The review draft of ``change`` as plain JSON (see the module doc)."""
    from itline.operation.models import AlertGroup, AlertTransition, Incident, SlaClock

    now = now or timezone.now()
    start, end = review_window(change, now)
    touched, neighbours = _scope(list(change.nodes.values_list("pk", flat=True)))
    scope = [*touched, *neighbours]
    names = dict(Node.objects.filter(pk__in=scope).values_list("pk", "name"))
    refs = dict(Node.objects.filter(pk__in=scope).values_list("pk", "reference"))

    on_scope = Q(component_id__in=scope) | Q(service_id__in=scope)
    transitions = AlertTransition.objects.filter(on_scope, at__gte=start, at__lt=end)
    firing = transitions.filter(status="firing")
    alert_rows = list(firing.select_related("alert").order_by("at", "id")[:SHOWN])
    by_severity: dict[str, int] = {}
    for severity in firing.values_list("severity", flat=True):
        by_severity[severity] = by_severity.get(severity, 0) + 1
    alert_ids = set(firing.values_list("alert_id", flat=True))
    groups = list(
        AlertGroup.objects.filter(
            Q(alerts__in=alert_ids)
            | Q(probable_cause_id__in=scope, opened_at__gte=start, opened_at__lt=end)
        )
        .distinct()
        .order_by("opened_at", "id")
        .values("reference", "title", "severity", "status", "opened_at", "incident__reference")[
            :SHOWN
        ]
    )
    incidents_qs = Incident.objects.filter(on_scope, created_at__gte=start, created_at__lt=end)
    incidents = list(
        incidents_qs.order_by("created_at", "id").values(
            "pk",
            "reference",
            "title",
            "priority",
            "status",
            "created_at",
            "resolved_at",
            "component_id",
            "service_id",
        )
    )
    breaches = []
    for clock in SlaClock.objects.filter(incident_id__in=[i["pk"] for i in incidents]).values(
        "incident__reference", "kind", "due_at", "stopped_at", "breached_at"
    ):
        ended = clock["stopped_at"] or now
        if clock["breached_at"] is not None or (clock["due_at"] and clock["due_at"] < ended):
            breaches.append(
                {
                    "incident": clock["incident__reference"],
                    "kind": clock["kind"],
                    "due_at": _iso(clock["due_at"]),
                }
            )
    deployments = list(
        change.deployments.order_by("started_at", "id").values(
            "reference",
            "node__name",
            "version",
            "environment",
            "status",
            "started_at",
            "finished_at",
            "pipeline_url",
        )
    )
    caused = list(
        change.caused_links.order_by("id").values("incident__reference", "status", "reason")
    )
    draft: dict[str, Any] = {
        "generated_at": now.isoformat(),
        "window": {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "margin_minutes": settings.CHANGE_REVIEW_MARGIN_MINUTES,
        },
        "outcome": change.outcome,
        "scope": {
            "touched": [{"reference": refs.get(n), "name": names.get(n)} for n in touched],
            "neighbours": [{"reference": refs.get(n), "name": names.get(n)} for n in neighbours],
        },
        "alerts": {
            "firing": firing.count(),
            "resolved": transitions.filter(status="resolved").count(),
            "by_severity": by_severity,
            "shown": [
                {
                    "at": t.at.isoformat(),
                    "name": t.alert.name,
                    "severity": t.severity,
                    "node": names.get(t.component_id or t.service_id or 0),
                    "summary": t.summary,
                }
                for t in alert_rows
            ],
        },
        "alert_groups": [
            {
                "reference": g["reference"],
                "title": g["title"],
                "severity": g["severity"],
                "status": g["status"],
                "opened_at": _iso(g["opened_at"]),
                "incident": g["incident__reference"],
            }
            for g in groups
        ],
        "incidents": [
            {
                "reference": i["reference"],
                "title": i["title"],
                "priority": i["priority"],
                "status": i["status"],
                "created_at": _iso(i["created_at"]),
                "resolved_at": _iso(i["resolved_at"]),
                "node": names.get(i["component_id"] or i["service_id"] or 0),
                "touched": (i["component_id"] in touched) or (i["service_id"] in touched),
            }
            for i in incidents[:SHOWN]
        ],
        "incident_count": len(incidents),
        "sla": {"breaches": breaches, "breached_incidents": len({b["incident"] for b in breaches})},
        "deployments": [
            {
                "reference": d["reference"],
                "node": d["node__name"],
                "version": d["version"],
                "environment": d["environment"],
                "status": d["status"],
                "started_at": _iso(d["started_at"]),
                "finished_at": _iso(d["finished_at"]),
                "pipeline_url": d["pipeline_url"],
            }
            for d in deployments
        ],
        "caused_incidents": [
            {"incident": c["incident__reference"], "status": c["status"], "reason": c["reason"]}
            for c in caused
        ],
    }
    draft["summary"] = summarise(change, draft)
    return draft


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def summarise(change: Change, draft: dict[str, Any]) -> str:
    """A few sentences in domain words, the owner's starting point."""
    window = draft["window"]
    start = datetime.fromisoformat(window["start"])
    end = datetime.fromisoformat(window["end"]) - timedelta(minutes=window["margin_minutes"])
    outcome = ChangeOutcome(change.outcome).label if change.outcome else "no outcome recorded yet"
    touched = [t["name"] for t in draft["scope"]["touched"]]
    lines = [
        f"{change.reference} ({change.title}) was implemented from {start:%Y-%m-%d %H:%M} to "
        f"{end:%Y-%m-%d %H:%M} UTC on {', '.join(touched) or 'no recorded items'}; "
        f"outcome: {outcome.lower() if change.outcome else outcome}."
    ]
    alerts = draft["alerts"]
    scope_size = len(draft["scope"]["touched"]) + len(draft["scope"]["neighbours"])
    margin = window["margin_minutes"]
    if alerts["firing"]:
        severities = ", ".join(
            f"{n} {s}" for s, n in sorted(alerts["by_severity"].items(), key=lambda kv: -kv[1])
        )
        lines.append(
            f"During the window and {margin} minutes after it, "
            f"{_plural(alerts['firing'], 'alert')} fired ({severities}) on the "
            f"{scope_size} touched and neighbouring items."
        )
    else:
        lines.append(
            f"No alert fired on the {scope_size} touched and neighbouring items during the "
            f"window and {margin} minutes after it."
        )
    count = draft["incident_count"]
    if count:
        refs = ", ".join(i["reference"] for i in draft["incidents"][:5])
        more = f" and {count - 5} more" if count > 5 else ""
        breached = draft["sla"]["breached_incidents"]
        sla = f"{breached} breached an SLA" if breached else "none breached an SLA"
        lines.append(f"{_plural(count, 'incident')} opened ({refs}{more}); {sla}.")
    else:
        lines.append("No incident was opened on them.")
    deployments = draft["deployments"]
    if deployments:
        parts = [f"{d['version']} to {d['environment']} {d['status']}" for d in deployments[:5]]
        lines.append(f"{_plural(len(deployments), 'deployment')}: {'; '.join(parts)}.")
    confirmed = [c["incident"] for c in draft["caused_incidents"] if c["status"] == "confirmed"]
    suggested = [c["incident"] for c in draft["caused_incidents"] if c["status"] == "suggested"]
    if confirmed:
        lines.append(f"Confirmed as caused by this change: {', '.join(confirmed)}.")
    if suggested:
        lines.append(f"Suggested as caused by this change, to decide: {', '.join(suggested)}.")
    return " ".join(lines)


def draft_review(change: Change, now: datetime | None = None) -> ChangeReview:
    """Create or refresh the review draft of ``change`` (called by the change verbs when it
    is implemented, and by the periodic task). A completed review is left as it is."""
    with transaction.atomic():
        review = ChangeReview.objects.select_for_update().filter(change=change).first()
        if review is not None and review.status == ReviewStatus.COMPLETED:
            return review
        draft = gather_evidence(change, now)
        if review is None:
            review = ChangeReview(change=change, draft=draft, summary=draft["summary"])
            review.full_clean()
            review.save()
            journal.record(
                review, by=None, verb=JournalEntry.Verb.CREATED, message="drafted from evidence"
            )
            journal.record(
                change,
                by=None,
                verb=JournalEntry.Verb.UPDATED,
                message="post-implementation review drafted",
            )
            return review
        # The generated summary follows the evidence until the owner edits it.
        if not review.summary or review.summary == (review.draft or {}).get("summary"):
            review.summary = draft["summary"]
        review.draft = draft
        review.save(update_fields=["draft", "summary", "updated_at"])
        journal.record(review, by=None, verb=JournalEntry.Verb.UPDATED, message="draft refreshed")
    return review


def may_complete(user: Any, review: ChangeReview) -> bool:
    """The change's owner completes its review; so may whoever manages reviews."""
    if user is None:
        return True
    if user.has_perm(MANAGE_REVIEWS):
        return True
    person = person_of(user)
    return person is not None and person.pk == review.change.owner_id


def complete_review(
    review: ChangeReview, *, by: Any, summary: str, lessons: str = ""
) -> ChangeReview:
    """The owner's conclusions: draft -> completed. The summary is required; the drafted
    evidence stays as it was."""
    if not may_complete(by, review):
        raise PermissionDenied("Only the change owner or a change manager may complete its review.")
    summary = (summary or "").strip()
    if not summary:
        raise ValidationError({"summary": "Write what happened and why (the summary)."})
    with transaction.atomic():
        current = (
            ChangeReview.objects.select_for_update().select_related("change").get(pk=review.pk)
        )
        if current.status == ReviewStatus.COMPLETED:
            raise ConflictError(
                f"The review of {current.change.reference} is already completed.", field="status"
            )
        before = journal.snapshot(current)
        current.summary = summary
        current.lessons = (lessons or "").strip()
        current.status = ReviewStatus.COMPLETED
        current.completed_at = timezone.now()
        current.completed_by = person_of(by) if by is not None else None
        current.updated_by = by if getattr(by, "pk", None) else None
        current.full_clean()
        current.save()
        changes = journal.diff(before, journal.snapshot(current))
        journal.record(current, by=by, verb=JournalEntry.Verb.STATE_CHANGED, changes=changes)
        journal.record(
            current.change,
            by=by,
            verb=JournalEntry.Verb.UPDATED,
            message="post-implementation review completed",
        )
    for f in ChangeReview._meta.concrete_fields:
        setattr(review, f.attname, getattr(current, f.attname))
    return review
