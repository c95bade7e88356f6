"""API of the service desk: service requests and incidents (standard list/read/create/patch/
journal by reference), their workflow actions, conversation, attachments, and the priority
matrix as configuration. Writes go through the verbs in ``itline.operation.services``.

Optimistic concurrency: every record carries ``version``; a write that sends the version it
read gets a 409 when someone else changed the record in between.

No ``from __future__ import annotations``: ninja reads the annotations at registration."""

from datetime import datetime
from typing import Annotated, Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import (
    Field,
    File,
    FilterLookup,
    FilterSchema,
    Router,
    Schema,
    Status,
    UploadedFile,
)

from itline.cmdb.models import Component, Service
from itline.core.api import ERRORS
from itline.core.crud import Crud, resolve_ref
from itline.core.errors import DomainError
from itline.core.services import require
from itline.operation import services
from itline.operation.choices import (
    Channel,
    HoldReason,
    Impact,
    IncidentStatus,
    MessageKind,
    Priority,
    RequestOutcome,
    RequestStatus,
    RequestType,
    ResolutionCategory,
    Urgency,
)
from itline.operation.defaults import DEFAULT_MATRIX
from itline.operation.models import Incident, KnownError, PriorityRule, ServiceRequest
from itline.org.models import Function, Person

router = Router()

_REFS: dict[str, Any] = {
    "service": Service,
    "component": Component,
    "caller": Person,
    "requester": Person,
    "assigned_function": Function,
    "assignee": Person,
}


def _ref(obj: Any) -> str | None:
    return None if obj is None else str(obj.reference)


# --- incidents ------------------------------------------------------------------------------


class IncidentOut(Schema):
    reference: str
    title: str
    description: str
    status: IncidentStatus
    hold_reason: str
    service: str | None
    component: str | None
    impact: Impact
    urgency: Urgency
    priority: Priority
    caller: str | None
    customer: str | None
    agreement: str | None
    assigned_function: str | None
    assignee: str | None
    major: bool
    workaround: str
    resolution: str
    resolution_category: str
    problem: str | None
    known_error: str | None
    merged_into: str | None
    channel: str
    responded_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int

    @staticmethod
    def resolve_service(obj: Incident) -> str | None:
        return _ref(obj.service)

    @staticmethod
    def resolve_component(obj: Incident) -> str | None:
        return _ref(obj.component)

    @staticmethod
    def resolve_caller(obj: Incident) -> str | None:
        return _ref(obj.caller)

    @staticmethod
    def resolve_customer(obj: Incident) -> str | None:
        return _ref(obj.customer)

    @staticmethod
    def resolve_agreement(obj: Incident) -> str | None:
        return _ref(obj.agreement)

    @staticmethod
    def resolve_assigned_function(obj: Incident) -> str | None:
        return _ref(obj.assigned_function)

    @staticmethod
    def resolve_assignee(obj: Incident) -> str | None:
        return _ref(obj.assignee)

    @staticmethod
    def resolve_problem(obj: Incident) -> str | None:
        return _ref(obj.problem)

    @staticmethod
    def resolve_known_error(obj: Incident) -> str | None:
        return _ref(obj.known_error)

    @staticmethod
    def resolve_merged_into(obj: Incident) -> str | None:
        return _ref(obj.merged_into)


class IncidentIn(Schema):
    title: str = Field(..., min_length=1, max_length=200)
    description: str = ""
    service: str | None = Field(None, description="Reference of the affected service")
    component: str | None = Field(None, description="Reference of the affected component")
    impact: Impact | None = Field(None, description="Empty: proposed from the service structure")
    urgency: Urgency = Urgency.MEDIUM
    caller: str | None = Field(None, description="Reference of the person who reported it")
    assigned_function: str | None = Field(None, description="Empty: routed to the owner function")
    assignee: str | None = None
    major: bool = False


class IncidentPatch(Schema):
    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = None
    service: str | None = None
    component: str | None = None
    impact: Impact | None = None
    urgency: Urgency | None = None
    caller: str | None = None
    workaround: str | None = None
    resolution_category: ResolutionCategory | None = None
    version: int | None = Field(None, description="The version you read; 409 if it changed")


