"""Builders for Transition tests (like itline.operation.testing): each test states its data.

``make_change`` builds a draft through the verbs; ``advance`` drives a change through the
verbs to a later status as the system (``by=None``), so tests of risk, collisions, the gate,
deployments, reviews and the calendar get real changes without repeating the workflow."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from itline.cmdb.models import Node
from itline.cmdb.testing import make_component
from itline.transition.choices import ChangeOutcome, ChangeStatus, ChangeType
from itline.transition.models import Change, ChangeTemplate, Delegation, FreezeWindow

PLAN = "Step 1: drain. Step 2: upgrade. Step 3: verify."
BACKOUT = "Restore the snapshot taken before step 2."


def window(
    start_in: timedelta = timedelta(days=2), duration: timedelta = timedelta(hours=1)
) -> tuple[datetime, datetime]:
    """A window starting ``start_in`` from now (rounded to the minute)."""
    start = timezone.now().replace(second=0, microsecond=0) + start_in
    return start, start + duration


def make_template(
    name: str = "Patch a Linux server",
    *,
    nodes: Any = (),
    component_types: Any = (),
    max_duration_minutes: int = 120,
    **fields: Any,
) -> ChangeTemplate:
    fields.setdefault("implementation_plan", PLAN)
    fields.setdefault("backout_plan", BACKOUT)
    template = ChangeTemplate(name=name, max_duration_minutes=max_duration_minutes, **fields)
    template.save()
    template.nodes.set(list(nodes))
    template.component_types.set(list(component_types))
    return template


def make_change(
    title: str = "Upgrade the database",
    *,
    change_type: str = ChangeType.NORMAL,
    nodes: Any = None,
    by: Any = None,
    start: datetime | None = None,
    end: datetime | None = None,
    status: str | None = None,
    ready: bool = True,
    **fields: Any,
) -> Change:
    """A change (draft unless ``status`` is given) on ``nodes`` (default: a new component)
    with a window two days from now, plans filled in, and (``ready``) its readiness
    checklist ticked. ``status`` drives it there through the verbs as the system."""
    from itline.transition import services

    if nodes is None:
        nodes = [make_component(f"db-{Change.objects.count() + 1}")]
    if start is None or end is None:
        default_start, default_end = window()
        start = start or default_start
        end = end or (start + (default_end - default_start))
    if change_type != ChangeType.STANDARD:
        fields.setdefault("implementation_plan", PLAN)
        fields.setdefault("backout_plan", BACKOUT)
    change = services.create_change(
        by=by,
        title=title,
        change_type=change_type,
        nodes=nodes,
        planned_start=start,
        planned_end=end,
        **fields,
    )
    if ready:
        for entry in change.readiness:
            services.tick_readiness(change, by=by, key=entry["key"], done=True)
    if status is not None:
        advance(change, status)
    return change


def advance(
    change: Change, status: str, *, outcome: str = ChangeOutcome.SUCCESSFUL, by: Any = None
) -> Change:
    """Drive ``change`` through the verbs (as ``by``, default the system) to ``status``:
    submitted (which ends in assessed: submit assesses at once), assessed, awaiting approval, approved, scheduled, implementing, implemented,
    in review, closed, rejected or cancelled. The system decides approval rounds on behalf of
    their approvers. An emergency is implemented before approval; asking it for
    ``implemented`` leaves it awaiting the emergency CAB after the fact (actual_end set)."""
    from itline.transition import services

    S = ChangeStatus
    target = S(status)
    emergency = change.change_type == ChangeType.EMERGENCY
    if target == S.CANCELLED:
        return services.cancel_change(change, by=by, reason="Not needed any more")
    ensure_approvers()
    if change.status == S.DRAFT:
        services.submit_change(
            change, by=by, send_for_approval=target not in (S.SUBMITTED, S.ASSESSED)
        )
    if target == S.SUBMITTED:
        return change
    steps = 0
    while change.status != target and steps < 20:
        steps += 1
        current = S(change.status)
        if current == S.ASSESSED:
            if emergency and target not in (S.AWAITING_APPROVAL, S.APPROVED, S.REJECTED):
                services.start_implementation(change, by=by)
            else:
                services.request_approval(change, by=by)
        elif current == S.AWAITING_APPROVAL:
            if target == S.REJECTED:
                services.decide_approval(change, by=by, decision="rejected", comment="Too risky")
            elif emergency and change.actual_end is not None and target == S.IMPLEMENTED:
                break
            else:
                services.decide_approval(change, by=by, decision="approved", comment="OK")
        elif current == S.APPROVED:
            if target == S.SCHEDULED:
                services.schedule_change(change, by=by)
            else:
                services.start_implementation(change, by=by)
        elif current == S.SCHEDULED:
            services.start_implementation(change, by=by)
        elif current == S.IMPLEMENTING:
            services.complete_implementation(change, by=by, outcome=outcome)
        elif current == S.IMPLEMENTED:
            if target == S.CLOSED:
                services.close_change(change, by=by)
            else:
                services.start_review(change, by=by)
        elif current == S.IN_REVIEW:
            services.close_change(change, by=by)
        else:
            raise ValueError(f"cannot advance {change.reference} from {current} to {target}")
        change.refresh_from_db()
    return change


def ensure_approvers(count: int = 2) -> None:
    """Make sure rounds on every path can be opened: with no change managers (the fallback
    approvers of every path), create ``count`` of them."""
    from itline.transition.services.approvals import change_managers

    have = change_managers().distinct().count()
    for n in range(have, count):
        from itline.core.testing import make_user

        make_user(f"approver{n + 1}", "change_manager", name=f"Approver {n + 1}")


def make_freeze(
    title: str = "Month-end freeze",
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    services: Any = (),
    rrule: str = "",
    **fields: Any,
) -> FreezeWindow:
    if start is None or end is None:
        start, end = window(timedelta(days=1), timedelta(days=3))
    freeze = FreezeWindow(title=title, starts_at=start, ends_at=end, rrule=rrule, **fields)
    freeze.full_clean()
    freeze.save()
    freeze.services.set(list(services))
    return freeze


def make_delegation(
    person: Any, delegate: Any, *, start: datetime | None = None, days: int = 7
) -> Delegation:
    start = start or timezone.now() - timedelta(hours=1)
    delegation = Delegation(
        person=person, delegate=delegate, starts_at=start, ends_at=start + timedelta(days=days)
    )
    delegation.save()
    return delegation


def node_ids(change: Change) -> list[int]:
    return sorted(Node.objects.filter(changes=change).values_list("pk", flat=True))
