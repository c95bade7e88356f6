"""Maintenance verbs: windows (when work may happen and alerts stay quiet), plans (what
recurs) and work orders (one occurrence of the work, with its checklist).

Every verb checks the permission, validates through the model, writes and journals in one
transaction and announces after commit. Overdue mail goes to the work order's function once,
from a task, never inside a request."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from itline.cmdb.models import Node
from itline.core import journal
from itline.core.errors import ConflictError
from itline.core.models import JournalEntry
from itline.core.services import create_record, require
from itline.operation import events
from itline.operation.models import MaintenancePlan, MaintenanceWindow, WorkOrder
from itline.operation.models.maintenance import WORK_ORDER_TRANSITIONS, WorkOrderStatus
from itline.operation.services.common import (
    actor,
    bump,
    check_member,
    check_version,
    copy_state,
    guard,
    lock,
)

log = logging.getLogger(__name__)

WINDOW_FIELDS = {
    "title",
    "description",
    "include_dependencies",
    "starts_at",
    "ends_at",
    "rrule",
    "time_zone",
    "function",
}
PLAN_FIELDS = {
    "title",
    "description",
    "rrule",
    "first_due_at",
    "time_zone",
    "checklist",
    "function",
    "lead_days",
    "estimated_minutes",
    "active",
}
WORK_ORDER_FIELDS = {"title", "description", "due_at", "assignee"}
SCHEDULE_FIELDS = {"starts_at", "ends_at", "rrule", "time_zone"}


# --- helpers -------------------------------------------------------------------------------


def _nodes(nodes: Iterable[Any] | None, *, required: bool = True) -> list[Node]:
    """Nodes from Node instances or ids; unknown ids are named."""
    items = list(nodes or [])
    ids = [int(getattr(n, "pk", n)) for n in items]
    found = {n.pk: n for n in Node.objects.filter(pk__in=ids)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise ValidationError({"nodes": f"Unknown service or component id(s): {missing}."})
    if required and not found:
        raise ValidationError({"nodes": "Name at least one service or component."})
    return [found[i] for i in dict.fromkeys(ids)]


def _names(nodes: Iterable[Node]) -> list[str]:
    return sorted(str(n) for n in nodes)


def _unknown(fields: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise ValidationError({unknown[0]: "This field cannot be set here."})


def _set_nodes(record: Any, nodes: list[Node], changes: dict[str, list[Any]]) -> None:
    before = _names(record.nodes.all())
    after = _names(nodes)
    if before != after:
        record.nodes.set(nodes)
        changes["nodes"] = [before, after]


# --- windows -------------------------------------------------------------------------------


def create_window(
    *,
    by: Any,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    nodes: Iterable[Any],
    rrule: str = "",
    time_zone: str = "Europe/Amsterdam",
    description: str = "",
    include_dependencies: bool = True,
    function: Any = None,
    now: datetime | None = None,
) -> MaintenanceWindow:
    """A new window. One whose every occurrence already ended is refused: maintenance is
    planned ahead, and a window in the past would rewrite what alerts were suppressed."""
    require(by, "operation.add_maintenancewindow")
    node_list = _nodes(nodes)
    window = MaintenanceWindow(
        title=title,
        description=description,
        starts_at=starts_at,
        ends_at=ends_at,
        rrule=rrule or "",
        time_zone=time_zone,
        include_dependencies=include_dependencies,
        function=function,
    )
    window.full_clean()
    if window.is_over(now):
        field = "rrule" if window.rrule else "ends_at"
        raise ValidationError({field: "This window is entirely in the past; plan it ahead."})
    with transaction.atomic():
        create_record(window, by=by)
        window.nodes.set(node_list)
        journal.record(
            window,
            by=by,
            verb=JournalEntry.Verb.UPDATED,
            changes={"nodes": [[], _names(node_list)]},
        )
        window.save(update_fields=["updated_at"])  # the coverage cache keys on updated_at
        events.publish(window, "maintenance_window.created", by=by)
    return window


def update_window(
    window: MaintenanceWindow,
    *,
    by: Any,
    version: Any = None,
    nodes: Iterable[Any] | None = None,
    now: datetime | None = None,
    **fields: Any,
) -> MaintenanceWindow:
    """Edit a window, journaling before/after. A window that is over is history (alerts were
    suppressed in its name): only its description may still change. The schedule of a running
    window may change, but not so that it ends in the past."""
    require(by, "operation.change_maintenancewindow")
    _unknown(fields, WINDOW_FIELDS)
    moment = now or timezone.now()
    with transaction.atomic():
        current = lock(window)
        if current.is_over(moment) and (nodes is not None or set(fields) - {"description"}):
            raise ConflictError(
                f"{current.reference} is over; it is kept as history. Create a new window.",
                field="ends_at",
            )
        if not current.active:
            raise ConflictError(f"{current.reference} was deleted.", field="active")
        before = journal.snapshot(current)
        for name, value in fields.items():
            setattr(current, name, "" if name == "rrule" and value is None else value)
        current.full_clean()
        if set(fields) & SCHEDULE_FIELDS and current.is_over(moment):
            raise ValidationError({"ends_at": "The window would end in the past."})
        changes = journal.diff(before, journal.snapshot(current))
        if nodes is not None:
            _set_nodes(current, _nodes(nodes), changes)
        if changes:
            current.updated_by = actor(by)
            current.save()
            journal.record(current, by=by, verb=JournalEntry.Verb.UPDATED, changes=changes)
            events.publish(current, "maintenance_window.updated", by=by, changes=changes)
    return copy_state(current, window)


def delete_window(window: MaintenanceWindow, *, by: Any, reason: str = "") -> MaintenanceWindow:
    """Deactivate: the window stops covering anything from now on; its row and journal stay
    (suppressed alerts still name it)."""
    require(by, "operation.change_maintenancewindow")
    with transaction.atomic():
        current = lock(window)
        if not current.active:
            raise ConflictError(f"{current.reference} is already deleted.", field="active")
        current.active = False
        current.updated_by = actor(by)
        current.save()
        journal.record(
            current,
            by=by,
            verb=JournalEntry.Verb.DELETED,
            changes={"active": [True, False]},
            message=reason.strip(),
        )
        events.publish(current, "maintenance_window.deleted", by=by)
    return copy_state(current, window)


deactivate_window = delete_window


# --- plans ---------------------------------------------------------------------------------


def create_plan(
    *,
    by: Any,
    title: str,
    rrule: str,
    first_due_at: datetime,
    function: Any,
    nodes: Iterable[Any],
    checklist: list[str] | None = None,
    time_zone: str = "Europe/Amsterdam",
    lead_days: int = 7,
    estimated_minutes: int = 60,
    description: str = "",
) -> MaintenancePlan:
    require(by, "operation.add_maintenanceplan")
    node_list = _nodes(nodes)
    plan = MaintenancePlan(
        title=title,
        description=description,
        rrule=rrule,
        first_due_at=first_due_at,
        function=function,
        checklist=list(checklist or []),
        time_zone=time_zone,
        lead_days=lead_days,
        estimated_minutes=estimated_minutes,
    )
    with transaction.atomic():
        create_record(plan, by=by)
        plan.nodes.set(node_list)
        journal.record(
            plan, by=by, verb=JournalEntry.Verb.UPDATED, changes={"nodes": [[], _names(node_list)]}
        )
        events.publish(plan, "maintenance_plan.created", by=by)
    return plan


def update_plan(
    plan: MaintenancePlan,
    *,
    by: Any,
    nodes: Iterable[Any] | None = None,
    now: datetime | None = None,
    **fields: Any,
) -> MaintenancePlan:
    """Edit a plan. When its schedule changes, open work orders that are due later and not
    started yet are cancelled (they belong to the old schedule) and generation starts again
    from now; done work orders stay as history."""
    require(by, "operation.change_maintenanceplan")
    _unknown(fields, PLAN_FIELDS)
    moment = now or timezone.now()
    with transaction.atomic():
        current = lock(plan)
        before = journal.snapshot(current)
        for name, value in fields.items():
            setattr(current, name, value)
        current.full_clean()
        changes = journal.diff(before, journal.snapshot(current))
        if nodes is not None:
            _set_nodes(current, _nodes(nodes), changes)
        if not changes:
            return copy_state(current, plan)
        message = ""
        if set(changes) & {"rrule", "first_due_at", "time_zone"}:
            stale = list(current.work_orders.filter(status=WorkOrderStatus.OPEN, due_at__gt=moment))
            last = max((w.due_at for w in stale), default=moment)
            keep = set(current.due_dates(moment, last + timedelta(microseconds=1)))
            dropped = 0
            for work_order in stale:
                if work_order.due_at not in keep and not work_order.done_count:
                    _move(
                        work_order,
                        WorkOrderStatus.CANCELLED,
                        by=by,
                        message=f"The schedule of {current.reference} changed.",
                    )
                    dropped += 1
            current.generated_until = moment
            if dropped:
                message = f"cancelled {dropped} open work order(s) of the old schedule"
        current.updated_by = actor(by)
        current.save()
        journal.record(
            current, by=by, verb=JournalEntry.Verb.UPDATED, changes=changes, message=message
        )
        events.publish(current, "maintenance_plan.updated", by=by, changes=changes)
    return copy_state(current, plan)


def generate_work_orders(now: datetime | None = None, *, plans: Iterable[Any] | None = None) -> int:
    """Create the work orders of every active plan whose due date is within its lead time
    (``due_at <= now + lead_days``) and after what was generated before. Idempotent: a plan
    occurrence has at most one work order (unique plan + due_at), so a second run, or two
    workers at once, create nothing twice. Returns how many were created."""
    moment = now or timezone.now()
    queryset = MaintenancePlan.objects.filter(active=True).select_related("function")
    if plans is not None:
        queryset = queryset.filter(pk__in=[getattr(p, "pk", p) for p in plans])
    created = 0
    for plan in queryset.prefetch_related("nodes"):
        created += _generate_for(plan, moment)
    return created


def _generate_for(plan: MaintenancePlan, moment: datetime) -> int:
    horizon = moment + timedelta(days=plan.lead_days)
    tick = timedelta(microseconds=1)
    if plan.generated_until is not None:
        start = plan.generated_until + tick
    else:
        # Due dates before the plan existed are not owed; after that nothing is skipped, so
        # a worker that was down catches up (the late ones show as overdue).
        start = max(plan.first_due_at, plan.created_at)
    if start > horizon:
        return 0
    dues = plan.due_dates(start, horizon + tick)
    nodes = list(plan.nodes.all())
    existing = set(plan.work_orders.filter(due_at__in=dues).values_list("due_at", flat=True))
    created = 0
    for due in dues:
        if due in existing:
            continue
        try:
            with transaction.atomic():
                work_order = WorkOrder(
                    plan=plan,
                    title=plan.title,
                    description=plan.description,
                    function=plan.function,
                    due_at=due,
                    checklist=[{"text": text, "done": False} for text in plan.checklist],
                )
                create_record(work_order, by=None, message=f"generated from {plan.reference}")
                work_order.nodes.set(nodes)
                events.publish(work_order, "work_order.created", by=None)
                created += 1
        except IntegrityError:
            continue  # another worker created this occurrence first
    MaintenancePlan.objects.filter(pk=plan.pk).update(generated_until=horizon)
    plan.generated_until = horizon
    return created


# --- work orders ---------------------------------------------------------------------------


def create_work_order(
    *,
    by: Any,
    title: str,
    function: Any,
    due_at: datetime,
    nodes: Iterable[Any] = (),
    checklist: list[str] | None = None,
    description: str = "",
    assignee: Any = None,
) -> WorkOrder:
    """A one-off work order (not from a plan)."""
    require(by, "operation.add_workorder")
    node_list = _nodes(nodes, required=False)
    check_member(function, assignee)
    work_order = WorkOrder(
        title=title,
        description=description,
        function=function,
        due_at=due_at,
        assignee=assignee,
        checklist=[{"text": str(t).strip(), "done": False} for t in checklist or []],
    )
    with transaction.atomic():
        create_record(work_order, by=by)
        if node_list:
            work_order.nodes.set(node_list)
        events.publish(work_order, "work_order.created", by=by)
    return work_order


def update_work_order(
    work_order: WorkOrder, *, by: Any, version: Any = None, **fields: Any
) -> WorkOrder:
    require(by, "operation.change_workorder")
    _unknown(fields, WORK_ORDER_FIELDS)
    with transaction.atomic():
        current = lock(work_order)
        check_version(current, version)
        if not current.is_open:
            raise ConflictError(
                f"{current.reference} is {current.get_status_display()}; it is final."
            )
        before = journal.snapshot(current)
        for name, value in fields.items():
            setattr(current, name, value)
        if "assignee" in fields:
            check_member(current.function, current.assignee)
        current.full_clean()
        changes = journal.diff(before, journal.snapshot(current))
        if changes:
            if "due_at" in changes:
                current.overdue_notified_at = None  # a new due date earns a new reminder
            bump(current)
            current.updated_by = actor(by)
            current.save()
            verb = (
                JournalEntry.Verb.ASSIGNED
                if set(changes) == {"assignee"}
                else JournalEntry.Verb.UPDATED
            )
            journal.record(current, by=by, verb=verb, changes=changes)
            events.publish(current, "work_order.updated", by=by, changes=changes)
    return copy_state(current, work_order)


def assign_work_order(
    work_order: WorkOrder, *, by: Any, assignee: Any, version: Any = None
) -> WorkOrder:
    return update_work_order(work_order, by=by, version=version, assignee=assignee)


def _move(
    current: WorkOrder,
    target: str,
    *,
    by: Any,
    message: str = "",
    fields: dict[str, Any] | None = None,
) -> dict[str, list[Any]]:
    """Guard, apply, validate, save and journal one move of a locked work order."""
    guard(current, target, WORK_ORDER_TRANSITIONS, WorkOrderStatus)
    before = journal.snapshot(current)
    current.status = target
    for name, value in (fields or {}).items():
        setattr(current, name, value)
    current.full_clean()
    bump(current)
    current.updated_by = actor(by)
    current.save()
    changes = journal.diff(before, journal.snapshot(current))
    journal.record(
        current, by=by, verb=JournalEntry.Verb.STATE_CHANGED, changes=changes, message=message
    )
    events.publish(current, f"work_order.{target}", by=by, changes=changes)
    return changes


def start_work_order(work_order: WorkOrder, *, by: Any, version: Any = None) -> WorkOrder:
    require(by, "operation.change_workorder")
    from itline.org.models import person_of

    with transaction.atomic():
        current = lock(work_order)
        check_version(current, version)
        fields = {}
        person = person_of(by) if by is not None else None
        if (
            current.assignee_id is None
            and person is not None
            and current.function.memberships.filter(person=person).exists()
        ):
            fields["assignee"] = person  # whoever starts it unassigned takes it
        _move(current, WorkOrderStatus.IN_PROGRESS, by=by, fields=fields)
    return copy_state(current, work_order)


def complete_work_order(
    work_order: WorkOrder,
    *,
    by: Any,
    notes: str,
    version: Any = None,
    now: datetime | None = None,
) -> WorkOrder:
    """Done, with what was done. Every checklist item must be ticked first."""
    require(by, "operation.change_workorder")
    from itline.org.models import person_of

    notes = (notes or "").strip()
    if not notes:
        raise ValidationError({"completion_notes": "Write what was done before completing."})
    with transaction.atomic():
        current = lock(work_order)
        check_version(current, version)
        guard(current, WorkOrderStatus.DONE, WORK_ORDER_TRANSITIONS, WorkOrderStatus)
        if current.open_items:
            raise ValidationError(
                {
                    "checklist": "Tick every checklist item first; open: "
                    + "; ".join(current.open_items)
                    + "."
                }
            )
        _move(
            current,
            WorkOrderStatus.DONE,
            by=by,
            fields={
                "completion_notes": notes,
                "completed_at": now or timezone.now(),
                "completed_by": person_of(by) if by is not None else None,
            },
        )
    return copy_state(current, work_order)


def cancel_work_order(
    work_order: WorkOrder, *, by: Any, reason: str, version: Any = None
) -> WorkOrder:
    require(by, "operation.change_workorder")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the work is not done."})
    with transaction.atomic():
        current = lock(work_order)
        check_version(current, version)
        _move(current, WorkOrderStatus.CANCELLED, by=by, message=reason)
    return copy_state(current, work_order)


def reopen_work_order(work_order: WorkOrder, *, by: Any, version: Any = None) -> WorkOrder:
    """Back from in progress to open (e.g. handed back); done and cancelled are final."""
    require(by, "operation.change_workorder")
    with transaction.atomic():
        current = lock(work_order)
        check_version(current, version)
        _move(current, WorkOrderStatus.OPEN, by=by)
    return copy_state(current, work_order)


def tick_checklist_item(
    work_order: WorkOrder, *, by: Any, index: int, done: bool = True, version: Any = None
) -> WorkOrder:
    """Tick (or untick) checklist item ``index``. The first tick on an open work order
    starts it: someone is evidently working on it."""
    require(by, "operation.change_workorder")
    with transaction.atomic():
        current = lock(work_order)
        check_version(current, version)
        if not current.is_open:
            raise ConflictError(
                f"{current.reference} is {current.get_status_display()}; its checklist is final.",
                field="checklist",
            )
        items = [dict(item) for item in current.checklist or []]
        if not isinstance(index, int) or not 0 <= index < len(items):
            raise ValidationError({"index": f"There is no checklist item {index}."})
        if bool(items[index].get("done")) == bool(done):
            return copy_state(current, work_order)
        if current.status == WorkOrderStatus.OPEN and done:
            _move(
                current,
                WorkOrderStatus.IN_PROGRESS,
                by=by,
                message="started by ticking the checklist",
            )
        items[index]["done"] = bool(done)
        current.checklist = items
        current.full_clean()
        bump(current)
        current.updated_by = actor(by)
        current.save()
        word = "ticked" if done else "unticked"
        journal.record(
            current,
            by=by,
            verb=JournalEntry.Verb.UPDATED,
            changes={
                "checklist": [
                    f"{items[index]['text']}: {not done}",
                    f"{items[index]['text']}: {done}",
                ]
            },
            message=f"{word} {items[index]['text']!r}",
        )
    return copy_state(current, work_order)


def flag_overdue(now: datetime | None = None) -> list[WorkOrder]:
    """Mark open work orders past their due date as notified and tell their function, once
    per work order (a new due date earns a new reminder)."""
    moment = now or timezone.now()
    flagged: list[WorkOrder] = []
    candidates = WorkOrder.objects.filter(
        status__in=[WorkOrderStatus.OPEN, WorkOrderStatus.IN_PROGRESS],
        due_at__lt=moment,
        overdue_notified_at__isnull=True,
    ).values_list("pk", flat=True)
    for pk in list(candidates):
        with transaction.atomic():
            # The claim is the update: two workers cannot both flag (and mail) one order.
            claimed = WorkOrder.objects.filter(pk=pk, overdue_notified_at__isnull=True).update(
                overdue_notified_at=moment
            )
            if not claimed:
                continue
            work_order = WorkOrder.objects.select_related("function").get(pk=pk)
            journal.record(
                work_order,
                by=None,
                verb=JournalEntry.Verb.UPDATED,
                changes={"overdue_notified_at": [None, moment.isoformat()]},
                message=f"overdue since {work_order.due_at:%Y-%m-%d %H:%M} UTC; {work_order.function} told",
            )
            events.publish(work_order, "work_order.overdue", by=None)
            transaction.on_commit(partial(_queue_overdue_mail, pk), robust=True)
            flagged.append(work_order)
    return flagged


def _queue_overdue_mail(pk: int) -> None:
    from itline.operation.maintenance_tasks import send_overdue_mail

    try:
        send_overdue_mail.enqueue(work_order_id=pk)
    except Exception:
        log.exception("could not queue the overdue mail for work order %s", pk)


def completion_history(node: Any, *, limit: int = 20) -> list[WorkOrder]:
    """The last completed work orders on a node, newest first."""
    return list(
        WorkOrder.objects.filter(nodes=node, status=WorkOrderStatus.DONE)
        .select_related("plan", "completed_by")
        .order_by("-completed_at", "-id")[:limit]
    )
