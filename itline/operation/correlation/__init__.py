"""Correlation: from changed alerts to alert groups and incidents (docs/correlation.md).

Ingestion commits the alerts first (durable), marks those whose status changed ``pending``
and, right after the commit, hands their ids to the correlator thread of its process
(``runner``; ``EVENTS_CORRELATE_INLINE`` calls ``alerts_changed(ids)`` in the request
instead, as tests do): woken at once, so the incident notification leaves within
milliseconds of the event when idle, and batching whatever piled up under load. Each run is
one transaction, working in bulk (a constant number of queries to load, decisions in memory,
one statement per kind of write; new groups in one INSERT with their references reserved by
one UPDATE of the sequence), that, for every pending alert in the order the changes happened:

1. marks it flapping when its rule counts too many state changes in the flap window;
2. if it fires on a node inside a maintenance window (``maintenance.covering``), records the
   window in ``suppressed_by`` and stops: no group, no incident, no notification; a
   silenced alert likewise;
3. otherwise puts it in its alert group on the service structure (``grouping``);
4. then each touched group is brought up to date: counts, status, and its one incident
   opened, updated, resolved or reopened by the alert rules (``incidents``).

Every decision is explained in ``decisions`` of the alert and the group. Runs are
serialised (a transaction-scoped advisory lock on PostgreSQL; SQLite writers queue anyway),
so two requests never build two groups for one situation, and only alerts still ``pending``
are processed: running twice changes nothing. ``process_pending`` is the sweep for what a
crash left pending; ``tick`` (every minute) opens incidents whose minimum duration has
passed and takes up alerts whose flapping, silence or maintenance window is over."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from itline.operation.correlation.decisions import clock, decide
from itline.operation.correlation.grouping import (
    Batch,
    node_of,
    persist_new_groups,
    place,
    publish_opened,
    save_groups,
)
from itline.operation.correlation.incidents import evaluate
from itline.operation.correlation.rules import active_rules, ensure_default_rules, match
from itline.operation.models import Alert, AlertRule, AlertTransition
from itline.operation.models.alerts import AlertGroupStatus, AlertStatus

__all__ = [
    "Outcome",
    "alerts_changed",
    "correlate",
    "ensure_default_rules",
    "process_pending",
    "tick",
]

logger = logging.getLogger(__name__)

# pg_advisory_xact_lock key of correlation runs (and the alert verbs): "itline-c" in hex.
LOCK_KEY = 0x69746C696E652D63
BATCH = 500  # alerts per transaction of the sweep
# How far back the minute tick looks for firing alerts of groups still without an incident.
TICK_LOOKBACK = timedelta(hours=1)


@dataclass
class Outcome:
    processed: int = 0
    stats: dict[str, int] | None = None

    def __getitem__(self, key: str) -> int:
        return (self.stats or {}).get(key, 0)


def serialize() -> None:
    """Take the correlation lock for the rest of the current transaction."""
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])


def alerts_changed(alert_ids: Iterable[int]) -> None:
    """Called by ingestion after its commit. Never raises into the request: the events are
    stored, and anything left pending here is taken up by the sweep."""
    ids = list(alert_ids)
    try:
        correlate(ids)
    except Exception:
        logger.exception("correlation of %d alert(s) failed; the sweep retries them", len(ids))


def correlate(alert_ids: Iterable[int], *, now: datetime | None = None) -> Outcome:
    """Correlate the given alerts that are still pending, in one transaction."""
    ids = sorted({int(i) for i in alert_ids})
    if not ids:
        return Outcome()
    with transaction.atomic():
        serialize()
        alerts = list(Alert.objects.filter(pk__in=ids, pending=True).order_by("changed_at", "id"))
        if not alerts:
            return Outcome()
        batch = Batch(now=now or timezone.now(), rules=active_rules())
        for alert in alerts:
            batch.alerts[alert.pk] = alert
        batch.remember_names([n for a in alerts if (n := node_of(a)) is not None])
        counts = _state_changes(batch, alerts)
        windows = _windows(alerts, batch.now)
        batch.prepare(
            {n for a in alerts if a.status == AlertStatus.FIRING and (n := node_of(a)) is not None}
        )
        for alert in alerts:
            _correlate_one(batch, alert, counts.get(alert.pk, 0), windows.get(alert.pk))
            alert.pending = False
        made = persist_new_groups(batch)
        write(alerts, ["group", "suppressed_by", "flapping", "pending", "decisions"])
        batch.dirty -= set(ids)
        evaluate(batch)
        _save_dirty(batch)
        publish_opened(made)
    return Outcome(processed=len(alerts), stats=dict(batch.stats))


def _correlate_one(batch: Batch, alert: Alert, changes: int, window: Any) -> None:
    rule = match(batch.rules, alert)
    _check_flapping(batch, alert, rule, changes)
    if alert.status != AlertStatus.FIRING:
        if alert.group_id:
            batch.group(alert.group_id)
            group = batch.groups.get(alert.group_id)
            if group is not None:
                batch.left[group.pk].append(alert)
                batch.touch(group)
        return
    node = node_of(alert)
    if window is not None:
        alert.suppressed_by = window
        decide(
            alert,
            f"suppressed by {window.reference} {window.title!r}",
            f"{batch.name(node)} is covered by maintenance window {window.reference} "
            f"{window.title!r} at {clock(batch.now)}. The alert is recorded but joins "
            "no group, opens no incident and sends no notification.",
            at=batch.now,
        )
        batch.stats["suppressed"] += 1
        return
    if alert.suppressed_by_id is not None:
        decide(
            alert,
            "no longer suppressed",
            f"No maintenance window covers {batch.name(node)} at {clock(batch.now)}.",
            at=batch.now,
        )
        alert.suppressed_by = None
    if alert.is_silenced(batch.now):
        decide(
            alert,
            "silenced",
            f"Silenced until {clock(alert.silenced_until)}"  # type: ignore[arg-type]
            + (f" ({alert.silence_reason})" if alert.silence_reason else "")
            + ". The alert is recorded but joins no new group, opens no incident and sends "
            "no notification.",
            at=batch.now,
        )
        batch.stats["silenced"] += 1
        return
    place(batch, alert)


def _check_flapping(batch: Batch, alert: Alert, rule: AlertRule | None, changes: int) -> None:
    if rule is None or rule.flap_threshold < 2 or alert.flapping:
        return
    if changes >= rule.flap_threshold:
        alert.flapping = True
        decide(
            alert,
            "flapping",
            f"{changes} state changes within {rule.flap_window_seconds} s (rule {rule.name!r} "
            f"counts {rule.flap_threshold} as flapping). It opens and resolves no incident "
            f"until it has been quiet for {rule.flap_window_seconds} s.",
            at=batch.now,
        )
        batch.stats["flapping"] += 1


def _state_changes(batch: Batch, alerts: list[Alert]) -> dict[int, int]:
    """Per alert, its transitions within its rule's flap window before its latest one; one
    query, and only for alerts that changed state often enough to possibly flap."""
    windows: dict[int, int] = {}
    for alert in alerts:
        rule = match(batch.rules, alert)
        if (
            rule is not None
            and rule.flap_threshold >= 2
            and not alert.flapping
            and alert.transitions >= rule.flap_threshold
        ):
            windows[alert.pk] = rule.flap_window_seconds
    if not windows:
        return {}
    earliest = min(a.changed_at for a in alerts if a.pk in windows)
    # Transition times are the sender's; a day of slack covers late deliveries.
    since = earliest - timedelta(seconds=max(windows.values())) - timedelta(days=1)
    times: dict[int, list[datetime]] = defaultdict(list)
    for alert_id, at in AlertTransition.objects.filter(
        alert_id__in=list(windows), at__gte=since
    ).values_list("alert_id", "at"):
        times[alert_id].append(at)
    counts = {}
    for alert_id, moments in times.items():
        latest = max(moments)
        start = latest - timedelta(seconds=windows[alert_id])
        counts[alert_id] = sum(1 for m in moments if m > start)
    return counts


def _windows(alerts: list[Alert], now: datetime) -> dict[int, Any]:
    """The maintenance window suppressing each firing alert, if any. Asked for ``now``, not
    for when the alert fired: suppression is about not notifying now, so an alert taken up
    late (by the sweep) whose window has ended while it still fires is not suppressed."""
    from itline.operation.maintenance import covering

    firing = [a for a in alerts if a.status == AlertStatus.FIRING and node_of(a) is not None]
    nodes = {n for a in firing for n in (a.component_id, a.service_id) if n is not None}
    windows = covering(nodes, now) if nodes else {}
    found: dict[int, Any] = {}
    if not windows:
        return found
    for alert in firing:
        for node in (alert.component_id, alert.service_id):
            if node is not None and node in windows:
                found[alert.pk] = windows[node]
                break
    return found


def write(alerts: list[Alert], fields: list[str]) -> None:
    """Save ``fields`` of many alerts in one executemany: ``bulk_update`` builds a CASE per
    field and row, which costs more than the rest of a large run together."""
    if not alerts:
        return
    connection = transaction.get_connection()
    columns = [Alert._meta.get_field(name) for name in fields]
    assignments = ", ".join(f"{connection.ops.quote_name(f.column)} = %s" for f in columns)  # type: ignore[union-attr]
    sql = f"UPDATE {Alert._meta.db_table} SET {assignments} WHERE id = %s"  # noqa: S608
    rows = [
        [f.get_db_prep_save(getattr(a, f.attname), connection) for f in columns] + [a.pk]  # type: ignore[union-attr]
        for a in alerts
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _save_dirty(batch: Batch) -> None:
    write([batch.alerts[i] for i in sorted(batch.dirty) if i in batch.alerts], ["decisions"])
    batch.dirty.clear()
    save_groups(batch, batch.to_save)
    batch.to_save.clear()


# --- the sweep and the minute tick ----------------------------------------------------------


def process_pending(limit: int = 10_000, *, older_than: float = 10.0) -> int:
    """Correlate alerts left pending for more than ``older_than`` seconds (a crash between
    ingestion's commit and its correlation), at most ``limit``, in batches."""
    done = 0
    last_id = 0
    while done < limit:
        cutoff = timezone.now() - timedelta(seconds=older_than)
        ids = list(
            Alert.objects.filter(pending=True, id__gt=last_id, last_seen_at__lte=cutoff)
            .order_by("id")
            .values_list("id", flat=True)[: min(BATCH, limit - done)]
        )
        if not ids:
            break
        last_id = ids[-1]
        done += correlate(ids).processed
    return done


def tick(now: datetime | None = None) -> dict[str, int]:
    """The minute's work: alerts quiet for their flap window stop flapping; alerts whose
    silence ran out or whose maintenance window ended while they still fire are correlated
    again; groups waiting for a minimum duration (or a flapping alert) are re-evaluated."""
    now = now or timezone.now()
    with transaction.atomic():
        serialize()
        batch = Batch(now=now, rules=active_rules())
        _end_flapping(batch)
        again = _end_silences(batch) + _end_suppressions(batch)
        for group_id in _waiting_groups(now):
            batch.touched.add(group_id)
        for group_id in list(batch.touched):
            batch.group(group_id)
        evaluate(batch, every_alert=True)
        _save_dirty(batch)
    stats = dict(batch.stats)
    stats["again"] = again
    stats["correlated"] = process_pending(older_than=0) if again else 0
    return stats


def _end_flapping(batch: Batch) -> None:
    quiet: list[Alert] = []
    for alert in Alert.objects.filter(flapping=True):
        rule = match(batch.rules, alert)
        seconds = rule.flap_window_seconds if rule is not None else 900
        if alert.changed_at <= batch.now - timedelta(seconds=seconds):
            alert.flapping = False
            decide(
                alert,
                "stopped flapping",
                f"No state change for {seconds} s since {clock(alert.changed_at)}; it is "
                f"{alert.status} and counts for incidents again.",
                at=batch.now,
            )
            batch.alerts[alert.pk] = alert
            quiet.append(alert)
            if alert.group_id:
                batch.touched.add(alert.group_id)
    if quiet:
        write(quiet, ["flapping", "decisions"])
        batch.stats["stopped_flapping"] += len(quiet)


def _end_silences(batch: Batch) -> int:
    ended = list(Alert.objects.filter(silenced_until__isnull=False, silenced_until__lte=batch.now))
    for alert in ended:
        decide(
            alert,
            "silence ended",
            f"The silence ran until {clock(alert.silenced_until)}"  # type: ignore[arg-type]
            + (
                "; the alert still fires, so it is correlated again."
                if alert.status == AlertStatus.FIRING
                else "."
            ),
            at=batch.now,
        )
        alert.silenced_until = None
        alert.pending = alert.pending or alert.status == AlertStatus.FIRING
    if ended:
        write(ended, ["silenced_until", "pending", "decisions"])
    return sum(1 for a in ended if a.pending)


def _end_suppressions(batch: Batch) -> int:
    from itline.operation.maintenance import covering

    held = list(
        Alert.objects.filter(status=AlertStatus.FIRING, suppressed_by__isnull=False, pending=False)
    )
    if not held:
        return 0
    nodes = {n for a in held for n in (a.component_id, a.service_id) if n is not None}
    still = covering(nodes, batch.now)
    over = [a for a in held if not any(n in still for n in (a.component_id, a.service_id) if n)]
    for alert in over:
        alert.pending = True
    if over:
        write(over, ["pending"])
    return len(over)


def _waiting_groups(now: datetime) -> list[int]:
    """Open mapped groups without a live incident that have a recently fired alert: those
    may be waiting for a minimum duration to pass."""
    from itline.operation.choices import INCIDENT_OPEN_ORDERED

    longest = max(
        AlertRule.objects.filter(active=True).values_list("min_duration_seconds", flat=True),
        default=0,
    )
    since = now - timedelta(seconds=longest) - TICK_LOOKBACK
    return list(
        Alert.objects.filter(
            status=AlertStatus.FIRING,
            suppressed_by__isnull=True,
            flapping=False,
            changed_at__gte=since,
            group__status=AlertGroupStatus.OPEN,
            group__probable_cause__isnull=False,
        )
        .exclude(group__incident__status__in=INCIDENT_OPEN_ORDERED)
        .values_list("group_id", flat=True)
        .distinct()
    )