class IncidentFilters(FilterSchema):
    status: IncidentStatus | None = None
    priority: Priority | None = None
    major: bool | None = None
    assigned_function: Annotated[str | None, FilterLookup("assigned_function__reference")] = None
    assignee: Annotated[str | None, FilterLookup("assignee__reference")] = None
    service: Annotated[str | None, FilterLookup("service__reference")] = None
    component: Annotated[str | None, FilterLookup("component__reference")] = None
    caller: Annotated[str | None, FilterLookup("caller__reference")] = None
    problem: Annotated[str | None, FilterLookup("problem__reference")] = None
    created_after: Annotated[datetime | None, FilterLookup("created_at__gte")] = None
    created_before: Annotated[datetime | None, FilterLookup("created_at__lt")] = None


def incidents_for(user: Any) -> Any:
    return services.visible_incidents(user).select_related(
        "service",
        "component",
        "caller",
        "customer",
        "agreement",
        "assigned_function",
        "assignee",
        "problem",
        "known_error",
        "merged_into",
    )


def _create_incident(*, by: Any, **fields: Any) -> Incident:
    return services.create_incident(by=by, channel=Channel.API, **fields)


def _update_incident(
    obj: Incident, *, by: Any, version: int | None = None, **fields: Any
) -> Incident:
    if not fields:
        raise DomainError("Send at least one field to change besides the version.", field="request")
    return services.update_incident(obj, by=by, expected_version=version, **fields)


Crud(
    path="incidents",
    model=Incident,
    out=IncidentOut,
    create_in=IncidentIn,
    patch_in=IncidentPatch,
    filters=IncidentFilters,
    queryset_for=incidents_for,
    create=_create_incident,
    update=_update_incident,
    search_fields=("title", "reference", "description"),
    sort_fields=("created_at", "updated_at", "priority", "reference", "title", "status"),
    default_sort="-created_at",
    refs=_REFS,
    tag="Incidents",
).register(router)


def _incident(request: HttpRequest, ref: str) -> Incident:
    return get_object_or_404(incidents_for(request.user), reference=ref)


class AssignIn(Schema):
    function: str | None = Field(None, description="Reference of the function")
    assignee: str | None = Field(None, description="Reference of the person")
    version: int | None = None


class TransitionIn(Schema):
    status: IncidentStatus
    hold_reason: HoldReason = HoldReason.NONE
    message: str = ""
    version: int | None = None


class ResolveIn(Schema):
    resolution: str = Field(..., min_length=1)
    category: ResolutionCategory = ResolutionCategory.FIXED
    workaround: str | None = None
    version: int | None = None


class VersionIn(Schema):
    version: int | None = None


class ReopenIn(Schema):
    reason: str = ""
    version: int | None = None


class MergeIn(Schema):
    into: str = Field(..., description="Reference of the surviving incident")


class MajorIn(Schema):
    major: bool
    version: int | None = None


class BodyIn(Schema):
    body: str = Field(..., min_length=1)


class KnownErrorRefIn(Schema):
    known_error: str


_TAG = ["Incidents"]


@router.post("/incidents/{ref}/assign", response={200: IncidentOut, **ERRORS}, tags=_TAG)
def assign_incident(request: HttpRequest, ref: str, payload: AssignIn) -> Any:
    """Give the incident to a function and optionally a person (a member of it)."""
    return services.assign_incident(
        _incident(request, ref),
        by=request.user,
        function=resolve_ref(Function, payload.function, "function"),
        assignee=resolve_ref(Person, payload.assignee, "assignee"),
        expected_version=payload.version,
    )


@router.post("/incidents/{ref}/acknowledge", response={200: IncidentOut, **ERRORS}, tags=_TAG)
def acknowledge_incident(request: HttpRequest, ref: str) -> Any:
    """Assign to me and start work (the on-call path)."""
    return services.acknowledge(_incident(request, ref), by=request.user)


@router.post("/incidents/{ref}/transition", response={200: IncidentOut, **ERRORS}, tags=_TAG)
def transition_incident(request: HttpRequest, ref: str, payload: TransitionIn) -> Any:
    """Move to assigned, in progress or on hold (with a reason). 409 lists the allowed moves."""
    return services.transition_incident(
        _incident(request, ref),
        by=request.user,
        status=payload.status,
        hold_reason=payload.hold_reason,
        message=payload.message,
        expected_version=payload.version,
    )


