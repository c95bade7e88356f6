"""The demo agreements: a default agreement on office hours, and three customer agreements
with their own support hours (a 24x7 warehouse, extended shop hours for Sales, tight payroll
targets for Finance). Deterministic; needs the organisation and structure demos first."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from django.db import transaction

from itline.core.models import BusinessCalendar, JournalEntry, Sequence
from itline.core.services import create_record
from itline.relations.models import Agreement, AgreementTarget
from itline.relations.services import create_agreement

# priority -> (response minutes, resolution minutes), business minutes of the calendar
STANDARD = {1: (15, 240), 2: (30, 540), 3: (120, 1620), 4: (480, 2700)}

# name, customer unit, service name, calendar name, warning %, pause states, targets, description
AGREEMENTS: tuple[
    tuple[str, str | None, str | None, str, int, list[str], dict[int, tuple[int, int]], str], ...
] = (
    (
        "Standard support",
        None,
        None,
        "Office hours NL",
        75,
        ["waiting_for_customer"],
        STANDARD,
        "Applies wherever no customer agreement does: office hours, Dutch holidays.",
    ),
    (
        "Warehousing: Warehouse Management 24x7",
        "Warehousing",
        "Warehouse Management",
        "24x7",
        75,
        ["waiting_for_customer", "waiting_for_supplier"],
        {1: (15, 240), 2: (30, 480), 3: (120, 1440), 4: (480, 4320)},
        "The warehouse runs three shifts: support around the clock for its core system.",
    ),
    (
        "Sales: extended hours",
        "Sales",
        None,
        "Extended hours NL",
        80,
        ["waiting_for_customer"],
        {1: (15, 240), 2: (30, 480), 3: (90, 1440), 4: (240, 2880)},
        "Every service Sales uses, supported 07:00-22:00 Monday to Saturday (web shop hours).",
    ),
    (
        "Finance: Payroll",
        "Finance",
        "Payroll",
        "Office hours NL",
        70,
        ["waiting_for_customer", "waiting_for_change"],
        {1: (15, 180), 2: (30, 360), 3: (60, 1080), 4: (240, 2160)},
        "Payroll must run on time: tighter targets, earlier warning.",
    ),
)

EXTENDED_HOURS: dict[str, Any] = {
    "name": "Extended hours NL",
    "time_zone": "Europe/Amsterdam",
    "working_hours": {d: ["07:00-22:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat")},
    "country": "NL",
    "description": "Web shop support hours: 07:00-22:00 Monday to Saturday; Dutch holidays.",
}


def is_loaded() -> bool:
    return Agreement.objects.exists()


def reset() -> None:
    from django.contrib.contenttypes.models import ContentType

    with transaction.atomic():
        cts = [ContentType.objects.get_for_model(m) for m in (Agreement, AgreementTarget)]
        JournalEntry.objects.filter(content_type__in=cts).delete()
        AgreementTarget.objects.all().delete()
        Agreement.objects.all().delete()
        BusinessCalendar.objects.filter(name=EXTENDED_HOURS["name"]).delete()
        Sequence.objects.filter(prefix="SLA").delete()


def steps() -> Iterator[tuple[str, Callable[[], Any]]]:
    def agreements() -> None:
        from itline.cmdb.models import Service
        from itline.org.models import Customer

        calendars = {c.name: c for c in BusinessCalendar.objects.all()}
        if "Office hours NL" not in calendars:
            raise RuntimeError("the organisation demo (with its calendars) must be loaded first")
        if EXTENDED_HOURS["name"] not in calendars:
            calendars[EXTENDED_HOURS["name"]] = create_record(
                BusinessCalendar(**EXTENDED_HOURS), by=None
            )
        customers = {
            c.business_unit.name: c for c in Customer.objects.select_related("business_unit")
        }
        services = {s.name: s for s in Service.objects.all()}
        for name, unit, service, calendar, warning, pauses, targets, description in AGREEMENTS:
            create_agreement(
                by=None,
                name=name,
                customer=customers.get(unit) if unit else None,
                service=services.get(service) if service else None,
                is_default=unit is None and service is None,
                calendar=calendars[calendar],
                warning_percent=warning,
                pause_states=pauses,
                description=description,
                targets=[
                    {"priority": p, "response_minutes": r, "resolution_minutes": t}
                    for p, (r, t) in sorted(targets.items())
                ],
            )

    yield "agreements", agreements
