"""API of problem management: problems (by reference, with the transition action, incident
links and the known error recorded from them), known errors, the recurrence proposals of the
recurring-incident detector (list, accept, dismiss, scan now), and the suggestions shown on
incidents and service requests. Writes go through the verbs.

No ``from __future__ import annotations``: ninja reads the annotations at registration."""

from datetime import datetime
from typing import Annotated, Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, FilterLookup, FilterSchema, Query, Router, Schema, Status

from itline.cmdb.models import Component, Service
from itline.core.api import ERRORS, page_of
from itline.core.crud import Crud, resolve_ref
from itline.core.errors import DomainError
from itline.core.pagination import keyset_page
from itline.core.services import require
from itline.operation import recurrence, services, suggestions
from itline.operation.choices import (
    PROBLEM_OPEN,
    IncidentStatus,
    Priority,
    ProblemStatus,
    ProposalStatus,
)
from itline.operation.models import Incident, KnownError, Problem, RecurrenceProposal
from itline.org.models import Function, Person

router = Router()

PROBLEMS = ["Problems"]
KNOWN_ERRORS = ["Known errors"]
PROPOSALS = ["Recurrence proposals"]
SUGGESTIONS = ["Suggestions"]
INCIDENTS_SHOWN = 500


def _ref(obj: Any) -> str | None:
    return None if obj is None else str(obj.reference)


def _viewable(user: Any, perm: str, qs: Any) -> Any:
    if user is not None and not user.has_perm(perm):
        return qs.none()
    return qs


# --- problems -------------------------------------------------------------------------------


class ProblemOut(Schema):
    reference: str
    title: str
    description: str
    status: ProblemStatus
    allowed_transitions: list[str]
    priority: Priority
    service: str | None
    component: str | None
    owner: str | None
    owner_function: str | None
    symptoms: str
    root_cause: str
    analysis: str
    workaround: str
    resolution: str
    incident_count: int
    known_errors: list[str]
    resolved_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_allowed_transitions(obj: Problem) -> list[str]:
        from itline.operation.choices import PROBLEM_TRANSITIONS

        return sorted(str(s) for s in PROBLEM_TRANSITIONS.get(obj.status, ()))

    @staticmethod
    def resolve_service(obj: Problem) -> str | None:
        return _ref(obj.service)

    @staticmethod
    def resolve_component(obj: Problem) -> str | None:
        return _ref(obj.component)

    @staticmethod
    def resolve_owner(obj: Problem) -> str | None:
        return _ref(obj.owner)

    @staticmethod
    def resolve_owner_function(obj: Problem) -> str | None:
        return _ref(obj.owner_function)

    @staticmethod
    def resolve_incident_count(obj: Problem) -> int:
        count = getattr(obj, "incident_count", None)
        return int(count) if count is not None else obj.incidents.count()

    @staticmethod
    def resolve_known_errors(obj: Problem) -> list[str]:
        return sorted(k.reference for k in obj.known_errors.all())


class ProblemIn(Schema):
    title: str = Field(..., min_length=1, max_length=200)
    description: str = ""
    priority: Priority = Priority.MEDIUM
    service: str | None = Field(None, description="Reference of the affected service")
    component: str | None = Field(None, description="Reference of the affected component")
    owner: str | None = Field(None, description="Reference of the person who owns the problem")
    owner_function: str | None = Field(
        None, description="Reference of the function; empty: the component's or service's owner"
    )
    symptoms: str = ""
    incidents: list[str] = Field([], description="References of incidents to link")


class ProblemPatch(Schema):
    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = None
    priority: Priority | None = None
    service: str | None = None
    component: str | None = None
    owner: str | None = None
    owner_function: str | None = None
    symptoms: str | None = None
    root_cause: str | None = None
    analysis: str | None = None
    workaround: str | None = None
    resolution: str | None = None