@router.post("/incidents/{ref}/resolve", response={200: IncidentOut, **ERRORS}, tags=_TAG)
def resolve_incident(request: HttpRequest, ref: str, payload: ResolveIn) -> Any:
    return services.resolve_incident(
        _incident(request, ref),
        by=request.user,
        resolution=payload.resolution,
        category=payload.category,
        workaround=payload.workaround,
        expected_version=payload.version,
    )


@router.post("/incidents/{ref}/close", response={200: IncidentOut, **ERRORS}, tags=_TAG)
def close_incident(request: HttpRequest, ref: str, payload: VersionIn) -> Any:
    return services.close_incident(
        _incident(request, ref), by=request.user, expected_version=payload.version
    )


@router.post("/incidents/{ref}/reopen", response={200: IncidentOut, **ERRORS}, tags=_TAG)
def reopen_incident(request: HttpRequest, ref: str, payload: ReopenIn) -> Any:
    """Back to in progress; only within the reopen period after resolution."""
    return services.reopen_incident(
        _incident(request, ref),
        by=request.user,
        reason=payload.reason,
        expected_version=payload.version,
    )


@router.post("/incidents/{ref}/merge", response={200: IncidentOut, **ERRORS}, tags=_TAG)
def merge_incident(request: HttpRequest, ref: str, payload: MergeIn) -> Any:
    """Close this incident as a duplicate of ``into``; its requests follow the survivor."""
    into = resolve_ref(Incident, payload.into, "into", required=True)
    if not incidents_for(request.user).filter(pk=into.pk).exists():
        raise ValidationError({"into": f"There is no incident with reference {payload.into!r}."})
    return services.merge_incident(_incident(request, ref), into=into, by=request.user)


@router.post("/incidents/{ref}/major", response={200: IncidentOut, **ERRORS}, tags=_TAG)
def set_major(request: HttpRequest, ref: str, payload: MajorIn) -> Any:
    return services.set_major(
        _incident(request, ref),
        by=request.user,
        major=payload.major,
        expected_version=payload.version,
    )


@router.post("/incidents/{ref}/known-error", response={200: IncidentOut, **ERRORS}, tags=_TAG)
def apply_known_error(request: HttpRequest, ref: str, payload: KnownErrorRefIn) -> Any:
    """Link a known error and copy its workaround onto the incident."""
    known = resolve_ref(KnownError, payload.known_error, "known_error", required=True)
    return services.apply_known_error(_incident(request, ref), known, by=request.user)


class ProblemRefOut(Schema):
    reference: str
    title: str


@router.post("/incidents/{ref}/raise-problem", response={201: ProblemRefOut, **ERRORS}, tags=_TAG)
def raise_problem(request: HttpRequest, ref: str) -> Any:
    """Open a problem for this incident's cause and link the incident to it."""
    return Status(
        201, services.raise_problem_from_incident(_incident(request, ref), by=request.user)
    )


class ImpactProposalOut(Schema):
    impact: Impact
    reason: str
    priority_at_medium_urgency: Priority


@router.get("/impact-proposal", response={200: ImpactProposalOut, **ERRORS}, tags=_TAG)
def impact_proposal(
    request: HttpRequest, service: str | None = None, component: str | None = None
) -> Any:
    """The impact the structure suggests for a failure of this service and/or component."""
    require(request.user, "operation.add_incident")
    svc = resolve_ref(Service, service, "service")
    cmp = resolve_ref(Component, component, "component")
    if svc is None and cmp is None:
        raise ValidationError({"service": "Give a service or a component reference."})
    impact, reason = services.propose_impact(service=svc, component=cmp)
    return {
        "impact": impact,
        "reason": reason,
        "priority_at_medium_urgency": services.priority_for(impact, Urgency.MEDIUM),
    }


# --- conversation, shared by incidents and requests -------------------------------------------


class AttachmentOut(Schema):
    id: int
    filename: str
    mime_type: str
    size: int
    sha256: str
    created_at: datetime


class MessageOut(Schema):
    id: int
    kind: MessageKind
    author: str | None
    author_name: str | None
    from_address: str
    subject: str
    body: str
    created_at: datetime
    attachments: list[AttachmentOut]

    @staticmethod
    def resolve_author(obj: Any) -> str | None:
        return _ref(obj.author)

    @staticmethod
    def resolve_author_name(obj: Any) -> str | None:
        return None if obj.author is None else obj.author.name

    @staticmethod
    def resolve_attachments(obj: Any) -> list[Any]:
        return list(obj.attachments.all())


