"""The Transition demo: 90 days of change history and what is coming up.

Six standard change templates (deploy an application release, patch a Linux server, restart
an application, renew a TLS certificate, add a DNS record, scale a cloud resource), four of
them matched by pipeline deployments; approval policies for the change manager, the CAB and
the emergency CAB; a global month-end freeze (the last two days of every month, recurring)
and a one-off freeze on the Webshop ahead. The history: about 650 deployments to test,
staging and production of ten applications (most production deployments made a standard
change that closed itself, some belong to release changes, a few were unplanned), about 130
other changes of every type with realistic outcomes (most successful, some with issues, a few
failed or backed out), their approval rounds, reviews (completed for closed changes, drafted
from evidence for recent ones), six releases, and change-caused incidents linked to demo
incidents (confirmed and suggested). What is ahead is made through the change verbs: scheduled
changes in the next weeks (two of them colliding), one awaiting the CAB with a CAB meeting on
the agenda, one being implemented, one draft.

Like the Operation demo, the history is simulated in memory with a seeded generator and written
with ``bulk_create`` and back-dated journal rows. Needs the organisation, structure and
Operation demos first (without incidents there are no change-caused incidents)."""

from __future__ import annotations

import random
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from itline.core.models import JournalEntry, Sequence
from itline.transition.choices import (
    ApprovalPath,
    ApprovalRule,
    ApprovalStatus,
    ChangeOutcome,
    ChangeStatus,
    ChangeType,
    Decision,
    DeploymentStatus,
    LinkStatus,
    ReleaseStatus,
    ReviewStatus,
    RiskLevel,
)
from itline.transition.models import (
    Approval,
    ApprovalPolicy,
    ApprovalRequest,
    CabItem,
    CabMeeting,
    Change,
    ChangeIncidentLink,
    ChangeNode,
    ChangeReview,
    ChangeTemplate,
    Delegation,
    Deployment,
    FreezeWindow,
    Release,
)

SEED = 6
DAYS = 90
TZ = zoneinfo.ZoneInfo("Europe/Amsterdam")
PREFIXES = ["CHG", "CHT", "REL", "DEP", "FRZ", "CAB"]
MODELS: tuple[Any, ...] = (
    CabItem,
    CabMeeting,
    ChangeIncidentLink,
    ChangeReview,
    Deployment,
    Approval,
    ApprovalRequest,
    ChangeNode,
    Change,
    Release,
    ChangeTemplate,
    FreezeWindow,
    ApprovalPolicy,
    Delegation,
)

TEMPLATES: tuple[dict[str, Any], ...] = (
    {
        "name": "Deploy an application release",
        "types": ["application"],
        "minutes": 60,
        "match": {"environments": ["production"]},
        "function": "Application Management",
        "plan": "Pipeline deploys the tested build with a rolling update; smoke tests run.",
        "backout": "Pipeline redeploys the previous build.",
    },
    {
        "name": "Patch a Linux server",
        "types": ["virtual-machine"],
        "minutes": 90,
        "match": {"environments": ["production"]},
        "function": "Infrastructure Operations",
        "plan": "Drain, apply the monthly OS patches with the patch pipeline, reboot, undrain.",
        "backout": "Boot the previous kernel; restore the pre-patch snapshot if needed.",
    },
    {
        "name": "Restart an application",
        "types": ["application"],
        "minutes": 30,
        "match": {},
        "function": "Application Management",
        "plan": "Rolling restart of the application instances behind the load balancer.",
        "backout": "None needed; escalate to the application team if it does not come back.",
    },
    {
        "name": "Renew a TLS certificate",
        "types": ["network-device"],
        "minutes": 60,
        "match": {"environments": ["production"]},
        "function": "Network and Security",
        "plan": "Upload the renewed certificate, switch the virtual servers, verify the chain.",
        "backout": "Switch back to the old certificate (valid until its expiry).",
    },
    {
        "name": "Add a DNS record",
        "types": [],
        "nodes": ["util-vm-176", "util-vm-177"],
        "minutes": 30,
        "match": {},
        "function": "Infrastructure Operations",
        "plan": "Add the record in the zone, raise the serial, check resolution from both sites.",
        "backout": "Remove the record.",
    },
    {
        "name": "Scale a cloud resource",
        "types": ["cloud-resource"],
        "minutes": 30,
        "match": {"environments": ["production"]},
        "function": "Infrastructure Operations",
        "plan": "Change the size through the infrastructure pipeline; watch the metrics.",
        "backout": "Scale back through the pipeline.",
    },
)

NORMAL_TITLES = (
    ("database", "Upgrade {n} to the next minor version"),
    ("database", "Rotate the credentials of {n}"),
    ("database", "Add an index for month-end reports on {n}"),
    ("server", "Upgrade the hypervisor on {n}"),
    ("server", "Replace a failed DIMM in {n}"),
    ("virtual-machine", "Increase memory of {n}"),
    ("virtual-machine", "Migrate {n} to the new host cluster"),
    ("network-device", "Firmware update of {n}"),
    ("network-device", "Enable TLS 1.3 on {n}"),
    ("storage", "Replace a disk shelf on {n}"),
    ("application", "Migrate {n} to the new message queue"),
    ("application", "Change the batch schedule of {n}"),
)
EMERGENCY_TITLES = (
    ("server", "Emergency patch for a critical CVE on {n}"),
    ("application", "Hotfix for a memory leak in {n}"),
    ("database", "Fail over {n} to its standby"),
    ("network-device", "Block an attack on {n}"),
)
OUTCOMES = {
    ChangeType.STANDARD: ((0.95, "successful"), (0.98, "successful_with_issues"), (1.0, "failed")),
    ChangeType.NORMAL: (
        (0.82, "successful"),
        (0.92, "successful_with_issues"),
        (0.97, "failed"),
        (1.0, "backed_out"),
    ),
    ChangeType.EMERGENCY: (
        (0.70, "successful"),
        (0.85, "successful_with_issues"),
        (0.95, "failed"),
        (1.0, "backed_out"),
    ),
}
LESSONS = (
    "",
    "Announce the window to the service desk a day earlier.",
    "The backout plan needs the snapshot step first.",
    "Monitoring missed the degraded state; add a synthetic check.",
    "Test with production-sized data before the window.",
)


