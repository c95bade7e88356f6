"""CAB meetings: the agenda generated from changes awaiting CAB (or emergency CAB) approval,
the board's decision per item applied as the approval of the round, and the minutes as
Markdown.

How the meeting relates to individual votes: the board's decision *is* the decision of the
change's open approval round, whatever its rule (any/all/quorum): the meeting is where the
board agrees. Attendees who hold a vote in the round get the board's decision recorded as
their vote (decided by whoever recorded it, with the meeting in the comment); absent
approvers' votes stay undecided and leave their inbox because the round is closed. Votes
cast before the meeting stay as they were. A change whose round was already decided before
the meeting (members voted in the inbox) cannot be decided again by the board."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from itline.core import journal
from itline.core.errors import ConflictError
from itline.core.models import JournalEntry
from itline.core.services import create_record, require
from itline.operation.services.common import lock
from itline.org.models import Person, person_of
from itline.transition.choices import (
    ApprovalPath,
    ApprovalStatus,
    ChangeStatus,
    Decision,
    MeetingKind,
    RiskLevel,
)
from itline.transition.models import ApprovalRequest, CabItem, CabMeeting, Change

ADD = "transition.add_cabmeeting"
MANAGE = "transition.change_cabmeeting"
RISK_ORDER = {RiskLevel.HIGH: 0, RiskLevel.MEDIUM: 1, RiskLevel.LOW: 2}


def awaiting(kind: str) -> list[Change]:
    """Changes awaiting approval on the meeting's path, high risk first, then by window."""
    path = ApprovalPath.ECAB if kind == MeetingKind.ECAB else ApprovalPath.CAB
    changes = list(
        Change.objects.filter(
            status=ChangeStatus.AWAITING_APPROVAL,
            approval_rounds__status=ApprovalStatus.PENDING,
            approval_rounds__path=path,
        )
        .distinct()
        .select_related("owner", "requester")
    )
    far = datetime.max.replace(tzinfo=UTC)
    changes.sort(
        key=lambda c: (
            RISK_ORDER.get(RiskLevel(c.effective_risk), 3),
            c.planned_start or far,
            c.pk,
        )
    )
    return changes


def impact_summary(change: Change) -> dict[str, Any]:
    """What the change touches and reaches: the impacted services (touched services and
    those depending on the touched nodes, via the impact engine) and their customers."""
    from itline.cmdb.impact import impact
    from itline.cmdb.models import NodeKind, Service

    nodes = list(change.nodes.all())
    if not nodes:
        return {"services": [], "customers": [], "touched": []}
    result = impact([n.pk for n in nodes], "up")
    ids = {int(i) for i in result.service_ids.tolist()}
    ids |= {n.pk for n in nodes if n.kind == NodeKind.SERVICE}
    services = list(Service.objects.filter(pk__in=ids).order_by("-criticality", "name"))
    customers = result.customers()
    return {
        "touched": sorted(n.name for n in nodes),
        "services": [
            {"reference": s.reference, "name": s.name, "criticality": s.criticality}
            for s in services
        ],
        "customers": [str(c) for c in customers],
    }


def create_meeting(
    *,
    by: Any,
    starts_at: datetime,
    kind: str,
    title: str | None = None,
    chair: Person | None = None,
    attendees: Any = (),
) -> CabMeeting:
    """A CAB/ECAB meeting whose agenda holds every change awaiting approval on that path,
    high risk first, then by window start. The chair defaults to the acting person; with no
    attendees named, the approvers of the path are invited."""
    require(by, ADD)
    if kind not in MeetingKind.values:
        raise ValidationError({"kind": f"Choose one of {', '.join(MeetingKind.values)}."})
    if starts_at is None:
        raise ValidationError({"starts_at": "Give the start of the meeting."})
    from itline.transition.services.approvals import approvers_for, policy_for

    path = ApprovalPath.ECAB if kind == MeetingKind.ECAB else ApprovalPath.CAB
    with transaction.atomic():
        label = MeetingKind(kind).label
        local = timezone.localtime(starts_at)
        meeting = CabMeeting(
            title=title or f"{label} {local:%Y-%m-%d %H:%M}",
            kind=kind,
            starts_at=starts_at,
            chair=chair or (person_of(by) if by is not None else None),
        )
        agenda = awaiting(kind)
        create_record(
            meeting, by=by, message=f"Agenda generated: {len(agenda)} change(s) awaiting {label}."
        )
        people = list(attendees) or approvers_for(policy_for(path))
        meeting.attendees.set(people)
        CabItem.objects.bulk_create(
            [
                CabItem(meeting=meeting, change=change, position=position)
                for position, change in enumerate(agenda, start=1)
            ]
        )
    return meeting


def refresh_agenda(meeting: CabMeeting, *, by: Any) -> int:
    """Add changes that came to await approval since the agenda was generated; returns how
    many were added."""
    require(by, MANAGE)
    with transaction.atomic():
        current = lock(meeting)
        if current.closed_at is not None:
            raise ConflictError(f"{current.reference} is closed.", field="closed_at")
        have = set(CabItem.objects.filter(meeting=current).values_list("change_id", flat=True))
        last = CabItem.objects.filter(meeting=current).order_by("-position").first()
        position = last.position if last else 0
        new = [c for c in awaiting(current.kind) if c.pk not in have]
        CabItem.objects.bulk_create(
            [
                CabItem(meeting=current, change=c, position=position + i)
                for i, c in enumerate(new, start=1)
            ]
        )
        if new:
            journal.record(
                current,
                by=by,
                verb=JournalEntry.Verb.UPDATED,
                message=f"Added to the agenda: {', '.join(c.reference for c in new)}",
            )
    return len(new)


