"""Structure records in file terms: the field specs of each section, canonical values and
natural keys, the organisation records files may name, the current structure read once in the
same terms (for export and for comparing an import), and the report of an import's changes."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import models

from itline.cmdb.choices import ComponentStatus, Criticality, Lifecycle, ServiceKind
from itline.cmdb.models import (
    Component,
    ComponentType,
    Relation,
    RelationType,
    Service,
)
from itline.org.models import Customer, Function, Person

SECTIONS = ("component_types", "relation_types", "services", "components", "relations")
FILES = {s: s.replace("_", "-") for s in SECTIONS}
RESERVED_SLUG = "service"

CRITICALITY = {c.name.lower(): c.value for c in Criticality}
CRITICALITY_NAME = {v: k for k, v in CRITICALITY.items()}


# --- records in file terms ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spec:
    """A field as written in the files: its key, its kind of value and its default."""

    name: str
    kind: str  # text, bool, choice, criticality, function, person, customers, tags, object
    default: Any = ""
    required: bool = False
    choices: tuple[str, ...] = ()
    model: str = ""  # the model field it is stored in, when named differently

    @property
    def model_field(self) -> str:
        return self.model or self.name


def _choices(cls: type[models.Choices]) -> tuple[str, ...]:
    return tuple(str(v) for v in cls.values)


SPECS: dict[str, tuple[Spec, ...]] = {
    "component_types": (
        Spec("slug", "text", required=True),
        Spec("name", "text", required=True),
        Spec("description", "text"),
        Spec("attribute_schema", "object", default={}),
    ),
    "relation_types": (
        Spec("slug", "text", required=True),
        Spec("name", "text", required=True),
        Spec("inverse_name", "text", required=True),
        Spec("propagates_impact", "bool", default=True),
        Spec("description", "text"),
    ),
    "services": (
        Spec("name", "text", required=True),
        Spec(
            "kind",
            "choice",
            ServiceKind.IT_SERVICE.value,
            choices=_choices(ServiceKind),
            model="service_kind",
        ),
        Spec("lifecycle", "choice", Lifecycle.PROPOSED.value, choices=_choices(Lifecycle)),
        Spec("criticality", "criticality", CRITICALITY_NAME[Criticality.MEDIUM]),
        Spec("description", "text"),
        Spec("owner_function", "function", None),
        Spec("service_owner", "person", None),
        Spec("delivery_manager", "person", None),
        Spec("customers", "customers", ()),
        Spec("cost_centre", "text"),
        Spec("catalogue_visible", "bool", default=False),
    ),
    "components": (
        Spec("type", "text", required=True, model="component_type"),
        Spec("name", "text", required=True),
        Spec("status", "choice", ComponentStatus.IN_USE.value, choices=_choices(ComponentStatus)),
        Spec("description", "text"),
        Spec("owner_function", "function", None),
        Spec("location", "text"),
        Spec("tags", "tags", ()),
        Spec("attributes", "object", default={}),
    ),
}
# Shown always, so a reader sees them without knowing the defaults.
ALWAYS = {
    "slug",
    "name",
    "type",
    "inverse_name",
    "propagates_impact",
    "kind",
    "lifecycle",
    "criticality",
    "status",
    "catalogue_visible",
}
MODEL_FIELDS = {
    section: {spec.model_field: spec.name for spec in specs} for section, specs in SPECS.items()
}


MAX_DEPTH = 32  # of attributes and schemas; deeper would only serve to exhaust the stack


def _depth(value: Any) -> int:
    """How deeply ``value`` nests, counted without recursion (the input is untrusted)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                break
            stack.extend(
                (v, depth + 1) for v in (item.values() if isinstance(item, dict) else item)
            )
    return deepest