def is_loaded() -> bool:
    return Change.objects.exists() or Deployment.objects.exists()


def reset() -> None:
    with transaction.atomic():
        cts = [
            ContentType.objects.get_for_model(m)
            for m in MODELS
            if m not in (CabItem, ChangeNode, Approval)
        ]
        JournalEntry.objects.filter(content_type__in=cts).delete()
        for model in MODELS:
            model.objects.all().delete()
        Sequence.objects.filter(prefix__in=PREFIXES).delete()


# --- the world ----------------------------------------------------------------------------


@dataclass
class Who:
    user: Any
    person: Any
    label: str


@dataclass
class Demo:
    now: datetime
    rng: random.Random
    people: dict[str, Any]
    functions: dict[str, Any]
    by_type: dict[str, list[Any]]
    components: dict[str, Any]
    services: dict[str, Any]
    templates: dict[str, ChangeTemplate] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    nodes: dict[int, list[Any]] = field(default_factory=dict)  # id(change) -> nodes
    deployments: list[Deployment] = field(default_factory=list)
    releases: list[Release] = field(default_factory=list)
    rows: list[Any] = field(default_factory=list)
    rounds: list[tuple[Change, ApprovalRequest, list[Approval]]] = field(default_factory=list)
    reviews: list[ChangeReview] = field(default_factory=list)
    links: list[ChangeIncidentLink] = field(default_factory=list)

    @classmethod
    def load(cls, now: datetime) -> Demo:
        from itline.cmdb.models import Component, Service
        from itline.org.models import Function, Person

        people = {p.name: p for p in Person.objects.select_related("user")}
        if "Carla Castillo" not in people:
            raise RuntimeError("the organisation demo (itline.org.demo) must be loaded first")
        components = {
            c.name: c for c in Component.objects.select_related("component_type").order_by("name")
        }
        if not components:
            raise RuntimeError("the structure demo (itline.cmdb.demo) must be loaded first")
        by_type: dict[str, list[Any]] = {}
        for c in components.values():
            by_type.setdefault(c.component_type.slug, []).append(c)
        return cls(
            now=now,
            rng=random.Random(SEED),  # noqa: S311 (demo data)
            people=people,
            functions={f.name: f for f in Function.objects.all()},
            by_type=by_type,
            components=components,
            services={s.name: s for s in Service.objects.all()},
        )

    def who(self, name: str) -> Who:
        person = self.people[name]
        user = getattr(person, "user", None)
        return Who(user, person, user.get_full_name() or user.username if user else name)

    def members(self, function: str) -> list[Any]:
        fn = self.functions.get(function)
        if fn is None:
            return []
        return [m.person for m in fn.memberships.select_related("person").order_by("person__name")]


def _in_freeze(moment: datetime) -> bool:
    """The month-end freeze: the last two days of the month (local time)."""
    local = moment.astimezone(TZ)
    next_month = (local.replace(day=28) + timedelta(days=4)).replace(day=1)
    return (next_month - local.replace(hour=0, minute=0, second=0, microsecond=0)).days <= 2


def _clear_of_freeze(moment: datetime) -> datetime:
    while _in_freeze(moment) or _in_freeze(moment + timedelta(hours=4)):
        moment -= timedelta(days=1)
    return moment


def _local(day: datetime, hour: float) -> datetime:
    local = day.astimezone(TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    return (local + timedelta(hours=hour)).astimezone(UTC)


def _pick(rng: random.Random, table: tuple[tuple[float, str], ...]) -> str:
    r = rng.random()
    return next(value for limit, value in table if r <= limit)


# --- step 1: templates, policies, freeze windows ------------------------------------------


def setup(demo: Demo) -> None:
    from itline.cmdb.models import ComponentType

    types = {t.slug: t for t in ComponentType.objects.all()}
    for spec in TEMPLATES:
        template = ChangeTemplate(
            name=spec["name"],
            description=spec["plan"],
            max_duration_minutes=spec["minutes"],
            implementation_plan=spec["plan"],
            backout_plan=spec["backout"],
            test_plan="Check the service's synthetic checks and dashboards.",
            readiness_items=["Monitoring is in place", "The service desk is informed"],
            function=demo.functions.get(spec["function"]),
            deployment_match=spec["match"],
            created_at=demo.now - timedelta(days=DAYS + 30),
        )
        template.save()
        template.component_types.set([types[s] for s in spec["types"] if s in types])
        template.nodes.set(
            [demo.components[n] for n in spec.get("nodes", []) if n in demo.components]
        )
        demo.templates[spec["name"]] = template
    carla = demo.people["Carla Castillo"]
    cab = demo.functions.get("Change Advisory Board")
    for path, rule, quorum, function, people in (
        (ApprovalPath.CHANGE_MANAGER, ApprovalRule.ANY, 1, None, [carla]),
        (ApprovalPath.CAB, ApprovalRule.QUORUM, 3, cab, []),
        (ApprovalPath.ECAB, ApprovalRule.ANY, 1, None, [carla, demo.people.get("Omar Osei")]),
    ):
        if ApprovalPolicy.objects.filter(path=path).exists():
            continue
        policy = ApprovalPolicy(path=path, rule=rule, quorum=quorum, function=function)
        policy.save()
        policy.people.set([p for p in people if p is not None])
    # The month-end freeze: from 00:00 on the second-to-last day of each month, two days.
    first = (demo.now - timedelta(days=DAYS + 40)).astimezone(TZ)
    month_end = (first.replace(day=28) + timedelta(days=4)).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    ) - timedelta(days=2)
    freeze = FreezeWindow(
        title="Month-end closing freeze",
        reason="Finance closes the books: no changes to any service except emergencies.",
        starts_at=month_end,
        ends_at=month_end + timedelta(days=2),
        rrule="FREQ=MONTHLY;BYMONTHDAY=-2",
        time_zone="Europe/Amsterdam",
    )
    freeze.full_clean()
    freeze.save()
    shop = demo.services.get("Webshop")
    if shop is not None:
        start = (
            (demo.now + timedelta(days=25))
            .astimezone(TZ)
            .replace(hour=0, minute=0, second=0, microsecond=0)
        )
        campaign = FreezeWindow(
            title="Webshop winter campaign",
            reason="Peak sales: only emergency changes to the Webshop and what it runs on.",
            starts_at=start,
            ends_at=start + timedelta(days=4),
        )
        campaign.full_clean()
        campaign.save()
        campaign.services.set([shop])