class MessageIn(Schema):
    kind: MessageKind = MessageKind.NOTE
    body: str = Field(..., min_length=1)


def _is_agent(user: Any) -> bool:
    return bool(user.has_perm("core.agent_access"))


def _conversation(path: str, getter: Any, tag: str) -> None:
    tags = [tag]
    op = path.replace("-", "_")

    @router.get(
        f"/{path}/{{ref}}/messages",
        response={200: list[MessageOut], **ERRORS},
        tags=tags,
        operation_id=f"list_{op}_messages",
        summary="The conversation (requesters see public messages only)",
    )
    def list_messages(request: HttpRequest, ref: str) -> Any:
        record = getter(request, ref)
        return list(services.messages_for(record, public_only=not _is_agent(request.user)))

    @router.post(
        f"/{path}/{{ref}}/messages",
        response={201: MessageOut, **ERRORS},
        tags=tags,
        operation_id=f"add_{op}_message",
        summary="Add a public reply or an internal note",
    )
    def add_message(request: HttpRequest, ref: str, payload: MessageIn) -> Any:
        record = getter(request, ref)
        if payload.kind not in (MessageKind.REPLY, MessageKind.NOTE):
            raise ValidationError(
                {"kind": "Write a reply or a note; other kinds are recorded by itline."}
            )
        with transaction.atomic():
            message = services.add_message(
                record, by=request.user, kind=payload.kind, body=payload.body
            )
            if (
                isinstance(record, ServiceRequest)
                and record.status == RequestStatus.RESOLVED
                and services.is_requester(request.user, record)
            ):
                services.reopen_request(record, by=request.user, reason="the requester replied")
        return Status(201, message)

    @router.post(
        f"/{path}/{{ref}}/attachments",
        response={201: AttachmentOut, **ERRORS},
        tags=tags,
        operation_id=f"add_{op}_attachment",
        summary="Upload a file (multipart field 'file')",
    )
    def add_attachment(request: HttpRequest, ref: str, file: File[UploadedFile]) -> Any:
        record = getter(request, ref)
        limit = services.messages.max_attachment_bytes()
        if file.size is not None and file.size > limit:
            raise ValidationError(
                {"file": f"{file.name} is {file.size:,} bytes; the limit is {limit:,} bytes."}
            )
        return Status(
            201,
            services.add_attachment(
                record,
                by=request.user,
                filename=file.name or "",
                content=file.read(),
                mime_type=file.content_type or "",
            ),
        )

    @router.get(
        f"/{path}/{{ref}}/attachments",
        response={200: list[AttachmentOut], **ERRORS},
        tags=tags,
        operation_id=f"list_{op}_attachments",
    )
    def list_attachments(request: HttpRequest, ref: str) -> Any:
        return list(services.attachments_for(getter(request, ref)))


_conversation("incidents", _incident, "Incidents")


# --- service requests -------------------------------------------------------------------------


class RequestOut(Schema):
    reference: str
    title: str
    description: str
    request_type: RequestType
    channel: Channel
    status: RequestStatus
    outcome: str
    requester: str
    requester_name: str
    customer: str | None
    service: str | None
    assigned_function: str | None
    assignee: str | None
    incident: str | None
    incident_status: str | None
    known_error: str | None
    improvement_reference: str
    answer: str
    resolved_at: datetime | None
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int

    @staticmethod
    def resolve_requester(obj: ServiceRequest) -> str:
        return str(obj.requester.reference)

    @staticmethod
    def resolve_requester_name(obj: ServiceRequest) -> str:
        return str(obj.requester.name)

    @staticmethod
    def resolve_customer(obj: ServiceRequest) -> str | None:
        return _ref(obj.customer)

    @staticmethod
    def resolve_service(obj: ServiceRequest) -> str | None:
        return _ref(obj.service)

    @staticmethod
    def resolve_assigned_function(obj: ServiceRequest) -> str | None:
        return _ref(obj.assigned_function)

    @staticmethod
    def resolve_assignee(obj: ServiceRequest) -> str | None:
        return _ref(obj.assignee)

    @staticmethod
    def resolve_incident(obj: ServiceRequest) -> str | None:
        return _ref(obj.incident)

    @staticmethod
    def resolve_incident_status(obj: ServiceRequest) -> str | None:
        return None if obj.incident is None else str(obj.incident.status)

    @staticmethod
    def resolve_known_error(obj: ServiceRequest) -> str | None:
        return _ref(obj.known_error)


