"""The demo service structure of the demo company: 12 IT services, 30 supporting services and
about 400 components (network, storage, hypervisors, VMs, databases, applications, cloud) with
the relations between them, owned by the demo functions. Deterministic (seeded), built through
the verbs so every record has a journal. Needs the organisation demo loaded first."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

from django.db import transaction

from itline.cmdb import services
from itline.cmdb.models import Component, ComponentType, Node, Relation, RelationType, Service
from itline.core.models import Sequence
from itline.org.models import Customer, Function, Person

IT_SERVICES: tuple[tuple[str, int, str, list[str]], ...] = (
    # name, criticality, customer units, description
    ("Warehouse Management", 5, "Warehousing", ["Warehousing"]),
    ("Transport Planning", 4, "Transport", ["Transport"]),
    ("Webshop", 5, "Sales", ["Sales"]),
    ("Finance and ERP", 4, "Finance", ["Finance"]),
    ("Payroll", 4, "Finance", ["Finance"]),
    ("E-mail and Calendar", 3, "everyone", ["Warehousing", "Finance", "Sales", "Transport"]),
    ("Collaboration", 2, "everyone", ["Warehousing", "Finance", "Sales", "Transport"]),
    ("Customer Portal", 4, "Sales", ["Sales"]),
    ("Business Intelligence", 3, "Finance", ["Finance", "Sales"]),
    ("Fleet Tracking", 4, "Transport", ["Transport"]),
    ("HR Self-Service", 2, "Human Resources", []),
    ("Workplace", 3, "everyone", ["Warehousing", "Finance", "Sales", "Transport"]),
)

SUPPORTING: tuple[str, ...] = (
    "PostgreSQL Hosting",
    "Oracle Hosting",
    "Virtualisation Platform",
    "Storage",
    "Backup",
    "LAN",
    "WAN",
    "Internet Access",
    "Firewalling",
    "Load Balancing",
    "Identity and Access",
    "E-mail Platform",
    "DNS and DHCP",
    "Monitoring",
    "Logging",
    "Container Platform",
    "Cloud Landing Zone",
    "File Services",
    "Print Services",
    "Remote Access VPN",
    "Integration Bus",
    "API Gateway",
    "Web Hosting",
    "Certificate Management",
    "Endpoint Management",
    "Service Desk Tooling",
    "Source Control and CI",
    "Data Warehouse Platform",
    "Message Queue",
    "Time Synchronisation",
)

SITES = ("AMS-DC1", "AMS-DC2")


def is_loaded() -> bool:
    return Node.objects.exists()


def reset() -> None:
    with transaction.atomic():
        Relation.objects.all().delete()
        Node.objects.all().delete()
        Sequence.objects.filter(prefix__in=["SVC", "CMP"]).delete()


def steps() -> Iterator[tuple[str, Callable[[], Any]]]:
    rng = random.Random(42)  # noqa: S311 (demo data, not security)
    # Filled by the first step: counting the steps must not query (the org may not exist yet).
    types: dict[str, ComponentType] = {}
    rel: dict[str, RelationType] = {}
    fn: dict[str, Function] = {}
    made: dict[str, list[Component]] = {}
    supporting: dict[str, Service] = {}

    def comp(name: str, ctype: str, function: str, group: str, **attrs: Any) -> Component:
        site = attrs.pop("site", rng.choice(SITES))
        tags = attrs.pop("tags", [])
        component = services.create_component(
            by=None,
            name=name,
            component_type=types[ctype],
            owner_function=fn[function],
            location=site,
            attributes=attrs,
            tags=tags,
            status="in_maintenance" if rng.random() < 0.02 else "in_use",
        )
        made.setdefault(group, []).append(component)
        return component

    def link(source: Node, slug: str, target: Node) -> None:
        if (
            source.pk != target.pk
            and not Relation.objects.filter(
                source=source, target=target, relation_type=rel[slug]
            ).exists()
        ):
            services.relate(source, target, rel[slug], by=None)

    def network() -> None:
        for i in (1, 2):
            comp(
                f"core-rtr-{i:02d}",
                "network-device",
                "Network and Security",
                "routers",
                role="router",
                model="MX204",
                site=SITES[i - 1],
            )
            comp(
                f"fw-{i:02d}",
                "network-device",
                "Network and Security",
                "firewalls",
                role="firewall",
                model="PA-3440",
                site=SITES[i - 1],
                tags=["dmz"],
            )
            comp(
                f"lb-{i:02d}",
                "network-device",
                "Network and Security",
                "lbs",
                role="load-balancer",
                model="BIG-IP i5800",
                site=SITES[i - 1],
                tags=["dmz"],
            )
        for i in range(1, 5):
            comp(
                f"core-sw-{i:02d}",
                "network-device",
                "Network and Security",
                "core",
                role="switch",
                model="N9K-C93180",
                site=SITES[(i - 1) // 2],
            )
        for i in range(1, 21):
            comp(
                f"acc-sw-{i:02d}",
                "network-device",
                "Network and Security",
                "access",
                role="switch",
                model="C9300-48P",
            )
        for fw in made["firewalls"]:
            for router in made["routers"]:
                link(fw, "depends-on", router)
        for core in made["core"]:
            for fw in made["firewalls"]:
                link(core, "depends-on", fw)
        for access in made["access"]:
            for core in rng.sample(made["core"], 2):
                link(access, "depends-on", core)
        for lb in made["lbs"]:
            link(lb, "depends-on", made["core"][0])
            link(lb, "connects-to", made["firewalls"][0])

    def storage() -> None:
        for i, site in enumerate(SITES, 1):
            san = comp(
                f"san-{i:02d}",
                "storage",
                "Infrastructure Operations",
                "san",
                capacity_tb=480,
                protocol="FC",
                site=site,
            )
            link(san, "depends-on", made["core"][(i - 1) * 2])
        backup = comp(
            "backup-01",
            "storage",
            "Infrastructure Operations",
            "backup",
            capacity_tb=900,
            protocol="S3",
            site=SITES[1],
        )
        link(backup, "depends-on", made["core"][2])

    def hypervisors() -> None:
        for i in range(1, 17):
            host = comp(
                f"esx-{i:02d}",
                "server",
                "Infrastructure Operations",
                "hosts",
                cpu=64,
                memory_gb=1024,
                os="ESXi 8",
                serial=f"CZ{rng.randrange(10**7):07d}",
            )
            link(host, "depends-on", made["san"][i % 2])
            link(host, "depends-on", made["access"][i % 20])

    def vms() -> None:
        roles = ["web"] * 50 + ["app"] * 80 + ["db"] * 45 + ["util"] * 25
        for i, role in enumerate(roles, 1):
            vm = comp(
                f"{role}-vm-{i:03d}",
                "virtual-machine",
                "Infrastructure Operations",
                f"vm-{role}",
                vcpu=rng.choice([2, 4, 8, 16]),
                memory_gb=rng.choice([4, 8, 16, 32, 64]),
                os=rng.choice(["Debian 12", "Ubuntu 24.04", "RHEL 9", "Windows Server 2022"]),
            )
            link(vm, "hosted-on", rng.choice(made["hosts"]))
            if role == "web":
                link(vm, "depends-on", rng.choice(made["lbs"]))

    def databases() -> None:
        engines = ["postgresql"] * 25 + ["oracle"] * 8 + ["sqlserver"] * 4 + ["redis"] * 3
        for i, engine in enumerate(engines, 1):
            db = comp(
                f"{engine[:5]}-db-{i:02d}",
                "database",
                "Database Administration",
                f"db-{engine}",
                engine=engine,
                version={"postgresql": "16", "oracle": "19c", "sqlserver": "2022", "redis": "7.2"}[
                    engine
                ],
                size_gb=rng.choice([20, 80, 250, 900]),
            )
            link(db, "hosted-on", made["vm-db"][i % len(made["vm-db"])])

    def applications() -> None:
        for i in range(1, 81):
            app = comp(
                f"app-{i:03d}",
                "application",
                "Application Management",
                "apps",
                version=f"{rng.randint(1, 9)}.{rng.randint(0, 20)}",
            )
            link(app, "runs-on", made["vm-app"][i % len(made["vm-app"])])
            link(app, "runs-on", made["vm-web"][i % len(made["vm-web"])])
            dbs = made["db-postgresql"] + made["db-oracle"] + made["db-sqlserver"]
            link(app, "depends-on", dbs[i % len(dbs)])
            if i % 5 == 0:
                link(app, "depends-on", rng.choice(made["db-redis"]))

    def cloud() -> None:
        for i in range(1, 31):
            res = comp(
                f"cloud-{['bucket', 'queue', 'function', 'cdn', 'dns-zone'][i % 5]}-{i:02d}",
                "cloud-resource",
                "Infrastructure Operations",
                "cloud",
                provider="EU cloud",
                region="eu-west",
                resource_id=f"res-{rng.randrange(16**8):08x}",
                site="Cloud EU-West",
            )
            link(res, "depends-on", made["routers"][i % 2])
        util = made["vm-util"]
        # Identity and DNS need each other: a real cycle the impact engine must survive.
        link(util[0], "depends-on", util[1])
        link(util[1], "depends-on", util[0])

    def supporting_services() -> None:
        groups = {
            "PostgreSQL Hosting": made["db-postgresql"],
            "Oracle Hosting": made["db-oracle"],
            "Virtualisation Platform": made["hosts"],
            "Storage": made["san"],
            "Backup": made["backup"],
            "LAN": made["access"] + made["core"],
            "WAN": made["routers"],
            "Internet Access": made["routers"] + made["firewalls"],
            "Firewalling": made["firewalls"],
            "Load Balancing": made["lbs"],
            "Identity and Access": made["vm-util"][:2],
            "DNS and DHCP": made["vm-util"][:2],
            "Cloud Landing Zone": made["cloud"][:10],
        }
        owners = {
            "LAN": "Network and Security",
            "WAN": "Network and Security",
            "Internet Access": "Network and Security",
            "Firewalling": "Network and Security",
            "Load Balancing": "Network and Security",
            "PostgreSQL Hosting": "Database Administration",
            "Oracle Hosting": "Database Administration",
        }
        for name in SUPPORTING:
            service = services.create_service(
                by=None,
                name=name,
                service_kind="supporting",
                lifecycle="live",
                criticality=rng.choice([3, 4, 4, 5]),
                owner_function=fn[owners.get(name, "Infrastructure Operations")],
            )
            supporting[name] = service
            for component in groups.get(name) or rng.sample(made["vm-util"] + made["apps"], 3):
                link(service, "runs-on", component)
        for name in ("PostgreSQL Hosting", "Oracle Hosting", "Backup", "Container Platform"):
            link(supporting[name], "depends-on", supporting["Virtualisation Platform"])
        link(supporting["Virtualisation Platform"], "depends-on", supporting["Storage"])
        link(supporting["Virtualisation Platform"], "depends-on", supporting["LAN"])
        link(supporting["E-mail Platform"], "depends-on", supporting["Identity and Access"])
        link(supporting["Identity and Access"], "depends-on", supporting["DNS and DHCP"])

    def it_services() -> None:
        customers = {
            c.business_unit.name: c for c in Customer.objects.select_related("business_unit")
        }
        owner = Person.objects.filter(name="Omar Osei").first()
        delivery = Person.objects.filter(name="Kira Kowalski").first()
        apps = made["apps"]
        for i, (name, criticality, _, units) in enumerate(IT_SERVICES):
            service = services.create_service(
                by=None,
                name=name,
                service_kind="it_service",
                lifecycle="live",
                criticality=criticality,
                owner_function=fn["Application Management"],
                service_owner=owner,
                delivery_manager=delivery,
                customers=[customers[u] for u in units if u in customers],
                catalogue_visible=True,
                cost_centre=f"CC-{4100 + i}",
            )
            for app in apps[i * 6 : (i + 1) * 6]:
                link(service, "runs-on", app)
            for dep in rng.sample(
                [
                    "PostgreSQL Hosting",
                    "Oracle Hosting",
                    "Load Balancing",
                    "Identity and Access",
                    "Internet Access",
                    "Monitoring",
                    "Backup",
                    "Integration Bus",
                    "API Gateway",
                ],
                4,
            ):
                link(service, "depends-on", supporting[dep])

    def lookups() -> None:
        types.update({t.slug: t for t in ComponentType.objects.all()})
        rel.update({t.slug: t for t in RelationType.objects.all()})
        fn.update({f.name: f for f in Function.objects.all()})
        missing = {
            "Network and Security",
            "Infrastructure Operations",
            "Database Administration",
            "Application Management",
        } - set(fn)
        if missing:
            raise RuntimeError(
                f"the organisation demo must be loaded first (missing {', '.join(sorted(missing))})"
            )

    yield "types and functions", lookups
    yield "network", network
    yield "storage", storage
    yield "hypervisors", hypervisors
    yield "virtual machines", vms
    yield "databases", databases
    yield "applications", applications
    yield "cloud resources", cloud
    yield "supporting services", supporting_services
    yield "IT services", it_services