# --- step 2: the history -------------------------------------------------------------------


def _row(
    demo: Demo, obj: Any, at: datetime, who: Who | None, verb: str, changes: Any, message: str = ""
) -> None:
    from itline.operation.demo.history import Row
    from itline.operation.demo.world import SYSTEM, Actor

    actor = SYSTEM if who is None else Actor(who.user, who.label)
    demo.rows.append(Row(obj, at, actor, verb, changes, message))


def _change(
    demo: Demo,
    *,
    title: str,
    kind: str,
    nodes: list[Any],
    created: datetime,
    start: datetime,
    minutes: int,
    requester: Who,
    template: ChangeTemplate | None = None,
    outcome: str | None = None,
    release: Release | None = None,
    reason: str = "",
) -> Change:
    """One change's whole life up to now, with its journal and approval round."""
    rng = demo.rng
    end = start + timedelta(minutes=minutes)
    if kind == ChangeType.STANDARD and reason:
        submitted = created  # made by a pipeline deployment: created, approved and started at once
        score = rng.randint(4, 20)
    elif kind == ChangeType.STANDARD:
        submitted = created + timedelta(minutes=rng.randint(1, 20))
        score = rng.randint(4, 20)
    elif kind == ChangeType.EMERGENCY:
        submitted = created + timedelta(minutes=rng.randint(2, 10))
        score = rng.randint(45, 90)
    else:
        submitted = created + timedelta(hours=rng.uniform(1, 72))
        score = rng.randint(15, 85)
    level = RiskLevel.LOW if score < 35 else RiskLevel.MEDIUM if score < 65 else RiskLevel.HIGH
    paths: dict[str, str] = {
        ChangeType.STANDARD: ApprovalPath.NONE,
        ChangeType.EMERGENCY: ApprovalPath.ECAB,
    }
    path = paths.get(
        kind, ApprovalPath.CAB if level == RiskLevel.HIGH else ApprovalPath.CHANGE_MANAGER
    )
    owner = requester
    change = Change(
        title=title[:200],
        description=f"{title}.",
        change_type=kind,
        template=template,
        reason=reason,
        implementation_plan=template.implementation_plan
        if template
        else "Follow the runbook; verify with the service owner.",
        backout_plan=template.backout_plan
        if template
        else "Restore the snapshot taken before the change.",
        test_plan="Synthetic checks green; no new errors in the logs for an hour.",
        planned_start=start,
        planned_end=end,
        requester=requester.person,
        owner=owner.person,
        function=template.function if template else (nodes[0].owner_function if nodes else None),
        release=release,
        readiness=[
            {
                "key": "monitoring",
                "text": "Monitoring is in place",
                "done": True,
                "by": requester.label,
                "at": submitted.isoformat(),
            },
            {
                "key": "service_desk",
                "text": "The service desk is informed",
                "done": True,
                "by": requester.label,
                "at": submitted.isoformat(),
            },
        ],
        risk_score=score,
        risk_level=level,
        risk_factors=[
            {
                "key": "breadth",
                "label": "Breadth",
                "weight": 25,
                "value": round(score / 100, 2),
                "points": score // 2,
                "why": "Services reached through the structure.",
            },
            {
                "key": "history",
                "label": "Past failures",
                "weight": 15,
                "value": 0.1,
                "points": score - score // 2,
                "why": "Failure rate of changes on the same components.",
            },
        ],
        approval_path=path,
        created_at=created,
        updated_at=created,
        created_by=requester.user,
        updated_by=requester.user,
    )
    demo.changes.append(change)
    demo.nodes[id(change)] = nodes
    carla = demo.who("Carla Castillo")
    _row(
        demo,
        change,
        created,
        requester,
        JournalEntry.Verb.CREATED,
        {
            "title": [None, change.title],
            "change_type": [None, kind],
            "status": [None, "draft"],
            "nodes": [None, sorted(n.name for n in nodes)],
            **({"template": [None, template.name]} if template else {}),
        },
    )

    def move(at: datetime, status: str, who: Who | None, message: str = "", **values: Any) -> bool:
        if at > demo.now:
            return False
        before = change.status
        change.status = status
        for k, v in values.items():
            setattr(change, k, v)
        changes: dict[str, list[Any]] = {"status": [before, status]}
        changes.update(
            {k: [None, v.isoformat() if isinstance(v, datetime) else v] for k, v in values.items()}
        )
        _row(demo, change, at, who, JournalEntry.Verb.STATE_CHANGED, changes, message)
        change.updated_at = max(change.updated_at, at)
        change.version += 1
        return True

    if not move(submitted, ChangeStatus.SUBMITTED, requester, submitted_at=submitted):
        return change
    move(
        submitted,
        ChangeStatus.ASSESSED,
        requester,
        f"Risk {level} ({score}/100); approval: {ApprovalPath(path).label}; 0 collision(s).",
    )
    cancelled = kind == ChangeType.NORMAL and rng.random() < 0.04
    rejected = kind == ChangeType.NORMAL and not cancelled and rng.random() < 0.03
    if kind == ChangeType.STANDARD:
        move(
            submitted,
            ChangeStatus.APPROVED,
            requester,
            f"Pre-approved by the standard change template {template}.",
            approved_at=submitted,
        )
    elif kind == ChangeType.NORMAL:
        asked = submitted + timedelta(minutes=5)
        if not move(
            asked,
            ChangeStatus.AWAITING_APPROVAL,
            requester,
            f"Approval requested from {ApprovalPath(path).label}.",
        ):
            return change
        decided = min(start - timedelta(hours=2), asked + timedelta(hours=rng.uniform(2, 60)))
        decided = max(decided, asked + timedelta(minutes=30))
        if decided > demo.now:
            return change
        _round(demo, change, path, asked, decided, reject=rejected)
        if rejected:
            move(decided, ChangeStatus.REJECTED, carla, "Rejected: the backout plan is not tested.")
            return change
        move(decided, ChangeStatus.APPROVED, carla, "Approved.", approved_at=decided)
        if cancelled:
            move(
                decided + timedelta(hours=3),
                ChangeStatus.CANCELLED,
                requester,
                "Cancelled: the vendor withdrew the update.",
            )
            return change
        move(decided + timedelta(minutes=10), ChangeStatus.SCHEDULED, requester)
    actual_start = max(
        submitted, start + timedelta(minutes=rng.randint(0, 12) if not reason else 0)
    )
    if not move(actual_start, ChangeStatus.IMPLEMENTING, requester, actual_start=actual_start):
        return change
    actual_end = actual_start + timedelta(minutes=max(5, int(minutes * rng.uniform(0.5, 1.1))))
    outcome = outcome or _pick(rng, OUTCOMES[ChangeType(kind)])
    if not move(
        actual_end, ChangeStatus.IMPLEMENTED, requester, outcome=outcome, actual_end=actual_end
    ):
        return change
    if kind == ChangeType.EMERGENCY:
        asked = actual_end + timedelta(minutes=20)
        decided = asked + timedelta(hours=rng.uniform(2, 30))
        if decided <= demo.now:
            _round(demo, change, path, asked, decided, reject=False)
            change.approved_at = decided
            _row(
                demo,
                change,
                decided,
                carla,
                JournalEntry.Verb.UPDATED,
                {"approved_at": [None, decided.isoformat()]},
                "The emergency CAB approved it after the fact.",
            )
    age = demo.now - actual_end
    closes = kind == ChangeType.STANDARD or age > timedelta(days=rng.uniform(3, 10))
    review_at = actual_end + timedelta(hours=rng.uniform(2, 30))
    if kind != ChangeType.STANDARD and review_at <= demo.now:
        move(review_at, ChangeStatus.IN_REVIEW, owner)
    if closes:
        closed = (
            actual_end + timedelta(minutes=5)
            if kind == ChangeType.STANDARD
            else review_at + timedelta(hours=rng.uniform(1, 48))
        )
        if closed <= demo.now:
            move(
                closed,
                ChangeStatus.CLOSED,
                owner if kind != ChangeType.STANDARD else requester,
                closed_at=closed,
            )
    return change


