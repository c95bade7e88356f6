"""Change verbs: create, edit, submit (collisions, risk and the approval path), override the
risk, reschedule, schedule, implement, review, close, cancel, tick the readiness checklist.

``by`` is the acting user (``None`` is the system). Every verb is one transaction: it re-reads
the change under a row lock, checks ``version`` when the caller passes the one it read,
validates, writes a journal row per state change or edit, keeps the ChangeNode rows of the
collision index in step (T2's ``sync_change_nodes``) and publishes its event after commit.

Decisions (see docs/changes.md):
- A standard change outside its template's limits is refused at submit with the reason; it is
  not silently turned into a normal change (that would change who must approve it without the
  requester knowing). The requester changes the type and submits again.
- A blocking collision (a freeze window for anything but an emergency) refuses submit and
  reschedule; other collisions are stored on the change as warnings and raise the risk.
- Submit stops at *assessed* when the readiness checklist is not complete; when it is, a normal
  change goes straight on to *awaiting approval*. An emergency stops at *assessed*: it may be
  implemented at once and goes to the emergency CAB when implemented."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from itline.cmdb.models import Component, Node, NodeKind
from itline.core import journal
from itline.core.errors import DomainError, TransitionError
from itline.core.models import JournalEntry
from itline.core.services import require
from itline.operation import events
from itline.operation.services.common import (
    actor,
    bump,
    check_version,
    copy_state,
    guard,
    lock,
    save_with_journal,
)
from itline.org.models import Person, person_of
from itline.transition import readiness as checklist
from itline.transition.choices import (
    CHANGE_RESCHEDULABLE,
    CHANGE_TRANSITIONS,
    ApprovalPath,
    ApprovalStatus,
    ChangeOutcome,
    ChangeStatus,
    ChangeType,
    RiskLevel,
)
from itline.transition.models import ApprovalRequest, Change, ChangeTemplate

ADD = "transition.add_change"
MANAGE = "transition.change_change"

# Plain fields a create/update may set; relations are resolved by the caller (the API turns
# references into objects) and validated here.
TEXT_FIELDS = (
    "title",
    "description",
    "reason",
    "implementation_plan",
    "backout_plan",
    "test_plan",
)
FK_FIELDS = ("requester", "owner", "function", "release")
M2M_FIELDS = ("implementers", "problems", "known_errors", "incidents")
# Editable while the change has not been sent for approval (draft, rejected, assessed):
# what approvers judge must not move under them.
PLAN_FIELDS = {"change_type", "template", "implementation_plan", "backout_plan", "nodes"}
EDITABLE_PLAN_STATES = frozenset(
    {ChangeStatus.DRAFT, ChangeStatus.SUBMITTED, ChangeStatus.ASSESSED, ChangeStatus.REJECTED}
)
# Before the window: any start at least this far in the past is "in the past" (clock skew,
# a form filled in a minute ago).
PAST_GRACE = timedelta(minutes=5)


# --- helpers --------------------------------------------------------------------------------


def _person(by: Any) -> Person | None:
    return person_of(by) if by is not None else None


def is_participant(by: Any, change: Change) -> bool:
    """The requester, owner, an implementer or whoever raised the change."""
    person = _person(by)
    if person is None:
        return False
    if person.pk in (change.requester_id, change.owner_id):
        return True
    if change.created_by_id is not None and change.created_by_id == getattr(by, "pk", None):
        return True
    return change.pk is not None and change.implementers.filter(pk=person.pk).exists()


def require_participant(by: Any, change: Change) -> None:
    """Change managers may act on any change; others only on changes they take part in."""
    if by is None or by.has_perm(MANAGE):
        return
    if not by.has_perm(ADD) or not is_participant(by, change):
        raise PermissionDenied(
            f"Only the requester, owner or implementers of {change.reference}, or a change "
            "manager, may do this."
        )


def resolve_nodes(values: Any, field: str = "nodes") -> list[Node]:
    """Node objects or ids (services or components), in the given order, without repeats."""
    if values is None:
        return []
    items = list(values) if isinstance(values, Iterable) and not isinstance(values, str) else None
    if items is None:
        raise ValidationError({field: "Give a list of services or components."})
    ids: list[int] = []
    for item in items:
        pk = item.pk if isinstance(item, Node) else item
        if isinstance(pk, bool) or not isinstance(pk, int):
            raise ValidationError({field: f"{item!r} is not a service or component."})
        ids.append(pk)
    ids = list(dict.fromkeys(ids))
    found = Node.objects.in_bulk(ids)
    missing = [i for i in ids if i not in found]
    if missing:
        raise ValidationError({field: f"There is no service or component with id {missing[0]}."})
    return [found[i] for i in ids]


def path_for(change_type: str, level: str) -> str:
    """The approval path a risk level leads to (T2's ``risk.approval_path_for``, the one
    place that decides it; setting ``CHANGE_APPROVAL_PATHS``). A standard change is treated
    as within its template: outside it, submit refuses it before any path matters."""
    from itline.transition.risk import approval_path_for

    return str(
        approval_path_for(level, change_type, within_template=change_type == ChangeType.STANDARD)
    )


def _set_status(change: Change, target: str) -> None:
    guard(change, target, CHANGE_TRANSITIONS, ChangeStatus)
    change.status = target


def _move(
    change: Change, target: str, *, by: Any, message: str = "", **fields: Any
) -> dict[str, list[Any]]:
    """One state change with its journal row (and any fields that move with it)."""
    before = journal.snapshot(change)
    _set_status(change, target)
    for name, value in fields.items():
        setattr(change, name, value)
    return save_with_journal(
        change, before, by=by, verb=JournalEntry.Verb.STATE_CHANGED, message=message
    )


def _sync(change: Change) -> None:
    from itline.transition.collisions import sync_change_nodes

    sync_change_nodes(change)


def _node_ids(change: Change) -> list[int]:
    return list(change.nodes.order_by("pk").values_list("pk", flat=True))


def assess_change(change: Change) -> None:
    """Compute collisions and risk (T2) into the change's fields; the approval path follows
    the overridden level when a change manager set one. Does not save."""
    from itline.transition import collisions, risk

    ids = _node_ids(change)
    found: list[dict[str, Any]] = []
    if change.planned_start and change.planned_end and ids:
        found = collisions.check(
            nodes=ids,
            start=change.planned_start,
            end=change.planned_end,
            exclude_change_id=change.pk,
            change_type=change.change_type,
        )
    result = risk.assess(change, node_ids=ids, collisions=found)
    change.collisions = found
    change.risk_score = int(result.score)
    change.risk_level = str(result.level)
    change.risk_factors = list(result.factors)
    change.approval_path = path_for(change.change_type, change.effective_risk)


def _check_window(change: Change, *, now: datetime | None = None) -> None:
    """A window must be given, end after it starts, and not lie in the past (an emergency
    may already have started, but not ended)."""
    now = now or timezone.now()
    if change.planned_start is None:
        raise ValidationError({"planned_start": "Give the planned start of the window."})
    if change.planned_end is None:
        raise ValidationError({"planned_end": "Give the planned end of the window."})
    if change.planned_end <= change.planned_start:
        raise ValidationError({"planned_end": "The window must end after it starts."})
    if change.change_type == ChangeType.EMERGENCY:
        if change.planned_end <= now:
            raise ValidationError({"planned_end": "The window has already ended."})
    elif change.planned_start < now - PAST_GRACE:
        raise ValidationError(
            {"planned_start": "The window starts in the past; choose a start from now on."}
        )


def _refuse_blocking(change: Change) -> None:
    blocking = [c for c in change.collisions if c.get("blocking")]
    if blocking:
        first = blocking[0]
        text = first.get("message") or f"{first.get('ref')} {first.get('title')}"
        raise DomainError(
            f"The window collides with {text}. Move the window"
            + (
                ", or raise an emergency change."
                if change.change_type != ChangeType.EMERGENCY
                else "."
            ),
            field="planned_start",
        )


def template_limits(change: Change, nodes: list[Node] | None = None) -> list[str]:
    """Why a standard change is outside its template's limits (empty: within them)."""
    template = change.template
    if template is None:
        return ["A standard change is made from a standard change template."]
    reasons: list[str] = []
    if not template.active:
        reasons.append(f"The template {template.name} is no longer active.")
    nodes = nodes if nodes is not None else list(change.nodes.all())
    allowed_nodes = set(template.nodes.values_list("pk", flat=True))
    allowed_types = set(template.component_types.values_list("pk", flat=True))
    component_types = dict(
        Component.objects.filter(pk__in=[n.pk for n in nodes]).values_list(
            "pk", "component_type_id"
        )
    )
    outside = [
        n.name
        for n in nodes
        if n.pk not in allowed_nodes
        and not (n.kind == NodeKind.COMPONENT and component_types.get(n.pk) in allowed_types)
    ]
    if outside and (allowed_nodes or allowed_types):
        reasons.append(
            f"{', '.join(sorted(outside)[:5])} "
            f"{'is' if len(outside) == 1 else 'are'} not covered by the template {template.name}."
        )
    elif outside:
        reasons.append(f"The template {template.name} names no services, components or types.")
    if change.planned_start and change.planned_end:
        minutes = (change.planned_end - change.planned_start).total_seconds() / 60
        if minutes > template.max_duration_minutes:
            reasons.append(
                f"The window lasts {int(minutes)} minutes; the template allows at most "
                f"{template.max_duration_minutes}."
            )
    return reasons


