"""Maintenance windows and plans as one JSON document (config as code): export what is in
force, import it elsewhere or after review. Records are matched by reference; services,
components and functions are named by reference too. An import goes through the verbs (so it
validates and journals like the UI) and is all or nothing; errors name the item
(``windows[2].rrule``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from itline.cmdb.models import Node
from itline.core.errors import DomainError
from itline.operation.models import MaintenancePlan, MaintenanceWindow
from itline.org.models import Function

FORMAT_VERSION = 1
WINDOW_KEYS = (
    "title",
    "description",
    "nodes",
    "include_dependencies",
    "starts_at",
    "ends_at",
    "rrule",
    "time_zone",
    "function",
)
PLAN_KEYS = (
    "title",
    "description",
    "nodes",
    "rrule",
    "first_due_at",
    "time_zone",
    "checklist",
    "function",
    "lead_days",
    "estimated_minutes",
    "active",
)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def window_item(window: MaintenanceWindow) -> dict[str, Any]:
    return {
        "reference": window.reference,
        "title": window.title,
        "description": window.description,
        "nodes": sorted(n.reference for n in window.nodes.all()),
        "include_dependencies": window.include_dependencies,
        "starts_at": _iso(window.starts_at),
        "ends_at": _iso(window.ends_at),
        "rrule": window.rrule,
        "time_zone": window.time_zone,
        "function": window.function.reference if window.function else None,
    }


def plan_item(plan: MaintenancePlan) -> dict[str, Any]:
    return {
        "reference": plan.reference,
        "title": plan.title,
        "description": plan.description,
        "nodes": sorted(n.reference for n in plan.nodes.all()),
        "rrule": plan.rrule,
        "first_due_at": _iso(plan.first_due_at),
        "time_zone": plan.time_zone,
        "checklist": list(plan.checklist),
        "function": plan.function.reference,
        "lead_days": plan.lead_days,
        "estimated_minutes": plan.estimated_minutes,
        "active": plan.active,
    }


def export_document() -> dict[str, Any]:
    now = timezone.now()
    windows = [
        window_item(w)
        for w in MaintenanceWindow.objects.filter(active=True)
        .select_related("function")
        .prefetch_related("nodes")
        .order_by("reference")
        if not w.is_over(now)
    ]
    plans = [
        plan_item(p)
        for p in MaintenancePlan.objects.filter(active=True)
        .select_related("function")
        .prefetch_related("nodes")
        .order_by("reference")
    ]
    return {"version": FORMAT_VERSION, "windows": windows, "plans": plans}


class _Item:
    """Reads one item's fields, collecting errors under ``<where>.<field>``."""

    def __init__(self, where: str, data: Any, keys: tuple[str, ...]) -> None:
        self.where = where
        self.errors: dict[str, list[str]] = {}
        if not isinstance(data, dict):
            self.errors[where] = ["Give an object."]
            data = {}
        unknown = sorted(set(data) - set(keys) - {"reference"})
        for name in unknown:
            self.errors[f"{where}.{name}"] = ["Unknown field."]
        self.data = data

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(f"{self.where}.{name}", []).append(message)

    def moment(self, name: str) -> datetime | None:
        value = self.data.get(name)
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is None or timezone.is_naive(parsed):
            self.error(name, "Give an ISO date-time with a zone, e.g. 2026-05-03T02:00:00Z.")
            return None
        return parsed

    def nodes(self) -> list[Node]:
        refs = self.data.get("nodes")
        if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
            self.error("nodes", "Give a list of service/component references.")
            return []
        found = {n.reference: n for n in Node.objects.filter(reference__in=refs)}
        missing = [r for r in refs if r not in found]
        if missing:
            self.error("nodes", f"Unknown service or component {missing[0]!r}.")
        return [found[r] for r in refs if r in found]

    def function(self, required: bool) -> Function | None:
        ref = self.data.get("function")
        if not ref:
            if required:
                self.error("function", "Name the responsible function.")
            return None
        function = Function.objects.filter(reference=ref).first()
        if function is None:
            self.error("function", f"There is no function {ref!r}.")
        return function