def _round(
    demo: Demo, change: Change, path: str, asked: datetime, decided: datetime, *, reject: bool
) -> None:
    rng = demo.rng
    if path == ApprovalPath.CAB:
        board = [p for p in demo.members("Change Advisory Board") if p.pk != change.requester_id]
        approvers = board or [demo.people["Carla Castillo"]]
        rule, quorum = ApprovalRule.QUORUM, min(3, len(approvers))
    else:
        approvers = [demo.people["Carla Castillo"]]
        rule, quorum = ApprovalRule.ANY, 1
    status = ApprovalStatus.REJECTED if reject else ApprovalStatus.APPROVED
    request = ApprovalRequest(
        path=path,
        rule=rule,
        quorum=quorum,
        status=status,
        decided_at=decided,
        created_at=asked,
        updated_at=decided,
    )
    votes = []
    deciding = approvers[:quorum] if not reject else approvers[:1]
    for k, person in enumerate(approvers):
        decides = person in deciding
        at = decided - timedelta(minutes=10 * (len(deciding) - 1 - k)) if decides else None
        votes.append(
            Approval(
                approver=person,
                decision=(Decision.REJECTED if reject else Decision.APPROVED)
                if decides
                else Decision.PENDING,
                decided_by=person if decides else None,
                comment=rng.choice(["", "OK", "Fine, keep the service desk in the loop."])
                if decides and not reject
                else ("Backout plan not tested." if decides else ""),
                decided_at=at,
                created_at=asked,
                updated_at=at or asked,
            )
        )
    demo.rounds.append((change, request, votes))


