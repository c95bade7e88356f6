"""Grouping on the service structure: which alert group a firing alert belongs to, and which
failing component is the probable cause of a group.

Two alerts are related when one's component (or service) reaches the other's through the
impact engine within ``CORRELATION_DEPTH`` steps, in either direction: the other depends on
it (``impact(.., "up")``) or it depends on the other (``impact(.., "down")``). A firing alert
joins the open group that has an alert on a related node and whose last alert fired within
``CORRELATION_WINDOW_SECONDS`` (the nearest such group; among equals the most recent). If it
relates to several open groups, they are one situation: they merge into the oldest. A group
that resolved within the window is taken up again by a related alert (it reopens) rather
than a new group being made.

The probable cause of a group is its most upstream failing node: the one the others depend
on. It is kept incrementally: a joining alert whose node the current cause depends on takes
over (a database alert arriving after its application's alert)."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q

from itline.operation import events
from itline.operation.correlation.decisions import clock, decide
from itline.operation.models import Alert, AlertGroup, AlertRule
from itline.operation.models.alerts import AlertGroupStatus

SHOWN_PATH = 8  # nodes of a path spelled out in an explanation
MAX_LISTED = 5000  # reached nodes listed in one query (SQLite's parameter limit); beyond: all


def depth() -> int:
    return int(getattr(settings, "CORRELATION_DEPTH", 3))


def window() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "CORRELATION_WINDOW_SECONDS", 600)))


@dataclass
class Batch:
    """What one correlation run knows: the alerts it holds (one object per alert, so every
    change lands on the object that is saved), the groups it loaded or made, and what
    changed in each group for the incident step."""

    now: datetime
    rules: list[AlertRule]
    depth: int = field(default_factory=depth)
    window: timedelta = field(default_factory=window)
    alerts: dict[int, Alert] = field(default_factory=dict)
    dirty: set[int] = field(default_factory=set)
    groups: dict[int, AlertGroup] = field(default_factory=dict)
    group_nodes: dict[int, set[int]] = field(default_factory=dict)
    node_groups: dict[int, set[int]] = field(default_factory=dict)  # the inverse index
    candidates_loaded: bool = False
    touched: set[int] = field(default_factory=set)
    joined: dict[int, list[Alert]] = field(default_factory=lambda: defaultdict(list))
    left: dict[int, list[Alert]] = field(default_factory=lambda: defaultdict(list))
    created: set[int] = field(default_factory=set)
    cause_changed: dict[int, int | None] = field(default_factory=dict)
    merged: set[int] = field(default_factory=set)
    names: dict[int, str] = field(default_factory=dict)
    reach_cache: dict[tuple[int, str], Any] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # Groups made in this run live in memory under negative ids until ``persist_new_groups``
    # writes them all in one INSERT (references reserved with one UPDATE of the sequence).
    last_temp: int = 0
    to_save: set[int] = field(default_factory=set)  # groups changed outside ``touched``
    graph: Any = None  # the impact index, checked for freshness once per run
    graph_checked: bool = False
    unnamed: set[int] = field(default_factory=set)  # nodes named by placeholders so far
    reachable: set[int] | None = None  # nodes this run's alerts reach (None: not limited)

    # --- the structure ---------------------------------------------------------------

    def reach(self, node: int, direction: str) -> Any:
        """What ``node`` reaches within the depth. The index's freshness is checked once
        per run (one tiny SELECT), not once per node: one run sees one structure."""
        key = (node, direction)
        found = self.reach_cache.get(key)
        if found is None:
            from itline.cmdb import impact as engine

            if not self.graph_checked:
                self.graph_checked = True
                self.graph = engine._fresh_index("default", engine.current_version())
            if self.graph is not None:
                found = engine._from_index(self.graph, [node], direction, self.depth)
            else:
                found = engine.impact([node], direction, depth=self.depth)
            self.reach_cache[key] = found
        return found

    def name(self, node: int | None) -> str:
        if node is None:
            return "(unmapped)"
        if node not in self.names:
            self.remember_names([node])
        return self.names.get(node, f"node {node}")

    def remember_names(self, nodes: list[int]) -> None:
        from itline.cmdb.models import Node

        missing = [n for n in nodes if n not in self.names]
        if missing:
            self.names.update(Node.objects.filter(pk__in=missing).values_list("id", "name"))

    def chain(self, path: list[int]) -> str:
        """``app-1 → vm-3 → db-1`` (read: depends on), shortened in the middle. Names not
        known yet are placeholders, all filled with one query when the run is placed."""
        names = []
        for node in path:
            if node in self.names:
                names.append(self.names[node])
            else:
                self.unnamed.add(node)
                names.append(f"\u27e6n{node}\u27e7")
        if len(names) > SHOWN_PATH:
            names = [*names[: SHOWN_PATH - 2], "…", names[-1]]
        return " → ".join(names)

    # --- groups ------------------------------------------------------------------------

    def group(self, group_id: int) -> AlertGroup | None:
        if group_id not in self.groups:
            found = AlertGroup.objects.filter(pk=group_id).first()
            if found is None:
                return None
            self.groups[group_id] = found
        return self.groups[group_id]

    def prepare(self, nodes: set[int]) -> None:
        """The reach of every distinct node of the run, both ways, before placing: what
        the candidate groups are read for."""
        import numpy as np

        arrays = [np.asarray(sorted(nodes), dtype=np.int64)]
        for node in nodes:
            for direction in ("up", "down"):
                arrays.append(np.asarray(self.reach(node, direction).node_ids, dtype=np.int64))
        self.reachable = {int(n) for n in np.unique(np.concatenate(arrays))}

    def load_candidates(self, since: datetime) -> None:
        """Mapped groups that may take a related alert: open ones with a recent alert and
        ones resolved within the window. Loaded once per run; new groups are added as made."""
        if self.candidates_loaded:
            return
        self.candidates_loaded = True
        found = AlertGroup.objects.filter(probable_cause__isnull=False).filter(
            Q(status=AlertGroupStatus.OPEN, last_alert_at__gte=since)
            | Q(status=AlertGroupStatus.RESOLVED, resolved_at__gte=since)
        )
        ids = []
        for g in found:
            self.groups.setdefault(g.pk, g)
            ids.append(g.pk)
        # Only the nodes of these groups that this run's alerts can relate to: a storm's
        # group has thousands of alerts, and reading them all would cost every run.
        nodes = _nodes_of(ids, self.reachable)
        for group_id in ids:
            for node in nodes.get(group_id, set()):
                self.add_node(group_id, node)

    def add_node(self, group_id: int, node: int) -> None:
        self.group_nodes.setdefault(group_id, set()).add(node)
        self.node_groups.setdefault(node, set()).add(group_id)

    def touch(self, group: AlertGroup) -> None:
        self.touched.add(group.pk)

    def mark(self, alert: Alert) -> None:
        self.dirty.add(alert.pk)


def _nodes_of(group_ids: list[int], within: set[int] | None = None) -> dict[int, set[int]]:
    nodes: dict[int, set[int]] = defaultdict(set)
    if not group_ids or (within is not None and not within):
        return nodes
    query = Alert.objects.filter(group_id__in=group_ids)
    if within is not None and len(within) <= MAX_LISTED:
        listed = sorted(within)
        query = query.filter(Q(component_id__in=listed) | Q(service_id__in=listed))
    rows = query.values_list("group_id", "component_id", "service_id").distinct()
    for group_id, component_id, service_id in rows:
        node = component_id or service_id
        if node is not None:
            nodes[group_id].add(node)
    return nodes


def node_of(alert: Alert) -> int | None:
    """The node an alert is about: its component, else its service."""
    return alert.component_id or alert.service_id


def title_for(alert: Alert, batch: Batch, node: int | None) -> str:
    what = alert.name or alert.summary or "Alert"
    where = batch.name(node) if node is not None else "an unmapped source"
    return f"{what} on {where}"[:300]


def _is_current(batch: Batch, group: AlertGroup, at: datetime) -> bool:
    if group.status == AlertGroupStatus.OPEN:
        return group.last_alert_at >= at - batch.window
    return group.resolved_at is not None and group.resolved_at >= at - batch.window


@dataclass
class Relation:
    group: AlertGroup
    distance: int
    node: int  # the group's node the alert relates to
    direction: str  # "same", "up" (the group's node depends on the alert's) or "down"
    result: Any = None  # the impact answer the relation was found in

    @property
    def path(self) -> list[int]:
        """From the alert's node to the group's node (only asked for the chosen relation)."""
        if self.result is None:
            return [self.node]
        return list(self.result.path(self.node))


def related_groups(batch: Batch, node: int, at: datetime) -> list[Relation]:
    """Current mapped groups with an alert on a node related to ``node``, nearest first
    (open before resolved, then the most recent). Looks only at the nodes ``node`` reaches
    (or only at the nodes groups have, when those are fewer), never at every group."""
    batch.load_candidates(at - batch.window)
    best: dict[int, Relation] = {}

    def consider(group_id: int, relation: Relation) -> None:
        group = batch.groups[group_id]
        if group.probable_cause_id is None or group_id in batch.merged:
            return
        if not _is_current(batch, group, at):
            return
        known = best.get(group_id)
        if known is None or relation.distance < known.distance:
            best[group_id] = relation

    for group_id in batch.node_groups.get(node, ()):
        consider(group_id, Relation(batch.groups[group_id], 0, node, "same"))
    for direction in ("up", "down"):
        result = batch.reach(node, direction)
        if len(result) <= len(batch.node_groups):
            reached = [n for n in result.impacted_ids.tolist() if n in batch.node_groups]
        else:
            reached = [n for n in batch.node_groups if n != node and n in result]
        for other in reached:
            distance = result.distance(other)
            for group_id in batch.node_groups[other]:
                group = batch.groups[group_id]
                relation = Relation(group, distance, other, direction, result)
                consider(group_id, relation)
    found = list(best.values())
    found.sort(
        key=lambda r: (
            r.distance,
            r.group.status != AlertGroupStatus.OPEN,
            -r.group.last_alert_at.timestamp(),
            r.group.pk,
        )
    )
    return found


def explain(batch: Batch, relation: Relation) -> str:
    group = relation.group
    if relation.direction == "same":
        return (
            f"{group.reference} already has an alert on {batch.name(relation.node)} "
            f"(last alert {clock(group.last_alert_at)})."
        )
    if relation.direction == "up":
        reading = batch.chain(list(reversed(relation.path)))
        how = f"{batch.name(relation.node)} depends on {batch.name(relation.path[0])}"
    else:
        reading = batch.chain(relation.path)
        how = f"{batch.name(relation.path[0])} depends on {batch.name(relation.node)}"
    return (
        f"{how} ({reading}: {relation.distance} step(s), within the correlation depth of "
        f"{batch.depth}), and {group.reference} had an alert on {batch.name(relation.node)} "
        f"at {clock(group.last_alert_at)}, within the {int(batch.window.total_seconds())} s "
        "window."
    )


# --- placing an alert ----------------------------------------------------------------------


def place(batch: Batch, alert: Alert) -> AlertGroup:
    """Put a firing alert in its group: its own current group, a related one, or a new one."""
    node = node_of(alert)
    at = alert.changed_at
    own = batch.group(alert.group_id) if alert.group_id else None
    if own is not None and own.pk not in batch.merged and _is_current(batch, own, at):
        if own.status == AlertGroupStatus.RESOLVED:
            _reopen(batch, own, alert)
        attach(batch, own, alert, node, why="")
        return own
    if node is None:
        return new_group(
            batch,
            alert,
            None,
            why=f"The alert is not mapped to a component or service, so it is grouped on its "
            f"own (fingerprint {alert.fingerprint[:16]}). Add a mapping rule to correlate it.",
        )
    related = related_groups(batch, node, at)
    if not related:
        return new_group(
            batch,
            alert,
            node,
            why=f"No alert group has an alert on a node related to {batch.name(node)} within "
            f"{batch.depth} step(s) in the last {int(batch.window.total_seconds())} s.",
        )
    best = related[0]
    live = [r for r in related if r.group.status == AlertGroupStatus.OPEN]
    if len(live) > 1:
        # Several open groups are one situation: the oldest survives, keeping its incident.
        best = min(live, key=lambda r: (r.group.opened_at, r.group.pk))
    if best.group.status == AlertGroupStatus.RESOLVED:
        _reopen(batch, best.group, alert)
    for other in related:
        if other.group.status == AlertGroupStatus.OPEN and other.group.pk != best.group.pk:
            merge(batch, other.group, into=best.group, because=alert, node=node)
    attach(batch, best.group, alert, node, why=explain(batch, best))
    return best.group


def new_group(batch: Batch, alert: Alert, node: int | None, *, why: str) -> AlertGroup:
    group = AlertGroup(
        title=title_for(alert, batch, node),
        severity=alert.severity,
        probable_cause_id=node,
        service_id=alert.service_id,
        opened_at=alert.changed_at,
        last_alert_at=alert.changed_at,
        status=AlertGroupStatus.OPEN,
    )
    batch.last_temp -= 1
    group.pk = batch.last_temp
    group.reference = placeholder(group.pk)
    group.decisions = []
    decide(
        group,
        "opened",
        f"First alert: {alert.name or alert.fingerprint[:16]} on {batch.name(node)}. {why}",
        at=batch.now,
    )
    batch.groups[group.pk] = group
    batch.group_nodes[group.pk] = set()
    if node is not None:
        batch.add_node(group.pk, node)
    batch.created.add(group.pk)
    batch.stats["groups_opened"] += 1
    alert.group = group
    decide(alert, f"opened group {group.reference}", why, at=batch.now)
    batch.mark(alert)
    batch.joined[group.pk].append(alert)
    batch.touch(group)
    return group


# --- writing the groups of a run ------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\u27e6n?-?\d+\u27e7")


def placeholder(temp: int) -> str:
    """What stands for the reference of a group made in this run until it has one."""
    return f"\u27e6{temp}\u27e7"


def reserve_references(prefix: str, count: int) -> list[str]:
    """``count`` consecutive references of ``prefix`` with one UPDATE of the sequence (the
    row lock, or SQLite's write lock, serialises concurrent takers)."""
    from django.db.models import F

    from itline.core.models import Sequence

    if count <= 0:
        return []
    if not Sequence.objects.filter(prefix=prefix).update(value=F("value") + count):
        Sequence.objects.get_or_create(prefix=prefix, defaults={"value": 0})
        Sequence.objects.filter(prefix=prefix).update(value=F("value") + count)
    last = Sequence.objects.values_list("value", flat=True).get(prefix=prefix)
    return [f"{prefix}-{n:06d}" for n in range(last - count + 1, last + 1)]


def _fill(entries: Any, names: dict[str, str]) -> Any:
    if not entries:
        return entries
    out = []
    for entry in entries:
        if "\u27e6" in entry.get("what", "") or "\u27e6" in entry.get("why", ""):
            entry = {
                **entry,
                "what": _PLACEHOLDER.sub(
                    lambda m: names.get(m.group(0), m.group(0)), entry["what"]
                ),
                "why": _PLACEHOLDER.sub(lambda m: names.get(m.group(0), m.group(0)), entry["why"]),
            }
        out.append(entry)
    return out


def persist_new_groups(batch: Batch) -> list[AlertGroup]:
    """Write the groups this run made: references reserved at once, one bulk INSERT, then
    their real ids replace the temporary ones everywhere in the batch and their references
    the placeholders in explanations."""
    names: dict[str, str] = {}
    if batch.unnamed:
        batch.remember_names(sorted(batch.unnamed))
        for node in batch.unnamed:
            names[f"\u27e6n{node}\u27e7"] = batch.name(node)
        batch.unnamed.clear()
    made = [batch.groups[g] for g in sorted(batch.created, reverse=True) if g < 0]
    if not made:
        if names:
            _fill_all(batch, names)
        return []
    refs = reserve_references(AlertGroup.REFERENCE_PREFIX, len(made))
    temps = [g.pk for g in made]
    for group, ref in zip(made, refs, strict=True):
        names[placeholder(group.pk)] = ref
        group.reference = ref
        group.pk = None
        group._state.adding = True
    for group in made:
        group.title = _PLACEHOLDER.sub(lambda m: names.get(m.group(0), m.group(0)), group.title)
        group.decisions = _fill(group.decisions, names)
    AlertGroup.objects.bulk_create(made)
    ids = {temp: group.pk for temp, group in zip(temps, made, strict=True)}
    _renumber(batch, ids)
    for alert in batch.alerts.values():
        if alert.group_id is not None and alert.group_id < 0:
            alert.group_id = ids[alert.group_id]
    _fill_all(batch, names)
    return made


def _fill_all(batch: Batch, names: dict[str, str]) -> None:
    for group in batch.groups.values():
        group.decisions = _fill(group.decisions, names)
    for alert in batch.alerts.values():
        alert.decisions = _fill(alert.decisions, names)


def _renumber(batch: Batch, ids: dict[int, int]) -> None:
    def n(g: int) -> int:
        return ids.get(g, g)

    batch.groups = {n(g): group for g, group in batch.groups.items()}
    batch.group_nodes = {n(g): nodes for g, nodes in batch.group_nodes.items()}
    batch.node_groups = {node: {n(g) for g in gs} for node, gs in batch.node_groups.items()}
    for name in ("touched", "created", "merged", "to_save"):
        setattr(batch, name, {n(g) for g in getattr(batch, name)})
    batch.cause_changed = {n(g): v for g, v in batch.cause_changed.items()}
    joined, left = batch.joined, batch.left
    batch.joined = defaultdict(list, {n(g): v for g, v in joined.items()})
    batch.left = defaultdict(list, {n(g): v for g, v in left.items()})


GROUP_FIELDS = [
    "title",
    "status",
    "severity",
    "probable_cause",
    "service",
    "incident",
    "opened_at",
    "last_alert_at",
    "resolved_at",
    "firing_count",
    "alert_count",
    "decisions",
    "updated_at",
]


def save_groups(batch: Batch, group_ids: set[int]) -> None:
    """Save the given groups of the batch with one executemany."""
    from django.db import transaction
    from django.utils import timezone

    groups = [batch.groups[g] for g in sorted(group_ids) if g in batch.groups and g > 0]
    if not groups:
        return
    connection = transaction.get_connection()
    now = timezone.now()
    for group in groups:
        group.updated_at = now
    columns = [AlertGroup._meta.get_field(name) for name in GROUP_FIELDS]
    assignments = ", ".join(f"{connection.ops.quote_name(f.column)} = %s" for f in columns)  # type: ignore[union-attr]
    sql = f"UPDATE {AlertGroup._meta.db_table} SET {assignments} WHERE id = %s"  # noqa: S608
    rows = [
        [f.get_db_prep_save(getattr(g, f.attname), connection) for f in columns] + [g.pk]  # type: ignore[union-attr]
        for g in groups
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def publish_opened(groups: list[AlertGroup]) -> None:
    for group in groups:
        events.publish(group, "alert_group.opened")


def attach(batch: Batch, group: AlertGroup, alert: Alert, node: int | None, *, why: str) -> None:
    if alert.group_id != group.pk:
        alert.group = group
        decide(alert, f"grouped into {group.reference}", why, at=batch.now)
        batch.mark(alert)
        batch.joined[group.pk].append(alert)
    if alert.changed_at > group.last_alert_at:
        group.last_alert_at = alert.changed_at
    if node is not None:
        batch.add_node(group.pk, node)
        _maybe_take_over(batch, group, alert, node)
    if group.service_id is None and alert.service_id is not None:
        group.service_id = alert.service_id
    batch.touch(group)


def _maybe_take_over(batch: Batch, group: AlertGroup, alert: Alert, node: int) -> None:
    """A joining node that the probable cause depends on is more upstream: it takes over."""
    cause = group.probable_cause_id
    if cause is None or cause == node:
        return
    path = batch.reach(node, "up").path(cause)
    if not path:
        return
    batch.cause_changed.setdefault(group.pk, cause)
    group.probable_cause_id = node
    if alert.service_id is not None:
        group.service_id = alert.service_id
    group.title = title_for(alert, batch, node)
    decide(
        group,
        f"probable cause is now {batch.name(node)}",
        f"{batch.name(cause)} depends on {batch.name(node)} "
        f"({batch.chain(list(reversed(path)))}), so {batch.name(node)} is further upstream.",
        at=batch.now,
    )


def _reopen(batch: Batch, group: AlertGroup, alert: Alert) -> None:
    gone = int((alert.changed_at - (group.resolved_at or alert.changed_at)).total_seconds())
    group.status = AlertGroupStatus.OPEN
    group.resolved_at = None
    decide(
        group,
        "reopened",
        f"{alert.name or alert.fingerprint[:16]} on {batch.name(node_of(alert))} fired "
        f"{max(gone, 0)} s after the group resolved, within the "
        f"{int(batch.window.total_seconds())} s correlation window.",
        at=batch.now,
    )
    batch.stats["groups_reopened"] += 1
    batch.touch(group)


def merge(batch: Batch, other: AlertGroup, *, into: AlertGroup, because: Alert, node: int) -> None:
    """Two open groups turned out to be one situation (``because`` relates to both): the
    younger one's alerts move to the older one, which keeps or takes over the cause."""
    if other.pk > 0:  # a group made in this run has only alerts of this run
        Alert.objects.filter(group_id=other.pk).update(group_id=into.pk)
    for held in batch.alerts.values():
        if held.group_id == other.pk:
            held.group_id = into.pk
    for moved in batch.group_nodes.get(other.pk, set()):
        batch.add_node(into.pk, moved)
    batch.merged.add(other.pk)
    why = (
        f"{because.name or because.fingerprint[:16]} on {batch.name(node)} relates to alerts "
        f"of both {into.reference} and {other.reference}."
    )
    other.status = AlertGroupStatus.RESOLVED
    other.resolved_at = batch.now
    other.firing_count = 0
    decide(other, f"merged into {into.reference}", why, at=batch.now)
    decide(into, f"took over {other.reference}", why, at=batch.now)
    into.opened_at = min(into.opened_at, other.opened_at)
    into.last_alert_at = max(into.last_alert_at, other.last_alert_at)
    theirs = other.probable_cause_id
    if theirs is not None and into.probable_cause_id is not None:
        path = batch.reach(theirs, "up").path(into.probable_cause_id)
        if path:
            batch.cause_changed.setdefault(into.pk, into.probable_cause_id)
            into.probable_cause_id = theirs
            into.service_id = other.service_id or into.service_id
            into.title = other.title
            decide(
                into,
                f"probable cause is now {batch.name(theirs)}",
                f"{batch.chain(list(reversed(path)))}: the cause of {other.reference} is "
                "further upstream.",
                at=batch.now,
            )
    from itline.operation.correlation.incidents import merge_incidents

    merge_incidents(batch, other, into)
    batch.to_save.add(other.pk)
    batch.stats["groups_merged"] += 1
    batch.touch(into)