def _prefixed(where: str, exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {
            f"{where}.{'request' if k == '__all__' else k}": v for k, v in exc.message_dict.items()
        }
    return {where: exc.messages}


def import_document(document: dict[str, Any], *, by: Any) -> dict[str, int]:
    """Create or update every item; raises ``ValidationError`` keyed by item path with all
    errors found (nothing is written then)."""
    from itline.operation.services import maintenance as verbs

    if document.get("version", FORMAT_VERSION) != FORMAT_VERSION:
        raise ValidationError({"version": f"Only version {FORMAT_VERSION} is understood."})
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    errors: dict[str, list[str]] = {}
    with transaction.atomic():
        for k, data in enumerate(document.get("windows") or []):
            item = _Item(f"windows[{k}]", data, WINDOW_KEYS)
            fields = {
                name: item.data[name]
                for name in ("title", "description", "include_dependencies", "rrule", "time_zone")
                if name in item.data
            }
            fields["starts_at"] = item.moment("starts_at")
            fields["ends_at"] = item.moment("ends_at")
            fields["function"] = item.function(required=False)
            nodes = item.nodes()
            if not item.errors:
                _apply(
                    item,
                    MaintenanceWindow,
                    window_item,
                    verbs.create_window,
                    verbs.update_window,
                    fields,
                    nodes,
                    by,
                    counts,
                )
            errors.update(item.errors)
        for k, data in enumerate(document.get("plans") or []):
            item = _Item(f"plans[{k}]", data, PLAN_KEYS)
            fields = {
                name: item.data[name]
                for name in (
                    "title",
                    "description",
                    "rrule",
                    "time_zone",
                    "checklist",
                    "lead_days",
                    "estimated_minutes",
                )
                if name in item.data
            }
            fields["first_due_at"] = item.moment("first_due_at")
            if "active" in item.data:
                fields["active"] = item.data["active"]
            fields["function"] = item.function(required=True)
            nodes = item.nodes()
            if not item.errors:
                _apply(
                    item,
                    MaintenancePlan,
                    plan_item,
                    verbs.create_plan,
                    verbs.update_plan,
                    fields,
                    nodes,
                    by,
                    counts,
                )
            errors.update(item.errors)
        if errors:
            raise ValidationError(errors)
    return counts


def _apply(
    item: _Item,
    model: Any,
    as_item: Any,
    create: Any,
    update: Any,
    fields: dict[str, Any],
    nodes: list[Node],
    by: Any,
    counts: dict[str, int],
) -> None:
    ref = item.data.get("reference")
    existing = model.objects.filter(reference=ref).first() if ref else None
    try:
        with transaction.atomic():
            if existing is None:
                fields.pop("active", None)  # a new plan is active
                create(by=by, nodes=nodes, **fields)
                counts["created"] += 1
            elif _same(as_item(existing), fields, nodes):
                counts["unchanged"] += 1
            else:
                update(existing, by=by, nodes=nodes, **fields)
                counts["updated"] += 1
    except ValidationError as exc:
        item.errors.update(_prefixed(item.where, exc))
    except DomainError as exc:  # e.g. a window that is over is history
        item.errors[f"{item.where}.{exc.field or 'request'}"] = [exc.message]


def _same(current: dict[str, Any], fields: dict[str, Any], nodes: list[Node]) -> bool:
    """Whether applying ``fields`` and ``nodes`` would leave the exported item as it is."""
    if sorted(n.reference for n in nodes) != current["nodes"]:
        return False
    for name, value in fields.items():
        if isinstance(value, datetime):
            value = _iso(value)
        elif isinstance(value, Function):
            value = value.reference
        if current.get(name) != value:
            return False
    return True
