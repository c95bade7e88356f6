"""API of change enablement: changes (list, read, create, edit with the version read, and one
endpoint per verb), the standard change catalogue (templates), approvals (the approver
inbox, decisions), approval policies, delegations, CAB meetings with their minutes, and
freeze windows. Writes go through the verbs in ``itline.transition.services``.

Mounted after the gate and deployment routers, so ``/changes/gate`` and ``/changes/metrics``
are theirs and ``/changes/{ref}`` is ours.

No ``from __future__ import annotations``: ninja reads the annotations at registration."""

from datetime import datetime
from typing import Annotated, Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from ninja import Field, FilterLookup, FilterSchema, Router, Schema, Status

from itline.cmdb.models import ComponentType, Node, NodeKind
from itline.core import journal
from itline.core.api import ERRORS, page_of
from itline.core.crud import Crud, JournalOut, resolve_ref
from itline.core.errors import DomainError
from itline.core.pagination import keyset_page
from itline.core.services import require
from itline.operation.models import Incident, KnownError, Problem
from itline.org.models import Function, Person, person_of
from itline.transition import services
from itline.transition.choices import (
    CHANGE_TRANSITIONS,
    ApprovalPath,
    ApprovalRule,
    ApprovalStatus,
    ChangeOutcome,
    ChangeStatus,
    ChangeType,
    Decision,
    MeetingKind,
    RiskLevel,
)
from itline.transition.models import (
    Approval,
    ApprovalPolicy,
    ApprovalRequest,
    CabItem,
    CabMeeting,
    Change,
    ChangeTemplate,
    Delegation,
    FreezeWindow,
    Release,
)
from itline.transition.services import approvals as approval_verbs
from itline.transition.services import catalogue

router = Router()

CHANGES = ["Changes"]
TEMPLATES = ["Standard change catalogue"]
APPROVALS = ["Approvals"]
CAB = ["CAB meetings"]
FREEZES = ["Freeze windows"]
VIEW = "transition.view_change"


def _ref(obj: Any) -> str | None:
    return None if obj is None else str(obj.reference)


def _viewable(user: Any, perm: str, qs: Any) -> Any:
    if user is not None and not user.has_perm(perm):
        return qs.none()
    return qs


def _nodes(refs: list[str] | None, field: str = "nodes") -> list[Node] | None:
    """Nodes by reference, in order; an unknown reference is a 422 naming it."""
    if refs is None:
        return None
    found = {n.reference: n for n in Node.objects.filter(reference__in=set(refs))}
    missing = [r for r in refs if r not in found]
    if missing:
        raise ValidationError(
            {field: f"There is no service or component with reference {missing[0]!r}."}
        )
    return [found[r] for r in dict.fromkeys(refs)]


def _records(model: Any, refs: list[str] | None, field: str) -> list[Any] | None:
    if refs is None:
        return None
    found = {o.reference: o for o in model._default_manager.filter(reference__in=set(refs))}
    missing = [r for r in refs if r not in found]
    if missing:
        label = model._meta.verbose_name
        raise ValidationError({field: f"There is no {label} with reference {missing[0]!r}."})
    return [found[r] for r in dict.fromkeys(refs)]


class NodeOut(Schema):
    reference: str
    name: str
    kind: str


def _nodes_out(nodes: Any) -> list[dict[str, str]]:
    return [
        {"reference": n.reference, "name": n.name, "kind": n.kind}
        for n in sorted(nodes, key=lambda n: n.name)
    ]


# --- changes --------------------------------------------------------------------------------


class ReadinessItemOut(Schema):
    key: str
    text: str
    done: bool
    by: str = ""
    at: str = ""


class ChangeOut(Schema):
    reference: str
    title: str
    description: str
    change_type: ChangeType
    template: str | None
    status: ChangeStatus
    allowed_transitions: list[str]
    outcome: str
    reason: str
    nodes: list[NodeOut]
    implementation_plan: str
    backout_plan: str
    test_plan: str
    planned_start: datetime | None
    planned_end: datetime | None
    actual_start: datetime | None
    actual_end: datetime | None
    requester: str | None
    owner: str | None
    implementers: list[str]
    function: str | None
    release: str | None
    problems: list[str]
    known_errors: list[str]
    incidents: list[str]
    readiness: list[ReadinessItemOut]
    risk_score: int
    risk_level: RiskLevel
    risk_override: str
    risk_override_reason: str
    effective_risk: RiskLevel
    risk_factors: list[dict[str, Any]]
    collisions: list[dict[str, Any]]
    approval_path: ApprovalPath
    submitted_at: datetime | None
    approved_at: datetime | None
    closed_at: datetime | None
    version: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_allowed_transitions(obj: Change) -> list[str]:
        return sorted(str(s) for s in CHANGE_TRANSITIONS.get(obj.status, ()))

    @staticmethod
    def resolve_template(obj: Change) -> str | None:
        return _ref(obj.template)

    @staticmethod
    def resolve_nodes(obj: Change) -> list[dict[str, str]]:
        return _nodes_out(obj.nodes.all())

    @staticmethod
    def resolve_requester(obj: Change) -> str | None:
        return _ref(obj.requester)

    @staticmethod
    def resolve_owner(obj: Change) -> str | None:
        return _ref(obj.owner)

    @staticmethod
    def resolve_function(obj: Change) -> str | None:
        return _ref(obj.function)

    @staticmethod
    def resolve_release(obj: Change) -> str | None:
        return _ref(obj.release)

    @staticmethod
    def resolve_implementers(obj: Change) -> list[str]:
        return sorted(p.reference for p in obj.implementers.all())

    @staticmethod
    def resolve_problems(obj: Change) -> list[str]:
        return sorted(p.reference for p in obj.problems.all())

    @staticmethod
    def resolve_known_errors(obj: Change) -> list[str]:
        return sorted(k.reference for k in obj.known_errors.all())

    @staticmethod
    def resolve_incidents(obj: Change) -> list[str]:
        return sorted(i.reference for i in obj.incidents.all())


