"""The Operation demo: 90 days of service desk history, so queues and reports are alive.

About 1,800 service requests of every type and channel and 1,200 incidents spread over the
demo services and components: arrivals shaped by the working day, priority dependent response
and resolution times with a long tail, holds, escalations, reopenings; four past major
incidents with stakeholder updates, merged duplicates and linked fault reports, plus one open
today; 20 problems with their incidents and root causes; 15 known errors with workarounds.
Every persona with a login finds a live queue: open incidents assigned to tech.tom, desk.dana
and im.ingrid (some about to breach, one breached), problems owned by pm.paul, requests of
req.rita waiting for her.

History is real history: every record's journal is written back-dated in the shapes the verbs
write (``created`` with every initial value, ``assigned``, ``state_changed`` with status, hold
reason, ``responded_at``/``resolved_at``, ``commented`` for each message), so the SLA clocks
derived from the journal are right; they are computed at the end by ``itline.operation.sla``.
Everything is simulated in memory with a seeded generator (the same data for the same moment
of loading) and written with ``bulk_create``.

Needs the organisation, structure and agreements demos (``itline.relations.demo``) first."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from itline.core.models import JournalEntry, Sequence
from itline.operation.demo.simulation import SEED, Simulation
from itline.operation.demo.world import World
from itline.operation.models import (
    Attachment,
    InboundMail,
    Incident,
    KnownError,
    Message,
    Problem,
    RecurrenceProposal,
    ServiceRequest,
    SlaClock,
)

__all__ = ["SEED", "is_loaded", "load", "print_summary", "reset", "steps"]


def is_loaded() -> bool:
    return Incident.objects.exists() or ServiceRequest.objects.exists()


def reset() -> None:
    """Remove every Operation record, its journal and messages, and the improvements that
    came from requests."""
    from itline.delivery.models import Improvement

    with transaction.atomic():
        models = (Incident, ServiceRequest, Problem, KnownError, Improvement)
        cts = [ContentType.objects.get_for_model(m) for m in models]
        JournalEntry.objects.filter(content_type__in=cts).delete()
        Attachment.objects.filter(content_type__in=cts).delete()
        Message.objects.filter(content_type__in=cts).delete()
        SlaClock.objects.all().delete()
        RecurrenceProposal.objects.all().delete()
        InboundMail.objects.all().delete()
        ServiceRequest.objects.all().delete()
        Incident.objects.update(merged_into=None)
        Incident.objects.all().delete()
        KnownError.objects.all().delete()
        Problem.objects.all().delete()
        Improvement.objects.filter(source_reference__startswith="REQ-").delete()
        Sequence.objects.filter(prefix__in=["INC", "REQ", "PRB", "KE"]).delete()
        if not Improvement.objects.exists():
            Sequence.objects.filter(prefix="IMP").delete()


def compute_clocks(now: datetime | None = None) -> int:
    """The SLA module derives every incident's clocks from the journal just written."""
    from itline.operation import sla

    ids = list(Incident.objects.order_by("pk").values_list("pk", flat=True))
    return sla.recompute(ids, now=now)


def load(now: datetime | None = None, seed: int = SEED) -> Simulation:
    """Simulate and write the whole history up to ``now`` (default: the current time)."""
    with transaction.atomic():
        simulation = Simulation(World.load(), now or timezone.now(), seed)
        simulation.run()
        simulation.write()
        compute_clocks(now)
    return simulation


def steps() -> Iterator[tuple[str, Callable[[], Any]]]:
    holder: dict[str, Simulation] = {}

    def simulate() -> None:
        holder["simulation"] = Simulation(World.load(), timezone.now())
        holder["simulation"].run()

    def write() -> None:
        holder["simulation"].write()

    yield "90 days of requests and incidents", simulate
    yield "history written", write
    yield "SLA clocks", compute_clocks


def print_summary(console: Any) -> None:
    from itline.operation.choices import INCIDENT_OPEN

    open_count = Incident.objects.filter(status__in=INCIDENT_OPEN).count()
    console.print(
        f"Operation: {ServiceRequest.objects.count():,} service requests, "
        f"{Incident.objects.count():,} incidents ({open_count} open), "
        f"{Problem.objects.count()} problems, {KnownError.objects.count()} known errors."
    )
