"""What the demo history happens in: the organisation, the structure and the agreements of the
earlier demos, read once into memory so the simulation runs without queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SERVICE_DESK = "Service Desk"
OFFICE_CALENDAR = "Office hours NL"


@dataclass(frozen=True)
class Actor:
    """Who did something: a login (the journal's ``actor``) and the name shown. Staff
    without a login still appear by name, like the system does."""

    user: Any
    label: str


SYSTEM = Actor(None, "system")


@dataclass
class World:
    people: dict[str, Any]
    functions: dict[str, Any]
    members: dict[str, list[Any]]
    customer_of_unit: dict[int, Any]
    services: dict[str, Any]
    it_services: list[Any]
    components: dict[str, Any]
    components_by_type: dict[str, list[Any]]
    engines: dict[int, Any]
    targets: dict[int, dict[int, tuple[int, int]]]
    default_agreement: Any
    office: Any
    matrix: dict[tuple[int, int], int]
    requesters: list[Any]
    users: dict[int, Any]
    _agreements: dict[tuple[Any, Any], Any] = field(default_factory=dict)

    @classmethod
    def load(cls) -> World:
        from django.contrib.auth import get_user_model

        from itline.cmdb.models import Component, Service
        from itline.core.calendar import BusinessCalendar as Engine
        from itline.core.models import BusinessCalendar
        from itline.operation.defaults import DEFAULT_MATRIX
        from itline.operation.models import PriorityRule
        from itline.org.models import Customer, Function, Membership, Person
        from itline.relations.models import Agreement

        people = {
            p.name: p for p in Person.objects.select_related("business_unit").order_by("name", "pk")
        }
        functions = {f.name: f for f in Function.objects.select_related("lead").order_by("name")}
        if SERVICE_DESK not in functions or "Rita Rossi" not in people:
            raise RuntimeError("the organisation demo (itline.org.demo) must be loaded first")
        members: dict[str, list[Any]] = {name: [] for name in functions}
        for m in Membership.objects.select_related("person", "function").order_by(
            "function__name", "person__name"
        ):
            if m.role != "coordinator":  # coordinators take part, they do not pick up work
                members[m.function.name].append(m.person)
        customer_of_unit = {
            c.business_unit_id: c for c in Customer.objects.select_related("business_unit")
        }
        # A unit below a customer's unit (Sales North) belongs to that customer.
        for p in people.values():
            unit = p.business_unit
            if (
                unit is not None
                and unit.pk not in customer_of_unit
                and unit.parent_id in customer_of_unit
            ):
                customer_of_unit[unit.pk] = customer_of_unit[unit.parent_id]
        services = {
            s.name: s
            for s in Service.objects.select_related(
                "owner_function", "service_owner"
            ).prefetch_related("customers__business_unit", "customers__decision_maker")
        }
        if not services:
            raise RuntimeError("the structure demo (itline.cmdb.demo) must be loaded first")
        components = {
            c.name: c
            for c in Component.objects.select_related("owner_function", "component_type").order_by(
                "name"
            )
        }
        by_type: dict[str, list[Any]] = {}
        for c in components.values():
            by_type.setdefault(c.component_type.slug, []).append(c)
        agreements = list(
            Agreement.objects.filter(active=True)
            .select_related("calendar")
            .prefetch_related("targets")
            .order_by("pk")
        )
        default = next((a for a in agreements if a.is_default), None)
        if default is None:
            raise RuntimeError("the agreements demo (itline.relations.demo) must be loaded first")
        # Desks work office hours; without that calendar, the default agreement's hours.
        office = BusinessCalendar.objects.filter(name=OFFICE_CALENDAR).first() or default.calendar
        matrix = {(r.impact, r.urgency): r.priority for r in PriorityRule.objects.all()}
        users = {u.pk: u for u in get_user_model().objects.all()}
        return cls(
            people=people,
            functions=functions,
            members=members,
            customer_of_unit=customer_of_unit,
            services=services,
            it_services=sorted(
                (s for s in services.values() if s.service_kind == "it_service"),
                key=lambda s: s.name,
            ),
            components=components,
            components_by_type=by_type,
            engines={
                a.pk: a.calendar.engine() if a.calendar else Engine.twenty_four_seven()
                for a in agreements
            },
            targets={
                a.pk: {
                    t.priority: (t.response_minutes, t.resolution_minutes) for t in a.targets.all()
                }
                for a in agreements
            },
            default_agreement=default,
            office=office.engine() if office is not None else Engine.twenty_four_seven(),
            matrix=matrix or dict(DEFAULT_MATRIX),
            requesters=[
                p
                for p in people.values()
                if p.business_unit is not None and p.business_unit.name != "Information Technology"
            ],
            users=users,
        )

    def actor(self, person: Any) -> Actor:
        if person is None:
            return SYSTEM
        return Actor(self.users.get(person.user_id) if person.user_id else None, person.name)

    def customer_of(self, person: Any) -> Any:
        if person is None or person.business_unit_id is None:
            return None
        return self.customer_of_unit.get(person.business_unit_id)

    def agreement_for(self, customer: Any, service: Any) -> Any:
        """The agreement the incident verbs would choose (relations' rule), cached."""
        key = (getattr(customer, "pk", None), getattr(service, "pk", None))
        if key not in self._agreements:
            from itline.relations.services import agreement_for

            self._agreements[key] = agreement_for(customer=customer, service=service)
        return self._agreements[key] or self.default_agreement

    def engine(self, agreement: Any) -> Any:
        return self.engines.get(agreement.pk, self.office)

    def target_minutes(self, agreement: Any, priority: int) -> tuple[int, int]:
        table = self.targets.get(agreement.pk) or self.targets[self.default_agreement.pk]
        return table.get(priority) or (480, 2700)

    def node(self, target: str) -> tuple[Any, Any]:
        """``svc:Name`` or ``cmp:name`` -> (service, component)."""
        kind, _, name = target.partition(":")
        if kind == "svc":
            return self.services[name], None
        component = self.components.get(name)
        if component is None:  # the structure was edited: a component of the same family
            prefix = name.rsplit("-", 1)[0]
            component = next(
                (c for n, c in self.components.items() if n.startswith(prefix)),
                next(iter(self.components.values())),
            )
        return None, component

    def owner_of(self, service: Any, component: Any) -> Any:
        """Where the incident verbs route: owner of the component, else of the service."""
        for node in (component, service):
            if node is not None and node.owner_function_id:
                return node.owner_function
        return self.functions[SERVICE_DESK]
