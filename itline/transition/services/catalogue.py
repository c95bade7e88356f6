"""Configuration verbs of Transition: the standard change catalogue (templates) and freeze
windows. T2's ``freeze.py`` decides what a freeze window covers and when; these verbs only
validate and store them, with a journal row."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from itline.cmdb.models import ComponentType, Node, NodeKind
from itline.core import journal
from itline.core.models import JournalEntry
from itline.core.services import create_record, require
from itline.transition.models import ChangeTemplate, FreezeWindow

TEMPLATE_FIELDS = {
    "name",
    "description",
    "max_duration_minutes",
    "implementation_plan",
    "backout_plan",
    "test_plan",
    "readiness_items",
    "function",
    "deployment_match",
    "active",
}
FREEZE_FIELDS = {"title", "reason", "starts_at", "ends_at", "rrule", "time_zone", "active"}


def _check_fields(fields: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(fields) - allowed)
    if unknown:
        raise ValidationError({unknown[0]: "This field cannot be set here."})


def _readiness_items(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError({"readiness_items": "Give a list of checklist item texts."})
    items = [v.strip() for v in value if v.strip()]
    if len(items) > 30:
        raise ValidationError({"readiness_items": "At most 30 checklist items."})
    return items


def _m2m_changes(obj: Any, name: str, values: list[Any] | None) -> dict[str, list[Any]]:
    if values is None:
        return {}
    manager = getattr(obj, name)
    before = sorted(str(o) for o in manager.all())
    manager.set(values)
    after = sorted(str(o) for o in values)
    return {name: [before, after]} if before != after else {}


def create_template(
    *,
    by: Any,
    nodes: list[Node] | None = None,
    component_types: list[ComponentType] | None = None,
    **fields: Any,
) -> ChangeTemplate:
    """Add a standard change to the catalogue: what it may touch (``nodes`` and/or
    ``component_types``), its longest window, plans and readiness items."""
    require(by, "transition.add_changetemplate")
    _check_fields(fields, TEMPLATE_FIELDS)
    if "readiness_items" in fields:
        fields["readiness_items"] = _readiness_items(fields["readiness_items"])
    if not nodes and not component_types:
        raise ValidationError(
            {"nodes": "Name the services or components (or component types) it may touch."}
        )
    with transaction.atomic():
        template = create_record(ChangeTemplate(**fields), by=by)
        extra = _m2m_changes(template, "nodes", list(nodes or []))
        extra.update(_m2m_changes(template, "component_types", list(component_types or [])))
        if extra:
            journal.record(template, by=by, verb=JournalEntry.Verb.UPDATED, changes=extra)
    return template


def update_template(
    template: ChangeTemplate,
    *,
    by: Any,
    nodes: list[Node] | None = None,
    component_types: list[ComponentType] | None = None,
    **fields: Any,
) -> ChangeTemplate:
    require(by, "transition.change_changetemplate")
    _check_fields(fields, TEMPLATE_FIELDS)
    if "readiness_items" in fields:
        fields["readiness_items"] = _readiness_items(fields["readiness_items"])
    with transaction.atomic():
        current = ChangeTemplate.objects.select_for_update().get(pk=template.pk)
        before = journal.snapshot(current)
        for name, value in fields.items():
            setattr(current, name, value)
        current.full_clean()
        changes = journal.diff(before, journal.snapshot(current))
        changes.update(_m2m_changes(current, "nodes", nodes))
        changes.update(_m2m_changes(current, "component_types", component_types))
        if not current.nodes.exists() and not current.component_types.exists():
            raise ValidationError(
                {"nodes": "Name the services or components (or component types) it may touch."}
            )
        if changes:
            current.updated_by = by if getattr(by, "pk", None) else None
            current.save()
            journal.record(current, by=by, verb=JournalEntry.Verb.UPDATED, changes=changes)
    for f in ChangeTemplate._meta.concrete_fields:
        setattr(template, f.attname, getattr(current, f.attname))
    return template


def _freeze_services(services: list[Node] | None) -> list[Node] | None:
    if services is None:
        return None
    wrong = [n.name for n in services if n.kind != NodeKind.SERVICE]
    if wrong:
        raise ValidationError(
            {"services": f"{wrong[0]} is not a service; freeze windows name services."}
        )
    return services


def _validate_rrule(freeze: FreezeWindow) -> None:
    if freeze.rrule:
        from itline.core.rrule import validate_rrule

        try:
            validate_rrule(freeze.rrule)
        except ValidationError as bad:
            raise ValidationError({"rrule": bad.messages}) from None


def create_freeze(*, by: Any, services: list[Node] | None = None, **fields: Any) -> FreezeWindow:
    """A freeze window: global without services, else for the services and what they run
    on; one-off or recurring (RRULE in ``time_zone``)."""
    require(by, "transition.add_freezewindow")
    _check_fields(fields, FREEZE_FIELDS)
    chosen = _freeze_services(services) or []
    with transaction.atomic():
        freeze = FreezeWindow(**fields)
        _validate_rrule(freeze)
        create_record(freeze, by=by)
        extra = _m2m_changes(freeze, "services", chosen)
        if extra:
            journal.record(freeze, by=by, verb=JournalEntry.Verb.UPDATED, changes=extra)
    return freeze


def update_freeze(
    freeze: FreezeWindow, *, by: Any, services: list[Node] | None = None, **fields: Any
) -> FreezeWindow:
    require(by, "transition.change_freezewindow")
    _check_fields(fields, FREEZE_FIELDS)
    chosen = _freeze_services(services)
    with transaction.atomic():
        current = FreezeWindow.objects.select_for_update().get(pk=freeze.pk)
        before = journal.snapshot(current)
        for name, value in fields.items():
            setattr(current, name, value)
        _validate_rrule(current)
        current.full_clean()
        changes = journal.diff(before, journal.snapshot(current))
        changes.update(_m2m_changes(current, "services", chosen))
        if changes:
            current.updated_by = by if getattr(by, "pk", None) else None
            current.save()  # a new updated_at invalidates T2's coverage cache
            journal.record(current, by=by, verb=JournalEntry.Verb.UPDATED, changes=changes)
    for f in FreezeWindow._meta.concrete_fields:
        setattr(freeze, f.attname, getattr(current, f.attname))
    return freeze


def delete_freeze(freeze: FreezeWindow, *, by: Any) -> None:
    """Remove a freeze window (its journal keeps what it was)."""
    require(by, "transition.delete_freezewindow")
    with transaction.atomic():
        journal.record(
            freeze,
            by=by,
            verb=JournalEntry.Verb.DELETED,
            changes={k: [v, None] for k, v in journal.snapshot(freeze).items()},
        )
        freeze.delete()