class ChangeIn(Schema):
    title: str = Field(..., min_length=1, max_length=200)
    change_type: ChangeType = ChangeType.NORMAL
    template: str | None = Field(None, description="Reference of the standard change template")
    nodes: list[str] = Field(
        [], description="References of the affected services and components", max_length=500
    )
    description: str = ""
    reason: str = ""
    implementation_plan: str = ""
    backout_plan: str = ""
    test_plan: str = ""
    planned_start: datetime | None = None
    planned_end: datetime | None = None
    requester: str | None = Field(None, description="Person reference; default: you")
    owner: str | None = None
    function: str | None = None
    release: str | None = None
    implementers: list[str] = []
    problems: list[str] = []
    known_errors: list[str] = []
    incidents: list[str] = []


class ChangePatch(Schema):
    version: int | None = Field(
        None, description="The version you read; a newer one on the server is a 409"
    )
    title: str | None = Field(None, min_length=1, max_length=200)
    change_type: ChangeType | None = None
    template: str | None = None
    nodes: list[str] | None = Field(None, max_length=500)
    description: str | None = None
    reason: str | None = None
    implementation_plan: str | None = None
    backout_plan: str | None = None
    test_plan: str | None = None
    planned_start: datetime | None = None
    planned_end: datetime | None = None
    requester: str | None = None
    owner: str | None = None
    function: str | None = None
    release: str | None = None
    implementers: list[str] | None = None
    problems: list[str] | None = None
    known_errors: list[str] | None = None
    incidents: list[str] | None = None


class ChangeFilters(FilterSchema):
    status: list[ChangeStatus] | None = Field(None, description="One or more statuses")
    change_type: ChangeType | None = Field(None, alias="type")
    risk: RiskLevel | None = Field(None, description="The effective risk (override first)")
    node: str | None = Field(None, description="Touches this service or component")
    service: str | None = Field(
        None, description="Touches this service or anything it runs on (impact engine)"
    )
    function: Annotated[str | None, FilterLookup("function__reference")] = None
    template: Annotated[str | None, FilterLookup("template__reference")] = None
    window_from: datetime | None = Field(None, description="Window ends after this moment")
    window_to: datetime | None = Field(None, description="Window starts before this moment")

    def filter_status(self, value: list[str] | None) -> Q:
        return Q(status__in=value) if value else Q()

    def filter_risk(self, value: str | None) -> Q:
        if not value:
            return Q()
        return Q(risk_override=value) | Q(risk_override="", risk_level=value)

    def filter_node(self, value: str | None) -> Q:
        if not value:
            return Q()
        return Q(pk__in=Change.nodes.through.objects.filter(node__reference=value).values("change"))

    def filter_service(self, value: str | None) -> Q:
        if not value:
            return Q()
        from itline.cmdb.impact import impact

        service = Node.objects.filter(reference=value, kind=NodeKind.SERVICE).first()
        if service is None:
            raise ValidationError({"service": f"There is no service with reference {value!r}."})
        ids = [int(i) for i in impact([service.pk], "down").node_ids.tolist()]
        return Q(pk__in=Change.nodes.through.objects.filter(node_id__in=ids).values("change"))

    def filter_window_from(self, value: datetime | None) -> Q:
        return Q(planned_end__gt=value) if value else Q()

    def filter_window_to(self, value: datetime | None) -> Q:
        return Q(planned_start__lt=value) if value else Q()


def changes_for(user: Any) -> Any:
    qs = Change.objects.select_related(
        "template", "requester", "owner", "function", "release"
    ).prefetch_related("nodes", "implementers", "problems", "known_errors", "incidents")
    return _viewable(user, VIEW, qs)


def _change_fields(data: dict[str, Any]) -> dict[str, Any]:
    """Turn references of the payload into records (422 naming the field if unknown)."""
    out: dict[str, Any] = {}
    singles = {
        "template": ChangeTemplate,
        "requester": Person,
        "owner": Person,
        "function": Function,
        "release": Release,
    }
    many = {
        "implementers": Person,
        "problems": Problem,
        "known_errors": KnownError,
        "incidents": Incident,
    }
    for name, value in data.items():
        if name in singles:
            out[name] = resolve_ref(singles[name], value, name)
        elif name in many:
            out[name] = _records(many[name], value, name)
        elif name == "nodes":
            out[name] = _nodes(value)
        else:
            out[name] = value
    return out