class RequestIn(Schema):
    title: str = Field(..., min_length=1, max_length=200)
    description: str = ""
    request_type: RequestType = RequestType.QUESTION
    channel: Channel = Channel.API
    service: str | None = Field(None, description="Reference of the service it concerns")
    requester: str | None = Field(None, description="Reference of the person; empty: yourself")


class RequestPatch(Schema):
    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = None
    request_type: RequestType | None = None
    service: str | None = None
    version: int | None = None


class RequestFilters(FilterSchema):
    status: RequestStatus | None = None
    request_type: RequestType | None = None
    channel: Channel | None = None
    outcome: RequestOutcome | None = None
    requester: Annotated[str | None, FilterLookup("requester__reference")] = None
    service: Annotated[str | None, FilterLookup("service__reference")] = None
    assigned_function: Annotated[str | None, FilterLookup("assigned_function__reference")] = None
    assignee: Annotated[str | None, FilterLookup("assignee__reference")] = None
    incident: Annotated[str | None, FilterLookup("incident__reference")] = None
    created_after: Annotated[datetime | None, FilterLookup("created_at__gte")] = None
    created_before: Annotated[datetime | None, FilterLookup("created_at__lt")] = None


def requests_for(user: Any) -> Any:
    return services.visible_requests(user).select_related(
        "requester",
        "customer",
        "service",
        "assigned_function",
        "assignee",
        "incident",
        "known_error",
    )


def _create_request(*, by: Any, **fields: Any) -> ServiceRequest:
    if not _is_agent(by) and fields.get("channel") not in (None, Channel.API, Channel.PORTAL):
        raise PermissionDenied("Only the service desk records requests from other channels.")
    return services.create_request(by=by, **fields)


def _update_request(
    obj: ServiceRequest, *, by: Any, version: int | None = None, **fields: Any
) -> ServiceRequest:
    if not fields:
        raise DomainError("Send at least one field to change besides the version.", field="request")
    return services.update_request(obj, by=by, expected_version=version, **fields)


Crud(
    path="requests",
    model=ServiceRequest,
    out=RequestOut,
    create_in=RequestIn,
    patch_in=RequestPatch,
    filters=RequestFilters,
    queryset_for=requests_for,
    create=_create_request,
    update=_update_request,
    search_fields=("title", "reference", "description"),
    sort_fields=("created_at", "updated_at", "reference", "title", "status"),
    default_sort="-created_at",
    refs=_REFS,
    tag="Service requests",
).register(router)


def _request(request: HttpRequest, ref: str) -> ServiceRequest:
    return get_object_or_404(requests_for(request.user), reference=ref)


_RTAG = ["Service requests"]


class RequestStatusIn(Schema):
    status: RequestStatus
    version: int | None = None


class AnswerIn(Schema):
    answer: str = Field(..., min_length=1)
    outcome: RequestOutcome = RequestOutcome.ANSWERED
    version: int | None = None


class ConvertIn(Schema):
    service: str | None = None
    component: str | None = None
    impact: Impact | None = None
    urgency: Urgency = Urgency.MEDIUM
    title: str | None = Field(None, min_length=1, max_length=200)
    assigned_function: str | None = None


class LinkIn(Schema):
    incident: str | None = None
    known_error: str | None = None


@router.post("/requests/{ref}/assign", response={200: RequestOut, **ERRORS}, tags=_RTAG)
def assign_request(request: HttpRequest, ref: str, payload: AssignIn) -> Any:
    return services.assign_request(
        _request(request, ref),
        by=request.user,
        function=resolve_ref(Function, payload.function, "function"),
        assignee=resolve_ref(Person, payload.assignee, "assignee"),
        expected_version=payload.version,
    )


@router.post("/requests/{ref}/status", response={200: RequestOut, **ERRORS}, tags=_RTAG)
def set_request_status(request: HttpRequest, ref: str, payload: RequestStatusIn) -> Any:
    """Move between new, in progress and waiting for requester."""
    return services.set_request_status(
        _request(request, ref),
        by=request.user,
        status=payload.status,
        expected_version=payload.version,
    )