def _sorted_json(value: Any) -> Any:
    """JSON with every object's keys sorted, so nested values print the same every time."""
    if isinstance(value, dict):
        return {k: _sorted_json(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted_json(v) for v in value]
    return value


def _order(name: str) -> tuple[str, str]:
    return (name.casefold(), name)


def _for_file(section: str, data: dict[str, Any]) -> dict[str, Any]:
    """A canonical record as written: fields in spec order, empty optional ones left out."""
    out = {}
    for spec in SPECS[section]:
        value = data[spec.name]
        if spec.name in ALWAYS or value not in (None, "", [], {}, ()):
            out[spec.name] = list(value) if isinstance(value, tuple) else value
    return out


def node_key(kind_or_type: str, name: str) -> str:
    return f"{kind_or_type}/{name}"


# --- people, functions, customers by natural key ------------------------------------------


class Directory:
    """The organisation records a structure file may name, by their natural keys."""

    def __init__(self) -> None:
        self.functions = {f.name: f for f in Function.objects.all()}
        self.functions_ci: dict[str, list[Function]] = defaultdict(list)
        for f in self.functions.values():
            self.functions_ci[f.name.lower()].append(f)
        self.customers = {
            c.business_unit.name: c for c in Customer.objects.select_related("business_unit")
        }
        self.customers_ci: dict[str, list[Customer]] = defaultdict(list)
        for c in self.customers.values():
            self.customers_ci[c.business_unit.name.lower()].append(c)
        people = list(Person.objects.all())
        self.people_by_id = {p.pk: p for p in people}
        self.by_email = {p.email.lower(): p for p in people if p.email}
        self.by_reference = {p.reference: p for p in people}
        self.by_name: dict[str, list[Person]] = defaultdict(list)
        for p in people:
            self.by_name[p.name.lower()].append(p)

    def person_key(self, person: Person | None) -> str | None:
        if person is None:
            return None
        if person.email:
            return person.email
        return person.name if len(self.by_name[person.name.lower()]) == 1 else person.reference

    def function(self, name: str) -> Function:
        found = self.functions.get(name)
        if found is None:
            matches = self.functions_ci.get(name.lower(), [])
            if len(matches) != 1:
                raise ValueError(f"no function named {name!r}")
            found = matches[0]
        return found

    def customer(self, name: str) -> Customer:
        found = self.customers.get(name)
        if found is None:
            matches = self.customers_ci.get(name.lower(), [])
            if len(matches) != 1:
                raise ValueError(f"no customer (business unit) named {name!r}")
            found = matches[0]
        return found

    def person(self, key: str) -> Person:
        found = self.by_email.get(key.lower()) or self.by_reference.get(key)
        if found is not None:
            return found
        matches = self.by_name.get(key.lower(), [])
        if len(matches) > 1:
            raise ValueError(
                f"{len(matches)} people are named {key!r}; name them by e-mail or reference"
            )
        if not matches:
            raise ValueError(f"no person with e-mail, name or reference {key!r}")
        return matches[0]


# --- export -------------------------------------------------------------------------------


def _type_record(t: ComponentType) -> dict[str, Any]:
    return {
        "slug": t.slug,
        "name": t.name,
        "description": t.description,
        "attribute_schema": _sorted_json(t.attribute_schema or {}),
    }


def _relation_type_record(t: RelationType) -> dict[str, Any]:
    return {
        "slug": t.slug,
        "name": t.name,
        "inverse_name": t.inverse_name,
        "propagates_impact": t.propagates_impact,
        "description": t.description,
    }


def _service_record(s: Service, directory: Directory, customers: list[str]) -> dict[str, Any]:
    return {
        "name": s.name,
        "kind": s.service_kind,
        "lifecycle": s.lifecycle,
        "criticality": CRITICALITY_NAME.get(s.criticality, s.criticality),
        "description": s.description,
        "owner_function": s.owner_function.name if s.owner_function else None,
        "service_owner": directory.person_key(directory.people_by_id.get(s.service_owner_id or 0)),
        "delivery_manager": directory.person_key(
            directory.people_by_id.get(s.delivery_manager_id or 0)
        ),
        "customers": sorted(customers, key=_order),
        "cost_centre": s.cost_centre,
        "catalogue_visible": s.catalogue_visible,
    }


@dataclass(slots=True)
class _Existing:
    """A record of the database in file terms, with what is needed to change it."""

    pk: int
    data: dict[str, Any]
    reference: str = ""


class _State:
    """The current structure, read once, in file terms."""

    def __init__(self, directory: Directory) -> None:
        self.types = {t.slug: t for t in ComponentType.objects.all()}
        self.relation_types = {t.slug: t for t in RelationType.objects.all()}
        type_slug = {t.pk: t.slug for t in self.types.values()}
        customers: dict[int, list[str]] = defaultdict(list)
        through = Service.customers.through
        for service_id, unit in through.objects.values_list(
            "service_id", "customer__business_unit__name"
        ):
            customers[service_id].append(unit)
        self.services: dict[Any, _Existing] = {}
        self.node_keys: dict[int, tuple[Any, str, str]] = {}  # id -> (ident, key, name)
        for s in Service.objects.select_related("owner_function").order_by():
            ident = ("service", s.name.lower())
            self.services[ident] = _Existing(
                s.pk, _service_record(s, directory, customers[s.pk]), s.reference
            )
            self.node_keys[s.pk] = (ident, node_key("service", s.name), s.name)
        tags: dict[int, list[str]] = defaultdict(list)
        for component_id, tag in Component.tags.through.objects.values_list(
            "component_id", "tag__name"
        ):
            tags[component_id].append(tag)
        self.components: dict[Any, _Existing] = {}
        rows = Component.objects.order_by().values_list(
            "pk",
            "reference",
            "component_type_id",
            "name",
            "status",
            "description",
            "owner_function__name",
            "location",
            "attributes",
        )
        for (
            pk,
            reference,
            type_id,
            name,
            status,
            description,
            function,
            location,
            attributes,
        ) in rows.iterator(chunk_size=5000):
            slug = type_slug[type_id]
            ident = (slug, name.lower())
            data = {
                "type": slug,
                "name": name,
                "status": status,
                "description": description,
                "owner_function": function,
                "location": location,
                "tags": sorted(tags[pk]),
                "attributes": _sorted_json(attributes if attributes is not None else {}),
            }
            self.components[ident] = _Existing(pk, data, reference)
            self.node_keys[pk] = (ident, node_key(slug, name), name)
        rtype_slug = {t.pk: t.slug for t in self.relation_types.values()}
        self.relations: dict[tuple[Any, str, Any], int] = {}
        for pk, source, rtype, target in (
            Relation.objects.order_by()
            .values_list("pk", "source_id", "relation_type_id", "target_id")
            .iterator(chunk_size=20000)
        ):
            self.relations[
                (self.node_keys[source][0], rtype_slug[rtype], self.node_keys[target][0])
            ] = pk
        self.node_ids = {ident: pk for pk, (ident, _, _) in self.node_keys.items()}


# --- progress and report ------------------------------------------------------------------


@dataclass(slots=True)
class Change:
    """One record created, updated or deleted; ``fields`` maps field -> [before, after]."""

    action: str  # create, update, delete
    section: str
    key: str
    fields: dict[str, list[Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "section": self.section,
            "key": self.key,
            "fields": self.fields,
        }


@dataclass(slots=True)
class Report:
    dry_run: bool
    changes: list[Change] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, Counter[str]] = {s: Counter() for s in SECTIONS}
        for c in self.changes:
            counts[c.section][c.action] += 1
        return {s: {a: counts[s][a] for a in ("create", "update", "delete")} for s in SECTIONS}

    @property
    def totals(self) -> dict[str, int]:
        totals = Counter(c.action for c in self.changes)
        return {a: totals[a] for a in ("create", "update", "delete")}

    def summary(self) -> str:
        t = self.totals
        verb = (
            ("would create", "would update", "would delete")
            if self.dry_run
            else ("created", "updated", "deleted")
        )
        return f"{verb[0]} {t['create']}, {verb[1]} {t['update']}, {verb[2]} {t['delete']}"

    def diff_lines(self) -> Iterator[str]:
        sign = {"create": "+", "update": "~", "delete": "-"}
        for c in self.changes:
            yield f"{sign[c.action]} {c.section.removesuffix('s').replace('_', ' ')} {c.key}"
            if c.action == "update":
                for name, (before, after) in c.fields.items():
                    yield f"    {name}: {_show(before)} -> {_show(after)}"

    def as_dict(self, limit: int | None = None) -> dict[str, Any]:
        changes = self.changes if limit is None else self.changes[:limit]
        return {
            "dry_run": self.dry_run,
            "summary": self.totals,
            "sections": self.counts,
            "changes": [c.as_dict() for c in changes],
            "truncated": len(changes) < len(self.changes),
        }


def _show(value: Any) -> str:
    if value in (None, "", [], {}, ()):
        return "(empty)"
    if isinstance(value, str):
        return value if value.strip() == value and "\n" not in value else repr(value)
    import orjson

    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