def _create_change(*, by: Any, **data: Any) -> Change:
    fields = _change_fields(data)
    change = services.create_change(by=by, **fields)
    return changes_for(None).get(pk=change.pk)


def _update_change(obj: Change, *, by: Any, **data: Any) -> Change:
    version = data.pop("version", None)
    for name in ("title", "change_type"):
        if name in data and data[name] is None:
            raise DomainError("This field cannot be empty (null).", field=name)
    fields = _change_fields(data)
    for name in ("implementers", "problems", "known_errors", "incidents"):
        if name in fields and fields[name] is None:
            fields[name] = []
    services.update_change(obj, by=by, version=version, **fields)
    return changes_for(None).get(pk=obj.pk)


Crud(
    path="changes",
    model=Change,
    out=ChangeOut,
    create_in=ChangeIn,
    patch_in=ChangePatch,
    filters=ChangeFilters,
    queryset_for=changes_for,
    create=_create_change,
    update=_update_change,
    search_fields=("title", "reference", "description", "reason"),
    sort_fields=("created_at", "updated_at", "reference", "title", "status", "risk_score"),
    default_sort="-created_at",
    tag="Changes",
).register(router)


def _change(request: HttpRequest, ref: str) -> Change:
    return get_object_or_404(changes_for(request.user), reference=ref)


def _fresh(change: Change) -> Change:
    return changes_for(None).get(pk=change.pk)


class VersionIn(Schema):
    version: int | None = Field(None, description="The version you read (optional)")


class SubmitIn(VersionIn):
    send_for_approval: bool = Field(
        True, description="false: stop at assessed even when the checklist is complete"
    )


class DecisionIn(VersionIn):
    comment: str = Field("", max_length=4000)
    on_behalf_of: str | None = Field(
        None, description="Person reference: decide the vote of someone who delegated to you"
    )


class RejectIn(DecisionIn):
    comment: str = Field(..., min_length=1, max_length=4000)


class WindowIn(VersionIn):
    planned_start: datetime
    planned_end: datetime


class OutcomeIn(VersionIn):
    outcome: ChangeOutcome


class CloseIn(VersionIn):
    outcome: ChangeOutcome | None = None


class ReasonIn(VersionIn):
    reason: str = Field(..., min_length=1, max_length=4000)


class ReadinessIn(VersionIn):
    key: str = Field(..., min_length=1, max_length=60)
    done: bool = True


class OverrideIn(VersionIn):
    level: RiskLevel | None = Field(None, description="Empty/null removes the override")
    reason: str = Field("", max_length=4000)


def _verb(path: str, summary: str, payload_type: Any, doc: str = "") -> Any:
    """Register ``POST /changes/{ref}/<path>`` that runs one verb and returns the change."""

    def decorate(func: Any) -> Any:
        def endpoint(request: HttpRequest, ref: str, payload: payload_type) -> Any:  # type: ignore[valid-type]
            change = _change(request, ref)
            func(change, request.user, payload)
            return _fresh(change)

        endpoint.__name__ = f"change_{path.replace('-', '_')}"
        endpoint.__doc__ = doc or func.__doc__
        router.post(
            f"/changes/{{ref}}/{path}",
            response={200: ChangeOut, **ERRORS},
            tags=CHANGES,
            summary=summary,
            operation_id=f"change_{path.replace('-', '_')}",
        )(endpoint)
        return func

    return decorate


@_verb("submit", "Submit a change: collisions, risk and approval path", SubmitIn)
def _submit(change: Change, by: Any, p: SubmitIn) -> None:
    """draft/rejected -> assessed; a complete checklist sends a normal change on for
    approval; a standard change within its template is approved at once. 422 names what is
    missing (nodes, window, plans); a freeze window is a 400 on planned_start."""
    services.submit_change(change, by=by, version=p.version, send_for_approval=p.send_for_approval)


@_verb("request-approval", "Send an assessed change for approval", VersionIn)
def _request(change: Change, by: Any, p: VersionIn) -> None:
    """Opens an approval round on the change's path; the readiness checklist must be done."""
    approval_verbs.request_approval(change, by=by, version=p.version)


def _behalf(ref: str | None) -> Person | None:
    return resolve_ref(Person, ref, "on_behalf_of") if ref else None


@_verb("approve", "Approve a change (as approver or delegate)", DecisionIn)
def _approve(change: Change, by: Any, p: DecisionIn) -> None:
    """403 when you are no approver (nor a delegate of one) or it is your own change and the
    policy forbids that; 409 when no approval is pending."""
    services.decide_approval(
        change,
        by=by,
        decision=Decision.APPROVED,
        comment=p.comment,
        on_behalf_of=_behalf(p.on_behalf_of),
        version=p.version,
    )


@_verb("reject", "Reject a change, with the reason", RejectIn)
def _reject(change: Change, by: Any, p: RejectIn) -> None:
    services.decide_approval(
        change,
        by=by,
        decision=Decision.REJECTED,
        comment=p.comment,
        on_behalf_of=_behalf(p.on_behalf_of),
        version=p.version,
    )


@_verb("schedule", "Put an approved change on the calendar", VersionIn)
def _schedule(change: Change, by: Any, p: VersionIn) -> None:
    services.schedule_change(change, by=by, version=p.version)


