"""The demo organisation: a mid-sized logistics company and its IT organisation. Deterministic
(same names every time), built through the same verbs as the UI, so every record has a
journal. Later apps add their own demo records on top of this one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q

from itline.core.models import ApiToken, BusinessCalendar, JournalEntry, LoginAttempt, Sequence
from itline.core.services import create_record
from itline.org import services
from itline.org.models import BusinessUnit, Customer, Function, Membership, Person, Purchaser

DEMO_PASSWORD = "demo"  # noqa: S105  (published demo password, demo data only)


@dataclass(frozen=True)
class DemoLogin:
    username: str
    name: str
    role: str
    unit: str
    title: str


# One login per persona; these names appear in the README and the quick-start output.
LOGINS: tuple[DemoLogin, ...] = (
    DemoLogin("admin", "Alex Admin", "administrator", "Information Technology", "IT administrator"),
    DemoLogin("sg.sophie", "Sophie Steiner", "steering_group_member", "Executive Board", "CIO"),
    DemoLogin(
        "desk.dana",
        "Dana Desmond",
        "service_desk_agent",
        "Information Technology",
        "Service desk agent",
    ),
    DemoLogin("tech.tom", "Tom Tanaka", "technician", "Information Technology", "Systems engineer"),
    DemoLogin(
        "im.ingrid",
        "Ingrid Iversen",
        "incident_manager",
        "Information Technology",
        "Incident manager",
    ),
    DemoLogin(
        "pm.paul", "Paul Petrov", "problem_manager", "Information Technology", "Problem manager"
    ),
    DemoLogin(
        "cm.carla", "Carla Castillo", "change_manager", "Information Technology", "Change manager"
    ),
    DemoLogin(
        "so.omar",
        "Omar Osei",
        "service_owner",
        "Information Technology",
        "Service owner, logistics apps",
    ),
    DemoLogin(
        "rep.rachel",
        "Rachel Rivera",
        "customer_representative",
        "Warehousing",
        "Director of warehousing",
    ),
    DemoLogin("buy.bruno", "Bruno Berg", "purchaser", "Warehousing", "Operations controller"),
    DemoLogin("req.rita", "Rita Rossi", "requester", "Warehousing", "Shift planner"),
)

UNITS: tuple[tuple[str, str, str | None], ...] = (
    ("Executive Board", "EXB", None),
    ("Finance", "FIN", "Executive Board"),
    ("Sales", "SAL", "Executive Board"),
    ("Sales North", "SALN", "Sales"),
    ("Sales South", "SALS", "Sales"),
    ("Warehousing", "WHS", "Executive Board"),
    ("Transport", "TRN", "Executive Board"),
    ("Human Resources", "HR", "Executive Board"),
    ("Information Technology", "IT", "Executive Board"),
)

# name, governance level, description
FUNCTIONS: tuple[tuple[str, str, str], ...] = (
    ("IT Steering Group", "strategic", "Strategy, policy, portfolio and escalations."),
    (
        "Service Management Office",
        "tactical",
        "How IT works: processes, architecture, policy drafts.",
    ),
    ("Change Advisory Board", "tactical", "Advises on normal and high-risk changes."),
    ("Service Desk", "operational", "Single point of contact; request fulfilment; coordination."),
    ("Infrastructure Operations", "operational", "Servers, virtualisation, storage, backup."),
    ("Network and Security", "operational", "LAN, WAN, firewalls, remote access, identity."),
    ("Application Management", "operational", "Warehouse, transport and finance applications."),
    ("Database Administration", "operational", "Database platforms, performance and recovery."),
)

# Further staff and business people (name, unit, title); with LOGINS they make 40 people.
OTHERS: tuple[tuple[str, str, str], ...] = (
    ("Lena Lindqvist", "Information Technology", "Service desk agent"),
    ("Marco Marini", "Information Technology", "Service desk agent"),
    ("Nadia Nowak", "Information Technology", "Service desk lead"),
    ("Femi Falade", "Information Technology", "Infrastructure lead"),
    ("Greta Gruber", "Information Technology", "Storage engineer"),
    ("Hugo Hansen", "Information Technology", "Virtualisation engineer"),
    ("Isla Irving", "Information Technology", "Network lead"),
    ("Jonas Jensen", "Information Technology", "Security engineer"),
    ("Kira Kowalski", "Information Technology", "Application manager"),
    ("Liam Lewis", "Information Technology", "Developer"),
    ("Mia Moreau", "Information Technology", "DBA lead"),
    ("Noah Nielsen", "Information Technology", "DBA"),
    ("Oscar Olsen", "Information Technology", "Process manager"),
    ("Priya Patel", "Information Technology", "Enterprise architect"),
    ("Quentin Quinn", "Executive Board", "CEO"),
    ("Rosa Romano", "Finance", "CFO"),
    ("Sam Schneider", "Finance", "Financial controller"),
    ("Tara Thompson", "Finance", "Accountant"),
    ("Uma Usman", "Sales", "Sales director"),
    ("Victor Vogel", "Sales North", "Account manager"),
    ("Wendy Walsh", "Sales South", "Account manager"),
    ("Xavier Xu", "Transport", "Transport director"),
    ("Yara Yilmaz", "Transport", "Dispatcher"),
    ("Zoe Zimmer", "Human Resources", "HR director"),
    ("Adam Abbott", "Human Resources", "HR advisor"),
    ("Bea Bianchi", "Warehousing", "Warehouse supervisor"),
    ("Caspar Claes", "Warehousing", "Forklift driver"),
    ("Dina Dahl", "Finance", "Purchasing officer"),
    ("Emil Eriksen", "Sales", "Sales assistant"),
)

# function -> [(person name, membership role)]
MEMBERS: dict[str, list[tuple[str, str]]] = {
    "IT Steering Group": [
        ("Sophie Steiner", "lead"),
        ("Quentin Quinn", "member"),
        ("Rosa Romano", "member"),
        ("Priya Patel", "member"),
    ],
    "Service Management Office": [
        ("Oscar Olsen", "lead"),
        ("Priya Patel", "member"),
        ("Ingrid Iversen", "member"),
        ("Paul Petrov", "member"),
        ("Carla Castillo", "member"),
    ],
    "Change Advisory Board": [
        ("Carla Castillo", "lead"),
        ("Femi Falade", "member"),
        ("Isla Irving", "member"),
        ("Kira Kowalski", "member"),
        ("Mia Moreau", "member"),
        ("Omar Osei", "member"),
    ],
    "Service Desk": [
        ("Nadia Nowak", "lead"),
        ("Dana Desmond", "member"),
        ("Lena Lindqvist", "member"),
        ("Marco Marini", "member"),
        ("Ingrid Iversen", "coordinator"),
    ],
    "Infrastructure Operations": [
        ("Femi Falade", "lead"),
        ("Tom Tanaka", "member"),
        ("Greta Gruber", "member"),
        ("Hugo Hansen", "member"),
    ],
    "Network and Security": [
        ("Isla Irving", "lead"),
        ("Jonas Jensen", "member"),
        ("Tom Tanaka", "member"),
    ],
    "Application Management": [
        ("Kira Kowalski", "lead"),
        ("Liam Lewis", "member"),
        ("Omar Osei", "member"),
    ],
    "Database Administration": [("Mia Moreau", "lead"), ("Noah Nielsen", "member")],
}

# customer unit -> (decision-maker, relationship manager, purchasers)
CUSTOMERS: dict[str, tuple[str, str, list[str]]] = {
    "Warehousing": ("Rachel Rivera", "Omar Osei", ["Bruno Berg", "Bea Bianchi"]),
    "Finance": ("Rosa Romano", "Oscar Olsen", ["Dina Dahl"]),
    "Sales": ("Uma Usman", "Omar Osei", ["Emil Eriksen", "Victor Vogel"]),
    "Transport": ("Xavier Xu", "Kira Kowalski", ["Yara Yilmaz"]),
}


def _email(name: str) -> str:
    return name.lower().replace(" ", ".") + "@northwind.example"


def is_loaded() -> bool:
    return Person.objects.exists()


def reset() -> None:
    """Remove the organisation, its journal, every non-superuser login and the demo logins."""
    with transaction.atomic():
        Purchaser.objects.all().delete()
        Customer.objects.all().delete()
        Membership.objects.all().delete()
        Function.objects.all().delete()
        Person.objects.all().delete()
        while BusinessUnit.objects.exists():
            BusinessUnit.objects.filter(children__isnull=True).delete()
        JournalEntry.objects.all().delete()
        BusinessCalendar.objects.all().delete()
        ApiToken.objects.all().delete()
        LoginAttempt.objects.all().delete()
        Sequence.objects.filter(
            prefix__in=["BU", "PER", "FUN", "MEM", "CUS", "PUR", "CAL"]
        ).delete()
        demo_names = [login.username for login in LOGINS]
        get_user_model().objects.filter(Q(is_superuser=False) | Q(username__in=demo_names)).delete()


def steps() -> Iterator[tuple[str, Callable[[], Any]]]:
    """The loading steps, for a progress bar: (description, callable)."""
    units: dict[str, BusinessUnit] = {}
    people: dict[str, Person] = {}
    functions: dict[str, Function] = {}

    def make_units() -> None:
        for name, code, parent in UNITS:
            units[name] = services.create_business_unit(
                by=None, name=name, code=code, parent=units.get(parent or "")
            )

    def make_person(name: str, unit: str, title: str) -> Callable[[], None]:
        def run() -> None:
            people[name] = services.create_person(
                by=None,
                name=name,
                email=_email(name),
                job_title=title,
                business_unit=units[unit],
                phone=f"+31 20 555 {len(people) + 100:04d}",
            )

        return run

    def make_login(login: DemoLogin) -> Callable[[], None]:
        def run() -> None:
            user = services.create_login(
                people[login.name],
                by=None,
                username=login.username,
                password=None,
                roles=[login.role],
            )
            user.set_password(DEMO_PASSWORD)  # short on purpose; demo only, not validated
            if login.role == "administrator":
                user.is_staff = user.is_superuser = True
            user.save()

        return run

    def make_functions() -> None:
        for name, level, description in FUNCTIONS:
            lead = next((p for p, r in MEMBERS[name] if r == "lead"), None)
            functions[name] = services.create_function(
                by=None,
                name=name,
                governance_level=level,
                description=description,
                lead=people[lead] if lead else None,
                email=name.lower().replace(" ", "-") + "@northwind.example",
            )

    def make_members() -> None:
        for fname, members in MEMBERS.items():
            for pname, role in members:
                services.add_member(functions[fname], people[pname], by=None, role=role)

    def make_customers() -> None:
        for unit, (decider, manager, purchasers) in CUSTOMERS.items():
            customer = services.create_customer(
                by=None,
                business_unit=units[unit],
                decision_maker=people[decider],
                relationship_manager=people[manager],
            )
            for pname in purchasers:
                services.add_purchaser(customer, people[pname], by=None, spending_limit=5000)

    def some_history() -> None:
        # A few edits by real personas so timelines show more than "created".
        admin = get_user_model().objects.get(username="admin")
        services.update_function(
            functions["Service Desk"],
            by=admin,
            description="Single point of contact for all users; request fulfilment; "
            "coordination of internal tasks. Staffed 07:00-19:00 on working days.",
        )
        services.update_person(people["Tom Tanaka"], by=admin, job_title="Senior systems engineer")

    yield "business units", make_units
    for login in LOGINS:
        yield f"person {login.name}", make_person(login.name, login.unit, login.title)
    for name, unit, title in OTHERS:
        yield f"person {name}", make_person(name, unit, title)
    for login in LOGINS:
        yield f"login {login.username}", make_login(login)
    yield "functions", make_functions
    yield "memberships", make_members
    yield "customers and purchasers", make_customers

    def make_calendars() -> None:
        office = ["08:00-12:00", "12:30-17:30"]
        create_record(
            BusinessCalendar(
                name="Office hours NL",
                time_zone="Europe/Amsterdam",
                working_hours={d: office for d in ("mon", "tue", "wed", "thu", "fri")},
                country="NL",
                custom_holidays=["2026-12-24", "2026-12-31"],
                description="Service desk opening hours; Dutch public holidays.",
            ),
            by=None,
        )
        create_record(
            BusinessCalendar(
                name="24x7",
                time_zone="UTC",
                working_hours={
                    d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
                },
                description="Round the clock, for critical services.",
            ),
            by=None,
        )

    yield "history", some_history
    yield "business calendars", make_calendars


def print_summary(console: Any) -> None:
    from rich.table import Table

    table = Table(title=f"Demo logins (password for all: {DEMO_PASSWORD})")
    table.add_column("username")
    table.add_column("persona")
    table.add_column("name")
    for login in LOGINS:
        table.add_row(login.username, login.role.replace("_", " "), login.name)
    console.print(table)


def load() -> None:
    """Load only the organisation demo (tests that need people but no structure)."""
    with transaction.atomic():
        for _, run in steps():
            run()