class ProblemFilters(FilterSchema):
    status: ProblemStatus | None = None
    open: bool | None = Field(None, description="true: new, investigating or known error")
    priority: Priority | None = None
    service: Annotated[str | None, FilterLookup("service__reference")] = None
    component: Annotated[str | None, FilterLookup("component__reference")] = None
    owner: Annotated[str | None, FilterLookup("owner__reference")] = None
    owner_function: Annotated[str | None, FilterLookup("owner_function__reference")] = None

    def filter_open(self, value: bool | None) -> Q:
        if value is None:
            return Q()
        return Q(status__in=PROBLEM_OPEN) if value else ~Q(status__in=PROBLEM_OPEN)


def problems_for(user: Any) -> Any:
    qs = (
        Problem.objects.select_related("service", "component", "owner", "owner_function")
        .prefetch_related("known_errors")
        .annotate(incident_count=Count("incidents", distinct=True))
    )
    return _viewable(user, "operation.view_problem", qs)


_PROBLEM_REFS: dict[str, Any] = {
    "service": Service,
    "component": Component,
    "owner": Person,
    "owner_function": Function,
}


def _incidents(user: Any, refs: list[str], field: str) -> list[Incident]:
    found = {
        i.reference: i for i in services.visible_incidents(user).filter(reference__in=set(refs))
    }
    missing = [r for r in refs if r not in found]
    if missing:
        raise DomainError(f"There is no incident with reference {missing[0]!r}.", field=field)
    return [found[r] for r in dict.fromkeys(refs)]


def _create_problem(*, by: Any, incidents: list[str] | None = None, **fields: Any) -> Problem:
    linked = _incidents(by, incidents or [], "incidents")
    problem = services.create_problem(by=by, incidents=linked, **fields)
    return problems_for(None).get(pk=problem.pk)


def _update_problem(obj: Problem, *, by: Any, **fields: Any) -> Problem:
    for name in ("title", "priority"):
        if name in fields and fields[name] is None:
            raise DomainError("This field cannot be empty (null).", field=name)
    for name in ("description", "symptoms", "root_cause", "analysis", "workaround", "resolution"):
        if name in fields and fields[name] is None:
            fields[name] = ""
    services.update_problem(obj, by=by, **fields)
    return problems_for(None).get(pk=obj.pk)


class TransitionIn(Schema):
    status: ProblemStatus


@router.post(
    "/problems/{ref}/transition",
    response={200: ProblemOut, **ERRORS},
    tags=PROBLEMS,
    summary="Move a problem to another status",
)
def transition_problem(request: HttpRequest, ref: str, payload: TransitionIn) -> Any:
    """Refused with 409 (and the allowed statuses in ``allowed``) when the table forbids it."""
    problem = get_object_or_404(problems_for(request.user), reference=ref)
    services.transition_problem(problem, by=request.user, status=payload.status)
    return problems_for(None).get(pk=problem.pk)


class IncidentRefIn(Schema):
    incident: str = Field(..., min_length=1, description="Reference of the incident")


class LinkedIncidentOut(Schema):
    reference: str
    title: str
    status: IncidentStatus
    priority: Priority
    service: str | None
    component: str | None
    created_at: datetime
    resolved_at: datetime | None

    @staticmethod
    def resolve_service(obj: Incident) -> str | None:
        return _ref(obj.service)

    @staticmethod
    def resolve_component(obj: Incident) -> str | None:
        return _ref(obj.component)


@router.get(
    "/problems/{ref}/incidents",
    response={200: list[LinkedIncidentOut], **ERRORS},
    tags=PROBLEMS,
    summary="Incidents linked to a problem",
)
def problem_incidents(request: HttpRequest, ref: str) -> Any:
    """The most recent linked incidents (at most 500), newest first."""
    problem = get_object_or_404(problems_for(request.user), reference=ref)
    return list(
        problem.incidents.select_related("service", "component").order_by("-created_at", "-id")[
            :INCIDENTS_SHOWN
        ]
    )