@_verb("reschedule", "Move the window of a change", WindowIn)
def _reschedule(change: Change, by: Any, p: WindowIn) -> None:
    """Collisions and risk are computed again; refused once implementing, for windows in the
    past or ending before they start, and for windows in a freeze."""
    services.reschedule_change(
        change, by=by, planned_start=p.planned_start, planned_end=p.planned_end, version=p.version
    )


@_verb("start", "Start implementing", VersionIn)
def _start(change: Change, by: Any, p: VersionIn) -> None:
    """Approved or scheduled changes; an emergency also before its approval."""
    services.start_implementation(change, by=by, version=p.version)


@_verb("implement", "Record the implementation as done, with its outcome", OutcomeIn)
def _implement(change: Change, by: Any, p: OutcomeIn) -> None:
    """Drafts the post-implementation review; an emergency goes to its ECAB approval."""
    services.complete_implementation(change, by=by, outcome=p.outcome, version=p.version)


@_verb("start-review", "Start the post-implementation review", VersionIn)
def _review(change: Change, by: Any, p: VersionIn) -> None:
    services.start_review(change, by=by, version=p.version)


@_verb("close", "Close an implemented change", CloseIn)
def _close(change: Change, by: Any, p: CloseIn) -> None:
    services.close_change(change, by=by, outcome=p.outcome, version=p.version)


@_verb("cancel", "Cancel a change that has not started", ReasonIn)
def _cancel(change: Change, by: Any, p: ReasonIn) -> None:
    services.cancel_change(change, by=by, reason=p.reason, version=p.version)


@_verb("withdraw", "Withdraw a change to draft to edit it", VersionIn)
def _withdraw(change: Change, by: Any, p: VersionIn) -> None:
    services.withdraw_change(change, by=by, version=p.version)


@_verb("readiness", "Tick or untick a readiness checklist item", ReadinessIn)
def _readiness(change: Change, by: Any, p: ReadinessIn) -> None:
    services.tick_readiness(change, by=by, key=p.key, done=p.done, version=p.version)


@_verb("override-risk", "Override the computed risk (change managers)", OverrideIn)
def _override(change: Change, by: Any, p: OverrideIn) -> None:
    """The approval path follows the new level; the reason is journaled."""
    services.override_risk(change, by=by, level=p.level or "", reason=p.reason, version=p.version)


class VoteOut(Schema):
    approver: str
    approver_name: str
    decision: Decision
    decided_by: str | None
    comment: str
    decided_at: datetime | None

    @staticmethod
    def resolve_approver(obj: Approval) -> str:
        return str(obj.approver.reference)

    @staticmethod
    def resolve_approver_name(obj: Approval) -> str:
        return str(obj.approver.name)

    @staticmethod
    def resolve_decided_by(obj: Approval) -> str | None:
        return _ref(obj.decided_by)


class RoundOut(Schema):
    id: int
    path: ApprovalPath
    rule: ApprovalRule
    quorum: int
    status: ApprovalStatus
    created_at: datetime
    decided_at: datetime | None
    votes: list[VoteOut]

    @staticmethod
    def resolve_votes(obj: ApprovalRequest) -> list[Approval]:
        return list(obj.votes.all())


@router.get(
    "/changes/{ref}/approvals",
    response={200: list[RoundOut], **ERRORS},
    tags=CHANGES,
    summary="Approval rounds of a change with their votes",
)
def change_approvals(request: HttpRequest, ref: str) -> Any:
    change = _change(request, ref)
    return list(
        ApprovalRequest.objects.filter(change=change)
        .prefetch_related("votes__approver", "votes__decided_by")
        .order_by("created_at", "id")
    )


class ImpactOut(Schema):
    touched: list[str]
    services: list[dict[str, Any]]
    customers: list[str]


@router.get(
    "/changes/{ref}/impact",
    response={200: ImpactOut, **ERRORS},
    tags=CHANGES,
    summary="Services and customers the change reaches (impact engine)",
)
def change_impact(request: HttpRequest, ref: str) -> Any:
    return services.impact_summary(_change(request, ref))


# --- approvals inbox, policies, delegations -------------------------------------------------


class InboxOut(Schema):
    id: int
    change: str
    title: str
    status: ChangeStatus
    effective_risk: RiskLevel
    planned_start: datetime | None
    planned_end: datetime | None
    path: ApprovalPath
    approver: str
    on_behalf: bool
    decision: Decision
    requested_at: datetime

    @staticmethod
    def resolve_change(obj: Approval) -> str:
        return str(obj.request.change.reference)

    @staticmethod
    def resolve_title(obj: Approval) -> str:
        return str(obj.request.change.title)

    @staticmethod
    def resolve_status(obj: Approval) -> str:
        return str(obj.request.change.status)

    @staticmethod
    def resolve_effective_risk(obj: Approval) -> str:
        return str(obj.request.change.effective_risk)

    @staticmethod
    def resolve_planned_start(obj: Approval) -> datetime | None:
        return obj.request.change.planned_start

    @staticmethod
    def resolve_planned_end(obj: Approval) -> datetime | None:
        return obj.request.change.planned_end

    @staticmethod
    def resolve_path(obj: Approval) -> str:
        return str(obj.request.path)

    @staticmethod
    def resolve_approver(obj: Approval) -> str:
        return str(obj.approver.reference)

    @staticmethod
    def resolve_on_behalf(obj: Approval) -> bool:
        return bool(getattr(obj, "on_behalf", False))

    @staticmethod
    def resolve_requested_at(obj: Approval) -> datetime:
        return obj.request.created_at