def record_cab_decision(item: CabItem, *, by: Any, decision: str, notes: str = "") -> CabItem:
    """Record the board's decision on one agenda item and apply it to the change's open
    approval round (see the module docstring)."""
    require(by, MANAGE)
    if decision not in (Decision.APPROVED, Decision.REJECTED):
        raise ValidationError({"decision": "Choose approved or rejected."})
    if decision == Decision.REJECTED and not (notes or "").strip():
        raise ValidationError({"notes": "Record why the board rejects the change."})
    from itline.transition.services.approvals import require_ready, settle_round

    with transaction.atomic():
        current = CabItem.objects.select_for_update().get(pk=item.pk)
        meeting = CabMeeting.objects.get(pk=current.meeting_id)
        if meeting.closed_at is not None:
            raise ConflictError(
                f"{meeting.reference} is closed; its decisions are final.", field="decision"
            )
        if current.decision != Decision.PENDING:
            raise ConflictError(
                f"The board already decided on this item ({current.get_decision_display()}).",
                field="decision",
            )
        change = lock(Change(pk=current.change_id))
        path = ApprovalPath.ECAB if meeting.kind == MeetingKind.ECAB else ApprovalPath.CAB
        round_ = (
            ApprovalRequest.objects.select_for_update()
            .filter(change=change, status=ApprovalStatus.PENDING, path=path)
            .order_by("-created_at", "-id")
            .first()
        )
        if round_ is None:
            raise ConflictError(
                f"{change.reference} is {change.get_status_display()}; no "
                f"{ApprovalPath(path).label} approval is pending.",
                field="decision",
            )
        if decision == Decision.APPROVED:
            require_ready(change)
        recorder = person_of(by) if by is not None else None
        if recorder is None and by is not None:
            raise PermissionDenied("Only a person with a login can record board decisions.")
        now = timezone.now()
        attendees = set(meeting.attendees.values_list("pk", flat=True))
        note = (notes or "").strip()
        comment = f"Board decision in {meeting.reference}" + (f": {note}" if note else "")
        round_.votes.filter(decision=Decision.PENDING, approver_id__in=attendees).update(
            decision=decision,
            decided_by=recorder,
            comment=comment,
            decided_at=now,
            updated_at=now,
        )
        current.decision = decision
        current.notes = note
        current.save(update_fields=["decision", "notes"])
        journal.record(
            meeting,
            by=by,
            verb=JournalEntry.Verb.UPDATED,
            message=f"{change.reference}: {decision}" + (f" - {note}" if note else ""),
        )
        settle_round(
            change,
            round_,
            ApprovalStatus.APPROVED if decision == Decision.APPROVED else ApprovalStatus.REJECTED,
            by=by,
            when=now,
            note=comment,
        )
    return current


def close_meeting(meeting: CabMeeting, *, by: Any) -> CabMeeting:
    """Close the meeting and store its minutes; undecided items stay open for the next."""
    require(by, MANAGE)
    with transaction.atomic():
        current = lock(meeting)
        if current.closed_at is not None:
            raise ConflictError(f"{current.reference} is already closed.", field="closed_at")
        current.minutes = minutes_markdown(current)
        current.closed_at = timezone.now()
        current.updated_by = by if getattr(by, "pk", None) else None
        current.save()
        journal.record(current, by=by, verb=JournalEntry.Verb.STATE_CHANGED, message="Closed")
    meeting.minutes, meeting.closed_at = current.minutes, current.closed_at
    return meeting


def _cell(text: str) -> str:
    return " ".join((text or "").split()).replace("|", "\\|")


def minutes_markdown(meeting: CabMeeting) -> str:
    """The minutes: when, chair, attendees, and per item the change, its risk, window,
    impact, decision and notes."""
    items = list(meeting.items.select_related("change").order_by("position", "id").all())
    local = timezone.localtime(meeting.starts_at)
    lines = [
        f"# {meeting.title}",
        "",
        f"- Meeting: {meeting.reference} ({meeting.get_kind_display()})",
        f"- Date: {local:%Y-%m-%d %H:%M %Z}",
        f"- Chair: {meeting.chair or 'not set'}",
        "- Attendees: "
        + (", ".join(sorted(p.name for p in meeting.attendees.all())) or "none recorded"),
        "",
        "## Decisions",
        "",
    ]
    if not items:
        lines.append("No changes were on the agenda.")
    for number, item in enumerate(items, start=1):
        change = item.change
        summary = impact_summary(change)
        window = (
            f"{timezone.localtime(change.planned_start):%Y-%m-%d %H:%M} - "
            f"{timezone.localtime(change.planned_end):%Y-%m-%d %H:%M}"
            if change.planned_start and change.planned_end
            else "no window"
        )
        services = ", ".join(s["name"] for s in summary["services"]) or "none"
        customers = ", ".join(summary["customers"]) or "none"
        risk = RiskLevel(change.effective_risk).label
        if change.risk_override:
            risk += f" (overridden: {_cell(change.risk_override_reason)})"
        lines += [
            f"### {number}. {change.reference} {_cell(change.title)}",
            "",
            f"- Type: {change.get_change_type_display()}; risk: {risk}, score "
            f"{change.risk_score}/100",
            f"- Window: {window}",
            f"- Touches: {', '.join(summary['touched']) or 'nothing'}",
            f"- Impact: services {services}; customers {customers}",
            f"- Decision: **{item.get_decision_display()}**"
            + ("" if item.decision != Decision.PENDING else " (not decided in this meeting)"),
        ]
        if item.notes:
            lines.append(f"- Notes: {_cell(item.notes)}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
