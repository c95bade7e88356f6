"""Freeze (blackout) windows: when they occur and what they cover.

A freeze window is global when it names no service; otherwise it covers its services and
everything they run on (``impact(services, "down")``): freezing Payroll also freezes the
payroll database and the VMs under it. It is one-off or recurring (an RRULE expanded in the
wall clock of its time zone by ``itline.core.rrule``, so "the last three days of every month
from 18:00" stays 18:00 local across DST).

Coverage is cached per process, keyed on the window (id, last edit) and the graph version, so
the calendar and the collision check do not rebuild a service's closure on every call."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q

from itline.transition.models import FreezeWindow


@dataclass(frozen=True)
class Occurrence:
    """One occurrence of a freeze window; ``node_ids`` is None for a global freeze, else the
    covered nodes (its services and what they run on)."""

    window: FreezeWindow
    starts_at: datetime
    ends_at: datetime
    node_ids: frozenset[int] | None

    @property
    def is_global(self) -> bool:
        return self.node_ids is None

    def covers(self, node_id: int) -> bool:
        return self.node_ids is None or node_id in self.node_ids


@dataclass(frozen=True)
class ActiveWindow:
    """A window with occurrences in the asked range: its services (empty: global) and those
    occurrences. The collision check works on these without expanding coverage."""

    window: FreezeWindow
    service_ids: tuple[int, ...]
    occurrences: tuple[tuple[datetime, datetime], ...]


def active_windows(start: datetime, end: datetime) -> list[ActiveWindow]:
    """Active freeze windows with at least one occurrence overlapping ``[start, end)``: two
    queries (windows, their services), then the rule expansion in Python."""
    from itline.core.rrule import occurrences

    if start >= end:
        return []
    # One-off windows are filtered exactly by the database; recurring ones only by their first
    # start (an occurrence can't begin before the rule's DTSTART).
    windows = list(
        FreezeWindow.objects.filter(active=True, starts_at__lt=end).filter(
            Q(rrule="", ends_at__gt=start) | ~Q(rrule="")
        )
    )
    if not windows:
        return []
    services: dict[int, list[int]] = {w.pk: [] for w in windows}
    through = FreezeWindow.services.through.objects.filter(freezewindow_id__in=list(services))
    for window_id, node_id in through.values_list("freezewindow_id", "node_id"):
        services[window_id].append(node_id)
    found = []
    for window in windows:
        spans = occurrences(
            window.starts_at, window.ends_at, window.rrule, window.time_zone, start, end
        )
        if spans:
            found.append(ActiveWindow(window, tuple(sorted(services[window.pk])), tuple(spans)))
    return found


_coverage_cache: dict[tuple[int, datetime, tuple[int, ...], int], frozenset[int]] = {}
_coverage_lock = threading.Lock()
COVERAGE_CACHE_SIZE = 256


def coverage(window: FreezeWindow, service_ids: tuple[int, ...]) -> frozenset[int] | None:
    """The nodes ``window`` covers (None: global): its services and what they run on."""
    from itline.cmdb.impact import current_version, impact

    if not service_ids:
        return None
    key = (window.pk, window.updated_at, service_ids, current_version())
    cached = _coverage_cache.get(key)
    if cached is not None:
        return cached
    covered = frozenset(impact(service_ids, "down").node_ids.tolist()) | frozenset(service_ids)
    with _coverage_lock:
        if len(_coverage_cache) >= COVERAGE_CACHE_SIZE:
            _coverage_cache.clear()
        _coverage_cache[key] = covered
    return covered


def freezes_between(
    start: datetime, end: datetime, node_ids: Iterable[int] | None = None
) -> list[Occurrence]:
    """Every occurrence of an active freeze window overlapping ``[start, end)``, in time
    order; with ``node_ids``, only those that cover one of them (global freezes always do)."""
    wanted = None if node_ids is None else {int(n) for n in node_ids}
    found = []
    for active in active_windows(start, end):
        covered = coverage(active.window, active.service_ids)
        if wanted is not None and covered is not None and not (covered & wanted):
            continue
        for begins, ends in active.occurrences:
            found.append(Occurrence(active.window, begins, ends, covered))
    found.sort(key=lambda o: (o.starts_at, o.window.pk))
    return found


def frozen(node_ids: Iterable[int], at: datetime) -> list[FreezeWindow]:
    """The freeze windows in force at ``at`` on any of ``node_ids`` (global ones included)."""
    seen: dict[int, FreezeWindow] = {}
    for occurrence in freezes_between(at, at + timedelta(microseconds=1), node_ids):
        seen.setdefault(occurrence.window.pk, occurrence.window)
    return list(seen.values())


def describe_span(begins: datetime, ends: datetime, tz: Any = None) -> str:
    """``"28 Feb 18:00-3 Mar 06:00 (Europe/Amsterdam)"``, in ``tz`` (default: the
    site's time zone)."""
    import zoneinfo

    from django.conf import settings

    zone = tz or zoneinfo.ZoneInfo(settings.TIME_ZONE)
    if isinstance(zone, str):
        zone = zoneinfo.ZoneInfo(zone)
    a, b = begins.astimezone(zone), ends.astimezone(zone)
    left = f"{a.day} {a:%b %H:%M}"
    right = f"{b:%H:%M}" if a.date() == b.date() else f"{b.day} {b:%b %H:%M}"
    return f"{left} to {right} ({zone.key})"