@router.post("/requests/{ref}/answer", response={200: RequestOut, **ERRORS}, tags=_RTAG)
def answer_request(request: HttpRequest, ref: str, payload: AnswerIn) -> Any:
    """Answer, fulfil or reject the request: it is resolved with the answer."""
    return services.answer_request(
        _request(request, ref),
        by=request.user,
        answer=payload.answer,
        outcome=payload.outcome,
        expected_version=payload.version,
    )


@router.post("/requests/{ref}/incident", response={201: IncidentOut, **ERRORS}, tags=_RTAG)
def convert_request(request: HttpRequest, ref: str, payload: ConvertIn) -> Any:
    """Turn a fault report into an incident; the request follows the incident."""
    return Status(
        201,
        services.convert_request_to_incident(
            _request(request, ref),
            by=request.user,
            service=resolve_ref(Service, payload.service, "service"),
            component=resolve_ref(Component, payload.component, "component"),
            impact=payload.impact,
            urgency=payload.urgency,
            title=payload.title,
            assigned_function=resolve_ref(Function, payload.assigned_function, "assigned_function"),
        ),
    )


@router.post("/requests/{ref}/link", response={200: RequestOut, **ERRORS}, tags=_RTAG)
def link_request(request: HttpRequest, ref: str, payload: LinkIn) -> Any:
    """Link to an existing incident, or to a known error (resolves with its workaround)."""
    incident = resolve_ref(Incident, payload.incident, "incident")
    if incident is not None and not incidents_for(request.user).filter(pk=incident.pk).exists():
        raise ValidationError(
            {"incident": f"There is no incident with reference {payload.incident!r}."}
        )
    return services.link_request(
        _request(request, ref),
        by=request.user,
        incident=incident,
        known_error=resolve_ref(KnownError, payload.known_error, "known_error"),
    )


@router.post("/requests/{ref}/close", response={200: RequestOut, **ERRORS}, tags=_RTAG)
def close_request(request: HttpRequest, ref: str) -> Any:
    """Close the request (the requester confirms, or withdraws it)."""
    return services.close_request(_request(request, ref), by=request.user)


@router.post("/requests/{ref}/reopen", response={200: RequestOut, **ERRORS}, tags=_RTAG)
def reopen_request(request: HttpRequest, ref: str, payload: ReopenIn) -> Any:
    return services.reopen_request(_request(request, ref), by=request.user, reason=payload.reason)


_conversation("requests", _request, "Service requests")


# --- priority matrix (configuration) -----------------------------------------------------------


class PriorityCell(Schema):
    impact: Impact
    urgency: Urgency
    priority: Priority


@router.get(
    "/priority-matrix", response={200: list[PriorityCell], **ERRORS}, tags=["Configuration"]
)
def get_priority_matrix(request: HttpRequest) -> Any:
    """Impact x urgency -> priority, as configured."""
    require(request.user, "core.agent_access")
    return list(PriorityRule.objects.order_by("impact", "urgency"))


@router.put(
    "/priority-matrix", response={200: list[PriorityCell], **ERRORS}, tags=["Configuration"]
)
def put_priority_matrix(request: HttpRequest, payload: list[PriorityCell]) -> Any:
    """Replace the matrix; every impact x urgency cell must be given exactly once. Existing
    incidents keep their priority until their impact or urgency changes."""
    require(request.user, "operation.change_priorityrule")
    cells = [(c.impact, c.urgency) for c in payload]
    if sorted(cells) != sorted(DEFAULT_MATRIX) or len(set(cells)) != len(cells):
        raise ValidationError(
            {"body": "Give each of the 9 impact x urgency cells (1..3 x 1..3) exactly once."}
        )
    from itline.core import journal
    from itline.core.models import JournalEntry

    with transaction.atomic():
        for cell in payload:
            rule = PriorityRule.objects.select_for_update().get(
                impact=cell.impact, urgency=cell.urgency
            )
            if rule.priority != cell.priority:
                before = rule.priority
                rule.priority = cell.priority
                rule.save()
                journal.record(
                    rule,
                    by=request.user,
                    verb=JournalEntry.Verb.UPDATED,
                    changes={"priority": [before, int(cell.priority)]},
                )
    return list(PriorityRule.objects.order_by("impact", "urgency"))
