"""SLA clocks of incidents: computed from the journal (``itline.operation.sla_engine``),
stored as ``SlaClock`` rows, recomputed after calendar and agreement edits, explained period by
period, and scanned every minute for warnings and breaches (docs/sla.md).

The incident verbs call ``refresh(incident)`` inside their transaction after every change;
``recompute`` does many incidents in chunks (``itline sla recompute``); ``explain`` computes
with periods without writing; ``scan`` is the periodic breach scan (``sla_tasks``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from itline.core.calendar import BusinessCalendar as CalendarEngine
from itline.operation.sla_engine import (
    KINDS,
    PAUSED,
    RESOLUTION,
    RESPONSE,
    RUNNING,
    STOPPED,
    TRACKED,
    TWENTY_FOUR_SEVEN,
    Change,
    Clock,
    Period,
    Policy,
    compute,
    journal_inputs,
)

__all__ = [
    "KINDS",
    "PAUSED",
    "RESOLUTION",
    "RESPONSE",
    "RUNNING",
    "STOPPED",
    "TRACKED",
    "Change",
    "Clock",
    "Explanation",
    "Period",
    "Policy",
    "ScanResult",
    "Terms",
    "TermsCache",
    "business_minutes_left",
    "compute",
    "explain",
    "journal_inputs",
    "recompute",
    "refresh",
    "scan",
]


@dataclass(frozen=True, slots=True)
class Terms:
    """An agreement as the clocks need it, loaded once per computation batch."""

    agreement_id: int
    reference: str
    name: str
    policy: Policy
    calendar: CalendarEngine | None
    calendar_reference: str | None
    calendar_name: str | None


class TermsCache:
    """Agreements (targets, calendar engine) by id, plus the default agreement's id."""

    def __init__(self) -> None:
        self._by_id: dict[int, Terms | None] = {}
        self._default: int | bool | None = False

    def default_id(self) -> int | None:
        if self._default is False:
            from itline.relations.models import Agreement

            self._default = (
                Agreement.objects.filter(is_default=True, active=True)
                .values_list("pk", flat=True)
                .first()
            )
        return self._default  # type: ignore[return-value]

    def for_incident(self, agreement_id: int | None) -> Terms | None:
        """The terms of the incident's agreement, the default one where it has none."""
        chosen = agreement_id if agreement_id is not None else self.default_id()
        if chosen is None:
            return None
        if chosen not in self._by_id:
            self._by_id[chosen] = self._load(chosen)
        return self._by_id[chosen]

    def _load(self, agreement_id: int) -> Terms | None:
        from itline.relations.models import Agreement

        agreement = (
            Agreement.objects.select_related("calendar")
            .prefetch_related("targets")
            .filter(pk=agreement_id)
            .first()
        )
        if agreement is None:
            return None
        calendar = agreement.calendar
        return Terms(
            agreement_id=agreement.pk,
            reference=agreement.reference,
            name=agreement.name,
            policy=Policy(
                targets={
                    t.priority: (t.response_minutes, t.resolution_minutes)
                    for t in agreement.targets.all()
                },
                warning_percent=agreement.warning_percent,
                pause_states=frozenset(agreement.pause_states or ()),
            ),
            calendar=calendar.engine() if calendar is not None else None,
            calendar_reference=calendar.reference if calendar is not None else None,
            calendar_name=calendar.name if calendar is not None else None,
        )


_INCIDENT_FIELDS = (
    "id",
    "agreement_id",
    "created_at",
    "status",
    "hold_reason",
    "priority",
    "responded_at",
)
_JOURNAL_VERBS = ("created", "updated", "state_changed", "assigned")


def _journal_rows(incident_ids: Sequence[int]) -> dict[int, list[tuple[datetime, str, Any]]]:
    from itline.core.journal import content_type_for
    from itline.core.models import JournalEntry
    from itline.operation.models import Incident

    rows: dict[int, list[tuple[datetime, str, Any]]] = {pk: [] for pk in incident_ids}
    entries = (
        JournalEntry.objects.filter(
            content_type=content_type_for(Incident),
            object_id__in=[str(pk) for pk in incident_ids],
            verb__in=_JOURNAL_VERBS,
        )
        .order_by("at", "id")
        .values_list("object_id", "at", "verb", "changes")
    )
    for object_id, at, verb, changes in entries:
        rows[int(object_id)].append((at, verb, changes))
    return rows


def clocks_for(
    incident: Mapping[str, Any],
    rows: Iterable[tuple[datetime, str, Any]],
    terms: Terms | None,
    *,
    now: datetime,
    explain: bool = False,
) -> dict[str, Clock]:
    """The clocks of one incident (``incident``: the values of ``_INCIDENT_FIELDS``)."""
    if terms is None:
        return {}
    start, initial, changes = journal_inputs(
        rows, created_at=incident["created_at"], current=incident
    )
    return compute(
        start,
        initial,
        changes,
        policy=terms.policy,
        calendar=terms.calendar,
        now=now,
        explain=explain,
    )