@router.get(
    "/approvals",
    response={200: page_of(InboxOut), **ERRORS},
    tags=APPROVALS,
    summary="Approvals: your inbox (mine=1) or all pending votes",
)
def list_approvals(
    request: HttpRequest,
    mine: bool = False,
    cursor: str | None = None,
    limit: int = 50,
) -> Any:
    """``mine=1``: the votes you may decide now, yours and those of people who delegated to
    you (``on_behalf`` true). Otherwise every pending vote of open rounds (change managers)."""
    user = request.user
    if mine:
        me = person_of(user)
        if me is None:
            return {"items": [], "next_cursor": None}
        qs = approval_verbs.pending_for(me)
    else:
        require(user, "transition.change_change")
        qs = Approval.objects.filter(
            decision=Decision.PENDING, request__status=ApprovalStatus.PENDING
        ).select_related("request__change", "approver")
    page = keyset_page(qs, sort="id", allowed=("id",), cursor=cursor, limit=limit)
    mine_id = getattr(person_of(user), "pk", None)
    for item in page.items:
        item.on_behalf = bool(mine and item.approver_id != mine_id)  # type: ignore[attr-defined]
    return {"items": page.items, "next_cursor": page.next_cursor}


class PolicyOut(Schema):
    path: ApprovalPath
    rule: ApprovalRule
    quorum: int
    function: str | None
    people: list[str]
    forbid_self_approval: bool
    approvers: list[str] = Field(..., description="Who would be asked now (person references)")

    @staticmethod
    def resolve_function(obj: ApprovalPolicy) -> str | None:
        return _ref(obj.function)

    @staticmethod
    def resolve_people(obj: ApprovalPolicy) -> list[str]:
        return sorted(p.reference for p in obj.people.all()) if obj.pk else []

    @staticmethod
    def resolve_approvers(obj: ApprovalPolicy) -> list[str]:
        return [p.reference for p in approval_verbs.approvers_for(obj)]


class PolicyIn(Schema):
    rule: ApprovalRule | None = None
    quorum: int | None = Field(None, ge=1, le=100)
    function: str | None = Field(None, description="Function reference; empty: none")
    people: list[str] | None = None
    forbid_self_approval: bool | None = None


def _policy_view(user: Any) -> None:
    require(user, "transition.view_approvalpolicy")


@router.get(
    "/approval-policies",
    response={200: list[PolicyOut], **ERRORS},
    tags=APPROVALS,
    summary="Approval policies, one per path",
)
def list_policies(request: HttpRequest) -> Any:
    _policy_view(request.user)
    return [approval_verbs.policy_for(path) for path in ApprovalPath.values if path != "none"]


def _path(path: str) -> str:
    if path not in ApprovalPath.values or path == ApprovalPath.NONE:
        raise DomainError("Unknown approval path; use change_manager, cab or ecab.", field="path")
    return path


@router.get(
    "/approval-policies/{path}",
    response={200: PolicyOut, **ERRORS},
    tags=APPROVALS,
    summary="The approval policy of one path",
)
def get_policy(request: HttpRequest, path: str) -> Any:
    _policy_view(request.user)
    return approval_verbs.policy_for(_path(path))


@router.put(
    "/approval-policies/{path}",
    response={200: PolicyOut, **ERRORS},
    tags=APPROVALS,
    summary="Change who approves on a path and how many must agree",
)
def put_policy(request: HttpRequest, path: str, payload: PolicyIn) -> Any:
    policy = approval_verbs.policy_for(_path(path))
    data = payload.model_dump(exclude_unset=True)
    people = _records(Person, data.pop("people", None), "people")
    if "function" in data:
        data["function"] = resolve_ref(Function, data["function"], "function")
    for name in ("rule", "quorum", "forbid_self_approval"):
        if name in data and data[name] is None:
            raise DomainError("This field cannot be empty (null).", field=name)
    services.update_policy(policy, by=request.user, people=people, **data)
    return approval_verbs.policy_for(path)


class DelegationOut(Schema):
    id: int
    person: str
    person_name: str
    delegate: str
    delegate_name: str
    starts_at: datetime
    ends_at: datetime

    @staticmethod
    def resolve_person(obj: Delegation) -> str:
        return str(obj.person.reference)

    @staticmethod
    def resolve_person_name(obj: Delegation) -> str:
        return str(obj.person.name)

    @staticmethod
    def resolve_delegate(obj: Delegation) -> str:
        return str(obj.delegate.reference)

    @staticmethod
    def resolve_delegate_name(obj: Delegation) -> str:
        return str(obj.delegate.name)


class DelegationIn(Schema):
    delegate: str = Field(..., description="Person reference of who stands in")
    starts_at: datetime
    ends_at: datetime
    person: str | None = Field(None, description="Whose approvals; default: yours")