@router.post(
    "/problems/{ref}/incidents",
    response={200: ProblemOut, **ERRORS},
    tags=PROBLEMS,
    summary="Link an incident to a problem",
)
def link_incident(request: HttpRequest, ref: str, payload: IncidentRefIn) -> Any:
    problem = get_object_or_404(problems_for(request.user), reference=ref)
    require(request.user, "operation.change_problem")
    incident = _incidents(request.user, [payload.incident], "incident")[0]
    if incident.problem_id and incident.problem_id != problem.pk:
        raise DomainError(
            f"{incident.reference} is already linked to another problem "
            f"({incident.problem.reference}).",  # type: ignore[union-attr]
            field="incident",
        )
    services.link_incident_to_problem(incident, problem, by=request.user)
    return problems_for(None).get(pk=problem.pk)


class KnownErrorOut(Schema):
    reference: str
    title: str
    symptoms: str
    root_cause: str
    workaround: str
    problem: str | None
    service: str | None
    component: str | None
    active: bool
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_problem(obj: KnownError) -> str | None:
        return _ref(obj.problem)

    @staticmethod
    def resolve_service(obj: KnownError) -> str | None:
        return _ref(obj.service)

    @staticmethod
    def resolve_component(obj: KnownError) -> str | None:
        return _ref(obj.component)


@router.post(
    "/problems/{ref}/known-error",
    response={201: KnownErrorOut, **ERRORS},
    tags=PROBLEMS,
    summary="Record the problem's workaround as a known error",
)
def record_known_error(request: HttpRequest, ref: str) -> Any:
    """Publishes the workaround (and root cause) so agents are offered it on matching
    incidents; the problem moves to "known error" when its table allows."""
    problem = get_object_or_404(problems_for(request.user), reference=ref)
    return Status(201, services.record_known_error(problem, by=request.user))


Crud(
    path="problems",
    model=Problem,
    out=ProblemOut,
    create_in=ProblemIn,
    patch_in=ProblemPatch,
    filters=ProblemFilters,
    queryset_for=problems_for,
    create=_create_problem,
    update=_update_problem,
    search_fields=("title", "reference", "description", "symptoms", "root_cause"),
    sort_fields=("reference", "created_at", "updated_at", "priority", "status", "title"),
    default_sort="-created_at",
    refs=_PROBLEM_REFS,
    tag="Problems",
).register(router)


# --- known errors ---------------------------------------------------------------------------


class KnownErrorIn(Schema):
    title: str = Field(..., min_length=1, max_length=200)
    workaround: str = Field(..., min_length=1)
    symptoms: str = ""
    root_cause: str = ""
    problem: str | None = Field(None, description="Reference of the problem it comes from")
    service: str | None = None
    component: str | None = None


class KnownErrorPatch(Schema):
    title: str | None = Field(None, min_length=1, max_length=200)
    workaround: str | None = Field(None, min_length=1)
    symptoms: str | None = None
    root_cause: str | None = None
    problem: str | None = None
    service: str | None = None
    component: str | None = None
    active: bool | None = Field(None, description="false retires it: no longer suggested")


class KnownErrorFilters(FilterSchema):
    active: bool | None = None
    problem: Annotated[str | None, FilterLookup("problem__reference")] = None
    service: Annotated[str | None, FilterLookup("service__reference")] = None
    component: Annotated[str | None, FilterLookup("component__reference")] = None


def known_errors_for(user: Any) -> Any:
    qs = KnownError.objects.select_related("problem", "service", "component")
    return _viewable(user, "operation.view_knownerror", qs)


def _update_known_error(obj: KnownError, *, by: Any, **fields: Any) -> KnownError:
    for name in ("title", "workaround", "active"):
        if name in fields and fields[name] is None:
            raise DomainError("This field cannot be empty (null).", field=name)
    for name in ("symptoms", "root_cause"):
        if name in fields and fields[name] is None:
            fields[name] = ""
    return services.update_known_error(obj, by=by, **fields)


