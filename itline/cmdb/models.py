"""The service structure: IT services depend on supporting services, which run on components
(configuration items), which depend on each other. Services and components are both nodes of
one directed graph whose typed edges are relations; the impact engine reads that graph."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.urls import reverse

from itline.cmdb.choices import ComponentStatus, Criticality, Lifecycle, NodeKind, ServiceKind
from itline.core.models import Record, ReferencedRecord


class ComponentType(Record):
    """A kind of configuration item (server, database, network device, ...). Its attribute
    schema (JSON Schema) says which type-specific attributes a component of this type has."""

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    attribute_schema = models.JSONField(
        default=dict,
        blank=True,
        help_text='JSON Schema for the attributes, e.g. {"type": "object", "properties": '
        '{"cpu": {"type": "integer"}}, "required": ["cpu"]}',
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        if self.slug == "service":
            # Structure files write nodes as "<type slug>/<name>" and services as "service/<name>".
            raise ValidationError({"slug": '"service" is reserved; choose another slug.'})
        if not isinstance(self.attribute_schema, dict):
            raise ValidationError({"attribute_schema": "The schema must be a JSON object."})
        try:
            Draft202012Validator.check_schema(self.attribute_schema)
        except SchemaError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "schema"
            raise ValidationError({"attribute_schema": f"{where}: {exc.message}"}) from None

    def attribute_errors(self, attributes: Any) -> list[str]:
        """Every violation of the schema by ``attributes``, each naming its place."""
        if not self.attribute_schema:
            return [] if isinstance(attributes, dict) else ["attributes must be an object"]
        validator = _validator(self.attribute_schema)
        errors = []
        for error in sorted(validator.iter_errors(attributes), key=lambda e: list(e.absolute_path)):
            where = ".".join(str(p) for p in error.absolute_path)
            errors.append(f"{where}: {error.message}" if where else error.message)
        return errors


@lru_cache(maxsize=256)
def _compiled(schema_json: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(schema_json))


def _validator(schema: dict[str, Any]) -> Any:
    """A compiled validator per distinct schema; compiling costs ~100 µs per call otherwise."""
    return _compiled(json.dumps(schema, sort_keys=True))


class RelationType(Record):
    """A kind of edge: "depends on", "runs on", "hosted on", "connects to". When
    ``propagates_impact`` is set, a failure of the target impacts the source."""

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100, unique=True, help_text='Read as "source <name> target"')
    inverse_name = models.CharField(max_length=100, help_text='e.g. "is used by" for "depends on"')
    propagates_impact = models.BooleanField(
        default=True, help_text="A failure of the target impacts the source"
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    """A free label on components ("pci", "dmz", "legacy")."""

    name = models.SlugField(max_length=50, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Node(ReferencedRecord):
    """Anything in the service structure: a service or a component. Relations connect nodes,
    so one graph holds both; each node has an owner function."""

    kind = models.CharField(max_length=10, choices=NodeKind.choices, editable=False)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner_function = models.ForeignKey(
        "org.Function", null=True, blank=True, on_delete=models.SET_NULL, related_name="nodes"
    )

    class Meta:
        indexes = [models.Index(fields=["kind", "name"])]

    def __str__(self) -> str:
        return self.name

    def specific(self) -> Service | Component:
        return self.service if self.kind == NodeKind.SERVICE else self.component

    def get_absolute_url(self) -> str:
        if self.kind == NodeKind.SERVICE:
            return reverse("cmdb:service-detail", args=[self.reference])
        return reverse("cmdb:component-detail", args=[self.reference])


class Service(Node):
    """A service: IT services are what customers agree to and order; supporting services are
    internal building blocks (database hosting, e-mail platform, network)."""

    REFERENCE_PREFIX = "SVC"

    service_kind = models.CharField(
        max_length=12, choices=ServiceKind.choices, default=ServiceKind.IT_SERVICE
    )
    lifecycle = models.CharField(
        max_length=14, choices=Lifecycle.choices, default=Lifecycle.PROPOSED
    )
    criticality = models.PositiveSmallIntegerField(
        choices=Criticality.choices, default=Criticality.MEDIUM
    )
    service_owner = models.ForeignKey(
        "org.Person",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="services_owned",
    )
    delivery_manager = models.ForeignKey(
        "org.Person",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="services_delivered",
    )
    customers = models.ManyToManyField("org.Customer", blank=True, related_name="services")
    cost_centre = models.CharField(max_length=40, blank=True)
    catalogue_visible = models.BooleanField(
        default=False, help_text="Shown in the service catalogue"
    )

    class Meta:
        ordering = ["name"]

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.kind = NodeKind.SERVICE
        super().save(*args, **kwargs)

    def validate_unique(self, exclude: Any = None) -> None:
        super().validate_unique(exclude)
        clash = Service.objects.filter(name__iexact=self.name).exclude(pk=self.pk)
        if self.name and clash.exists():
            raise ValidationError({"name": f"A service named {self.name!r} already exists."})


class Component(Node):
    """A configuration item of the IT environment: a server, VM, database, application,
    network device, storage, cloud resource. Type-specific attributes are validated against
    the type's schema."""

    REFERENCE_PREFIX = "CMP"

    component_type = models.ForeignKey(
        ComponentType, on_delete=models.PROTECT, related_name="components"
    )
    status = models.CharField(
        max_length=16, choices=ComponentStatus.choices, default=ComponentStatus.IN_USE
    )
    location = models.CharField(max_length=120, blank=True)
    tags = models.ManyToManyField(Tag, blank=True, related_name="components")
    attributes = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["name"]

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.kind = NodeKind.COMPONENT
        super().save(*args, **kwargs)

    def clean(self) -> None:
        if self.component_type_id is not None:
            errors = self.component_type.attribute_errors(self.attributes)
            if errors:
                raise ValidationError({"attributes": errors})

    def validate_unique(self, exclude: Any = None) -> None:
        super().validate_unique(exclude)
        if self.name and self.component_type_id:
            clash = Component.objects.filter(
                component_type_id=self.component_type_id, name__iexact=self.name
            ).exclude(pk=self.pk)
            if clash.exists():
                raise ValidationError(
                    {"name": f"A {self.component_type} named {self.name!r} already exists."}
                )


class Relation(Record):
    """A typed, directed edge: ``source`` <relation type> ``target`` (e.g. "web-01 runs on
    vm-host-3"). Cycles may exist in real data; every traversal copes with them."""

    source = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="outgoing")
    target = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="incoming")
    relation_type = models.ForeignKey(
        RelationType, on_delete=models.PROTECT, related_name="relations"
    )

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "target", "relation_type"], name="relation_unique_edge"
            ),
            models.CheckConstraint(condition=~Q(source=F("target")), name="relation_no_self_loop"),
        ]
        indexes = [models.Index(fields=["target", "source"])]

    def __str__(self) -> str:
        return f"{self.source} {self.relation_type} {self.target}"

    def clean(self) -> None:
        if self.source_id is not None and self.source_id == self.target_id:
            raise ValidationError({"target": "A node cannot be related to itself."})


class GraphVersion(models.Model):
    """One row whose ``version`` goes up in the same transaction as every change to the
    graph. Each process compares it with the version its in-memory index was built from."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    version = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"graph version {self.version}"

    @classmethod
    def bump(cls) -> None:
        if not cls.objects.filter(pk=1).update(version=F("version") + 1):
            cls.objects.get_or_create(pk=1, defaults={"version": 1})

    @classmethod
    def current(cls) -> int:
        return cls.objects.filter(pk=1).values_list("version", flat=True).first() or 0