def _store(
    incidents: Sequence[Mapping[str, Any]],
    results: Mapping[int, tuple[Terms | None, dict[str, Clock]]],
    *,
    now: datetime,
) -> list[Any]:
    """Write the computed clocks: update changed rows, create new ones, delete clocks whose
    agreement or target went away. Notification markers (``warned_at``, ``breached_at``)
    are cleared when their threshold moved back into the future, so a new threshold is
    notified again."""
    from itline.operation.models import SlaClock

    ids = [row["id"] for row in incidents]
    # Locked, so a breach scan running at the same time (which skips locked rows) cannot
    # mark a clock that this write would then overwrite with the marks read before it.
    existing = {
        (c.incident_id, c.kind): c
        for c in SlaClock.objects.select_for_update().filter(incident_id__in=ids)
    }
    to_create: list[Any] = []
    to_update: list[Any] = []
    to_delete: list[int] = []
    kept: list[Any] = []
    for incident_id in ids:
        terms, clocks = results[incident_id]
        for kind in KINDS:
            row = existing.get((incident_id, kind))
            clock = clocks.get(kind)
            if clock is None or terms is None:
                if row is not None:
                    to_delete.append(row.pk)
                continue
            values = {
                "agreement_id": terms.agreement_id,
                "target_minutes": clock.target_minutes,
                "warning_percent": clock.warning_percent,
                "state": clock.state,
                "started_at": clock.started_at,
                "elapsed_minutes": clock.elapsed_minutes,
                "computed_at": now,
                "warn_at": clock.warn_at,
                "due_at": clock.due_at,
                "stopped_at": clock.stopped_at,
            }
            if row is None:
                row = SlaClock(incident_id=incident_id, kind=kind, **values)
                to_create.append(row)
            else:
                for name, value in values.items():
                    setattr(row, name, value)
                if row.warned_at is not None and (clock.warn_at is None or clock.warn_at > now):
                    row.warned_at = None
                if row.breached_at is not None and (clock.due_at is None or clock.due_at >= now):
                    row.breached_at = None
                to_update.append(row)
            if clock.state == STOPPED:
                # A stopped clock will never be scanned: its outcome is recorded here, at the
                # instants the thresholds were reached (nobody is paged for a closed case).
                if row.warned_at is None and clock.warned and clock.warn_at is not None:
                    row.warned_at = clock.warn_at
                if row.breached_at is None and clock.breached and clock.due_at is not None:
                    row.breached_at = clock.due_at
            kept.append(row)
    if to_delete:
        SlaClock.objects.filter(pk__in=to_delete).delete()
    if to_update:
        SlaClock.objects.bulk_update(
            to_update, [*_STORED_FIELDS, "warned_at", "breached_at"], batch_size=500
        )
    if to_create:
        SlaClock.objects.bulk_create(to_create, batch_size=500)
    return kept


_STORED_FIELDS = (
    "agreement",
    "target_minutes",
    "warning_percent",
    "state",
    "started_at",
    "elapsed_minutes",
    "computed_at",
    "warn_at",
    "due_at",
    "stopped_at",
)


def _now(now: datetime | None) -> datetime:
    from django.utils import timezone

    return timezone.now() if now is None else now


def refresh(incident: Any, *, now: datetime | None = None) -> list[Any]:
    """Recompute and store the clocks of ``incident`` from its journal. Incident verbs call
    it inside their transaction after every change (after the journal row is written); it
    reads the incident's ``agreement_id`` from the instance given. Returns the stored
    ``SlaClock`` rows."""
    from django.db import transaction

    now = _now(now)
    row = {name: getattr(incident, name) for name in _INCIDENT_FIELDS}
    terms = TermsCache().for_incident(row["agreement_id"])
    rows = _journal_rows([row["id"]])[row["id"]] if terms is not None else []
    clocks = clocks_for(row, rows, terms, now=now)
    with transaction.atomic():  # a savepoint inside the verb's transaction
        return _store([row], {row["id"]: (terms, clocks)}, now=now)


