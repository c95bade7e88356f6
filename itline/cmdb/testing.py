"""Small builders for tests of the service structure (like itline.core.testing)."""

from __future__ import annotations

from itline.cmdb import services
from itline.cmdb.models import Component, ComponentType, Node, Relation, RelationType


def make_component(name: str, type_slug: str = "server") -> Component:
    return services.create_component(
        by=None, name=name, component_type=ComponentType.objects.get(slug=type_slug)
    )


def relate(source: Node, target: Node, slug: str = "depends-on") -> Relation:
    return services.relate(source, target, RelationType.objects.get(slug=slug), by=None)