@router.get(
    "/delegations",
    response={200: list[DelegationOut], **ERRORS},
    tags=APPROVALS,
    summary="Delegations: yours (given or received); change managers see all",
)
def list_delegations(request: HttpRequest, current: bool = False) -> Any:
    """``current=1``: only those in force now or later."""
    from django.utils import timezone

    user = request.user
    qs = Delegation.objects.select_related("person", "delegate").order_by("-starts_at", "-id")
    if not user.has_perm("transition.change_change"):
        me = person_of(user)
        qs = qs.filter(Q(person=me) | Q(delegate=me)) if me else qs.none()
    if current:
        qs = qs.filter(ends_at__gt=timezone.now())
    return list(qs[:500])


@router.post(
    "/delegations",
    response={201: DelegationOut, **ERRORS},
    tags=APPROVALS,
    summary="Let someone decide your approvals while you are away",
)
def create_delegation(request: HttpRequest, payload: DelegationIn) -> Any:
    person = (
        resolve_ref(Person, payload.person, "person") if payload.person else person_of(request.user)
    )
    if person is None:
        raise DomainError("Your login has no person; name the person.", field="person")
    delegate = resolve_ref(Person, payload.delegate, "delegate", required=True)
    made = services.create_delegation(
        by=request.user,
        person=person,
        delegate=delegate,
        starts_at=payload.starts_at,
        ends_at=payload.ends_at,
    )
    return Status(201, Delegation.objects.select_related("person", "delegate").get(pk=made.pk))


@router.delete(
    "/delegations/{delegation_id}",
    response={204: None, **ERRORS},
    tags=APPROVALS,
    summary="End a delegation now",
)
def end_delegation(request: HttpRequest, delegation_id: int) -> Any:
    delegation = get_object_or_404(Delegation, pk=delegation_id)
    services.end_delegation(delegation, by=request.user)
    return Status(204, None)


# --- standard change catalogue --------------------------------------------------------------


class TemplateOut(Schema):
    reference: str
    name: str
    description: str
    nodes: list[NodeOut]
    component_types: list[str]
    max_duration_minutes: int
    implementation_plan: str
    backout_plan: str
    test_plan: str
    readiness_items: list[str]
    function: str | None
    deployment_match: dict[str, Any]
    active: bool
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_nodes(obj: ChangeTemplate) -> list[dict[str, str]]:
        return _nodes_out(obj.nodes.all())

    @staticmethod
    def resolve_component_types(obj: ChangeTemplate) -> list[str]:
        return sorted(t.slug for t in obj.component_types.all())

    @staticmethod
    def resolve_function(obj: ChangeTemplate) -> str | None:
        return _ref(obj.function)


class TemplateIn(Schema):
    name: str = Field(..., min_length=1, max_length=150)
    description: str = ""
    nodes: list[str] = Field([], max_length=500)
    component_types: list[str] = Field([], description="Component type slugs")
    max_duration_minutes: int = Field(120, ge=1, le=7 * 24 * 60)
    implementation_plan: str = ""
    backout_plan: str = ""
    test_plan: str = ""
    readiness_items: list[str] = Field([], max_length=30)
    function: str | None = None
    deployment_match: dict[str, Any] = {}
    active: bool = True


class TemplatePatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=150)
    description: str | None = None
    nodes: list[str] | None = Field(None, max_length=500)
    component_types: list[str] | None = None
    max_duration_minutes: int | None = Field(None, ge=1, le=7 * 24 * 60)
    implementation_plan: str | None = None
    backout_plan: str | None = None
    test_plan: str | None = None
    readiness_items: list[str] | None = Field(None, max_length=30)
    function: str | None = None
    deployment_match: dict[str, Any] | None = None
    active: bool | None = None


class TemplateFilters(FilterSchema):
    active: bool | None = None
    node: Annotated[str | None, FilterLookup("nodes__reference")] = None


def templates_for(user: Any) -> Any:
    qs = ChangeTemplate.objects.select_related("function").prefetch_related(
        "nodes", "component_types"
    )
    return _viewable(user, "transition.view_changetemplate", qs)


def _types(slugs: list[str] | None) -> list[ComponentType] | None:
    if slugs is None:
        return None
    found = {t.slug: t for t in ComponentType.objects.filter(slug__in=set(slugs))}
    missing = [s for s in slugs if s not in found]
    if missing:
        raise ValidationError({"component_types": f"There is no component type {missing[0]!r}."})
    return [found[s] for s in dict.fromkeys(slugs)]


def _template_fields(data: dict[str, Any]) -> dict[str, Any]:
    if "nodes" in data:
        data["nodes"] = _nodes(data["nodes"])
    if "component_types" in data:
        data["component_types"] = _types(data["component_types"])
    if "function" in data:
        data["function"] = resolve_ref(Function, data["function"], "function")
    for name in ("description", "implementation_plan", "backout_plan", "test_plan"):
        if name in data and data[name] is None:
            data[name] = ""
    for name in ("name", "max_duration_minutes", "active"):
        if name in data and data[name] is None:
            raise DomainError("This field cannot be empty (null).", field=name)
    if "deployment_match" in data and data["deployment_match"] is None:
        data["deployment_match"] = {}
    return data