def history(demo: Demo) -> None:
    rng = demo.rng
    now = demo.now
    day0 = now - timedelta(days=DAYS)
    omar = demo.who("Omar Osei")
    engineers = [
        demo.who(n)
        for n in ("Tom Tanaka", "Greta Gruber", "Hugo Hansen", "Femi Falade")
        if n in demo.people
    ]
    devs = [demo.who(n) for n in ("Omar Osei", "Tom Tanaka") if n in demo.people]
    apps = sorted(demo.by_type.get("application", []), key=lambda c: c.name)[:10]
    deploy_template = demo.templates["Deploy an application release"]
    it_services = [s for s in demo.services.values() if s.service_kind == "it_service"]

    # Releases: a few named versions of IT services, each one normal change with its deployments.
    release_specs = []
    for k, service in enumerate(sorted(it_services, key=lambda s: s.name)[:6]):
        when = day0 + timedelta(days=8 + k * 13, hours=rng.randint(0, 8))
        release = Release(
            name=service.name,
            version=f"{when.year}.{when.month:02d}.{k + 1}",
            notes=f"{service.name}: new features and fixes; see the changes for the details.",
            status=ReleaseStatus.RELEASED
            if when < now - timedelta(days=2)
            else ReleaseStatus.IN_PROGRESS,
            planned_at=when,
            released_at=when + timedelta(hours=20) if when < now - timedelta(days=2) else None,
            created_at=when - timedelta(days=10),
            updated_at=when,
        )
        demo.releases.append(release)
        release_specs.append((release, apps[k % len(apps)], when))

    # Pipelines: each application moves builds through test and staging to production.
    for app in apps:
        t = day0 + timedelta(hours=rng.uniform(0, 72))
        minor = rng.randint(1, 20)
        while t < now:
            minor += 1
            version = f"{rng.randint(1, 5)}.{minor}.{rng.randint(0, 9)}"
            commit = f"{rng.getrandbits(40):010x}"
            url = f"https://ci.northwind.example/{app.name}/pipelines/{rng.randint(10_000, 99_999)}"
            at = t
            ok = True
            for environment in ("test", "staging", "production"):
                if at > now or not ok:
                    break
                if environment == "production":
                    at = _clear_of_freeze(_local(at, rng.uniform(9, 16)))
                    if at < t:
                        break
                failed = rng.random() < (0.06 if environment != "production" else 0.04)
                status = DeploymentStatus.FAILED if failed else DeploymentStatus.SUCCEEDED
                if environment == "production" and not failed and rng.random() < 0.03:
                    status = DeploymentStatus.ROLLED_BACK
                _deployment(
                    demo, app, version, environment, at, status, commit, url, deploy_template, devs
                )
                ok = status == DeploymentStatus.SUCCEEDED
                at = at + timedelta(hours=rng.uniform(1, 30))
            t = t + timedelta(days=rng.uniform(2, 6))

    # Release changes (normal) with their production deployments.
    for release, app, when in release_specs:
        start = _clear_of_freeze(_local(when, 19))
        change = _change(
            demo,
            title=f"Release {release.name} {release.version}",
            kind=ChangeType.NORMAL,
            nodes=[demo.services[release.name], app],
            created=start - timedelta(days=6),
            start=start,
            minutes=120,
            requester=omar,
            release=release,
        )
        if change.actual_start is not None:
            dep = Deployment(
                node=app,
                version=release.version,
                environment="production",
                pipeline_url=f"https://ci.northwind.example/{app.name}/pipelines/{rng.randint(10_000, 99_999)}",
                status=DeploymentStatus.SUCCEEDED
                if change.outcome not in ("failed", "backed_out")
                else DeploymentStatus.ROLLED_BACK,
                started_at=change.actual_start + timedelta(minutes=5),
                finished_at=change.actual_start + timedelta(minutes=25),
                commit=f"{rng.getrandbits(40):010x}",
                release=release,
                created_at=change.actual_start + timedelta(minutes=5),
            )
            dep._demo_change = change  # type: ignore[attr-defined]
            demo.deployments.append(dep)

    # Other changes of every type, on working days.
    standard = [
        demo.templates[n]
        for n in (
            "Patch a Linux server",
            "Restart an application",
            "Renew a TLS certificate",
            "Add a DNS record",
            "Scale a cloud resource",
        )
    ]
    day = day0
    while day < now:
        if day.astimezone(TZ).weekday() < 5:
            for _ in range(rng.choice((0, 1, 1, 2, 2, 3))):
                r = rng.random()
                who = rng.choice(engineers)
                if r < 0.45:
                    template = rng.choice(standard)
                    candidates = (
                        list(template.nodes.all())
                        if template.name == "Add a DNS record"
                        else [
                            c
                            for t in template.component_types.all()
                            for c in demo.by_type.get(t.slug, [])
                        ]
                    )
                    if not candidates:
                        continue
                    node = rng.choice(candidates)
                    start = _clear_of_freeze(_local(day, rng.uniform(9, 16)))
                    _change(
                        demo,
                        title=f"{template.name}: {node.name}",
                        kind=ChangeType.STANDARD,
                        nodes=[node],
                        created=start - timedelta(minutes=rng.randint(20, 600)),
                        start=start,
                        minutes=rng.randint(15, template.max_duration_minutes),
                        requester=who,
                        template=template,
                    )
                elif r < 0.9:
                    slug, title = rng.choice(NORMAL_TITLES)
                    if not demo.by_type.get(slug):
                        continue
                    node = rng.choice(demo.by_type[slug])
                    start = _clear_of_freeze(_local(day, rng.uniform(18, 21)))
                    _change(
                        demo,
                        title=title.format(n=node.name),
                        kind=ChangeType.NORMAL,
                        nodes=[node],
                        created=start - timedelta(days=rng.uniform(3, 12)),
                        start=start,
                        minutes=rng.choice((60, 90, 120, 180, 240)),
                        requester=who,
                    )
                else:
                    slug, title = rng.choice(EMERGENCY_TITLES)
                    if not demo.by_type.get(slug):
                        continue
                    node = rng.choice(demo.by_type[slug])
                    created = _local(day, rng.uniform(7, 23))
                    _change(
                        demo,
                        title=title.format(n=node.name),
                        kind=ChangeType.EMERGENCY,
                        nodes=[node],
                        created=created,
                        start=created + timedelta(minutes=rng.randint(20, 90)),
                        minutes=rng.choice((30, 45, 60, 90)),
                        requester=who,
                    )
        day += timedelta(days=1)
    _caused_history(demo, engineers)


