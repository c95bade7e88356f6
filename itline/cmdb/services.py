"""Verbs of the service structure. Every change is validated by the model, journaled, and
(for anything that changes the graph) bumps the graph version in the same transaction so the
impact index of every process knows it is stale."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from itline.cmdb.models import (
    Component,
    ComponentType,
    GraphVersion,
    Node,
    Relation,
    RelationType,
    Service,
    Tag,
)
from itline.core import journal
from itline.core.models import JournalEntry
from itline.core.services import create_record, require, update_record


def _set_tags(component: Component, names: Iterable[str], *, by: Any) -> None:
    clean = sorted({n.strip().lower() for n in names if n and n.strip()})
    for name in clean:
        try:
            Tag._meta.get_field("name").run_validators(name)
        except ValidationError:
            raise ValidationError(
                {"tags": f"{name!r} is not a valid tag (letters, digits, - and _)."}
            ) from None
    before = sorted(component.tags.values_list("name", flat=True))
    if before == clean:
        return
    tags = [Tag.objects.get_or_create(name=name)[0] for name in clean]
    component.tags.set(tags)
    journal.record(
        component, by=by, verb=JournalEntry.Verb.UPDATED, changes={"tags": [before, clean]}
    )


# --- types --------------------------------------------------------------------------------


def create_component_type(*, by: Any, **fields: Any) -> ComponentType:
    require(by, "cmdb.add_componenttype")
    return create_record(ComponentType(**fields), by=by)


def update_component_type(ctype: ComponentType, *, by: Any, **fields: Any) -> ComponentType:
    require(by, "cmdb.change_componenttype")
    with transaction.atomic():
        update_record(ctype, by=by, **fields)
        if "attribute_schema" in fields:
            # A stricter schema must not silently orphan existing data: refuse it.
            for component in ctype.components.all().iterator():
                errors = ctype.attribute_errors(component.attributes)
                if errors:
                    raise ValidationError(
                        {
                            "attribute_schema": f"{component.reference} {component.name} would violate it: {errors[0]}"
                        }
                    )
    return ctype


def create_relation_type(*, by: Any, **fields: Any) -> RelationType:
    require(by, "cmdb.add_relationtype")
    with transaction.atomic():
        rtype = create_record(RelationType(**fields), by=by)
        GraphVersion.bump()
    return rtype


def update_relation_type(rtype: RelationType, *, by: Any, **fields: Any) -> RelationType:
    require(by, "cmdb.change_relationtype")
    with transaction.atomic():
        update_record(rtype, by=by, **fields)
        GraphVersion.bump()
    return rtype


# --- nodes --------------------------------------------------------------------------------


def create_service(*, by: Any, customers: Iterable[Any] = (), **fields: Any) -> Service:
    require(by, "cmdb.add_service")
    with transaction.atomic():
        service = create_record(Service(**fields), by=by)
        customers = list(customers)
        if customers:
            service.customers.set(customers)
            journal.record(
                service,
                by=by,
                verb=JournalEntry.Verb.UPDATED,
                changes={"customers": [[], sorted(str(c) for c in customers)]},
            )
        GraphVersion.bump()
    return service


def update_service(
    service: Service, *, by: Any, customers: Iterable[Any] | None = None, **fields: Any
) -> Service:
    require(by, "cmdb.change_service")
    with transaction.atomic():
        if fields:
            update_record(service, by=by, **fields)
        if customers is not None:
            customers = list(customers)
            before = sorted(str(c) for c in service.customers.all())
            after = sorted(str(c) for c in customers)
            if before != after:
                service.customers.set(customers)
                journal.record(
                    service,
                    by=by,
                    verb=JournalEntry.Verb.UPDATED,
                    changes={"customers": [before, after]},
                )
    return service


def create_component(*, by: Any, tags: Iterable[str] = (), **fields: Any) -> Component:
    require(by, "cmdb.add_component")
    with transaction.atomic():
        component = create_record(Component(**fields), by=by)
        _set_tags(component, tags, by=by)
        GraphVersion.bump()
    return component


def update_component(
    component: Component, *, by: Any, tags: Iterable[str] | None = None, **fields: Any
) -> Component:
    require(by, "cmdb.change_component")
    with transaction.atomic():
        if fields:
            update_record(component, by=by, **fields)
        if tags is not None:
            _set_tags(component, tags, by=by)
    return component


def delete_node(node: Node, *, by: Any) -> None:
    """Remove a service or component with its relations; the journal keeps its history."""
    require(by, f"cmdb.delete_{node.kind}")
    with transaction.atomic():
        for relation in Relation.objects.filter(source=node) | Relation.objects.filter(target=node):
            journal.record(
                relation.source,
                by=by,
                verb=JournalEntry.Verb.UPDATED,
                changes={
                    f"{relation.relation_type} {relation.target.reference} {relation.target}": [
                        "yes",
                        None,
                    ]
                },
            )
        journal.record(node, by=by, verb=JournalEntry.Verb.DELETED)
        node.delete()
        GraphVersion.bump()


# --- relations ----------------------------------------------------------------------------


def relate(source: Node, target: Node, relation_type: RelationType, *, by: Any) -> Relation:
    """Add the edge ``source`` <type> ``target``; journaled on the source node."""
    require(by, "cmdb.add_relation")
    if source.pk == target.pk:
        raise ValidationError({"target": "A node cannot be related to itself."})
    with transaction.atomic():
        if Relation.objects.filter(
            source=source, target=target, relation_type=relation_type
        ).exists():
            raise ValidationError({"target": f"{source} already {relation_type} {target}."})
        relation = create_record(
            Relation(source=source, target=target, relation_type=relation_type), by=by
        )
        journal.record(
            source,
            by=by,
            verb=JournalEntry.Verb.UPDATED,
            changes={f"{relation_type} {target.reference} {target}": [None, "yes"]},
        )
        GraphVersion.bump()
    return relation


def unrelate(relation: Relation, *, by: Any) -> None:
    require(by, "cmdb.delete_relation")
    with transaction.atomic():
        journal.record(
            relation.source,
            by=by,
            verb=JournalEntry.Verb.UPDATED,
            changes={
                f"{relation.relation_type} {relation.target.reference} {relation.target}": [
                    "yes",
                    None,
                ]
            },
        )
        relation.delete()
        GraphVersion.bump()