def _apply_template(change: Change, template: ChangeTemplate) -> None:
    for name in ("implementation_plan", "backout_plan", "test_plan"):
        if not getattr(change, name):
            setattr(change, name, getattr(template, name))
    if change.function_id is None and template.function_id is not None:
        change.function_id = template.function_id


def _set_m2m(change: Change, fields: dict[str, Any]) -> dict[str, list[Any]]:
    changes: dict[str, list[Any]] = {}
    for name in M2M_FIELDS:
        if name in fields:
            manager = getattr(change, name)
            before = sorted(str(o) for o in manager.all())
            manager.set(list(fields[name] or []))
            after = sorted(str(o) for o in manager.all())
            if before != after:
                changes[name] = [before, after]
    return changes


def _set_nodes(change: Change, nodes: list[Node]) -> dict[str, list[Any]]:
    before = sorted(n.name for n in change.nodes.all())
    change.nodes.set(nodes)
    after = sorted(n.name for n in nodes)
    return {"nodes": [before, after]} if before != after else {}


def _split(fields: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    unknown = sorted(
        set(fields)
        - set(TEXT_FIELDS)
        - set(FK_FIELDS)
        - set(M2M_FIELDS)
        - {"change_type", "template", "planned_start", "planned_end"}
    )
    if unknown:
        raise ValidationError({unknown[0]: "This field cannot be set here."})
    plain = {k: v for k, v in fields.items() if k not in M2M_FIELDS}
    m2m = {k: v for k, v in fields.items() if k in M2M_FIELDS}
    for name in TEXT_FIELDS:
        if name in plain and plain[name] is None:
            plain[name] = ""
    return plain, m2m


def _differs(change: Change, name: str, value: Any) -> bool:
    if name in FK_FIELDS or name == "template":
        return getattr(change, f"{name}_id") != getattr(value, "pk", value)
    return bool(getattr(change, name) != value)


def _finish(change: Change) -> None:
    """Fields derived from the type: the path of a standard/emergency change, and no
    template on a change that is not standard."""
    if change.change_type != ChangeType.STANDARD:
        change.template = None
    if change.change_type in (ChangeType.STANDARD, ChangeType.EMERGENCY):
        change.approval_path = path_for(change.change_type, change.risk_level)


# --- create and edit ------------------------------------------------------------------------


def create_change(
    *,
    by: Any,
    title: str,
    change_type: str = ChangeType.NORMAL,
    nodes: Any = (),
    template: ChangeTemplate | None = None,
    planned_start: datetime | None = None,
    planned_end: datetime | None = None,
    **fields: Any,
) -> Change:
    """Create a draft change. ``nodes``: Node instances or ids (services/components).
    A standard change takes plans and function from its template (when not given) and its
    readiness checklist from the template. ``fields``: any of description, reason,
    implementation_plan, backout_plan, test_plan, requester (default: the acting person),
    owner, function, release, implementers, problems, known_errors, incidents."""
    require(by, ADD)
    if change_type not in ChangeType.values:
        raise ValidationError(
            {"change_type": f"Choose one of {', '.join(ChangeType.values)} (not {change_type!r})."}
        )
    plain, m2m = _split(fields)
    resolved = resolve_nodes(nodes)
    if change_type == ChangeType.STANDARD:
        if template is None:
            raise ValidationError(
                {"template": "A standard change is made from a standard change template."}
            )
        if not template.active:
            raise ValidationError({"template": f"The template {template.name} is not active."})
    with transaction.atomic():
        change = Change(
            title=title,
            change_type=change_type,
            template=template,
            planned_start=planned_start,
            planned_end=planned_end,
            **plain,
        )
        if change.requester_id is None and "requester" not in plain:
            change.requester = _person(by)
        if template is not None and change_type == ChangeType.STANDARD:
            _apply_template(change, template)
        _finish(change)
        change.readiness = checklist.default_items(change_type, change.template)
        change.created_by = change.updated_by = actor(by)
        change.full_clean()
        change.save()
        change.nodes.set(resolved)
        _set_m2m(change, m2m)
        after = journal.snapshot(change)
        initial = {k: [None, v] for k, v in after.items() if v not in (None, "", [], {})}
        if resolved:
            initial["nodes"] = [None, sorted(n.name for n in resolved)]
        journal.record(change, by=by, verb=JournalEntry.Verb.CREATED, changes=initial)
        _sync(change)
        events.publish(change, "change.created", by=by)
    return change


def update_change(
    change: Change, *, by: Any, version: int | None = None, nodes: Any = None, **fields: Any
) -> Change:
    """Edit the change. Descriptive fields (title, description, reason, test plan, people,
    function, release, links) may change while it is open; what approvers judge (type,
    template, implementation and backout plan, affected nodes, window) only in draft,
    assessed or rejected (later: withdraw, or ``reschedule_change`` for the window). Fields
    sent with their current value are not edits. Changing nodes, type or window of an
    assessed change recomputes collisions and risk (with the window checks of submit)."""
    require_participant(by, change)
    plain, m2m = _split(fields)
    resolved = resolve_nodes(nodes) if nodes is not None else None
    with transaction.atomic():
        current = lock(change)
        check_version(current, version)
        if current.status in (ChangeStatus.CLOSED, ChangeStatus.CANCELLED):
            raise DomainError(
                f"{current.reference} is {current.get_status_display()}; it can no longer be "
                "edited.",
                field="status",
            )
        # Forms send every field; only values that really change count.
        changed = {name for name, value in plain.items() if _differs(current, name, value)}
        if resolved is not None and {n.pk for n in resolved} != set(_node_ids(current)):
            changed.add("nodes")
        touched_plan = sorted(
            changed & (PLAN_FIELDS | {"planned_start", "planned_end"}),
            key=lambda n: (n == "planned_end", n),
        )
        if touched_plan and current.status not in EDITABLE_PLAN_STATES:
            window_only = set(touched_plan) <= {"planned_start", "planned_end"}
            raise DomainError(
                f"{current.reference} is {current.get_status_display()}; "
                + (
                    "move its window with reschedule."
                    if window_only
                    else f"its {touched_plan[0].replace('_', ' ')} can no longer change. "
                    "Withdraw it to draft first."
                ),
                field=touched_plan[0],
            )
        before = journal.snapshot(current)
        type_before = current.change_type
        template_before = current.template_id
        for name, value in plain.items():
            setattr(current, name, value)
        if current.change_type not in ChangeType.values:
            raise ValidationError({"change_type": f"Choose one of {', '.join(ChangeType.values)}."})
        if (
            current.change_type == ChangeType.STANDARD
            and current.template is not None
            and current.template_id != template_before
        ):
            _apply_template(current, current.template)
        _finish(current)
        if current.change_type != type_before or current.template_id != template_before:
            # A new type or template brings its own checklist; ticks of kept items stay.
            done = {i["key"]: i for i in current.readiness if i.get("done")}
            current.readiness = [
                done.get(i["key"], i)
                for i in checklist.default_items(current.change_type, current.template)
            ]
        extra: dict[str, list[Any]] = {}
        if resolved is not None:
            extra.update(_set_nodes(current, resolved))
        extra.update(_set_m2m(current, m2m))
        if current.status in (ChangeStatus.SUBMITTED, ChangeStatus.ASSESSED) and (
            changed & {"nodes", "change_type", "planned_start", "planned_end"}
        ):
            if changed & {"planned_start", "planned_end"}:
                _check_window(current)
            assess_change(current)
            _refuse_blocking(current)
        current.full_clean()
        changes = journal.diff(before, journal.snapshot(current))
        changes.update(extra)
        if changes:
            bump(current)
            current.updated_by = actor(by)
            current.save()
            journal.record(current, by=by, verb=JournalEntry.Verb.UPDATED, changes=changes)
            _sync(current)
            events.publish(current, "change.updated", by=by, changes=changes)
    return copy_state(current, change)


def tick_readiness(
    change: Change, *, by: Any, key: str, done: bool, version: int | None = None
) -> Change:
    """Mark one readiness checklist item done/undone (journaled, with who and when)."""
    require_participant(by, change)
    with transaction.atomic():
        current = lock(change)
        check_version(current, version)
        # An emergency completes its checklist until the ECAB decides, after the fact.
        if current.status not in (
            ChangeStatus.DRAFT,
            ChangeStatus.SUBMITTED,
            ChangeStatus.ASSESSED,
            ChangeStatus.REJECTED,
        ) and not (
            current.change_type == ChangeType.EMERGENCY
            and current.status
            in (
                ChangeStatus.AWAITING_APPROVAL,
                ChangeStatus.IMPLEMENTING,
                ChangeStatus.IMPLEMENTED,
            )
        ):
            raise DomainError(
                f"{current.reference} is {current.get_status_display()}; its readiness "
                "checklist is settled.",
                field="readiness",
            )
        items = [dict(i) for i in current.readiness]
        match = next((i for i in items if i.get("key") == key), None)
        if match is None:
            keys = ", ".join(i.get("key", "") for i in items) or "none"
            raise ValidationError({"key": f"No readiness item {key!r} (items: {keys})."})
        if bool(match.get("done")) == bool(done):
            return copy_state(current, change)
        match["done"] = bool(done)
        person = _person(by)
        match["by"] = (person.name if person else journal.actor_label(by)) if done else ""
        match["at"] = timezone.now().isoformat() if done else ""
        before = journal.snapshot(current)
        current.readiness = items
        save_with_journal(
            current,
            before,
            by=by,
            message=f"{'Ticked' if done else 'Unticked'} readiness item: {match.get('text')}",
        )
    return copy_state(current, change)


# --- submit, risk, approval path ------------------------------------------------------------


def submit_change(
    change: Change, *, by: Any, version: int | None = None, send_for_approval: bool = True
) -> Change:
    """draft (or rejected) -> submitted -> assessed: checks that the change names what it
    touches, a valid future window and (normal/emergency) its implementation and backout
    plans; computes collisions and risk (T2) and the approval path. Then:

    - standard: within its template's limits it is approved at once (refused with the
      reasons otherwise);
    - normal: with the readiness checklist complete (and ``send_for_approval``) it goes on to
      awaiting approval (a new approval round), else it waits in assessed until the
      checklist is done and someone requests approval;
    - emergency: it stays assessed, ready to implement; the emergency CAB approves it after
      the fact (or before, when someone requests approval)."""
    require_participant(by, change)
    with transaction.atomic():
        current = lock(change)
        check_version(current, version)
        if current.status == ChangeStatus.REJECTED:
            _move(current, ChangeStatus.DRAFT, by=by, message="Reopened to resubmit")
        guard(current, ChangeStatus.SUBMITTED, CHANGE_TRANSITIONS, ChangeStatus)
        nodes = list(current.nodes.all())
        if not nodes:
            raise ValidationError(
                {"nodes": "Name at least one affected service or component before submitting."}
            )
        _check_window(current)
        if current.change_type != ChangeType.STANDARD:
            for name, label in (
                ("implementation_plan", "implementation plan"),
                ("backout_plan", "backout plan"),
            ):
                if not getattr(current, name).strip():
                    raise ValidationError({name: f"Describe the {label} before submitting."})
        else:
            reasons = template_limits(current, nodes)
            if reasons:
                raise DomainError(
                    "This standard change is outside its template's limits: "
                    + " ".join(reasons)
                    + " Submit it as a normal change instead.",
                    field="template" if "template" in reasons[0] else "nodes",
                )
            open_items = checklist.open_items(current.readiness)
            if open_items:
                raise ValidationError(
                    {"readiness": f"Complete the readiness checklist: {open_items[0]['text']}."}
                )
        now = timezone.now()
        _move(current, ChangeStatus.SUBMITTED, by=by, submitted_at=now)
        assess_change(current)
        _refuse_blocking(current)
        _move(
            current,
            ChangeStatus.ASSESSED,
            by=by,
            message=f"Risk {current.effective_risk} ({current.risk_score}/100); "
            f"approval: {current.get_approval_path_display()}; "
            f"{len(current.collisions)} collision(s).",
        )
        _sync(current)
        events.publish(current, "change.submitted", by=by)
        if current.change_type == ChangeType.STANDARD:
            _move(
                current,
                ChangeStatus.APPROVED,
                by=by,
                approved_at=now,
                message=f"Pre-approved by the standard change template {current.template}.",
            )
            _sync(current)
            events.publish(current, "change.approved", by=by)
        elif (
            send_for_approval
            and current.change_type == ChangeType.NORMAL
            and not checklist.open_items(current.readiness)
        ):
            from itline.transition.services.approvals import open_round

            try:
                with transaction.atomic():
                    open_round(current, by=by)
            except DomainError as refused:
                # The change is assessed all the same; the reason shows in its history and
                # again when someone requests approval.
                journal.record(
                    current,
                    by=by,
                    verb=JournalEntry.Verb.UPDATED,
                    message=f"Approval not requested: {refused.message}",
                )
    return copy_state(current, change)


def override_risk(
    change: Change, *, by: Any, level: str, reason: str, version: int | None = None
) -> Change:
    """A change manager overrides the computed risk level with a reason (journaled); the
    approval path follows the overridden level. An empty ``level`` removes the override. A
    pending approval round on another path is withdrawn and a new one opened on the new
    path."""
    require(by, MANAGE)
    if level and level not in RiskLevel.values:
        raise ValidationError({"level": f"Choose one of {', '.join(RiskLevel.values)}."})
    if level and not (reason or "").strip():
        raise ValidationError({"reason": "Say why the computed risk is overridden."})
    with transaction.atomic():
        current = lock(change)
        check_version(current, version)
        if current.status not in (
            ChangeStatus.DRAFT,
            ChangeStatus.SUBMITTED,
            ChangeStatus.ASSESSED,
            ChangeStatus.AWAITING_APPROVAL,
            ChangeStatus.REJECTED,
        ):
            raise DomainError(
                f"{current.reference} is {current.get_status_display()}; its risk was "
                "decided on when it was approved.",
                field="level",
            )
        before = journal.snapshot(current)
        current.risk_override = level or ""
        current.risk_override_reason = (reason or "").strip() if level else ""
        old_path = current.approval_path
        current.approval_path = path_for(current.change_type, current.effective_risk)
        if (
            current.change_type == ChangeType.NORMAL
            and not level
            and current.status not in (ChangeStatus.DRAFT,)
        ):
            assess_change(current)
        changes = save_with_journal(
            current,
            before,
            by=by,
            message=f"Risk overridden to {level}: {reason}" if level else "Risk override removed",
        )
        if current.status == ChangeStatus.AWAITING_APPROVAL and current.approval_path != old_path:
            from itline.transition.services.approvals import open_round, withdraw_rounds

            withdraw_rounds(current, by=by, why="the approval path changed with the risk")
            open_round(current, by=by, move=False)
        if changes:
            events.publish(current, "change.risk_overridden", by=by, changes=changes)
    return copy_state(current, change)


# --- window ---------------------------------------------------------------------------------


def reschedule_change(
    change: Change,
    *,
    by: Any,
    planned_start: datetime,
    planned_end: datetime,
    version: int | None = None,
) -> Change:
    """Move the window; re-runs the collision check and risk. Refused once implementing and
    for a window in the past, one that ends before it starts, or one in a freeze window.
    An approved or scheduled change keeps its approval unless the new window raises its
    approval path (then it goes back for approval on the new path)."""
    require_participant(by, change)
    with transaction.atomic():
        current = lock(change)
        check_version(current, version)
        if current.status not in CHANGE_RESCHEDULABLE:
            raise DomainError(
                f"{current.reference} is {current.get_status_display()}; an implemented or "
                "finished change cannot be rescheduled.",
                field="planned_start",
            )
        before = journal.snapshot(current)
        old_path = current.approval_path
        current.planned_start = planned_start
        current.planned_end = planned_end
        if current.status == ChangeStatus.DRAFT:
            if planned_start and planned_end and planned_end <= planned_start:
                raise ValidationError({"planned_end": "The window must end after it starts."})
        else:
            _check_window(current)
            if current.change_type == ChangeType.STANDARD:
                reasons = template_limits(current)
                if reasons:
                    raise DomainError(" ".join(reasons), field="planned_end")
            assess_change(current)
            _refuse_blocking(current)
        changes = save_with_journal(current, before, by=by, message="Rescheduled")
        if current.status in (
            ChangeStatus.APPROVED,
            ChangeStatus.SCHEDULED,
        ) and _rank(current.approval_path) > _rank(old_path):
            from itline.transition.services.approvals import open_round

            open_round(
                current,
                by=by,
                message="The new window raised the risk; approval is needed again from "
                f"{current.get_approval_path_display()}.",
            )
        elif current.status == ChangeStatus.AWAITING_APPROVAL and current.approval_path != (
            old_path
        ):
            from itline.transition.services.approvals import open_round, withdraw_rounds

            withdraw_rounds(current, by=by, why="the approval path changed with the new window")
            open_round(current, by=by, move=False)
        _sync(current)
        if changes:
            events.publish(current, "change.rescheduled", by=by, changes=changes)
    return copy_state(current, change)


def _rank(path: str) -> int:
    return {
        ApprovalPath.NONE: 0,
        ApprovalPath.CHANGE_MANAGER: 1,
        ApprovalPath.ECAB: 2,
        ApprovalPath.CAB: 2,
    }.get(ApprovalPath(path) if path in ApprovalPath.values else ApprovalPath.NONE, 0)


def schedule_change(change: Change, *, by: Any, version: int | None = None) -> Change:
    """approved -> scheduled: the window is confirmed on the change calendar (it must still
    lie ahead)."""
    require_participant(by, change)
    with transaction.atomic():
        current = lock(change)
        check_version(current, version)
        guard(current, ChangeStatus.SCHEDULED, CHANGE_TRANSITIONS, ChangeStatus)
        if current.planned_end is None or current.planned_end <= timezone.now():
            raise DomainError(
                "The window has passed; reschedule the change first.", field="planned_start"
            )
        _move(current, ChangeStatus.SCHEDULED, by=by)
        _sync(current)
        events.publish(current, "change.scheduled", by=by)
    return copy_state(current, change)


# --- implement, review, close, cancel -------------------------------------------------------


def start_implementation(change: Change, *, by: Any, version: int | None = None) -> Change:
    """approved/scheduled -> implementing; an emergency change also from assessed or
    awaiting approval (it is approved after the fact). Sets the actual start."""
    require_participant(by, change)
    with transaction.atomic():
        current = lock(change)
        check_version(current, version)
        if (
            current.status in (ChangeStatus.ASSESSED, ChangeStatus.AWAITING_APPROVAL)
            and current.change_type != ChangeType.EMERGENCY
        ):
            raise DomainError(
                f"{current.reference} is not approved yet; only an emergency change may be "
                "implemented before its approval.",
                field="status",
            )
        _move(current, ChangeStatus.IMPLEMENTING, by=by, actual_start=timezone.now())
        _sync(current)
        events.publish(current, "change.implementing", by=by)
    return copy_state(current, change)


def complete_implementation(
    change: Change, *, by: Any, outcome: str, version: int | None = None
) -> Change:
    """implementing -> implemented with its outcome; sets the actual end and drafts the
    post-implementation review (T3 ``draft_review``) in the same transaction. An emergency
    change that was not approved before goes on to awaiting approval by the emergency CAB
    (after the fact)."""
    require_participant(by, change)
    if outcome not in ChangeOutcome.values or not outcome:
        raise ValidationError(
            {"outcome": f"Choose one of {', '.join(v for v in ChangeOutcome.values if v)}."}
        )
    with transaction.atomic():
        current = lock(change)
        check_version(current, version)
        _move(current, ChangeStatus.IMPLEMENTED, by=by, outcome=outcome, actual_end=timezone.now())
        _sync(current)
        _draft_review(current)
        events.publish(current, "change.implemented", by=by, extra={"outcome": outcome})
        if current.change_type == ChangeType.EMERGENCY and current.approved_at is None:
            from itline.transition.services.approvals import open_round

            rounds = set(
                ApprovalRequest.objects.filter(change=current).values_list("status", flat=True)
            )
            if ApprovalStatus.REJECTED in rounds:
                journal.record(
                    current,
                    by=by,
                    verb=JournalEntry.Verb.UPDATED,
                    message="The emergency CAB rejected this change during its implementation; "
                    "the review must address it.",
                )
            elif ApprovalStatus.PENDING in rounds:
                _move(
                    current,
                    ChangeStatus.AWAITING_APPROVAL,
                    by=by,
                    message="Implemented; the emergency CAB decides after the fact.",
                )
            else:
                open_round(
                    current, by=by, message="Implemented; the emergency CAB decides after the fact."
                )
    return copy_state(current, change)


def _draft_review(change: Change) -> None:
    try:
        from itline.transition.services.reviews import draft_review
    except ImportError:  # T3's module lands separately
        return
    draft_review(change)


def start_review(change: Change, *, by: Any, version: int | None = None) -> Change:
    """implemented -> in review: the post-implementation review is being completed."""
    require_participant(by, change)
    with transaction.atomic():
        current = lock(change)
        check_version(current, version)
        if current.status != ChangeStatus.IMPLEMENTED:
            # awaiting approval -> in review exists only for the emergency CAB's decision
            # after the fact (decide_approval); nobody skips an approval by "starting review".
            raise TransitionError(
                f"{current.reference} is {current.get_status_display().lower()}; "
                "only an implemented change goes to review.",
                allowed=sorted(CHANGE_TRANSITIONS.get(current.status, ())),
            )
        _move(current, ChangeStatus.IN_REVIEW, by=by)
        events.publish(current, "change.in_review", by=by)
    return copy_state(current, change)


def close_change(
    change: Change, *, by: Any, outcome: str | None = None, version: int | None = None
) -> Change:
    """implemented/in review -> closed. ``outcome`` may correct the one given at
    implementation (e.g. failed once a caused incident is confirmed)."""
    require_participant(by, change)
    if outcome is not None and (outcome not in ChangeOutcome.values or not outcome):
        raise ValidationError(
            {"outcome": f"Choose one of {', '.join(v for v in ChangeOutcome.values if v)}."}
        )
    with transaction.atomic():
        current = lock(change)
        check_version(current, version)
        fields: dict[str, Any] = {"closed_at": timezone.now()}
        if outcome:
            fields["outcome"] = outcome
        _move(current, ChangeStatus.CLOSED, by=by, **fields)
        _sync(current)
        events.publish(current, "change.closed", by=by, extra={"outcome": current.outcome})
    return copy_state(current, change)


def cancel_change(change: Change, *, by: Any, reason: str, version: int | None = None) -> Change:
    """Cancel a change that has not started implementing; withdraws a pending approval
    round and takes it off the calendar."""
    require_participant(by, change)
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why the change is cancelled."})
    with transaction.atomic():
        current = lock(change)
        check_version(current, version)
        guard(current, ChangeStatus.CANCELLED, CHANGE_TRANSITIONS, ChangeStatus)
        _refuse_started(current, "cancelled")
        from itline.transition.services.approvals import withdraw_rounds

        withdraw_rounds(current, by=by, why="the change was cancelled")
        _move(current, ChangeStatus.CANCELLED, by=by, message=f"Cancelled: {reason.strip()}")
        _sync(current)
        events.publish(current, "change.cancelled", by=by, extra={"reason": reason})
    return copy_state(current, change)


def withdraw_change(change: Change, *, by: Any, version: int | None = None) -> Change:
    """assessed/awaiting approval -> draft, to edit what approvers judge; a pending round is
    withdrawn."""
    require_participant(by, change)
    with transaction.atomic():
        current = lock(change)
        check_version(current, version)
        guard(current, ChangeStatus.DRAFT, CHANGE_TRANSITIONS, ChangeStatus)
        _refuse_started(current, "withdrawn")
        from itline.transition.services.approvals import withdraw_rounds

        withdraw_rounds(current, by=by, why="the change was withdrawn to draft")
        _move(current, ChangeStatus.DRAFT, by=by, message="Withdrawn to draft")
        _sync(current)
    return copy_state(current, change)


def _refuse_started(change: Change, what: str) -> None:
    """An emergency implemented before its approval is history: it cannot be undone by a
    status."""
    if change.actual_start is not None:
        raise DomainError(
            f"{change.reference} has been implemented; it cannot be {what}. The emergency CAB "
            "decides on it after the fact.",
            field="status",
        )