def _deployment(
    demo: Demo,
    app: Any,
    version: str,
    environment: str,
    at: datetime,
    status: str,
    commit: str,
    url: str,
    template: ChangeTemplate,
    devs: list[Who],
) -> None:
    rng = demo.rng
    finished = at + timedelta(minutes=rng.randint(3, 25))
    if finished > demo.now:
        status, finished = DeploymentStatus.STARTED, None  # type: ignore[assignment]
    dep = Deployment(
        node=app,
        version=version,
        environment=environment,
        pipeline_url=url,
        status=status,
        started_at=at,
        finished_at=finished,
        commit=commit,
        created_at=at,
    )
    demo.deployments.append(dep)
    if environment != "production":
        return
    if rng.random() < 0.05:
        dep._demo_unplanned = True  # type: ignore[attr-defined]
        return
    outcome = {"failed": "failed", "rolled_back": "backed_out"}.get(str(status), "successful")
    change = _change(
        demo,
        title=f"{template.name}: {app.name} {version} to production",
        kind=ChangeType.STANDARD,
        nodes=[app],
        created=at,
        start=at,
        minutes=template.max_duration_minutes,
        requester=rng.choice(devs),
        template=template,
        outcome=outcome,
        reason=f"Recorded automatically from a pipeline deployment of {version} to production.",
    )
    dep._demo_change = change  # type: ignore[attr-defined]


def _caused_history(demo: Demo, engineers: list[Who]) -> None:
    """Changes that caused some of the demo's incidents: three confirmed, two suggested."""
    from itline.operation.models import Incident

    rng = demo.rng
    incidents = list(
        Incident.objects.filter(
            component__isnull=False,
            merged_into__isnull=True,
            priority__lte=2,
            created_at__gte=demo.now - timedelta(days=80),
            created_at__lte=demo.now - timedelta(days=4),
        )
        .select_related("component")
        .order_by("created_at")
    )
    if not incidents:
        return
    chosen = [incidents[int(k * (len(incidents) - 1) / 4)] for k in range(5)]
    for k, incident in enumerate(dict.fromkeys(chosen)):
        component = incident.component
        assert component is not None  # chosen by component__isnull=False
        start = incident.created_at - timedelta(hours=rng.uniform(2, 8))
        change = _change(
            demo,
            title=f"Configuration update on {component.name}",
            kind=ChangeType.NORMAL,
            nodes=[component],
            created=start - timedelta(days=5),
            start=start,
            minutes=60,
            requester=rng.choice(engineers),
            outcome="successful_with_issues" if k % 2 else "failed",
        )
        if change.actual_end is None or change.actual_end > incident.created_at:
            continue
        confirmed = k < 3
        gap = incident.created_at - change.actual_end
        link = ChangeIncidentLink(
            change=change,
            incident=incident,
            status=LinkStatus.CONFIRMED if confirmed else LinkStatus.SUGGESTED,
            reason=f"{incident.reference} was opened on {component.name} "
            f"{int(gap.total_seconds() // 3600)} h after the change ended, which the change touched.",
            decided_by=demo.people["Carla Castillo"] if confirmed else None,
            created_at=incident.created_at + timedelta(minutes=15),
            updated_at=incident.created_at + timedelta(hours=6 if confirmed else 0, minutes=15),
        )
        demo.links.append(link)


# --- writing --------------------------------------------------------------------------------