Crud(
    path="known-errors",
    model=KnownError,
    out=KnownErrorOut,
    create_in=KnownErrorIn,
    patch_in=KnownErrorPatch,
    filters=KnownErrorFilters,
    queryset_for=known_errors_for,
    create=services.create_known_error,
    update=_update_known_error,
    search_fields=("title", "reference", "symptoms", "root_cause", "workaround"),
    sort_fields=("reference", "created_at", "updated_at", "title"),
    default_sort="-created_at",
    refs={"problem": Problem, "service": Service, "component": Component},
    tag="Known errors",
).register(router)


# --- recurrence proposals -------------------------------------------------------------------


class ProposalOut(Schema):
    id: int
    status: ProposalStatus
    title: str
    reason: str
    terms: list[str]
    service: str | None
    component: str | None
    incidents: list[str]
    problem: str | None
    signature: str
    decided_at: datetime | None
    decision_note: str
    created_at: datetime

    @staticmethod
    def resolve_service(obj: RecurrenceProposal) -> str | None:
        return _ref(obj.service)

    @staticmethod
    def resolve_component(obj: RecurrenceProposal) -> str | None:
        return _ref(obj.component)

    @staticmethod
    def resolve_problem(obj: RecurrenceProposal) -> str | None:
        return _ref(obj.problem)

    @staticmethod
    def resolve_incidents(obj: RecurrenceProposal) -> list[str]:
        return sorted(i.reference for i in obj.incidents.all())


class ProposalFilters(FilterSchema):
    status: ProposalStatus | None = None
    service: Annotated[str | None, FilterLookup("service__reference")] = None
    component: Annotated[str | None, FilterLookup("component__reference")] = None


def proposals_for(user: Any) -> Any:
    from django.db.models import Prefetch

    qs = RecurrenceProposal.objects.select_related("service", "component", "problem")
    qs = qs.prefetch_related(
        Prefetch("incidents", queryset=Incident.objects.only("id", "reference"))
    )
    return _viewable(user, "operation.view_recurrenceproposal", qs)


def _proposal(request: HttpRequest, proposal_id: int) -> RecurrenceProposal:
    return get_object_or_404(proposals_for(request.user), pk=proposal_id)


class ScanOut(Schema):
    scanned: int
    created: list[int]
    extended: list[int]
    skipped: int


@router.post(
    "/recurrence-proposals/scan",
    response={200: ScanOut, **ERRORS},
    tags=PROPOSALS,
    summary="Look for recurring incidents now",
)
def scan(request: HttpRequest) -> Any:
    """Runs the periodic detection at once (problem managers), with the configured thresholds."""
    result = recurrence.detect_recurring_incidents(by=request.user)
    return {
        "scanned": result.scanned,
        "created": [p.pk for p in result.created],
        "extended": [p.pk for p in result.extended],
        "skipped": len(result.skipped),
    }


@router.get(
    "/recurrence-proposals",
    response={200: page_of(ProposalOut), **ERRORS},
    tags=PROPOSALS,
    summary="List recurrence proposals",
)
def list_proposals(
    request: HttpRequest,
    filters: Query[ProposalFilters],
    cursor: str | None = None,
    limit: int = 50,
) -> Any:
    qs = filters.filter(proposals_for(request.user))
    page = keyset_page(qs, sort="-created_at", allowed=("created_at",), cursor=cursor, limit=limit)
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get(
    "/recurrence-proposals/{proposal_id}",
    response={200: ProposalOut, **ERRORS},
    tags=PROPOSALS,
    summary="Read one recurrence proposal",
)
def read_proposal(request: HttpRequest, proposal_id: int) -> Any:
    return _proposal(request, proposal_id)


class AcceptIn(Schema):
    title: str | None = Field(
        None, max_length=200, description="Problem title; default: proposal's"
    )
    owner: str | None = Field(None, description="Reference of the person who owns the problem")
    note: str = ""


class AcceptOut(Schema):
    proposal: ProposalOut
    problem: ProblemOut


