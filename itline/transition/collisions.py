"""Collisions: what clashes with a change window on the nodes it touches.

Three kinds, each named with the path through the service structure that relates it:

* **change**: another change on the calendar (``CHANGE_ON_CALENDAR``) whose window overlaps
  and whose nodes are the same or related within ``CHANGE_COLLISION_DEPTH`` relations, up
  (what depends on ours) or down (what ours depends on). A warning.
* **maintenance**: a maintenance window (Operation) whose occurrence overlaps and covers one
  of those related nodes. A warning.
* **freeze**: a freeze window in force during the window, global or on a service that runs on
  one of the touched nodes. Blocking for normal and standard changes, a warning for emergencies.

Design. Related nodes come from two calls of the impact engine (in-memory index, about a
millisecond for 50 nodes at depth 2). Other changes are found through ``ChangeNode``, the
(node, window) rows that ``sync_change_nodes`` keeps for every change on the calendar: one
indexed range query over the related node ids; when the related set is very large (a change on
a storage array that thousands of things run on) the query goes by time instead (the changes
whose window overlaps, from the window indexes of ``Change``) and the related set is matched
in numpy. Only the colliding changes are then read, with the names on their paths: a handful of
queries whatever the size of the calendar (``benchmarks/transition.py``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from itline.transition.choices import CHANGE_ON_CALENDAR, ChangeStatus, ChangeType
from itline.transition.models import Change, ChangeNode

# Above this many related nodes the other changes are found by time, not by node (an IN list
# of tens of thousands of ids costs more to send and plan than the window's rows to read).
NODE_QUERY_LIMIT = 1000
KIND_ORDER = {"freeze": 0, "change": 1, "maintenance": 2}


def collision_depth() -> int:
    return int(getattr(settings, "CHANGE_COLLISION_DEPTH", 2))


# --- related nodes ------------------------------------------------------------------------


@dataclass
class Related:
    """The nodes related to a change's nodes within a depth, up and down, as one sorted
    array, with the impact answers to explain each by its path."""

    starts: list[int]
    up: Any  # ImpactResult
    down: Any  # ImpactResult
    ids: np.ndarray  # sorted unique node ids, starts included

    @classmethod
    def of(cls, nodes: Iterable[int], depth: int) -> Related:
        from itline.cmdb.impact import impact

        starts = sorted({int(n) for n in nodes})
        up = impact(starts, "up", depth)
        down = impact(starts, "down", depth)
        ids = np.union1d(up.node_ids, down.node_ids)
        return cls(starts, up, down, ids)

    def closest(self, candidates: Iterable[int]) -> tuple[int, list[int], str]:
        """Of ``candidates`` (related node ids), the nearest one, its path from a touched node
        and the direction of that path (``up``: it depends on ours; ``down``: ours on it)."""
        best: tuple[int, int, str] | None = None  # (distance, node, direction)
        for node in candidates:
            for direction, answer in (("down", self.down), ("up", self.up)):
                distance = answer.distance(node)
                if distance is not None and (best is None or (distance, node) < best[:2]):
                    best = (distance, node, direction)
        if best is None:
            raise ValueError("none of the candidates is related")
        _, node, direction = best
        answer = self.down if direction == "down" else self.up
        return node, answer.path(node), direction


def _names(node_ids: Iterable[int]) -> dict[int, str]:
    from itline.cmdb.models import Node

    ids = set(node_ids)
    if not ids:
        return {}
    return dict(Node.objects.filter(pk__in=ids).values_list("pk", "name"))


def _edge_words(paths: Iterable[tuple[list[int], str]]) -> dict[tuple[int, int], str]:
    """``{(source, target): relation name}`` for the edges on the given paths (one query)."""
    from itline.cmdb.models import Relation

    pairs: set[tuple[int, int]] = set()
    for path, direction in paths:
        for a, b in pairwise(path):
            pairs.add((a, b) if direction == "down" else (b, a))
    if not pairs:
        return {}
    sources = {s for s, _ in pairs}
    targets = {t for _, t in pairs}
    rows = (
        Relation.objects.filter(
            source_id__in=sources, target_id__in=targets, relation_type__propagates_impact=True
        )
        .order_by("relation_type__name")
        .values_list("source_id", "target_id", "relation_type__name")
    )
    words: dict[tuple[int, int], str] = {}
    for source, target, name in rows:
        if (source, target) in pairs:
            words.setdefault((source, target), name)
    return words


def explain_path(
    path: list[int], direction: str, names: dict[int, str], words: dict[tuple[int, int], str]
) -> str:
    """``"app-01 depends on db-01, db-01 runs on vm-3"`` for a path from a touched node."""
    parts = []
    for a, b in pairwise(path):
        source, target = (a, b) if direction == "down" else (b, a)
        verb = words.get((source, target), "depends on")
        parts.append(f"{names.get(source, source)} {verb} {names.get(target, target)}")
    return ", ".join(parts)


# --- the check ----------------------------------------------------------------------------


def id_list(ids: Iterable[int]) -> str:
    """Integer ids as the inside of an SQL ``IN (...)``. Hot paths write these queries in SQL:
    the ORM prepares every value of an ``__in`` lookup one by one, which for a few hundred
    related nodes costs ten times the query itself. Every id goes through ``int()``."""
    return ",".join(str(int(i)) for i in ids) or "NULL"


def calendar_rows(
    node_ids: np.ndarray, start: datetime, end: datetime, exclude_change_id: int | None = None
) -> list[tuple[int, int]]:
    """(change id, node id) of the calendar rows on ``node_ids`` (sorted unique array) whose
    window overlaps ``[start, end)``: by node through the ``chgnode_window`` index, or for a
    very large set by time (changes whose window overlaps) matched against the set in numpy."""
    if len(node_ids) <= NODE_QUERY_LIMIT:
        adapt = connection.ops.adapt_datetimefield_value
        sql = (
            f"SELECT change_id, node_id FROM {ChangeNode._meta.db_table} "  # noqa: S608 - ints
            f"WHERE node_id IN ({id_list(node_ids.tolist())}) AND starts_at < %s AND ends_at > %s"
        )
        params: list[Any] = [adapt(end), adapt(start)]
        if exclude_change_id is not None:
            sql += " AND change_id <> %s"
            params.append(int(exclude_change_id))
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return [(int(c), int(n)) for c, n in cursor.fetchall()]
    rows = ChangeNode.objects.filter(starts_at__lt=end, ends_at__gt=start)
    if exclude_change_id is not None:
        rows = rows.exclude(change_id=exclude_change_id)
    overlapping = Change.objects.filter(planned_end__gt=start, planned_start__lt=end)
    found = np.array(
        list(
            rows.filter(change_id__in=overlapping.values("pk")).values_list("change_id", "node_id")
        ),
        dtype=np.int64,
    ).reshape(-1, 2)
    keep = np.isin(found[:, 1], node_ids)
    return [(int(c), int(n)) for c, n in found[keep]]


def _span(begins: datetime | None, ends: datetime | None) -> str:
    from itline.transition.freeze import describe_span

    return describe_span(begins, ends) if begins and ends else "no window"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def check(
    *,
    nodes: list[int],
    start: datetime,
    end: datetime,
    exclude_change_id: int | None = None,
    change_type: str | None = None,
) -> list[dict[str, Any]]:
    """Collisions of a window ``[start, end)`` on ``nodes`` (node ids), in the
    ``Change.collisions`` format: ``{"kind": "change"|"maintenance"|"freeze", "ref", "title",
    "path": [names from a touched node], "blocking", "message", "starts_at", "ends_at"}``,
    blocking ones first. Pure read; ``exclude_change_id`` is the change being checked."""
    if not nodes or start is None or end is None or end <= start:
        return []
    related = Related.of(nodes, collision_depth())
    found: list[dict[str, Any]] = []
    pending: list[tuple[dict[str, Any], list[int], str, int]] = []  # (item, path, dir, node)

    # Other changes.
    by_change: dict[int, set[int]] = {}
    for change_id, node_id in calendar_rows(related.ids, start, end, exclude_change_id):
        by_change.setdefault(change_id, set()).add(node_id)
    if by_change:
        others = Change.objects.filter(pk__in=list(by_change), status__in=CHANGE_ON_CALENDAR)
        for other in others.only(
            "pk", "reference", "title", "status", "change_type", "planned_start", "planned_end"
        ).order_by("planned_start", "pk"):
            node, path, direction = related.closest(by_change[other.pk])
            item = {
                "kind": "change",
                "ref": other.reference,
                "title": other.title,
                "blocking": False,
                "starts_at": _iso(other.planned_start),
                "ends_at": _iso(other.planned_end),
                "status": other.status,
                "_what": (
                    f"{other.reference} “{other.title}” ({ChangeStatus(other.status).label.lower()}, "
                    f"{_span(other.planned_start, other.planned_end)}) overlaps this window"
                ),
            }
            pending.append((item, path, direction, node))

    # Maintenance windows of Operation.
    for occurrence in _maintenance(start, end, related.ids):
        covered = np.intersect1d(related.ids, np.fromiter(occurrence.node_ids, dtype=np.int64))
        if not len(covered):
            continue
        node, path, direction = related.closest(covered.tolist())
        window = occurrence.window
        item = {
            "kind": "maintenance",
            "ref": window.reference,
            "title": window.title,
            "blocking": False,
            "starts_at": _iso(occurrence.starts_at),
            "ends_at": _iso(occurrence.ends_at),
            "_what": (
                f"Maintenance window {window.reference} “{window.title}” "
                f"({_span(occurrence.starts_at, occurrence.ends_at)}) overlaps this window"
            ),
        }
        pending.append((item, path, direction, node))

    # Freeze windows.
    found += _freezes(related, start, end, change_type, pending)

    names = _names({n for _, path, _, node in pending for n in (*path, node)})
    words = _edge_words((path, direction) for _, path, direction, _ in pending)
    for item, path, direction, node in pending:
        what = item.pop("_what")
        item["path"] = [names.get(n, str(n)) for n in path]
        how = explain_path(path, direction, names, words)
        if item["kind"] == "freeze":
            frozen_name = names.get(path[0], str(path[0]))
            where = f"{frozen_name} is frozen" + (f" and {how}" if how else "")
            item["message"] = f"{what}: {where}."
        elif len(path) <= 1:
            item["message"] = f"{what} on {names.get(node, node)}, which this change touches too."
        else:
            item["message"] = f"{what} on {names.get(node, node)}: {how}."
        found.append(item)
    found.sort(key=lambda c: (not c["blocking"], KIND_ORDER[c["kind"]], c["starts_at"] or ""))
    return found


def _maintenance(start: datetime, end: datetime, node_ids: np.ndarray) -> list[Any]:
    from itline.operation.maintenance import windows_between

    return list(windows_between(start, end, node_ids=node_ids.tolist()))


def _freezes(
    related: Related,
    start: datetime,
    end: datetime,
    change_type: str | None,
    pending: list[tuple[dict[str, Any], list[int], str, int]],
) -> list[dict[str, Any]]:
    """Freeze collisions: global ones directly (returned), per-service ones with the path from
    the frozen service down to the touched node (queued in ``pending`` for names)."""
    from itline.cmdb.impact import impact
    from itline.transition.freeze import active_windows

    windows = active_windows(start, end)
    if not windows:
        return []
    emergency = change_type == ChangeType.EMERGENCY
    consequence = (
        "emergency changes may proceed, with care"
        if emergency
        else "only emergency changes may proceed"
    )
    found = []
    # A service freeze covers what the service runs on: the touched node is covered iff one of
    # the window's services is upstream of it (unbounded), which one impact call answers.
    upstream = impact(related.starts, "up") if any(w.service_ids for w in windows) else None
    for active in windows:
        window = active.window
        begins, ends = active.occurrences[0][0], active.occurrences[-1][1]
        base = {
            "kind": "freeze",
            "ref": window.reference,
            "title": window.title,
            "blocking": not emergency,
            "starts_at": _iso(begins),
            "ends_at": _iso(ends),
        }
        what = (
            f"Freeze window {window.reference} “{window.title}” "
            f"({_span(*active.occurrences[0])}"
            + (f", and {len(active.occurrences) - 1} more" if len(active.occurrences) > 1 else "")
            + f") forbids changes; {consequence}"
        )
        if not active.service_ids:
            found.append({**base, "path": [], "message": f"{what}: it is a global freeze."})
            continue
        assert upstream is not None
        hit = [s for s in active.service_ids if s in upstream]
        if not hit:
            continue
        service = min(hit, key=lambda s: (upstream.distance(s), s))
        path = list(reversed(upstream.path(service)))  # service -> ... -> touched node
        pending.append(({**base, "_what": what}, path, "down", path[-1]))
    return found


# --- the calendar index -------------------------------------------------------------------


def sync_change_nodes(change: Change) -> None:
    """Keep the ``ChangeNode`` rows of ``change`` in step with its nodes, window and status:
    one row per touched node while the change is on the calendar with a window, none
    otherwise. Call it inside the verb's transaction, after the nodes are saved."""
    start, end = change.planned_start, change.planned_end
    with transaction.atomic():
        rows = ChangeNode.objects.filter(change=change)
        if change.status not in CHANGE_ON_CALENDAR or start is None or end is None:
            rows.delete()
            return
        wanted = set(change.nodes.values_list("pk", flat=True))
        have = set(rows.values_list("node_id", flat=True))
        if have - wanted:
            rows.filter(node_id__in=have - wanted).delete()
        if have & wanted:
            rows.exclude(starts_at=start, ends_at=end).update(starts_at=start, ends_at=end)
        ChangeNode.objects.bulk_create(
            ChangeNode(change=change, node_id=node_id, starts_at=start, ends_at=end)
            for node_id in sorted(wanted - have)
        )


def is_blocking(collisions: list[dict[str, Any]]) -> bool:
    return any(c.get("blocking") for c in collisions)