def _create_template(*, by: Any, **data: Any) -> ChangeTemplate:
    made = catalogue.create_template(by=by, **_template_fields(data))
    return templates_for(None).get(pk=made.pk)


def _update_template(obj: ChangeTemplate, *, by: Any, **data: Any) -> ChangeTemplate:
    catalogue.update_template(obj, by=by, **_template_fields(data))
    return templates_for(None).get(pk=obj.pk)


Crud(
    path="change-templates",
    model=ChangeTemplate,
    out=TemplateOut,
    create_in=TemplateIn,
    patch_in=TemplatePatch,
    filters=TemplateFilters,
    queryset_for=templates_for,
    create=_create_template,
    update=_update_template,
    search_fields=("name", "reference", "description"),
    sort_fields=("name", "reference", "created_at", "updated_at"),
    default_sort="name",
    tag="Standard change catalogue",
).register(router)


# --- freeze windows -------------------------------------------------------------------------


class FreezeOut(Schema):
    reference: str
    title: str
    reason: str
    services: list[NodeOut]
    starts_at: datetime
    ends_at: datetime
    rrule: str
    time_zone: str
    active: bool
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_services(obj: FreezeWindow) -> list[dict[str, str]]:
        return _nodes_out(obj.services.all())


class FreezeIn(Schema):
    title: str = Field(..., min_length=1, max_length=200)
    reason: str = ""
    services: list[str] = Field([], description="Service references; empty: a global freeze")
    starts_at: datetime
    ends_at: datetime
    rrule: str = Field("", max_length=500, description="RRULE for a recurring freeze")
    time_zone: str = Field("Europe/Amsterdam", max_length=64)
    active: bool = True


class FreezePatch(Schema):
    title: str | None = Field(None, min_length=1, max_length=200)
    reason: str | None = None
    services: list[str] | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    rrule: str | None = Field(None, max_length=500)
    time_zone: str | None = Field(None, max_length=64)
    active: bool | None = None


class FreezeFilters(FilterSchema):
    active: bool | None = None
    service: Annotated[str | None, FilterLookup("services__reference")] = None


def freezes_for(user: Any) -> Any:
    qs = FreezeWindow.objects.prefetch_related("services")
    return _viewable(user, "transition.view_freezewindow", qs)


def _freeze_fields(data: dict[str, Any]) -> dict[str, Any]:
    if "services" in data:
        data["services"] = _nodes(data["services"], "services")
    for name in ("reason", "rrule"):
        if name in data and data[name] is None:
            data[name] = ""
    for name in ("title", "starts_at", "ends_at", "time_zone", "active"):
        if name in data and data[name] is None:
            raise DomainError("This field cannot be empty (null).", field=name)
    return data


def _create_freeze(*, by: Any, **data: Any) -> FreezeWindow:
    made = catalogue.create_freeze(by=by, **_freeze_fields(data))
    return freezes_for(None).get(pk=made.pk)


def _update_freeze(obj: FreezeWindow, *, by: Any, **data: Any) -> FreezeWindow:
    catalogue.update_freeze(obj, by=by, **_freeze_fields(data))
    return freezes_for(None).get(pk=obj.pk)


Crud(
    path="freeze-windows",
    model=FreezeWindow,
    out=FreezeOut,
    create_in=FreezeIn,
    patch_in=FreezePatch,
    filters=FreezeFilters,
    queryset_for=freezes_for,
    create=_create_freeze,
    update=_update_freeze,
    search_fields=("title", "reference", "reason"),
    sort_fields=("starts_at", "reference", "created_at", "updated_at", "title"),
    default_sort="starts_at",
    tag="Freeze windows",
).register(router)


@router.delete(
    "/freeze-windows/{ref}",
    response={204: None, **ERRORS},
    tags=FREEZES,
    summary="Remove a freeze window",
)
def delete_freeze(request: HttpRequest, ref: str) -> Any:
    freeze = get_object_or_404(freezes_for(request.user), reference=ref)
    catalogue.delete_freeze(freeze, by=request.user)
    return Status(204, None)


# --- CAB meetings ---------------------------------------------------------------------------


class CabItemOut(Schema):
    position: int
    change: str
    title: str
    status: ChangeStatus
    effective_risk: RiskLevel
    risk_score: int
    planned_start: datetime | None
    planned_end: datetime | None
    decision: Decision
    notes: str

    @staticmethod
    def resolve_change(obj: CabItem) -> str:
        return str(obj.change.reference)

    @staticmethod
    def resolve_title(obj: CabItem) -> str:
        return str(obj.change.title)

    @staticmethod
    def resolve_status(obj: CabItem) -> str:
        return str(obj.change.status)

    @staticmethod
    def resolve_effective_risk(obj: CabItem) -> str:
        return str(obj.change.effective_risk)

    @staticmethod
    def resolve_risk_score(obj: CabItem) -> int:
        return int(obj.change.risk_score)

    @staticmethod
    def resolve_planned_start(obj: CabItem) -> datetime | None:
        return obj.change.planned_start

    @staticmethod
    def resolve_planned_end(obj: CabItem) -> datetime | None:
        return obj.change.planned_end


