"""Builders for the portal tests: a small organisation with one customer, catalogue services
and the personas of the fault walk (requester, service desk agent, technician)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.test import Client

from itline.cmdb import services as cmdb
from itline.cmdb.models import Service
from itline.core.testing import PASSWORD, make_unit, make_user
from itline.org import services as org
from itline.org.models import BusinessUnit, Customer, Function


@dataclass
class World:
    warehousing: BusinessUnit
    customer: Customer
    apps: Function
    wms: Service
    email: Service
    hidden: Service
    rita: Any
    walt: Any
    dana: Any
    tom: Any


def build_world() -> World:
    warehousing = make_unit("Warehousing")
    finance = make_unit("Finance")
    customer = Customer(business_unit=warehousing)
    customer.save()
    apps = org.create_function(by=None, name="Application Management")
    wms = cmdb.create_service(
        by=None,
        name="Warehouse Management",
        lifecycle="live",
        catalogue_visible=True,
        owner_function=apps,
        customers=[customer],
    )
    email = cmdb.create_service(
        by=None, name="E-mail", lifecycle="live", catalogue_visible=True, owner_function=apps
    )
    hidden = cmdb.create_service(
        by=None, name="Database Hosting", lifecycle="live", owner_function=apps
    )
    rita = make_user("rita", "requester", unit=warehousing, name="Rita Rossi")
    walt = make_user("walt", "requester", unit=finance, name="Walt Wagner")
    dana = make_user("dana", "service_desk_agent", name="Dana Desmond")
    tom = make_user("tom", "technician", name="Tom Tanaka")
    org.add_member(apps, tom.person, by=None)
    return World(warehousing, customer, apps, wms, email, hidden, rita, walt, dana, tom)


def signed_in(user: Any) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client