def write(demo: Demo) -> None:
    from itline.operation.demo.history import _insert_journal, _restore_updated_at

    now = demo.now
    for prefix, records in (
        ("CHG", demo.changes),
        ("DEP", demo.deployments),
        ("REL", demo.releases),
    ):
        records.sort(key=lambda r: r.created_at)
        start = Sequence.objects.filter(prefix=prefix).values_list("value", flat=True).first() or 0
        for k, record in enumerate(records, start + 1):
            record.reference = f"{prefix}-{k:06d}"
        Sequence.objects.update_or_create(prefix=prefix, defaults={"value": start + len(records)})
    Release.objects.bulk_create(demo.releases)
    Change.objects.bulk_create(demo.changes, batch_size=500)
    Through = Change.nodes.through
    Through.objects.bulk_create(
        [Through(change_id=c.pk, node_id=n.pk) for c in demo.changes for n in demo.nodes[id(c)]],
        batch_size=1000,
    )
    on_calendar = {
        ChangeStatus.SUBMITTED,
        ChangeStatus.ASSESSED,
        ChangeStatus.AWAITING_APPROVAL,
        ChangeStatus.APPROVED,
        ChangeStatus.SCHEDULED,
        ChangeStatus.IMPLEMENTING,
        ChangeStatus.IMPLEMENTED,
        ChangeStatus.IN_REVIEW,
        ChangeStatus.CLOSED,
    }
    ChangeNode.objects.bulk_create(
        [
            ChangeNode(change=c, node_id=n.pk, starts_at=c.planned_start, ends_at=c.planned_end)
            for c in demo.changes
            if c.status in on_calendar and c.planned_start and c.planned_end
            for n in demo.nodes[id(c)]
        ],
        batch_size=1000,
    )
    dep_rows = []
    for dep in demo.deployments:
        change = getattr(dep, "_demo_change", None)
        if change is not None and change.actual_start is not None:
            dep.change = change
            dep.release = dep.release or change.release
        if dep.change is not None:
            message = (
                f"standard change {dep.change.reference} from template {dep.change.template}"
                if dep.change.change_type == ChangeType.STANDARD
                else f"covered by {dep.change.reference}"
            )
        elif getattr(dep, "_demo_unplanned", False):
            message = "unplanned: no change covers this production deployment"
        else:
            message = ""
        dep_rows.append((dep, message))
    Deployment.objects.bulk_create(demo.deployments, batch_size=500)
    for dep, message in dep_rows:
        _row(
            demo,
            dep,
            dep.created_at,
            None,
            JournalEntry.Verb.CREATED,
            {
                "version": [None, dep.version],
                "environment": [None, dep.environment],
                "status": [None, dep.status],
            },
            message,
        )
    requests = []
    votes = []
    for change, request, _ in demo.rounds:
        request.change = change
        requests.append(request)
    ApprovalRequest.objects.bulk_create(requests, batch_size=500)
    for _, request, change_votes in demo.rounds:
        for vote in change_votes:
            vote.request = request
            votes.append(vote)
    Approval.objects.bulk_create(votes, batch_size=1000)
    ChangeIncidentLink.objects.bulk_create(demo.links)
    carla = demo.who("Carla Castillo")
    for link in demo.links:
        _row(
            demo,
            link.incident,
            link.updated_at,
            carla if link.status == LinkStatus.CONFIRMED else None,
            JournalEntry.Verb.UPDATED,
            {},
            f"{'confirmed' if link.status == LinkStatus.CONFIRMED else 'suggested'} as caused by {link.change.reference}",
        )
    # Reviews: completed for closed changes; recent ones are drafted from evidence below.
    deployments_of: dict[int, list[Deployment]] = {}
    for dep in demo.deployments:
        if dep.change_id is not None:
            deployments_of.setdefault(dep.change_id, []).append(dep)
    for change in demo.changes:
        if change.status != ChangeStatus.CLOSED:
            continue
        deps = deployments_of.get(change.pk, [])
        summary = (
            f"{change.reference} ({change.title}) was implemented with outcome "
            f"{ChangeOutcome(change.outcome).label.lower()}."
            + (f" {len(deps)} deployment(s)." if deps else "")
        )
        completed = change.closed_at or now
        demo.reviews.append(
            ChangeReview(
                change=change,
                status=ReviewStatus.COMPLETED,
                draft={
                    "generated_at": change.actual_end.isoformat() if change.actual_end else None,
                    "outcome": change.outcome,
                    "summary": summary,
                    "deployments": [
                        {
                            "reference": d.reference,
                            "version": d.version,
                            "environment": d.environment,
                            "status": d.status,
                        }
                        for d in deps
                    ],
                },
                summary=summary,
                lessons=demo.rng.choice(LESSONS)
                if change.outcome != "successful" or demo.rng.random() < 0.2
                else "",
                completed_at=completed,
                completed_by=change.owner,
                created_at=change.actual_end or completed,
                updated_at=completed,
            )
        )
    ChangeReview.objects.bulk_create(demo.reviews, batch_size=500)
    written: tuple[tuple[Any, list[Any]], ...] = (
        (Change, demo.changes),
        (Deployment, demo.deployments),
        (Release, demo.releases),
        (ChangeReview, demo.reviews),
        (ApprovalRequest, requests),
        (Approval, votes),
        (ChangeIncidentLink, demo.links),
    )
    for model, records in written:
        _restore_updated_at(model, records)
    from itline.operation.models import Incident

    content_types = {
        m: ContentType.objects.get_for_model(m)
        for m in (Change, Deployment, Release, ChangeReview, Incident)
    }
    from itline.core.journal import content_type_for

    content_types[Incident] = content_type_for(Incident)
    _insert_journal(demo.rows, content_types)


def recent_reviews(now: datetime | None = None) -> int:
    """Draft the reviews of implemented changes still waiting for one, from real evidence."""
    from itline.transition.services.reviews import draft_review

    waiting = Change.objects.filter(
        status__in=(ChangeStatus.IMPLEMENTED, ChangeStatus.IN_REVIEW), review__isnull=True
    )
    count = 0
    for change in waiting:
        draft_review(change, now=now)
        count += 1
    return count


# --- step 3: what is coming up, through the verbs ------------------------------------------


