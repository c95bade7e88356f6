"""The maintenance demo: recurring windows and plans on the demo structure, with 90 days of
completed work orders (some late) and the upcoming ones.

Windows: Sunday 02:00-04:00 database patching on PostgreSQL Hosting (and what it runs on),
network maintenance on the first Tuesday evening of each month on the core routers and
firewalls, a quarterly Saturday host patching round, and a one-off storage firmware upgrade
next week. Plans: backup restore test, certificate expiry check, server room UPS and cooling
check, firewall rule review and a PostgreSQL health review, each with a checklist; their past
occurrences are done (by members of the responsible function, a few after the due date), the
last firewall review is overdue, and the next ones are created by the same generator the
periodic task runs.

History is written back-dated in the shapes the verbs write (``created`` with every initial
value, ``state_changed`` on completion), with a seeded generator. Needs the organisation and
structure demos first."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from itline.core.models import JournalEntry, Sequence
from itline.operation.models import MaintenancePlan, MaintenanceWindow, Message, WorkOrder
from itline.operation.models.maintenance import WorkOrderStatus

SEED = 5
HISTORY_DAYS = 90
ZONE = "Europe/Amsterdam"

__all__ = ["is_loaded", "load", "print_summary", "reset", "steps"]


def is_loaded() -> bool:
    return MaintenanceWindow.objects.exists() or MaintenancePlan.objects.exists()


def reset() -> None:
    with transaction.atomic():
        models = (MaintenanceWindow, MaintenancePlan, WorkOrder)
        cts = [ContentType.objects.get_for_model(m) for m in models]
        JournalEntry.objects.filter(content_type__in=cts).delete()
        Message.objects.filter(content_type__in=cts).delete()
        WorkOrder.objects.all().delete()
        MaintenancePlan.objects.all().delete()
        MaintenanceWindow.objects.all().delete()
        Sequence.objects.filter(prefix__in=["MW", "MP", "WO"]).delete()
    from itline.operation import maintenance

    maintenance.forget()


def _zone() -> Any:
    import zoneinfo

    return zoneinfo.ZoneInfo(ZONE)


def _nodes(*names: str) -> list[Any]:
    from itline.cmdb.models import Node

    found = {n.name: n for n in Node.objects.filter(name__in=names)}
    return [found[n] for n in names if n in found]


def _function(name: str) -> Any:
    from itline.org.models import Function

    return Function.objects.get(name=name)


def _local(day: datetime, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=_zone())


def _backdate(record: Any, when: datetime) -> None:
    type(record).objects.filter(pk=record.pk).update(created_at=when)
    JournalEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(type(record)), object_id=str(record.pk)
    ).update(at=when)


def windows(now: datetime | None = None) -> list[MaintenanceWindow]:
    from itline.operation.services import maintenance as verbs

    now = now or timezone.now()
    start = now - timedelta(days=HISTORY_DAYS + 10)
    local = start.astimezone(_zone())
    sunday = local + timedelta(days=(6 - local.weekday()) % 7)
    saturday = local + timedelta(days=(5 - local.weekday()) % 7)
    soon = (now + timedelta(days=8)).astimezone(_zone())
    specs: list[dict[str, Any]] = [
        {
            "title": "Sunday database patching",
            "description": "OS and minor version patches on the PostgreSQL hosts, one replica "
            "at a time. Alerts on the databases and what they run on stay quiet.",
            "nodes": _nodes("PostgreSQL Hosting"),
            "function": _function("Database Administration"),
            "starts_at": _local(sunday, 2),
            "ends_at": _local(sunday, 4),
            "rrule": "FREQ=WEEKLY;BYDAY=SU",
        },
        {
            "title": "Monthly network maintenance",
            "description": "Router and firewall software updates, failover tested per site.",
            "nodes": _nodes("core-rtr-01", "core-rtr-02", "fw-01", "fw-02"),
            "function": _function("Network and Security"),
            "starts_at": _local(local, 22),
            "ends_at": _local(local, 22) + timedelta(hours=3),
            "rrule": "FREQ=MONTHLY;BYDAY=1TU",
            "include_dependencies": False,
        },
        {
            "title": "Quarterly virtualisation host patching",
            "description": "Rolling ESXi patching with vMotion; expect brief VM migrations.",
            "nodes": _nodes("Virtualisation Platform"),
            "function": _function("Infrastructure Operations"),
            "starts_at": _local(saturday, 6),
            "ends_at": _local(saturday, 12),
            "rrule": "FREQ=MONTHLY;INTERVAL=3;BYDAY=2SA",
        },
        {
            "title": "Storage array firmware upgrade",
            "description": "Vendor-assisted controller firmware upgrade, one controller at a time.",
            "nodes": _nodes("Storage"),
            "function": _function("Infrastructure Operations"),
            "starts_at": _local(soon, 20),
            "ends_at": _local(soon, 23),
            "rrule": "",
        },
    ]
    made = []
    for spec in specs:
        if not spec["nodes"]:
            continue
        window = verbs.create_window(by=None, time_zone=ZONE, now=now, **spec)
        _backdate(window, min(start, spec["starts_at"] - timedelta(days=7)))
        made.append(window)
    return made


PLANS: tuple[dict[str, Any], ...] = (
    {
        "title": "Backup restore test",
        "rrule": "FREQ=MONTHLY;BYMONTHDAY=1",
        "hour": 9,
        "nodes": ("backup-01",),
        "function": "Infrastructure Operations",
        "lead_days": 14,
        "estimated_minutes": 120,
        "checklist": [
            "Restore last night's backup of one application database to the test host",
            "Compare row counts and checksums with production",
            "Record the restore time against the 4-hour target",
            "Remove the restored copy",
        ],
    },
    {
        "title": "Certificate expiry check",
        "rrule": "FREQ=WEEKLY;BYDAY=MO",
        "hour": 10,
        "nodes": ("lb-01", "lb-02"),
        "function": "Network and Security",
        "lead_days": 7,
        "estimated_minutes": 30,
        "checklist": [
            "List certificates expiring within 30 days",
            "Request renewals for each",
            "Confirm last week's renewals are installed on both load balancers",
        ],
    },
    {
        "title": "Server room UPS and cooling check",
        "rrule": "FREQ=MONTHLY;BYDAY=1WE",
        "hour": 8,
        "nodes": ("Virtualisation Platform", "Storage"),
        "function": "Infrastructure Operations",
        "lead_days": 14,
        "estimated_minutes": 45,
        "checklist": [
            "Run the UPS battery self-test and read the runtime estimate",
            "Check the load is under 70% per UPS",
            "Read inlet temperatures on every rack (target 18-27 °C)",
            "Inspect the CRAC filters",
        ],
    },
    {
        "title": "Firewall rule review",
        "rrule": "FREQ=MONTHLY;BYMONTHDAY=15",
        "hour": 14,
        "nodes": ("fw-01", "fw-02"),
        "function": "Network and Security",
        "lead_days": 10,
        "estimated_minutes": 90,
        "checklist": [
            "Export rules without hits in 90 days",
            "Ask the rule owners whether each is still needed",
            "Remove the confirmed ones in the next network maintenance window",
        ],
    },
    {
        "title": "PostgreSQL health review",
        "rrule": "FREQ=WEEKLY;INTERVAL=2;BYDAY=TH",
        "hour": 11,
        "nodes": ("PostgreSQL Hosting",),
        "function": "Database Administration",
        "lead_days": 7,
        "estimated_minutes": 60,
        "checklist": [
            "Check replication lag on every replica",
            "Review bloat and autovacuum activity",
            "Check free disk space forecast (30 days)",
        ],
    },
)

NOTES = (
    "All steps done; nothing unusual.",
    "Done. Values within limits; see the readings in the checklist.",
    "Completed. One follow-up raised with the vendor.",
    "Done in the planned time.",
    "Completed; documented the readings in the runbook.",
)


def plans(now: datetime | None = None, seed: int = SEED) -> list[MaintenancePlan]:
    """The plans, their past work orders completed (a few late; the last firewall review
    left open, so it is overdue) and the upcoming ones generated."""
    from itline.core import journal
    from itline.operation.services import maintenance as verbs

    rng = random.Random(seed)  # noqa: S311  (a seeded demo, not a secret)
    now = now or timezone.now()
    start = now - timedelta(days=HISTORY_DAYS)
    first_local = start.astimezone(_zone())
    made = []
    ct = ContentType.objects.get_for_model(WorkOrder)
    for spec in PLANS:
        nodes = _nodes(*spec["nodes"])
        if not nodes:
            continue
        function = _function(spec["function"])
        plan = verbs.create_plan(
            by=None,
            title=spec["title"],
            rrule=spec["rrule"],
            first_due_at=_local(first_local, spec["hour"]),
            function=function,
            nodes=nodes,
            checklist=spec["checklist"],
            time_zone=ZONE,
            lead_days=spec["lead_days"],
            estimated_minutes=spec["estimated_minutes"],
        )
        _backdate(plan, start - timedelta(days=10))
        plan.refresh_from_db()
        members = [m.person for m in function.memberships.select_related("person")] or [None]
        dues = plan.due_dates(start, now)
        leave_open = {dues[-1]} if spec["title"] == "Firewall rule review" and dues else set()
        for due in dues:
            if due in leave_open:
                continue
            late = rng.random() < 0.15
            done_at = due + (
                timedelta(days=rng.randint(1, 6), hours=rng.randint(0, 5))
                if late
                else -timedelta(hours=rng.randint(1, 40))
            )
            if done_at > now:
                continue  # not done yet: generated below as open
            person = rng.choice(members)
            created = due - timedelta(days=plan.lead_days)
            wo = WorkOrder(
                plan=plan,
                title=plan.title,
                description=plan.description,
                function=function,
                due_at=due,
                assignee=person,
                status=WorkOrderStatus.DONE,
                checklist=[{"text": t, "done": True} for t in plan.checklist],
                completion_notes=rng.choice(NOTES),
                completed_at=done_at,
                completed_by=person,
                created_at=created,
            )
            wo.save()
            wo.nodes.set(nodes)
            initial = {
                k: v
                for k, v in journal.snapshot(wo).items()
                if v not in (None, "", [], {}) and k not in ("completed_at", "completed_by")
            }
            initial.update(
                status="open",
                completion_notes=None,
                checklist=[{"text": t, "done": False} for t in plan.checklist],
            )
            JournalEntry.objects.bulk_create(
                [
                    JournalEntry(
                        content_type=ct,
                        object_id=str(wo.pk),
                        object_repr=str(wo)[:200],
                        actor_label="system",
                        at=created,
                        verb=JournalEntry.Verb.CREATED,
                        changes={k: [None, v] for k, v in initial.items() if v is not None},
                        message=f"generated from {plan.reference}",
                    ),
                    JournalEntry(
                        content_type=ct,
                        object_id=str(wo.pk),
                        object_repr=str(wo)[:200],
                        actor_label=person.name if person else "system",
                        at=done_at,
                        verb=JournalEntry.Verb.STATE_CHANGED,
                        changes={
                            "status": ["open", "done"],
                            "completion_notes": ["", wo.completion_notes],
                            "completed_at": [None, done_at.isoformat()],
                        },
                    ),
                ]
            )
        verbs.generate_work_orders(now=now, plans=[plan])
        made.append(plan)
    # Work orders the generator just created were "created" now; date them lead_days back
    # like the periodic task would have.
    for wo in WorkOrder.objects.filter(status=WorkOrderStatus.OPEN).select_related("plan"):
        if wo.plan is not None:
            created = min(now, wo.due_at - timedelta(days=wo.plan.lead_days))
            _backdate(wo, created)
    return made


def load(now: datetime | None = None) -> None:
    with transaction.atomic():
        windows(now)
        plans(now)


def steps() -> Iterator[tuple[str, Callable[[], Any]]]:
    yield "maintenance windows", windows
    yield "maintenance plans and 90 days of work orders", plans


def print_summary(console: Any) -> None:
    now = timezone.now()
    done = WorkOrder.objects.filter(status=WorkOrderStatus.DONE).count()
    open_ = WorkOrder.objects.filter(status__in=[WorkOrderStatus.OPEN, WorkOrderStatus.IN_PROGRESS])
    overdue = open_.filter(due_at__lt=now).count()
    console.print(
        f"Maintenance: {MaintenanceWindow.objects.count()} windows, "
        f"{MaintenancePlan.objects.count()} plans, {done} completed work orders, "
        f"{open_.count()} open ({overdue} overdue)."
    )
