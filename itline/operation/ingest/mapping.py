"""From an alert's labels to the service structure: ordered mapping rules plus the event's own
component/service hints.

Rules are compiled once per process and kept until the rule table changes: every batch that
needs mapping reads one tiny aggregate (count, latest ``updated_at``) of the rule table and
recompiles when it moved, so an edit in any process applies to the next event everywhere.
Names are never cached: each batch looks up the names it found in one indexed query
(``kind, name`` and ``reference``), so a renamed component maps by its new name at once.

Semantics (docs/events.md):

* a hint (``component`` / ``service`` of an itline event, PagerDuty ``source`` / ``group``)
  that names an existing node of that kind, by reference or name, wins over the rules;
* otherwise rules run in ``position`` order; a rule applies when its source is empty or the
  event's source, the label is present and (when there is a pattern) the value matches it in
  full. The looked-up name is the group named ``name``, else the first group, else the whole
  value. A rule with a ``node`` maps every matching value to that node. The first rule that
  finds a component sets the component, the first that finds a service the service;
* a name matches a node's name exactly, else its lower-case form does; when two components
  share a name (different types), the older one wins;
* what no rule maps stays unmapped: visible and countable (``GET /api/v1/alerts?unmapped=true``)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections

from itline.cmdb.choices import NodeKind

COMPONENT = str(NodeKind.COMPONENT)
SERVICE = str(NodeKind.SERVICE)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: int
    source_id: int | None
    label: str
    regex: re.Pattern[str] | None
    group: int | str | None  # which group is the name: "name", 1, or None (whole value)
    target: str
    node_id: int | None

    def extract(self, value: str) -> str | None:
        if self.regex is None:
            return value
        match = self.regex.fullmatch(value)
        if match is None:
            return None
        found = match.group(self.group) if self.group is not None else match.group(0)
        return found or None


@dataclass(frozen=True, slots=True)
class Mapped:
    component_id: int | None
    service_id: int | None
    rule_id: int | None


UNMAPPED = Mapped(None, None, None)


def compile_pattern(pattern: str) -> tuple[re.Pattern[str] | None, int | str | None]:
    """The compiled pattern and the group that holds the name; ``re.error`` when invalid."""
    if not pattern:
        return None, None
    regex = re.compile(pattern)
    if "name" in regex.groupindex:
        return regex, "name"
    return regex, (1 if regex.groups else None)


class _RuleCache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.key: dict[str, Any] = {}
        self.rules: dict[str, list[CompiledRule]] = {}

    def get(self, using: str) -> list[CompiledRule]:
        from itline.operation.models import MappingRule

        table = MappingRule._meta.db_table
        with connections[using].cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*), MAX(updated_at), MAX(id) FROM {table}")  # noqa: S608
            key = tuple(cursor.fetchone() or ())
        if self.key.get(using) == key:
            return self.rules[using]
        rules = []
        for row in (
            MappingRule.objects.using(using)
            .filter(active=True)
            .order_by("position", "id")
            .values_list("id", "source_id", "label", "pattern", "target", "node_id")
        ):
            try:
                regex, group = compile_pattern(row[3])
            except re.error:
                continue  # refused on save; a broken row in the database maps nothing
            rules.append(CompiledRule(row[0], row[1], row[2], regex, group, row[4], row[5]))
        with self.lock:
            self.key[using], self.rules[using] = key, rules
        return rules

    def forget(self) -> None:
        with self.lock:
            self.key.clear()
            self.rules.clear()


_cache = _RuleCache()


def forget() -> None:
    """Drop the compiled rules (tests; the table check makes this unnecessary otherwise)."""
    _cache.forget()


def map_many(
    source_id: int,
    items: Sequence[tuple[dict[str, str], str, str]],
    *,
    using: str = "default",
) -> list[Mapped]:
    """``(labels, component_hint, service_hint)`` per alert -> where each maps. At most two
    queries whatever the number of items: the rule-table check and one name lookup."""
    if not items:
        return []
    rules = [r for r in _cache.get(using) if r.source_id is None or r.source_id == source_id]
    # Pass 1: what each rule extracts from each alert, and every name to look up.
    extracted: list[list[tuple[CompiledRule, str]]] = []
    wanted: dict[str, set[str]] = {COMPONENT: set(), SERVICE: set()}
    refs: set[str] = set()
    for labels, component_hint, service_hint in items:
        found: list[tuple[CompiledRule, str]] = []
        for rule in rules:
            value = labels.get(rule.label)
            if value is None:
                continue
            name = rule.extract(value)
            if name is None:
                continue
            if rule.node_id is None:
                wanted[rule.target].update((name, name.lower()))
            found.append((rule, name))
        extracted.append(found)
        for kind, hint in ((COMPONENT, component_hint), (SERVICE, service_hint)):
            if hint:
                wanted[kind].update((hint, hint.lower()))
                refs.add(hint)
    names = _lookup(wanted, refs, using)
    # Pass 2: hints first, then the rules in order.
    out = []
    for (_labels, component_hint, service_hint), found in zip(items, extracted, strict=True):
        component = _resolve(names, COMPONENT, component_hint) if component_hint else None
        service = _resolve(names, SERVICE, service_hint) if service_hint else None
        component_rule = service_rule = None
        for rule, name in found:
            if component is not None and service is not None:
                break
            if rule.target == COMPONENT and component is None:
                component = rule.node_id or _resolve(names, COMPONENT, name)
                component_rule = rule.id if component is not None else None
            elif rule.target == SERVICE and service is None:
                service = rule.node_id or _resolve(names, SERVICE, name)
                service_rule = rule.id if service is not None else None
        out.append(Mapped(component, service, component_rule or service_rule))
    return out


def map_labels(
    source_id: int,
    labels: dict[str, str],
    component_hint: str = "",
    service_hint: str = "",
) -> tuple[int | None, int | None, int | None]:
    """Where one alert maps: ``(component_id, service_id, rule_id)``."""
    mapped = map_many(source_id, [(labels, component_hint, service_hint)])[0]
    return mapped.component_id, mapped.service_id, mapped.rule_id


def _lookup(
    wanted: dict[str, set[str]], refs: Iterable[str], using: str
) -> dict[tuple[str, str], int]:
    """(kind, name or reference) -> node id for every given name, in one indexed query."""
    from itline.cmdb.models import Node

    refs = [r for r in refs if "-" in r]
    if not wanted[COMPONENT] and not wanted[SERVICE] and not refs:
        return {}
    table = Node._meta.db_table
    where, params = [], []
    for kind in (COMPONENT, SERVICE):
        if wanted[kind]:
            marks = ", ".join(["%s"] * len(wanted[kind]))
            where.append(f"(kind = %s AND name IN ({marks}))")
            params += [kind, *wanted[kind]]
    if refs:
        where.append(f"reference IN ({', '.join(['%s'] * len(refs))})")
        params += refs
    sql = f"SELECT id, kind, name, reference FROM {table} WHERE {' OR '.join(where)} ORDER BY id"  # noqa: S608
    out: dict[tuple[str, str], int] = {}
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        for node_id, kind, name, reference in cursor.fetchall():
            out.setdefault((kind, name), node_id)
            out.setdefault((kind, "#" + reference), node_id)
    return out


def _resolve(names: dict[tuple[str, str], int], kind: str, name: str) -> int | None:
    return (
        names.get((kind, "#" + name)) or names.get((kind, name)) or names.get((kind, name.lower()))
    )