@router.post(
    "/recurrence-proposals/{proposal_id}/accept",
    response={201: AcceptOut, **ERRORS},
    tags=PROPOSALS,
    summary="Accept: raise a problem and link the incidents",
)
def accept(request: HttpRequest, proposal_id: int, payload: AcceptIn) -> Any:
    proposal = _proposal(request, proposal_id)
    owner = resolve_ref(Person, payload.owner, "owner")
    problem = recurrence.accept_proposal(
        proposal, by=request.user, title=payload.title, owner=owner, note=payload.note
    )
    return Status(
        201,
        {
            "proposal": proposals_for(None).get(pk=proposal.pk),
            "problem": problems_for(None).get(pk=problem.pk),
        },
    )


class DismissIn(Schema):
    reason: str = Field(..., description="Why these incidents do not need a problem")


@router.post(
    "/recurrence-proposals/{proposal_id}/dismiss",
    response={200: ProposalOut, **ERRORS},
    tags=PROPOSALS,
    summary="Dismiss with a reason",
)
def dismiss(request: HttpRequest, proposal_id: int, payload: DismissIn) -> Any:
    proposal = _proposal(request, proposal_id)
    recurrence.dismiss_proposal(proposal, by=request.user, reason=payload.reason)
    return proposals_for(None).get(pk=proposal.pk)


# --- suggestions ----------------------------------------------------------------------------


class SuggestedKnownErrorOut(Schema):
    reference: str
    title: str
    workaround: str
    problem: str | None
    service: str | None
    component: str | None
    score: float = Field(..., description="0..1, higher is a better match")
    why: list[str]


class SimilarIncidentOut(Schema):
    reference: str
    title: str
    status: IncidentStatus
    priority: Priority
    service: str | None
    component: str | None
    assignee: str | None
    score: float
    why: list[str]


class SuggestionsOut(Schema):
    known_errors: list[SuggestedKnownErrorOut]
    similar_incidents: list[SimilarIncidentOut]


def _suggestions(user: Any, record: Any, limit: int) -> dict[str, Any]:
    if not 1 <= limit <= 20:
        raise DomainError("limit must be between 1 and 20", field="limit")
    out: dict[str, Any] = {"known_errors": [], "similar_incidents": []}
    if user.has_perm("operation.view_knownerror"):
        for s in suggestions.known_errors_for(record, limit=limit):
            ke = s.record
            out["known_errors"].append(
                {
                    "reference": ke.reference,
                    "title": ke.title,
                    "workaround": ke.workaround,
                    "problem": _ref(ke.problem),
                    "service": _ref(ke.service),
                    "component": _ref(ke.component),
                    "score": s.score,
                    "why": list(s.why),
                }
            )
    if user.has_perm("operation.view_incident"):
        for s in suggestions.similar_incidents(record, limit=limit):
            inc = s.record
            out["similar_incidents"].append(
                {
                    "reference": inc.reference,
                    "title": inc.title,
                    "status": inc.status,
                    "priority": inc.priority,
                    "service": _ref(inc.service),
                    "component": _ref(inc.component),
                    "assignee": _ref(inc.assignee),
                    "score": s.score,
                    "why": list(s.why),
                }
            )
    return out


def _agent(user: Any) -> None:
    from itline.org.roles import is_agent

    if not is_agent(user):
        raise PermissionDenied("Suggestions are for agents.")


@router.get(
    "/incidents/{ref}/suggestions",
    response={200: SuggestionsOut, **ERRORS},
    tags=SUGGESTIONS,
    summary="Known errors and similar open incidents for an incident",
)
def incident_suggestions(request: HttpRequest, ref: str, limit: int = 5) -> Any:
    """Best first, each with a score and why it matches (same component/service, words)."""
    _agent(request.user)
    incident = get_object_or_404(services.visible_incidents(request.user), reference=ref)
    return _suggestions(request.user, incident, limit)


@router.get(
    "/requests/{ref}/suggestions",
    response={200: SuggestionsOut, **ERRORS},
    tags=SUGGESTIONS,
    summary="Known errors and similar open incidents for a service request",
)
def request_suggestions(request: HttpRequest, ref: str, limit: int = 5) -> Any:
    _agent(request.user)
    service_request = get_object_or_404(services.visible_requests(request.user), reference=ref)
    return _suggestions(request.user, service_request, limit)