def upcoming(now: datetime | None = None) -> None:
    from itline.transition import services as verbs
    from itline.transition.choices import MeetingKind

    demo = Demo.load(now or timezone.now())
    rng = random.Random(SEED + 1)  # noqa: S311 (demo data)
    tom = demo.who("Tom Tanaka").user
    omar = demo.who("Omar Osei").user
    carla = demo.who("Carla Castillo").user

    def at(days: int, hour: float) -> datetime:
        moment = _local(demo.now + timedelta(days=days), hour)
        while _in_freeze(moment) or moment.astimezone(TZ).weekday() >= 5:
            moment += timedelta(days=1)
        return moment

    def normal(title: str, nodes: list[Any], start: datetime, hours: float, by: Any) -> Change:
        change = verbs.create_change(
            by=by,
            title=title,
            change_type=ChangeType.NORMAL,
            nodes=nodes,
            planned_start=start,
            planned_end=start + timedelta(hours=hours),
            description=f"{title}.",
            reason="Lifecycle: the current version leaves vendor support.",
            implementation_plan="Follow the runbook; verify with the service owner.",
            backout_plan="Restore the snapshot taken before the change.",
            test_plan="Synthetic checks green; no new errors in the logs for an hour.",
        )
        for entry in list(change.readiness):
            change = verbs.tick_readiness(change, by=by, key=entry["key"], done=True)
        return verbs.submit_change(change, by=by)

    def approve(change: Change) -> Change:
        change.refresh_from_db()
        if change.status == ChangeStatus.ASSESSED:
            verbs.request_approval(change, by=None)
            change.refresh_from_db()
        if change.status == ChangeStatus.AWAITING_APPROVAL:
            verbs.decide_approval(change, by=carla, decision="approved", comment="OK")
            change.refresh_from_db()
        return change

    dbs = demo.by_type.get("database", [])
    lbs = [
        c for c in demo.by_type.get("network-device", []) if c.name.startswith("lb")
    ] or demo.by_type.get("network-device", [])
    hosts = demo.by_type.get("server", [])
    vms = demo.by_type.get("virtual-machine", [])
    # Two scheduled changes whose windows overlap on related items: the second collides.
    first = approve(
        normal(f"Upgrade the hypervisor on {hosts[0].name}", [hosts[0]], at(6, 19), 3, tom)
    )
    verbs.schedule_change(first, by=tom)
    guests = [v for v in vms if v.name.startswith("db-vm")][:1] or vms[:1]
    second = approve(normal(f"Increase memory of {guests[0].name}", guests, at(6, 20), 2, tom))
    if second.status == ChangeStatus.APPROVED:
        verbs.schedule_change(second, by=tom)
    # A high-risk change awaiting the CAB, on the next CAB meeting's agenda.
    pg = dbs[0] if dbs else hosts[1]
    cab_change = normal(f"Upgrade {pg.name} to PostgreSQL 17", [pg], at(9, 19), 4, omar)
    cab_change.refresh_from_db()
    if cab_change.effective_risk != RiskLevel.HIGH:
        verbs.override_risk(
            cab_change,
            by=carla,
            level=RiskLevel.HIGH,
            reason="Major version upgrade of a database many services use.",
        )
        cab_change.refresh_from_db()
    if cab_change.status == ChangeStatus.ASSESSED:
        verbs.request_approval(cab_change, by=None)
    verbs.create_meeting(by=carla, starts_at=at(3, 14), kind=MeetingKind.CAB, title="Weekly CAB")
    # A certificate renewal (standard, pre-approved) and more scheduled work ahead.
    cert = ChangeTemplate.objects.get(name="Renew a TLS certificate")
    if lbs:
        standard = verbs.create_change(
            by=tom,
            title=f"Renew a TLS certificate: {lbs[0].name}",
            change_type=ChangeType.STANDARD,
            template=cert,
            nodes=[lbs[0]],
            planned_start=at(2, 10),
            planned_end=at(2, 10) + timedelta(minutes=45),
        )
        for entry in list(standard.readiness):
            standard = verbs.tick_readiness(standard, by=tom, key=entry["key"], done=True)
        standard = verbs.submit_change(standard, by=tom)
        verbs.schedule_change(standard, by=tom)
    for days, title_node in (
        (11, vms[5] if len(vms) > 5 else None),
        (15, dbs[3] if len(dbs) > 3 else None),
    ):
        if title_node is None:
            continue
        change = approve(
            normal(
                f"Migrate {title_node.name} to the new host cluster",
                [title_node],
                at(days, 19),
                2,
                tom,
            )
        )
        if change.status == ChangeStatus.APPROVED:
            verbs.schedule_change(change, by=tom)
    # One being implemented right now, and a draft.
    running = approve(
        normal(
            f"Rotate the credentials of {dbs[1].name}" if len(dbs) > 1 else "Rotate credentials",
            [dbs[1] if len(dbs) > 1 else hosts[2]],
            demo.now + timedelta(minutes=1),
            2,
            tom,
        )
    )
    if running.status == ChangeStatus.APPROVED:
        verbs.start_implementation(running, by=tom)
    # One just implemented and waiting for its review, whatever the time of day the demo loads
    # (the simulated history leaves one there only when a change ended in the last hours).
    finished = approve(
        normal(
            f"Renew the TLS certificate of {hosts[1].name}",
            [hosts[1]],
            demo.now + timedelta(minutes=2),
            1,
            tom,
        )
    )
    if finished.status == ChangeStatus.APPROVED:
        verbs.start_implementation(finished, by=tom)
        verbs.complete_implementation(finished, by=tom, outcome=ChangeOutcome.SUCCESSFUL)
    verbs.create_change(
        by=tom,
        title=f"Replace a failed DIMM in {hosts[3].name}",
        change_type=ChangeType.NORMAL,
        nodes=[hosts[3]],
        planned_start=at(20, 19),
        planned_end=at(20, 21),
    )
    del rng


def steps() -> Iterator[tuple[str, Callable[[], Any]]]:
    holder: dict[str, Demo] = {}

    def prepare() -> None:
        holder["demo"] = Demo.load(timezone.now())
        setup(holder["demo"])

    def simulate() -> None:
        history(holder["demo"])

    def store() -> None:
        write(holder["demo"])
        recent_reviews()

    def suggest() -> None:
        from itline.transition.caused import scan

        scan()

    yield "change templates, approval policies and freeze windows", prepare
    yield "90 days of changes and deployments", simulate
    yield "change history written", store
    yield "upcoming changes and the CAB agenda", upcoming
    yield "change-caused incident suggestions", suggest


def load(now: datetime | None = None) -> Demo:
    """Everything, for tests: the history up to ``now`` and what is ahead of it."""
    with transaction.atomic():
        demo = Demo.load(now or timezone.now())
        setup(demo)
        history(demo)
        write(demo)
        recent_reviews(now)
        upcoming(now)
        from itline.transition.caused import scan

        scan(now)
    return demo


def print_summary(console: Any) -> None:
    from itline.transition.services.deployments import unplanned_q

    by_status: dict[str, int] = {}
    for status in Change.objects.values_list("status", flat=True):
        by_status[status] = by_status.get(status, 0) + 1
    console.print(
        f"Transition: {Change.objects.count():,} changes "
        f"({by_status.get('closed', 0)} closed, {by_status.get('scheduled', 0)} scheduled, "
        f"{by_status.get('awaiting_approval', 0)} awaiting approval), "
        f"{Deployment.objects.count():,} deployments "
        f"({Deployment.objects.filter(unplanned_q()).count()} unplanned), "
        f"{Release.objects.count()} releases, "
        f"{ChangeIncidentLink.objects.count()} change-caused incident links."
    )
