"""Approval verbs: rounds per approval path, votes by approvers or their delegates, the
any/all/quorum rules, delegation while away, approval policies, and the approver inbox.

A round (ApprovalRequest) freezes the rule and quorum of the path's policy when it is opened
and holds one vote (Approval) per approver. The first rejection rejects the round; approval
follows the rule. Approvers who raised or own the change are left out of the round when the
policy forbids self-approval, and are refused (403) if they try to decide."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from itline.core import journal
from itline.core.errors import ConflictError, DomainError
from itline.core.models import JournalEntry
from itline.core.services import create_record, require
from itline.operation import events
from itline.operation.services.common import check_version, copy_state, lock, save_with_journal
from itline.org.models import Function, Person, person_of
from itline.transition import readiness as checklist
from itline.transition.choices import (
    ApprovalPath,
    ApprovalRule,
    ApprovalStatus,
    ChangeStatus,
    ChangeType,
    Decision,
)
from itline.transition.models import Approval, ApprovalPolicy, ApprovalRequest, Change, Delegation

POLICY_PERM = "transition.change_approvalpolicy"
MANAGE = "transition.change_change"
CAB_FUNCTION = "Change Advisory Board"


# --- policies and approvers -----------------------------------------------------------------


def policy_for(path: str) -> ApprovalPolicy:
    """The policy of ``path``; the built-in default (any one approver, no self-approval)
    when none is stored."""
    found = ApprovalPolicy.objects.filter(path=path).select_related("function").first()
    return found or ApprovalPolicy(path=path, rule=ApprovalRule.ANY, quorum=1)


def change_managers() -> QuerySet[Person]:
    return Person.objects.filter(active=True, user__is_active=True).filter(
        Q(user__groups__name="change_manager") | Q(user__is_superuser=True)
    )


def default_function(path: str) -> Function | None:
    """The function whose members approve on ``path`` when the policy names nobody: the
    CAB function for the CAB (settings ``CHANGE_CAB_FUNCTION``), ``CHANGE_ECAB_FUNCTION``
    (if set) for the emergency CAB."""
    if path == ApprovalPath.CAB:
        name = getattr(settings, "CHANGE_CAB_FUNCTION", CAB_FUNCTION)
    elif path == ApprovalPath.ECAB:
        name = getattr(settings, "CHANGE_ECAB_FUNCTION", "")
    else:
        return None
    return Function.objects.filter(name=name, active=True).first() if name else None


def approvers_for(policy: ApprovalPolicy) -> list[Person]:
    """The people who approve on the policy's path: its named people and the members of its
    function; when it names neither, the default function of the path, else the change
    managers (people with the change manager role)."""
    people: dict[int, Person] = {}
    if policy.pk:
        for person in policy.people.filter(active=True):
            people[person.pk] = person
    function = policy.function if policy.function_id else None
    if function is None and not people:
        function = default_function(policy.path)
    if function is not None:
        for person in function.members.filter(active=True):
            people[person.pk] = person
    if not people:
        for person in change_managers().distinct():
            people[person.pk] = person
    return sorted(people.values(), key=lambda p: (p.name, p.pk))


def own_people(change: Change) -> set[int]:
    """Who may not approve the change when self-approval is forbidden: requester, owner and
    whoever raised it."""
    ids = {i for i in (change.requester_id, change.owner_id) if i}
    if change.created_by_id:
        raiser = Person.objects.filter(user_id=change.created_by_id).values_list("pk", flat=True)
        ids.update(raiser)
    return ids


def update_policy(policy: ApprovalPolicy, *, by: Any, people: Any = None, **fields: Any) -> Any:
    """Change rule, quorum, function, named people or ``forbid_self_approval`` of a path."""
    require(by, POLICY_PERM)
    allowed = {"rule", "quorum", "function", "forbid_self_approval"}
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise ValidationError({unknown[0]: "This field cannot be set here."})
    if "rule" in fields and fields["rule"] not in ApprovalRule.values:
        raise ValidationError({"rule": f"Choose one of {', '.join(ApprovalRule.values)}."})
    if "quorum" in fields and (fields["quorum"] is None or int(fields["quorum"]) < 1):
        raise ValidationError({"quorum": "The quorum is at least 1."})
    with transaction.atomic():
        if policy.pk is None:
            policy.save()
        current = lock(policy)
        before = journal.snapshot(current)
        for name, value in fields.items():
            setattr(current, name, value)
        current.full_clean()
        changes = journal.diff(before, journal.snapshot(current))
        if people is not None:
            old = sorted(p.name for p in current.people.all())
            current.people.set(list(people))
            new = sorted(p.name for p in current.people.all())
            if old != new:
                changes["people"] = [old, new]
        if changes:
            current.updated_by = by if getattr(by, "pk", None) else None
            current.save()
            journal.record(current, by=by, verb=JournalEntry.Verb.UPDATED, changes=changes)
    return copy_state(current, policy)


# --- rounds ---------------------------------------------------------------------------------


def open_round(change: Change, *, by: Any, move: bool = True, message: str = "") -> ApprovalRequest:
    """Open a round on the change's path with one vote per eligible approver and (``move``)
    move the change to awaiting approval. Call inside the caller's transaction, on the
    locked change."""
    from itline.transition.services.changes import _move

    path = change.approval_path
    if path == ApprovalPath.NONE:
        raise DomainError(
            "A standard change is pre-approved by its template; it has no approval round.",
            field="approval_path",
        )
    policy = policy_for(path)
    approvers = approvers_for(policy)
    if policy.forbid_self_approval:
        mine = own_people(change)
        approvers = [p for p in approvers if p.pk not in mine]
    label = ApprovalPath(path).label
    if not approvers:
        raise DomainError(
            f"No one can approve on the path {label}: name people or a function on its "
            "approval policy (requesters and owners may not approve their own change).",
            field="approval_path",
        )
    quorum = max(1, int(policy.quorum or 1))
    if policy.rule == ApprovalRule.QUORUM and quorum > len(approvers):
        raise DomainError(
            f"The policy of {label} needs a quorum of {quorum}, but only {len(approvers)} "
            "people can approve this change.",
            field="approval_path",
        )
    round_ = ApprovalRequest(change=change, path=path, rule=policy.rule, quorum=quorum)
    create_record(round_, by=by)
    Approval.objects.bulk_create(
        [Approval(request=round_, approver=p, created_by=_actor(by)) for p in approvers]
    )
    text = message or f"Approval requested from {label} ({round_.get_rule_display().lower()})."
    if move:
        _move(change, ChangeStatus.AWAITING_APPROVAL, by=by, approved_at=None, message=text)
    else:
        journal.record(change, by=by, verb=JournalEntry.Verb.UPDATED, message=text)
    events.publish(
        change,
        "change.approval_requested",
        by=by,
        extra={"path": path, "approvers": [p.reference for p in approvers]},
    )
    return round_


def _actor(by: Any) -> Any:
    return by if getattr(by, "pk", None) else None


def withdraw_rounds(change: Change, *, by: Any, why: str) -> int:
    """Withdraw the pending rounds of the change (they leave the approvers' inboxes)."""
    now = timezone.now()
    count = ApprovalRequest.objects.filter(change=change, status=ApprovalStatus.PENDING).update(
        status=ApprovalStatus.WITHDRAWN, decided_at=now, updated_at=now
    )
    if count:
        journal.record(
            change, by=by, verb=JournalEntry.Verb.UPDATED, message=f"Approval withdrawn: {why}."
        )
    return count


def require_ready(change: Change, *, when: str = "approval") -> None:
    """Transition requires the readiness checklist before approval (for an emergency: before
    the ECAB approves it after the fact)."""
    missing = checklist.open_items(change.readiness)
    if missing:
        raise ValidationError(
            {
                "readiness": f"Complete the readiness checklist before {when}: "
                f"{', '.join(i['text'] for i in missing[:3])}"
                + (f" and {len(missing) - 3} more." if len(missing) > 3 else ".")
            }
        )


def request_approval(change: Change, *, by: Any, version: int | None = None) -> ApprovalRequest:
    """assessed (or an implemented emergency) -> awaiting approval: opens a round on the
    change's approval path with one pending Approval per approver of its ApprovalPolicy.
    The readiness checklist must be complete."""
    from itline.transition.services.changes import require_participant

    require_participant(by, change)
    with transaction.atomic():
        current = lock(change)
        check_version(current, version)
        if ApprovalRequest.objects.filter(change=current, status=ApprovalStatus.PENDING).exists():
            raise ConflictError(f"{current.reference} already awaits approval.", field="status")
        post_fact = (
            current.change_type == ChangeType.EMERGENCY
            and current.status == ChangeStatus.IMPLEMENTED
        )
        if current.status != ChangeStatus.ASSESSED and not post_fact:
            raise DomainError(
                f"{current.reference} is {current.get_status_display()}; approval is "
                "requested for an assessed change (submit it first).",
                field="status",
            )
        require_ready(current)
        round_ = open_round(current, by=by)
    copy_state(current, change)
    return round_


def delegators(person: Person, at: datetime | None = None) -> list[int]:
    """Ids of the people who delegated to ``person`` at ``at`` (default now)."""
    at = at or timezone.now()
    return list(
        Delegation.objects.filter(delegate=person, starts_at__lte=at, ends_at__gt=at).values_list(
            "person_id", flat=True
        )
    )


def pending_for(person: Person, *, at: datetime | None = None) -> QuerySet[Approval]:
    """Pending votes ``person`` may decide now: their own and those of people who delegated
    to them (active delegation at ``at``), in open rounds, oldest first."""
    who = [person.pk, *delegators(person, at)]
    return (
        Approval.objects.filter(
            approver_id__in=who, decision=Decision.PENDING, request__status=ApprovalStatus.PENDING
        )
        .select_related("request__change", "approver")
        .order_by("request__created_at", "id")
    )


def decide_approval(
    change: Change,
    *,
    by: Any,
    decision: str,
    comment: str = "",
    on_behalf_of: Person | None = None,
    version: int | None = None,
) -> Approval:
    """``by`` (an approver of the open round, or a delegate of one while the delegation is
    active) approves or rejects with a comment. Their own vote is decided, else the vote of
    ``on_behalf_of`` (or of the first person who delegated to them). The first rejection
    rejects the round; approval follows the rule (any / all / quorum). The change moves to
    approved or rejected (an implemented emergency moves on to review). Self-approval is
    refused (403) where the policy forbids it. The system (``by=None``) decides the whole
    round."""
    if decision not in (Decision.APPROVED, Decision.REJECTED):
        raise ValidationError({"decision": "Choose approved or rejected."})
    if decision == Decision.REJECTED and not (comment or "").strip():
        raise ValidationError({"comment": "Say why the change is rejected."})
    with transaction.atomic():
        current = lock(change)
        check_version(current, version)
        round_ = (
            ApprovalRequest.objects.select_for_update()
            .filter(change=current, status=ApprovalStatus.PENDING)
            .order_by("-created_at", "-id")
            .first()
        )
        if round_ is None:
            raise ConflictError(
                f"{current.reference} is {current.get_status_display()}; no approval is pending.",
                field="status",
            )
        if decision == Decision.APPROVED:
            require_ready(current)
        now = timezone.now()
        votes = list(round_.votes.select_related("approver").order_by("id"))
        if by is None:
            chosen = [v for v in votes if v.decision == Decision.PENDING]
            decider = None
        else:
            decider = person_of(by)
            if decider is None:
                raise PermissionDenied("Only a person with a login can decide on approvals.")
            if policy_for(round_.path).forbid_self_approval and decider.pk in own_people(current):
                raise PermissionDenied(
                    f"You requested or own {current.reference}; the approval policy forbids "
                    "approving your own change."
                )
            chosen = [_vote_of(votes, decider, on_behalf_of, now)]
        for vote in chosen:
            vote.decision = decision
            vote.decided_by = decider
            vote.comment = (comment or "").strip()
            vote.decided_at = now
            vote.updated_by = _actor(by)
            vote.save()
        who = decider.name if decider else "the system"
        for vote in chosen:
            behalf = (
                f" on behalf of {vote.approver}"
                if decider and vote.approver_id != (decider.pk)
                else ""
            )
            journal.record(
                current,
                by=by,
                verb=JournalEntry.Verb.UPDATED,
                message=f"{'Approved' if decision == Decision.APPROVED else 'Rejected'} by "
                f"{who}{behalf}" + (f": {vote.comment}" if vote.comment else ""),
            )
        outcome = _evaluate(round_, votes)
        if outcome is not None:
            settle_round(current, round_, outcome, by=by, when=now)
    copy_state(current, change)
    return chosen[0] if chosen else votes[0]


def _vote_of(
    votes: list[Approval], decider: Person, on_behalf_of: Person | None, at: datetime
) -> Approval:
    pending = [v for v in votes if v.decision == Decision.PENDING]
    if on_behalf_of is None or on_behalf_of.pk == decider.pk:
        own = next((v for v in pending if v.approver_id == decider.pk), None)
        if own is not None:
            return own
    away = set(delegators(decider, at))
    if on_behalf_of is not None:
        away &= {on_behalf_of.pk}
    delegated = next((v for v in pending if v.approver_id in away), None)
    if delegated is not None:
        return delegated
    if any(v.approver_id == decider.pk for v in votes):
        raise ConflictError("You have already decided on this approval.", field="decision")
    raise PermissionDenied(
        "You are not an approver of this change (nor standing in for one through a delegation)."
    )


def _evaluate(round_: ApprovalRequest, votes: list[Approval]) -> str | None:
    """approved / rejected when the round is decided by its rule, else None."""
    if any(v.decision == Decision.REJECTED for v in votes):
        return ApprovalStatus.REJECTED
    approved = sum(1 for v in votes if v.decision == Decision.APPROVED)
    if round_.rule == ApprovalRule.ALL:
        return ApprovalStatus.APPROVED if votes and approved == len(votes) else None
    if round_.rule == ApprovalRule.QUORUM:
        return ApprovalStatus.APPROVED if approved >= min(round_.quorum, len(votes)) else None
    return ApprovalStatus.APPROVED if approved >= 1 else None


def settle_round(
    change: Change,
    round_: ApprovalRequest,
    outcome: str,
    *,
    by: Any,
    when: datetime,
    note: str = "",
) -> None:
    """Close the round with ``outcome`` and move the change: approved/rejected, or (an
    emergency already implemented) on to review; an emergency being implemented keeps its
    status and only records the decision."""
    from itline.transition.services.changes import _move, _sync

    round_.status = outcome
    round_.decided_at = when
    round_.updated_by = _actor(by)
    round_.save()
    approved = outcome == ApprovalStatus.APPROVED
    label = ApprovalPath(round_.path).label
    text = f"{label}: {'approved' if approved else 'rejected'}" + (f" ({note})" if note else "")
    if change.status == ChangeStatus.AWAITING_APPROVAL and change.actual_end is not None:
        _move(
            change,
            ChangeStatus.IN_REVIEW,
            by=by,
            approved_at=when if approved else None,
            message=text + " after the fact" + ("" if approved else "; the review must address it"),
        )
    elif change.status == ChangeStatus.AWAITING_APPROVAL:
        _move(
            change,
            ChangeStatus.APPROVED if approved else ChangeStatus.REJECTED,
            by=by,
            approved_at=when if approved else None,
            message=text,
        )
    else:
        before = journal.snapshot(change)
        change.approved_at = when if approved else None
        save_with_journal(change, before, by=by, message=text)
    _sync(change)
    events.publish(change, "change.approved" if approved else "change.rejected", by=by)


# --- delegation -----------------------------------------------------------------------------


def create_delegation(
    *, by: Any, person: Person, delegate: Person, starts_at: datetime, ends_at: datetime
) -> Delegation:
    """Let ``delegate`` decide ``person``'s approvals in the period. People set their own
    delegation; change managers may set anyone's."""
    require(by, "transition.add_delegation")
    me = person_of(by) if by is not None else None
    if by is not None and not by.has_perm(MANAGE) and (me is None or me.pk != person.pk):
        raise PermissionDenied("You may only delegate your own approvals.")
    if person.pk == delegate.pk:
        raise ValidationError({"delegate": "Choose someone else to stand in for you."})
    if starts_at and ends_at and ends_at <= starts_at:
        raise ValidationError({"ends_at": "The delegation must end after it starts."})
    if ends_at <= timezone.now():
        raise ValidationError({"ends_at": "The delegation has already ended."})
    delegation = Delegation(person=person, delegate=delegate, starts_at=starts_at, ends_at=ends_at)
    return create_record(delegation, by=by, message=f"{delegate} stands in for {person}")


def end_delegation(delegation: Delegation, *, by: Any) -> Delegation:
    """End a delegation now (or delete it when it has not started)."""
    me = person_of(by) if by is not None else None
    if (
        by is not None
        and not by.has_perm(MANAGE)
        and (me is None or me.pk not in (delegation.person_id, delegation.delegate_id))
    ):
        raise PermissionDenied("You may only end your own delegations.")
    now = timezone.now()
    with transaction.atomic():
        current = lock(delegation)
        before = journal.snapshot(current)
        if current.starts_at >= now:
            journal.record(current, by=by, verb=JournalEntry.Verb.DELETED)
            current.delete()
            return delegation
        if current.ends_at > now:
            current.ends_at = now
            current.updated_by = _actor(by)
            current.save()
            journal.record(
                current,
                by=by,
                verb=JournalEntry.Verb.UPDATED,
                changes=journal.diff(before, journal.snapshot(current)),
            )
    return copy_state(current, delegation)
