"""Which nodes are in maintenance, when: the read side of maintenance windows.

``covering(node_ids, at)`` is on the alert hot path (correlation asks it for every changed
alert), so it answers from a per-process snapshot of the active windows: each window's
coverage (its nodes plus, with ``include_dependencies``, everything they run on, from one
``impact(..., "down")`` traversal per window) and, per UTC day asked for, the occurrences that
touch that day. After warm-up a call costs one small SELECT (the freshness key) and a few set
lookups. The snapshot is keyed on the windows' ``max(updated_at)``, their count and the
``GraphVersion``: every window verb saves the window (so ``updated_at`` moves), deleting one
changes the count, and any change of the structure bumps the graph version.

``windows_between(start, end, node_ids)`` expands occurrences over a range for calendars,
collision checks and availability reporting."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection

from itline.core.rrule import occurrences

_DAY = timedelta(days=1)
_MAX_DAYS = 64  # cached day buckets per snapshot


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of a window: ``node_ids`` are the covered nodes, dependencies included."""

    window: Any  # MaintenanceWindow
    starts_at: datetime
    ends_at: datetime
    node_ids: frozenset[int]

    @property
    def title(self) -> str:
        return str(self.window.title)


@dataclass
class _Snapshot:
    key: tuple[Any, ...]
    windows: dict[int, Any]
    coverage: dict[int, frozenset[int]]
    days: OrderedDict[datetime, list[tuple[datetime, datetime, int]]] = field(
        default_factory=OrderedDict
    )


_lock = threading.Lock()
_snapshot: _Snapshot | None = None


def _key() -> tuple[Any, ...]:
    """The freshness key in one round trip."""
    from itline.cmdb.models import GraphVersion
    from itline.operation.models import MaintenanceWindow

    table = MaintenanceWindow._meta.db_table
    versions = GraphVersion._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT (SELECT MAX(updated_at) FROM {table}), (SELECT COUNT(*) FROM {table}), "  # noqa: S608
            f"(SELECT version FROM {versions} WHERE id = 1)"
        )
        row = cursor.fetchone()
    return (connection.alias, str(row[0]), row[1], row[2] or 0)


def _build(key: tuple[Any, ...]) -> _Snapshot:
    from itline.cmdb.impact import impact
    from itline.operation.models import MaintenanceWindow

    windows = {
        w.pk: w
        for w in MaintenanceWindow.objects.filter(active=True)
        .select_related("function")
        .prefetch_related("nodes")
    }
    coverage: dict[int, frozenset[int]] = {}
    for window in windows.values():
        own = {n.pk for n in window.nodes.all()}
        if window.include_dependencies and own:
            own |= {int(i) for i in impact(own, "down").node_ids.tolist()}
        coverage[window.pk] = frozenset(own)
    return _Snapshot(key=key, windows=windows, coverage=coverage)


def _current() -> _Snapshot:
    global _snapshot
    key = _key()
    snap = _snapshot
    if snap is not None and snap.key == key:
        return snap
    snap = _build(key)
    with _lock:
        _snapshot = snap
    return snap


def forget() -> None:
    """Drop the snapshot (tests; after a bulk import)."""
    global _snapshot
    with _lock:
        _snapshot = None


def _day(snap: _Snapshot, day: datetime) -> list[tuple[datetime, datetime, int]]:
    found = snap.days.get(day)
    if found is not None:
        return found
    end = day + _DAY
    rows: list[tuple[datetime, datetime, int]] = []
    for window in snap.windows.values():
        if window.starts_at >= end:
            continue
        if window.last_occurrence_end is not None and window.last_occurrence_end <= day:
            continue
        for begins, ends in occurrences(
            window.starts_at, window.ends_at, window.rrule, window.time_zone, day, end
        ):
            rows.append((begins, ends, window.pk))
    with _lock:
        snap.days[day] = rows
        while len(snap.days) > _MAX_DAYS:
            snap.days.popitem(last=False)
    return rows


def covering(node_ids: Iterable[int], at: datetime) -> dict[int, Any]:
    """For each of ``node_ids`` inside an active window occurrence at ``at``: that window.
    When several windows cover a node, the one whose occurrence ends last wins (ties: the
    lowest id), so a suppression names the window that keeps it quiet longest."""
    wanted = {int(n) for n in node_ids}
    if not wanted:
        return {}
    snap = _current()
    if not snap.windows:
        return {}
    moment = at.astimezone(UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    active = sorted(
        ((ends, -pk) for begins, ends, pk in _day(snap, day) if begins <= moment < ends),
        reverse=True,
    )
    result: dict[int, Any] = {}
    for _ends, neg_pk in active:
        window_id = -neg_pk
        for node_id in wanted & snap.coverage[window_id]:
            result.setdefault(node_id, snap.windows[window_id])
        if len(result) == len(wanted):
            break
    return result


def coverage_of(window_id: int) -> frozenset[int]:
    """The nodes an active window covers (dependencies included); empty when inactive."""
    return _current().coverage.get(window_id, frozenset())


def windows_between(
    start: datetime, end: datetime, node_ids: Iterable[int] | None = None
) -> list[Occurrence]:
    """Every occurrence of an active window overlapping ``[start, end)``, by start time; with
    ``node_ids``, only those covering at least one of them."""
    snap = _current()
    wanted = None if node_ids is None else {int(n) for n in node_ids}
    found: list[Occurrence] = []
    for window in snap.windows.values():
        covered = snap.coverage[window.pk]
        if wanted is not None and not (covered & wanted):
            continue
        if window.starts_at >= end:
            continue
        if window.last_occurrence_end is not None and window.last_occurrence_end <= start:
            continue
        for begins, ends in occurrences(
            window.starts_at, window.ends_at, window.rrule, window.time_zone, start, end
        ):
            found.append(Occurrence(window, begins, ends, covered))
    found.sort(key=lambda o: (o.starts_at, o.window.pk))
    return found


def in_maintenance(node_id: int, at: datetime) -> Any | None:
    """The window covering one node at ``at``, or None."""
    return covering([node_id], at).get(int(node_id))