def recompute(
    incident_ids: Iterable[int],
    *,
    now: datetime | None = None,
    chunk_size: int = 500,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Recompute the clocks of many incidents in chunks (one transaction each): after a
    calendar, holiday or agreement edit this gives exactly what ``refresh`` of each would.
    Returns how many incidents were done; ``progress(n)`` is told after each chunk."""
    from django.db import transaction

    from itline.operation.models import Incident

    now = _now(now)
    cache = TermsCache()
    done = 0
    batch: list[int] = []

    def flush() -> None:
        nonlocal done
        with transaction.atomic():
            incidents = list(Incident.objects.filter(pk__in=batch).values(*_INCIDENT_FIELDS))
            journals = _journal_rows([row["id"] for row in incidents])
            results = {}
            for row in incidents:
                terms = cache.for_incident(row["agreement_id"])
                results[row["id"]] = (
                    terms,
                    clocks_for(row, journals[row["id"]], terms, now=now),
                )
            _store(incidents, results, now=now)
        done += len(batch)
        if progress is not None:
            progress(len(batch))
        batch.clear()

    for pk in incident_ids:
        batch.append(pk)
        if len(batch) >= chunk_size:
            flush()
    if batch:
        flush()
    return done


@dataclass(frozen=True)
class Explanation:
    """The clocks of an incident computed now, with their periods, and the stored markers."""

    incident_reference: str
    terms: Terms | None
    clocks: tuple[Clock, ...]
    markers: Mapping[str, tuple[datetime | None, datetime | None]]  # kind -> (warned, breached)
    computed_at: datetime


def explain(incident: Any, *, now: datetime | None = None) -> Explanation:
    """The clocks of ``incident`` computed from its journal at ``now`` with their running and
    paused periods (nothing is written)."""
    from itline.operation.models import SlaClock

    now = _now(now)
    row = {name: getattr(incident, name) for name in _INCIDENT_FIELDS}
    terms = TermsCache().for_incident(row["agreement_id"])
    rows = _journal_rows([row["id"]])[row["id"]] if terms is not None else []
    clocks = clocks_for(row, rows, terms, now=now, explain=True)
    markers = {
        kind: (warned, breached)
        for kind, warned, breached in SlaClock.objects.filter(incident_id=row["id"]).values_list(
            "kind", "warned_at", "breached_at"
        )
    }
    return Explanation(
        incident_reference=incident.reference,
        terms=terms,
        clocks=tuple(clocks[k] for k in KINDS if k in clocks),
        markers=markers,
        computed_at=now,
    )


# --- live view of stored clocks -------------------------------------------------------------


def business_minutes_left(clock: Any, *, now: datetime | None = None, cache: Any = None) -> float:
    """Business minutes left until the target of a stored ``SlaClock`` (negative: overdue).
    A running clock counts from ``now`` to its due instant on the agreement's calendar; a
    paused or stopped one keeps what it had left."""
    now = _now(now)
    if clock.state != RUNNING or clock.due_at is None:
        return clock.target_minutes - clock.elapsed_minutes
    terms = (cache or TermsCache()).for_incident(clock.agreement_id)
    engine = terms.calendar if terms is not None and terms.calendar is not None else None
    return (engine or TWENTY_FOUR_SEVEN).business_minutes_between(now, clock.due_at)


_SHARED: dict[str, Any] = {"cache": None, "at": 0.0}


def shared_terms() -> TermsCache:
    """A per-process cache of agreements and calendars for display (the SLA badge of list
    rows): lists show many rows with few agreements, and a label a minute behind an
    agreement edit is harmless (stored due times are exact). Renewed every minute, and at
    once when this process saves an agreement, a target or a calendar."""
    import time

    if _SHARED["cache"] is None or time.monotonic() - _SHARED["at"] >= 60:
        _SHARED["cache"] = TermsCache()
        _SHARED["at"] = time.monotonic()
    return _SHARED["cache"]  # type: ignore[no-any-return]


def forget_shared_terms(**kwargs: Any) -> None:
    _SHARED["cache"] = None


# --- the breach scan ------------------------------------------------------------------------


@dataclass(frozen=True)
class ScanResult:
    warned: int
    breached: int


def _local(moment: datetime | None) -> str:
    from django.utils import timezone

    return timezone.localtime(moment).strftime("%a %Y-%m-%d %H:%M %Z") if moment else ""


def _describe(kind: str, threshold: str, clock: Mapping[str, Any]) -> str:
    target = _duration(clock["target_minutes"])
    if threshold == "breach":
        return (
            f"SLA {kind} target of {target} business time breached (due {_local(clock['due_at'])})."
        )
    due = _local(clock["due_at"]) or "not yet known"
    return (
        f"SLA warning: {clock['warning_percent']} % of the {kind} target of {target} business "
        f"time used (reached {_local(clock['warn_at'])}; due {due})."
    )


def _duration(minutes: float) -> str:
    minutes = round(minutes)
    hours, rest = divmod(abs(minutes), 60)
    sign = "-" if minutes < 0 else ""
    if hours and rest:
        return f"{sign}{hours} h {rest} min"
    if hours:
        return f"{sign}{hours} h"
    return f"{sign}{rest} min"


def scan(*, now: datetime | None = None) -> ScanResult:
    """Find open clocks that reached their warning threshold or passed their target and
    have not been notified for it: mark them (``warned_at``/``breached_at``), write a
    journal row on the incident and publish ``incident.breach_warning`` /
    ``incident.breach`` (e-mail to assignee and function lead, webhooks) after commit.

    Two range scans over the partial indexes of thresholds not yet notified
    (``sla_clock_due_pending``, ``sla_clock_warn_pending``), so the cost follows the clocks
    that crossed since the last scan, not the open or breached ones; then bulk writes. A
    clock whose target passed is notified only of the breach (its warning is marked too). A
    stopped clock found here (refresh normally records its outcome itself) is marked without
    paging anyone. On PostgreSQL the rows are claimed with ``FOR UPDATE SKIP LOCKED``; SQLite
    serialises writers, so two scans never notify the same threshold twice."""
    from django.db import transaction
    from django.db.models import F
    from django.db.models.functions import Coalesce

    from itline.core.journal import content_type_for
    from itline.core.models import JournalEntry
    from itline.operation import events
    from itline.operation.models import Incident, SlaClock

    now = _now(now)
    columns = (
        "id",
        "incident_id",
        "kind",
        "state",
        "warn_at",
        "due_at",
        "target_minutes",
        "warning_percent",
    )
    with transaction.atomic():
        # No filter on state: it would let the planner pick the (state, due_at) index, which
        # also holds every breached clock. Only open clocks are in these partial indexes
        # anyway, as refresh() marks a stopped clock's thresholds itself.
        found_due = list(
            SlaClock.objects.select_for_update(skip_locked=True)
            .filter(due_at__lt=now, breached_at__isnull=True)
            .values(*columns)
        )
        due_ids = {c["id"] for c in found_due}
        found_warn = [
            c
            for c in SlaClock.objects.select_for_update(skip_locked=True)
            .filter(warn_at__lte=now, warned_at__isnull=True)
            .values(*columns)
            if c["id"] not in due_ids
        ]
        due = [c for c in found_due if c["state"] != STOPPED]
        warn = [c for c in found_warn if c["state"] != STOPPED]
        stopped_due = [c["id"] for c in found_due if c["state"] == STOPPED]
        stopped_warn = [c["id"] for c in found_warn if c["state"] == STOPPED]
        if stopped_due or stopped_warn:
            SlaClock.objects.filter(pk__in=stopped_due, breached_at__isnull=True).update(
                breached_at=F("due_at")
            )
            SlaClock.objects.filter(
                pk__in=[*stopped_due, *stopped_warn], warned_at__isnull=True
            ).update(warned_at=F("warn_at"))
        if not due and not warn:
            return ScanResult(0, 0)
        for start in range(0, len(due), 900):
            chunk = [c["id"] for c in due[start : start + 900]]
            SlaClock.objects.filter(pk__in=chunk).update(
                breached_at=now, warned_at=Coalesce(F("warned_at"), now)
            )
        for start in range(0, len(warn), 900):
            chunk = [c["id"] for c in warn[start : start + 900]]
            SlaClock.objects.filter(pk__in=chunk).update(warned_at=now)
        incident_ids = {c["incident_id"] for c in (*due, *warn)}
        names: dict[int, tuple[str, str]] = {}
        ids = sorted(incident_ids)
        for start in range(0, len(ids), 900):
            for pk, reference, title in Incident.objects.filter(
                pk__in=ids[start : start + 900]
            ).values_list("id", "reference", "title"):
                names[pk] = (reference, title)
        content_type = content_type_for(Incident)
        entries = []
        notices: list[tuple[int, str, dict[str, Any]]] = []
        for threshold, clocks in (("breach", due), ("warning", warn)):
            for clock in clocks:
                reference, title = names.get(clock["incident_id"], ("", ""))
                entries.append(
                    JournalEntry(
                        content_type=content_type,
                        object_id=str(clock["incident_id"]),
                        object_repr=f"{reference} {title}"[:200],
                        actor=None,
                        actor_label="system",
                        at=now,
                        verb=JournalEntry.Verb.UPDATED,
                        changes={},
                        message=_describe(clock["kind"], threshold, clock),
                    )
                )
                event = "incident.breach" if threshold == "breach" else "incident.breach_warning"
                extra = {
                    "clock": clock["kind"],
                    "percent": clock["warning_percent"],
                    "due_at": _local(clock["due_at"]),
                }
                notices.append((clock["incident_id"], event, extra))
        JournalEntry.objects.bulk_create(entries, batch_size=500)
        for incident_id, event, extra in notices:
            reference, title = names.get(incident_id, ("", ""))
            # publish() needs only the model and key; no need to load every incident.
            record = Incident(pk=incident_id, reference=reference, title=title)
            events.publish(record, event, extra=extra)
    return ScanResult(warned=len(warn), breached=len(due))
