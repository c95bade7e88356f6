"""A seeded generator of a large incident history on the large generated structure, written
straight into the database with bulk SQL (``executemany`` on SQLite, ``COPY`` on PostgreSQL).

Shape (1,000,000 incidents by default, on the 100,000-component structure of
``generate_structure.py``):

* an IT organisation of 40 resolver groups of 10 engineers (8 of them with agent logins,
  ``agent01`` .. ``agent08``, each in two groups), 2,000 callers in the structure's 20
  customers' business units;
* agreements: a default one on office hours (Europe/Amsterdam, Dutch holidays), premium 24x7
  agreements for five customers and tighter office-hours ones for five more;
* incidents: 70 % on a component, 30 % on an IT service (both Zipf-popular), assigned to a
  resolver group (Zipf: the first groups carry the most, and the agents are in them);
  priorities 2 % P1, 13 % P2, 50 % P3, 35 % P4;
* 40 % closed (over two years), 5 % resolved, and 60 % open: 40 % assigned and not yet
  responded to, 17 % in progress, 3 % on hold waiting for the customer. Open incidents are
  younger than about 1.3 times their resolution target, so their deadlines spread evenly over
  the coming days and every minute some clocks cross a threshold, as in production;
* every incident has its journal in the shapes the verbs write (created, assigned,
  state_changed with responded_at, hold reason, resolution and closure) and its SLA clocks
  computed from those same rows by ``itline.operation.sla`` (exactly what ``recompute``
  would store): 1,000,000 open clocks (resolution clocks of the open incidents and response
  clocks of those not yet responded to) among 2,000,000.

Times are relative to an anchor instant stored with the data (the moment of generation), so
the benchmark can scan "a minute later" reproducibly. Generation is resumable: incidents are
written in chunks, each in its own transaction, and a rerun continues after the last complete
chunk (or does nothing when all are there)."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

GENERATOR_VERSION = 1
DEFAULT_INCIDENTS = 1_000_000
CHUNK = 25_000
N_FUNCTIONS = 40
MEMBERS = 10
N_AGENTS = 8
N_CALLERS = 2_000
ANCHOR_KEY = "BENCH_T0"  # a Sequence row holds the anchor (epoch seconds)

STANDARD = {1: (15, 240), 2: (30, 540), 3: (120, 1620), 4: (480, 2700)}
PREMIUM = {1: (15, 240), 2: (30, 480), 3: (60, 1440), 4: (240, 4320)}
EXTENDED = {1: (10, 180), 2: (20, 360), 3: (60, 1080), 4: (240, 2160)}
# priority -> the (impact, urgency) cell that gives it in the default matrix
CELLS = {1: (1, 1), 2: (1, 2), 3: (2, 2), 4: (3, 3)}
PRIORITY_SHARE = [0.02, 0.13, 0.50, 0.35]
# status -> share; the open ones make 60 %, the not-responded ones 40 %
STATUS_SHARE = {
    "closed": 0.35,
    "resolved": 0.05,
    "assigned": 0.40,
    "in_progress": 0.17,
    "on_hold": 0.03,
}
OPEN = ("assigned", "in_progress", "on_hold")
FAULTS = [
    "not responding",
    "high CPU load",
    "disk almost full",
    "error rate above threshold",
    "slow responses",
    "connection refused",
    "certificate expires soon",
    "replication lag",
    "queue backlog growing",
    "health check failing",
]


@dataclass
class Context:
    """What the incidents refer to, by id, read once."""

    anchor: datetime
    incident_ct: int
    components: np.ndarray  # node ids
    component_names: list[str]
    services: np.ndarray
    service_names: list[str]
    functions: list[tuple[int, str, list[tuple[int, str]]]]  # id, name, members (id, name)
    callers: np.ndarray  # person ids
    caller_names: list[str]
    caller_customer: np.ndarray  # customer id per caller (0: none)
    customer_names: dict[int, str]
    agreement_of_customer: dict[int, tuple[int, str]]
    default_agreement: tuple[int, str]
    terms: dict[int, Any]  # agreement id -> sla.Terms


# --- the organisation and agreements (small, through the ORM) ---------------------------------


def ensure_organisation(using: str) -> None:
    """Resolver groups, engineers, agent logins, callers, calendars and agreements; idempotent."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import transaction

    from itline.core.models import BusinessCalendar
    from itline.org.models import BusinessUnit, Customer, Function, Membership, Person
    from itline.relations.models import Agreement, AgreementTarget

    if Agreement.objects.using(using).filter(is_default=True).exists():
        return
    stamp = datetime(2025, 1, 1, tzinfo=UTC)
    with transaction.atomic(using=using):
        it, _ = BusinessUnit.objects.using(using).get_or_create(
            name="Information Technology", defaults={"code": "IT", "reference": "BU-IT"}
        )
        engineers = Person.objects.using(using).bulk_create(
            Person(
                reference=f"PER-{k + 1:06d}",
                name=f"Engineer {k + 1:03d}",
                email=f"engineer{k + 1:03d}@bench.example",
                business_unit=it,
                created_at=stamp,
            )
            for k in range(N_FUNCTIONS * MEMBERS)
        )
        functions = Function.objects.using(using).bulk_create(
            Function(
                reference=f"FUN-{f + 1:06d}",
                name=f"Resolver group {f + 1:02d}",
                governance_level="operational",
                lead=engineers[f * MEMBERS],
                created_at=stamp,
            )
            for f in range(N_FUNCTIONS)
        )
        memberships = [
            Membership(
                reference=f"MEM-{f * MEMBERS + m + 1:06d}",
                function=functions[f],
                person=engineers[f * MEMBERS + m],
                role="lead" if m == 0 else "member",
                created_at=stamp,
            )
            for f in range(N_FUNCTIONS)
            for m in range(MEMBERS)
        ]
        # The agents are engineers of the busiest groups and also sit in a second one.
        for a in range(N_AGENTS):
            memberships.append(
                Membership(
                    reference=f"MEM-{len(memberships) + 1:06d}",
                    function=functions[(a // MEMBERS + 1) % N_FUNCTIONS],
                    person=engineers[a + 1],
                    role="member",
                    created_at=stamp,
                )
            )
        Membership.objects.using(using).bulk_create(memberships)
        User = get_user_model()
        groups = list(
            Group.objects.using(using).filter(name__in=["service_desk_agent", "technician"])
        )
        for a in range(N_AGENTS):
            user = User(
                username=f"agent{a + 1:02d}", first_name="Engineer", last_name=f"{a + 2:03d}"
            )
            user.set_unusable_password()
            user.save(using=using)
            user.groups.set(groups)
            Person.objects.using(using).filter(pk=engineers[a + 1].pk).update(user=user)
        units = list(BusinessUnit.objects.using(using).exclude(pk=it.pk).order_by("name"))
        Person.objects.using(using).bulk_create(
            Person(
                reference=f"PER-{N_FUNCTIONS * MEMBERS + k + 1:06d}",
                name=f"Caller {k + 1:04d}",
                email=f"caller{k + 1:04d}@bench.example",
                business_unit=units[k % len(units)] if units else None,
                created_at=stamp,
            )
            for k in range(N_CALLERS)
        )
        office = BusinessCalendar(
            reference="CAL-000001",
            name="Office hours",
            time_zone="Europe/Amsterdam",
            working_hours={d: ["08:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
            country="NL",
        )
        office.save(using=using)
        customers = list(Customer.objects.using(using).order_by("pk"))
        plans: list[tuple[str, Any, Any, dict[int, tuple[int, int]]]] = [
            ("Standard", None, office, STANDARD)
        ]
        for k, customer in enumerate(customers[:10]):
            if k < 5:
                plans.append((f"Premium 24x7 {k + 1:02d}", customer, None, PREMIUM))
            else:
                plans.append((f"Extended {k + 1:02d}", customer, office, EXTENDED))
        for k, (name, customer, calendar, targets) in enumerate(plans):
            agreement = Agreement(
                reference=f"SLA-{k + 1:06d}",
                name=name,
                customer=customer,
                is_default=customer is None,
                calendar=calendar,
                pause_states=["waiting_for_customer"],
            )
            agreement.save(using=using)
            AgreementTarget.objects.using(using).bulk_create(
                AgreementTarget(
                    agreement=agreement, priority=p, response_minutes=r, resolution_minutes=t
                )
                for p, (r, t) in targets.items()
            )
        from itline.core.models import Sequence

        for prefix, value in (
            ("PER", N_FUNCTIONS * MEMBERS + N_CALLERS),
            ("FUN", N_FUNCTIONS),
            ("MEM", len(memberships)),
            ("CAL", 1),
            ("SLA", len(plans)),
        ):
            Sequence.objects.using(using).update_or_create(prefix=prefix, defaults={"value": value})


def anchor(using: str) -> datetime:
    """The instant the history is relative to: stored on first use."""
    from itline.core.models import Sequence

    row = Sequence.objects.using(using).filter(prefix=ANCHOR_KEY).first()
    if row is None:
        now = datetime.now(UTC).replace(microsecond=0)
        Sequence.objects.using(using).create(prefix=ANCHOR_KEY, value=int(now.timestamp()))
        return now
    return datetime.fromtimestamp(row.value, UTC)


def load_context(using: str) -> Context:
    from django.contrib.contenttypes.models import ContentType

    from itline.cmdb.models import Component, Service
    from itline.operation.models import Incident
    from itline.org.models import Customer, Function, Membership, Person
    from itline.relations.models import Agreement

    components = list(Component.objects.using(using).order_by("pk").values_list("pk", "name"))
    services = list(
        Service.objects.using(using)
        .filter(service_kind="it_service")
        .order_by("pk")
        .values_list("pk", "name")
    )
    members: dict[int, list[tuple[int, str]]] = {}
    for fid, pid, name in (
        Membership.objects.using(using)
        .order_by("function_id", "person_id")
        .values_list("function_id", "person_id", "person__name")
    ):
        members.setdefault(fid, []).append((pid, name))
    functions = [
        (fid, name, members.get(fid, []))
        for fid, name in Function.objects.using(using).order_by("pk").values_list("pk", "name")
    ]
    unit_customer = dict(Customer.objects.using(using).values_list("business_unit_id", "pk"))
    callers = list(
        Person.objects.using(using)
        .filter(name__startswith="Caller ")
        .order_by("pk")
        .values_list("pk", "name", "business_unit_id")
    )
    customer_names = dict(Customer.objects.using(using).values_list("pk", "business_unit__name"))
    agreements = list(
        Agreement.objects.using(using).values_list("pk", "name", "customer_id", "is_default")
    )
    default = next((pk, name) for pk, name, _, is_default in agreements if is_default)
    # sla.TermsCache reads through the default manager; the benchmark may use another alias.
    terms = {pk: _terms(using, pk) for pk, *_ in agreements}
    return Context(
        anchor=anchor(using),
        incident_ct=ContentType.objects.db_manager(using).get_for_model(Incident).pk,
        components=np.array([c[0] for c in components], dtype=np.int64),
        component_names=[c[1] for c in components],
        services=np.array([s[0] for s in services], dtype=np.int64),
        service_names=[s[1] for s in services],
        functions=functions,
        callers=np.array([c[0] for c in callers], dtype=np.int64),
        caller_names=[c[1] for c in callers],
        caller_customer=np.array([unit_customer.get(c[2], 0) for c in callers], dtype=np.int64),
        customer_names=customer_names,
        agreement_of_customer={
            customer: (pk, name) for pk, name, customer, _ in agreements if customer is not None
        },
        default_agreement=default,
        terms=terms,
    )


def _terms(using: str, agreement_id: int) -> Any:
    from itline.operation import sla
    from itline.relations.models import Agreement

    agreement = (
        Agreement.objects.using(using)
        .select_related("calendar")
        .prefetch_related("targets")
        .get(pk=agreement_id)
    )
    calendar = agreement.calendar
    return sla.Terms(
        agreement_id=agreement.pk,
        reference=agreement.reference,
        name=agreement.name,
        policy=sla.Policy(
            targets={
                t.priority: (t.response_minutes, t.resolution_minutes)
                for t in agreement.targets.all()
            },
            warning_percent=agreement.warning_percent,
            pause_states=frozenset(agreement.pause_states or ()),
        ),
        calendar=calendar.engine(cached=False) if calendar is not None else None,
        calendar_reference=calendar.reference if calendar is not None else None,
        calendar_name=calendar.name if calendar is not None else None,
    )


# --- one chunk of incidents (pure: numbers in, rows out) ---------------------------------------


def _zipf(rng: np.random.Generator, n: int, size: int, s: float) -> np.ndarray:
    weights = np.arange(1, n + 1, dtype=np.float64) ** -s
    return rng.choice(n, size=size, p=weights / weights.sum())


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def chunk_rows(
    ctx: Context, start: int, stop: int, seed: int
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Incident, journal and clock rows for incidents ``start`` .. ``stop - 1`` (ids
    ``start + 1`` ..); the same numbers for the same seed and chunk, whatever ran before."""
    from itline.operation import sla

    rng = np.random.default_rng([seed, start])
    n = stop - start
    t0 = ctx.anchor
    statuses = list(STATUS_SHARE)
    status = rng.choice(len(statuses), size=n, p=list(STATUS_SHARE.values()))
    priority = rng.choice(4, size=n, p=PRIORITY_SHARE) + 1
    on_component = rng.random(n) < 0.7
    comp = _zipf(rng, len(ctx.components), n, 0.6)
    svc = _zipf(rng, max(len(ctx.services), 1), n, 0.8)
    function = _zipf(rng, len(ctx.functions), n, 0.9)
    member = rng.integers(0, MEMBERS, n)
    has_caller = rng.random(n) < 0.5
    caller = rng.integers(0, max(len(ctx.callers), 1), n)
    fault = rng.integers(0, len(FAULTS), n)
    u_age = rng.random(n)
    u_closed = rng.random(n)
    resp_share = np.exp(rng.normal(-1.2, 0.8, n))  # response as a share of its target
    res_share = np.exp(rng.normal(-0.6, 0.7, n))  # resolution as a share of its target
    incidents: list[tuple[Any, ...]] = []
    journal: list[tuple[Any, ...]] = []
    clocks: list[tuple[Any, ...]] = []
    ct = ctx.incident_ct
    for k in range(n):
        i = start + k
        st = statuses[status[k]]
        p = int(priority[k])
        impact, urgency = CELLS[p]
        fid, fname, fmembers = ctx.functions[function[k]]
        pid, pname = fmembers[member[k] % len(fmembers)] if fmembers else (None, "")
        if on_component[k] or not len(ctx.services):
            component_id, service_id = int(ctx.components[comp[k]]), None
            node_name = ctx.component_names[comp[k]]
        else:
            component_id, service_id = None, int(ctx.services[svc[k]])
            node_name = ctx.service_names[svc[k]]
        caller_id = int(ctx.callers[caller[k]]) if has_caller[k] and len(ctx.callers) else None
        customer_id = int(ctx.caller_customer[caller[k]]) if caller_id else 0
        agreement_id, agreement_name = ctx.agreement_of_customer.get(
            customer_id, ctx.default_agreement
        )
        terms = ctx.terms[agreement_id]
        calendar = terms.calendar
        response_target, resolution_target = terms.policy.targets[p]
        wall = 2.7 if calendar is not None else 1.0  # business minutes -> roughly wall minutes
        if st in OPEN:
            age = max(30.0, float(u_age[k]) * 1.3 * resolution_target * wall)
            created = t0 - timedelta(minutes=age)
        elif st == "resolved":
            created = t0 - timedelta(days=1 + 9 * float(u_age[k]))
        else:
            created = t0 - timedelta(days=10 + 720 * float(u_age[k]))
        created = created.replace(microsecond=0)
        reference = f"INC-{i + 1:06d}"
        title = f"{node_name}: {FAULTS[fault[k]]}"
        repr_ = f"{reference} {title}"

        def add(
            at: datetime,
            verb: str,
            changes: dict[str, Any],
            actor: str,
            *,
            _r: str = repr_,
            _i: int = i,
        ) -> None:
            journal.append((ct, str(_i + 1), _r, None, actor, at, verb, changes, ""))

        created_changes: dict[str, Any] = {
            "title": [None, title],
            "status": [None, "assigned"],
            ("component" if component_id else "service"): [None, node_name],
            "impact": [None, impact],
            "urgency": [None, urgency],
            "priority": [None, p],
            "agreement": [None, agreement_name],
            "assigned_function": [None, fname],
            "major": [None, False],
            "channel": [None, "api" if caller_id is None else "phone"],
        }
        if caller_id:
            created_changes["caller"] = [None, ctx.caller_names[caller[k]]]
            if customer_id:
                created_changes["customer"] = [None, ctx.customer_names[customer_id]]
        add(created, "created", created_changes, "system")
        rows = [(created, "created", created_changes)]
        # the life so far
        responded = resolved = closed = None
        hold = ""
        assignee_id = None
        final = "assigned"
        if st != "assigned" or member[k] % 2 == 0:
            assigned_at = created + timedelta(minutes=min(10.0, 1 + 2 * float(resp_share[k])))
            assignee_id = pid
            ch = {"assignee": [None, pname]}
            add(assigned_at, "assigned", ch, fname)
            rows.append((assigned_at, "assigned", ch))
        if st != "assigned":
            minutes = max(1.0, float(resp_share[k]) * response_target)
            # Everything stays before the anchor: a closed incident was closed at least a
            # minute before it, after at least a day resolved.
            latest = t0 - (timedelta(days=2) if st == "closed" else timedelta(minutes=10))
            responded = _add(calendar, created, minutes)
            responded = max(min(responded, latest), created + timedelta(minutes=11))
            ch = {"status": ["assigned", "in_progress"], "responded_at": [None, _iso(responded)]}
            add(responded, "state_changed", ch, pname)
            rows.append((responded, "state_changed", ch))
            final = "in_progress"
        if st == "on_hold":
            assert responded is not None
            at = responded + (t0 - responded) * 0.5
            ch = {"status": ["in_progress", "on_hold"], "hold_reason": ["", "waiting_for_customer"]}
            add(at, "state_changed", ch, pname)
            rows.append((at, "state_changed", ch))
            final, hold = "on_hold", "waiting_for_customer"
        if st in ("resolved", "closed"):
            assert responded is not None
            minutes = max(2.0, float(res_share[k]) * resolution_target)
            latest = t0 - (timedelta(days=1) if st == "closed" else timedelta(minutes=5))
            resolved = _add(calendar, created, minutes)
            resolved = max(min(resolved, latest), responded + timedelta(minutes=1))
            ch = {
                "status": ["in_progress", "resolved"],
                "resolution": ["", "Fixed."],
                "resolution_category": ["", "fixed"],
                "resolved_at": [None, _iso(resolved)],
            }
            add(resolved, "state_changed", ch, pname)
            rows.append((resolved, "state_changed", ch))
            final = "resolved"
        if st == "closed":
            assert resolved is not None
            closed = min(
                resolved + timedelta(days=1 + 4 * float(u_closed[k])), t0 - timedelta(minutes=1)
            )
            ch = {"status": ["resolved", "closed"], "closed_at": [None, _iso(closed)]}
            add(closed, "state_changed", ch, "system")
            rows.append((closed, "state_changed", ch))
            final = "closed"
        last = rows[-1][0]
        incidents.append(
            (
                i + 1,
                created,
                last,
                None,
                None,
                reference,
                title,
                "",
                final,
                hold,
                service_id,
                component_id,
                impact,
                urgency,
                p,
                caller_id,
                customer_id or None,
                agreement_id,
                fid,
                assignee_id,
                False,
                "",
                "Fixed." if final in ("resolved", "closed") else "",
                "fixed" if final in ("resolved", "closed") else "",
                None,
                None,
                None,
                "api" if caller_id is None else "phone",
                responded,
                resolved,
                closed,
                len(rows),
            )
        )
        # the clocks: exactly what sla.recompute derives from these journal rows
        start_at, initial, changes = sla.journal_inputs(
            rows,
            created_at=created,
            current={
                "status": final,
                "hold_reason": hold,
                "priority": p,
                "responded_at": responded,
            },
        )
        computed = sla.compute(
            start_at, initial, changes, policy=terms.policy, calendar=calendar, now=t0
        )
        for kind in sla.KINDS:
            clock = computed.get(kind)
            if clock is None:
                continue
            # Earlier scans have notified what was due before the anchor (the scan's own
            # test: warn_at <= now, due_at < now); stopped clocks record their outcome.
            warned = breached = None
            if clock.state == sla.STOPPED:
                warned = clock.warn_at if clock.warned else None
                breached = clock.due_at if clock.breached else None
            else:
                if clock.warn_at is not None and clock.warn_at <= t0:
                    warned = clock.warn_at
                if clock.due_at is not None and clock.due_at < t0:
                    breached = clock.due_at
            clocks.append(
                (
                    i + 1,
                    kind,
                    agreement_id,
                    clock.target_minutes,
                    clock.warning_percent,
                    clock.state,
                    clock.started_at,
                    clock.elapsed_minutes,
                    t0,
                    clock.warn_at,
                    clock.due_at,
                    clock.stopped_at,
                    warned,
                    breached,
                )
            )
    return incidents, journal, clocks


def _add(calendar: Any, start: datetime, minutes: float) -> datetime:
    if calendar is None:
        return start + timedelta(minutes=minutes)
    return calendar.add_minutes(start, minutes)


# --- writing ------------------------------------------------------------------------------

INCIDENT_COLUMNS = [
    "id", "created_at", "updated_at", "created_by_id", "updated_by_id", "reference", "title",
    "description", "status", "hold_reason", "service_id", "component_id", "impact", "urgency",
    "priority", "caller_id", "customer_id", "agreement_id", "assigned_function_id",
    "assignee_id", "major", "workaround", "resolution", "resolution_category", "problem_id",
    "known_error_id", "merged_into_id", "channel", "responded_at", "resolved_at", "closed_at",
    "version",
]  # fmt: skip
JOURNAL_COLUMNS = [
    "content_type_id", "object_id", "object_repr", "actor_id", "actor_label", "at", "verb",
    "changes", "message",
]  # fmt: skip
CLOCK_COLUMNS = [
    "incident_id", "kind", "agreement_id", "target_minutes", "warning_percent", "state",
    "started_at", "elapsed_minutes", "computed_at", "warn_at", "due_at", "stopped_at",
    "warned_at", "breached_at",
]  # fmt: skip


def _sqlite_datetime(value: datetime | None) -> str | None:
    """How Django stores an aware datetime in SQLite: naive UTC text."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


def write_rows(
    connection: Any, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Append rows to ``table``: COPY on PostgreSQL, executemany on SQLite. Columns named
    ``at``/``*_at`` hold aware datetimes, ``changes`` a dict (JSON)."""
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    name = connection.ops.quote_name(table)
    stamps = [k for k, c in enumerate(columns) if c == "at" or c.endswith("_at")]
    documents = [k for k, c in enumerate(columns) if c == "changes"]
    postgres = connection.vendor == "postgresql"
    prepared: Iterable[Any] = rows
    if documents or (stamps and not postgres):
        prepared = (_prepare(row, stamps if not postgres else [], documents) for row in rows)
    with connection.cursor() as cursor:
        if postgres:
            with cursor.cursor.copy(f"COPY {name} ({quoted}) FROM STDIN") as copy:
                for row in prepared:
                    copy.write_row(row)
        else:
            sql = f"INSERT INTO {name} ({quoted}) VALUES ({', '.join(['%s'] * len(columns))})"  # noqa: S608
            cursor.executemany(sql, list(prepared))


def _prepare(row: tuple[Any, ...], stamps: list[int], documents: list[int]) -> list[Any]:
    values = list(row)
    for k in stamps:
        values[k] = _sqlite_datetime(values[k])
    for k in documents:
        values[k] = json.dumps(values[k])
    return values


def incidents_done(using: str) -> int:
    from itline.operation.models import Incident

    last = Incident.objects.using(using).order_by("-pk").values_list("pk", flat=True).first()
    return int(last or 0)


def write_incidents(
    using: str, total: int, *, seed: int, chunk: int = CHUNK, progress: bool = True
) -> dict[str, float]:
    """Write incidents up to ``total`` (continuing after the last complete chunk)."""
    from django.db import connections, transaction
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from itline.core.models import JournalEntry, Sequence
    from itline.operation.models import Incident, SlaClock

    connection = connections[using]
    done = incidents_done(using)
    if done % chunk and done < total:
        raise RuntimeError(
            f"{done:,} incidents exist, not a multiple of the chunk size {chunk:,}: "
            "the database was not made by this generator with this chunk size"
        )
    if done >= total:
        return {"generated": 0}
    ctx = load_context(using)
    timings = {"rows_s": 0.0, "write_s": 0.0}
    with Progress(
        TextColumn("{task.description:<26}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        disable=not progress,
    ) as bar:
        task = bar.add_task(f"{connection.alias}: incidents", total=total, completed=done)
        for start in range(done, total, chunk):
            stop = min(start + chunk, total)
            started = time.perf_counter()
            incidents, journal, clocks = chunk_rows(ctx, start, stop, seed)
            built = time.perf_counter()
            with transaction.atomic(using=using):
                write_rows(connection, Incident._meta.db_table, INCIDENT_COLUMNS, incidents)
                write_rows(connection, JournalEntry._meta.db_table, JOURNAL_COLUMNS, journal)
                write_rows(connection, SlaClock._meta.db_table, CLOCK_COLUMNS, clocks)
                Sequence.objects.using(using).update_or_create(
                    prefix="INC", defaults={"value": stop}
                )
            timings["rows_s"] += built - started
            timings["write_s"] += time.perf_counter() - built
            bar.update(task, completed=stop)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            table = Incident._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT MAX(id) FROM {table}))",  # noqa: S608
                [table],
            )
    timings["generated"] = total - done
    return timings


def prepare(
    using: str = "default",
    *,
    incidents: int = DEFAULT_INCIDENTS,
    seed: int = 42,
    scale: float = 1.0,
    progress: bool = True,
) -> dict[str, Any]:
    """Structure, organisation and incidents in database ``using`` (migrated): whatever is
    missing is generated; returns what was done and how long it took."""
    from benchmarks.generate_structure import generate, write_structure
    from itline.cmdb.models import Node

    report: dict[str, Any] = {}
    if not Node.objects.using(using).exists():
        started = time.perf_counter()
        write_structure(generate(seed, scale=scale), using=using, progress=progress)
        report["structure_s"] = time.perf_counter() - started
    ensure_organisation(using)
    anchor(using)
    started = time.perf_counter()
    report.update(write_incidents(using, incidents, seed=seed, progress=progress))
    report["incidents_s"] = time.perf_counter() - started
    return report


def counts(using: str) -> dict[str, int]:
    from itline.core.models import JournalEntry
    from itline.operation.models import Incident, SlaClock

    return {
        "incidents": Incident.objects.using(using).count(),
        "journal_rows": JournalEntry.objects.using(using).count(),
        "clocks": SlaClock.objects.using(using).count(),
        "open_clocks": SlaClock.objects.using(using)
        .filter(state__in=("running", "paused"))
        .count(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--incidents", type=int, default=DEFAULT_INCIDENTS)
    parser.add_argument(
        "--scale", type=float, default=None, help="structure scale (default: by incidents)"
    )
    args = parser.parse_args(argv)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, run_syncdb=True)
    scale = args.scale if args.scale is not None else structure_scale(args.incidents)
    report = prepare(incidents=args.incidents, seed=args.seed, scale=scale)
    print({k: round(v, 1) if isinstance(v, float) else v for k, v in report.items()})
    print(counts("default"))


def structure_scale(incidents: int) -> float:
    """The full structure for the full run; a proportionally smaller one for quick runs."""
    return (
        1.0
        if incidents >= DEFAULT_INCIDENTS
        else max(0.02, round(incidents / DEFAULT_INCIDENTS, 3))
    )


if __name__ == "__main__":
    main()