class MeetingOut(Schema):
    reference: str
    title: str
    kind: MeetingKind
    starts_at: datetime
    chair: str | None
    attendees: list[str]
    closed_at: datetime | None
    items: list[CabItemOut]
    created_at: datetime

    @staticmethod
    def resolve_chair(obj: CabMeeting) -> str | None:
        return _ref(obj.chair)

    @staticmethod
    def resolve_attendees(obj: CabMeeting) -> list[str]:
        return sorted(p.reference for p in obj.attendees.all())

    @staticmethod
    def resolve_items(obj: CabMeeting) -> list[CabItem]:
        return list(obj.items.all())


class MeetingIn(Schema):
    starts_at: datetime
    kind: MeetingKind = MeetingKind.CAB
    title: str | None = Field(None, max_length=200)
    chair: str | None = None
    attendees: list[str] | None = Field(
        None, description="Person references; default: the approvers of the path"
    )


class CabDecisionIn(Schema):
    decision: Decision
    notes: str = Field("", max_length=4000)


def meetings_for(user: Any) -> Any:
    qs = CabMeeting.objects.select_related("chair").prefetch_related("attendees", "items__change")
    return _viewable(user, "transition.view_cabmeeting", qs)


@router.get(
    "/cab-meetings",
    response={200: page_of(MeetingOut), **ERRORS},
    tags=CAB,
    summary="CAB meetings, latest first",
)
def list_meetings(
    request: HttpRequest,
    kind: MeetingKind | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> Any:
    qs = meetings_for(request.user)
    if kind:
        qs = qs.filter(kind=kind)
    page = keyset_page(qs, sort="-starts_at", allowed=("starts_at",), cursor=cursor, limit=limit)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post(
    "/cab-meetings",
    response={201: MeetingOut, **ERRORS},
    tags=CAB,
    summary="Plan a CAB meeting; its agenda is generated",
)
def create_meeting(request: HttpRequest, payload: MeetingIn) -> Any:
    """The agenda holds every change awaiting approval on the meeting's path (CAB or ECAB),
    high risk first, then by window start."""
    chair = resolve_ref(Person, payload.chair, "chair") if payload.chair else None
    attendees = _records(Person, payload.attendees, "attendees") or ()
    meeting = services.create_meeting(
        by=request.user,
        starts_at=payload.starts_at,
        kind=payload.kind,
        title=payload.title,
        chair=chair,
        attendees=attendees,
    )
    return Status(201, meetings_for(None).get(pk=meeting.pk))


def _meeting(request: HttpRequest, ref: str) -> CabMeeting:
    return get_object_or_404(meetings_for(request.user), reference=ref)


@router.get(
    "/cab-meetings/{ref}",
    response={200: MeetingOut, **ERRORS},
    tags=CAB,
    summary="One CAB meeting with its agenda",
)
def get_meeting(request: HttpRequest, ref: str) -> Any:
    return _meeting(request, ref)


@router.post(
    "/cab-meetings/{ref}/items/{change_ref}/decision",
    response={200: MeetingOut, **ERRORS},
    tags=CAB,
    summary="Record the board's decision on an agenda item",
)
def decide_item(request: HttpRequest, ref: str, change_ref: str, payload: CabDecisionIn) -> Any:
    """The decision closes the change's approval round (see docs/changes.md)."""
    meeting = _meeting(request, ref)
    item = get_object_or_404(CabItem, meeting=meeting, change__reference=change_ref)
    services.record_cab_decision(
        item, by=request.user, decision=payload.decision, notes=payload.notes
    )
    return meetings_for(None).get(pk=meeting.pk)


@router.post(
    "/cab-meetings/{ref}/refresh",
    response={200: MeetingOut, **ERRORS},
    tags=CAB,
    summary="Add changes that came to await approval since the agenda was made",
)
def refresh_meeting(request: HttpRequest, ref: str) -> Any:
    meeting = _meeting(request, ref)
    services.refresh_agenda(meeting, by=request.user)
    return meetings_for(None).get(pk=meeting.pk)


@router.post(
    "/cab-meetings/{ref}/close",
    response={200: MeetingOut, **ERRORS},
    tags=CAB,
    summary="Close the meeting and store its minutes",
)
def close_meeting(request: HttpRequest, ref: str) -> Any:
    meeting = _meeting(request, ref)
    services.close_meeting(meeting, by=request.user)
    return meetings_for(None).get(pk=meeting.pk)


@router.get(
    "/cab-meetings/{ref}/minutes.md",
    response={200: str, **ERRORS},
    tags=CAB,
    summary="The minutes as Markdown",
)
def meeting_minutes(request: HttpRequest, ref: str) -> HttpResponse:
    """The stored minutes of a closed meeting; of an open one, as they stand now."""
    meeting = _meeting(request, ref)
    text = meeting.minutes if meeting.closed_at else services.minutes_markdown(meeting)
    response = HttpResponse(text, content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{meeting.reference}-minutes.md"'
    return response


@router.get(
    "/cab-meetings/{ref}/journal",
    response={200: list[JournalOut], **ERRORS},
    tags=CAB,
    summary="History of a CAB meeting",
)
def meeting_journal(request: HttpRequest, ref: str) -> Any:
    return list(journal.entries_for(_meeting(request, ref)))
