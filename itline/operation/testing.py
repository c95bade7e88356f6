"""Builders for Operation tests (like itline.core.testing): each test states its data."""

from __future__ import annotations

from typing import Any

from itline.cmdb import services as cmdb
from itline.cmdb.models import Component, Service
from itline.cmdb.testing import make_component
from itline.operation import services
from itline.operation.models import Incident, ServiceRequest
from itline.org.models import Function, Membership, Person, person_of


def make_function(name: str, *members: Any, lead: Person | None = None) -> Function:
    """A function; members may be users (their person is used) or people."""
    function = Function(name=name, lead=lead)
    function.save()
    for member in members:
        person = member if isinstance(member, Person) else person_of(member)
        Membership(function=function, person=person).save()
    return function


def make_service(
    name: str, *, criticality: int = 3, owner_function: Function | None = None, **fields: Any
) -> Service:
    return cmdb.create_service(
        by=None, name=name, criticality=criticality, owner_function=owner_function, **fields
    )


def make_incident(
    title: str = "Mail is down",
    *,
    service: Service | None = None,
    component: Component | None = None,
    by: Any = None,
    **fields: Any,
) -> Incident:
    if service is None and component is None:
        component = make_component(f"srv-{Incident.objects.count() + 1}")
    fields.setdefault("impact", 2)
    return services.create_incident(
        by=by, title=title, service=service, component=component, **fields
    )


def make_request(requester: Person, title: str = "Printer jams", **fields: Any) -> ServiceRequest:
    return services.create_request(by=None, requester=requester, title=title, **fields)
