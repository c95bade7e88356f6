"""Service desk intake: every user contact starts as a service request. The desk classifies
it: answers or fulfils it, turns a fault into an incident, links it to an existing incident or
known error, or passes a proposal to the improvement register (in Delivery Control)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from itline.cmdb.models import Component, Service
from itline.core import journal
from itline.core.errors import TransitionError
from itline.core.models import JournalEntry
from itline.core.services import create_record
from itline.operation import events
from itline.operation.choices import (
    REQUEST_OPEN,
    REQUEST_TRANSITIONS,
    Channel,
    IncidentStatus,
    RequestOutcome,
    RequestStatus,
    RequestType,
)
from itline.operation.models import Incident, KnownError, ServiceRequest
from itline.operation.services.common import (
    check_member,
    check_version,
    copy_state,
    customer_of,
    guard,
    lock,
    save_with_journal,
)
from itline.org.models import Function, Person, person_of

CHANGE = "operation.change_servicerequest"
EDITABLE = {"title", "description", "request_type", "service"}


def is_requester(user: Any, req: ServiceRequest) -> bool:
    me = person_of(user) if user is not None else None
    return me is not None and me.pk == req.requester_id


def visible_requests(user: Any) -> Any:
    """Agents see every request; anyone else only their own."""
    qs = ServiceRequest.objects.all()
    if user is None or user.has_perm("operation.view_servicerequest"):
        return qs
    me = person_of(user)
    return qs.filter(requester=me) if me is not None else qs.none()


def service_desk() -> Function | None:
    return Function.objects.filter(name__iexact="Service Desk").first()


def create_request(
    *,
    by: Any,
    requester: Person | None = None,
    title: str,
    description: str = "",
    request_type: str = RequestType.QUESTION,
    channel: str = Channel.PORTAL,
    service: Service | None = None,
) -> ServiceRequest:
    """Register a contact. A person may file their own request; the desk (and the e-mail
    gateway, ``by=None``) may file one for anyone."""
    me = person_of(by) if by is not None else None
    if requester is None:
        requester = me
    if requester is None:
        raise ValidationError({"requester": "Say who the request is from."})
    if by is not None and not by.has_perm("operation.add_servicerequest"):
        if me is None or me.pk != requester.pk:
            raise PermissionDenied("You can only file requests for yourself.")
        if service is not None and not service.catalogue_visible:
            raise ValidationError({"service": "Choose a service from the catalogue."})
    if request_type not in RequestType.values:
        raise ValidationError(
            {"request_type": "Choose one of: " + ", ".join(RequestType.values) + "."}
        )
    if channel not in Channel.values:
        raise ValidationError({"channel": "Choose one of: " + ", ".join(Channel.values) + "."})
    with transaction.atomic():
        req = ServiceRequest(
            title=(title or "").strip(),
            description=description,
            request_type=request_type,
            channel=channel,
            requester=requester,
            customer=customer_of(requester),
            service=service,
            assigned_function=service_desk(),
        )
        create_record(req, by=by)
        events.publish(req, "request.created", by=by)
    return req


def _may_change(by: Any, req: ServiceRequest) -> None:
    if by is None or by.has_perm(CHANGE):
        return
    raise PermissionDenied("You are not allowed to do this (operation.change_servicerequest).")


def update_request(
    req: ServiceRequest, *, by: Any, expected_version: int | None = None, **fields: Any
) -> ServiceRequest:
    _may_change(by, req)
    unknown = sorted(set(fields) - EDITABLE)
    if unknown:
        raise ValidationError({unknown[0]: "This field cannot be edited here."})
    with transaction.atomic():
        current = lock(req)
        check_version(current, expected_version)
        before = journal.snapshot(current)
        for name, value in fields.items():
            setattr(current, name, value)
        changes = save_with_journal(current, before, by=by)
        if changes:
            events.publish(current, "request.updated", by=by, changes=changes)
    return copy_state(current, req)


def assign_request(
    req: ServiceRequest,
    *,
    by: Any,
    function: Function | None = None,
    assignee: Person | None = None,
    expected_version: int | None = None,
) -> ServiceRequest:
    _may_change(by, req)
    with transaction.atomic():
        current = lock(req)
        check_version(current, expected_version)
        if current.status not in REQUEST_OPEN:
            raise TransitionError(
                f"{current.reference} is {current.get_status_display()}; it cannot be assigned.",
                allowed=sorted(REQUEST_TRANSITIONS[current.status]),
            )
        function = function or current.assigned_function
        if function is None and assignee is None:
            raise ValidationError({"function": "Choose a function or a person."})
        check_member(function, assignee)
        before = journal.snapshot(current)
        current.assigned_function = function
        current.assignee = assignee
        if current.status == RequestStatus.NEW and assignee is not None:
            current.status = RequestStatus.IN_PROGRESS
        changes = save_with_journal(current, before, by=by, verb=JournalEntry.Verb.ASSIGNED)
        if changes:
            events.publish(current, "request.updated", by=by, changes=changes)
    return copy_state(current, req)


def set_request_status(
    req: ServiceRequest, *, by: Any, status: str, expected_version: int | None = None
) -> ServiceRequest:
    """Move between new, in progress and waiting for requester."""
    _may_change(by, req)
    if status in (RequestStatus.RESOLVED, RequestStatus.CLOSED):
        raise ValidationError(
            {"status": "Use answer/fulfil or close: they carry more than a status."}
        )
    if status not in RequestStatus.values:
        raise ValidationError({"status": f"Unknown status {status!r}."})
    with transaction.atomic():
        current = lock(req)
        check_version(current, expected_version)
        if current.status == RequestStatus.RESOLVED:
            raise TransitionError(
                "Reopen a resolved request with the reopen action.", allowed=["closed"]
            )
        guard(current, status, REQUEST_TRANSITIONS, RequestStatus)
        before = journal.snapshot(current)
        current.status = status
        changes = save_with_journal(current, before, by=by, verb=JournalEntry.Verb.STATE_CHANGED)
        events.publish(current, "request.updated", by=by, changes=changes)
    return copy_state(current, req)


def _resolve(current: ServiceRequest, *, by: Any, outcome: str, answer: str = "") -> dict[str, Any]:
    guard(current, RequestStatus.RESOLVED, REQUEST_TRANSITIONS, RequestStatus)
    before = journal.snapshot(current)
    current.status = RequestStatus.RESOLVED
    current.outcome = outcome
    if answer:
        current.answer = answer
    current.resolved_at = timezone.now()
    return save_with_journal(current, before, by=by, verb=JournalEntry.Verb.STATE_CHANGED)


def answer_request(
    req: ServiceRequest,
    *,
    by: Any,
    answer: str,
    outcome: str = RequestOutcome.ANSWERED,
    expected_version: int | None = None,
) -> ServiceRequest:
    """Answer a question or fulfil an order (also reject a request, with the reason)."""
    _may_change(by, req)
    if outcome not in (RequestOutcome.ANSWERED, RequestOutcome.FULFILLED, RequestOutcome.REJECTED):
        raise ValidationError({"outcome": "Choose answered, fulfilled or rejected."})
    if not (answer or "").strip():
        raise ValidationError({"answer": "Write the answer the requester will read."})
    with transaction.atomic():
        current = lock(req)
        check_version(current, expected_version)
        changes = _resolve(current, by=by, outcome=outcome, answer=answer.strip())
        events.publish(current, "request.resolved", by=by, changes=changes)
    return copy_state(current, req)


def convert_request_to_incident(
    req: ServiceRequest,
    *,
    by: Any,
    service: Service | None = None,
    component: Component | None = None,
    impact: int | None = None,
    urgency: int = 2,
    title: str | None = None,
    assigned_function: Function | None = None,
) -> Incident:
    """Turn a fault report into an incident. The request stays open and follows the
    incident: when the incident is resolved, so is the request."""
    _may_change(by, req)
    from itline.operation.services.incidents import create_incident

    with transaction.atomic():
        current = lock(req)
        if current.status not in REQUEST_OPEN:
            raise TransitionError(
                f"{current.reference} is {current.get_status_display()}; reopen it first.",
                allowed=sorted(REQUEST_TRANSITIONS[current.status]),
            )
        if current.incident_id:
            raise ValidationError({"incident": f"{current.reference} already has an incident."})
        incident = create_incident(
            by=by,
            title=title or current.title,
            description=current.description,
            service=service or current.service,
            component=component,
            impact=impact,
            urgency=urgency,
            caller=current.requester,
            assigned_function=assigned_function,
            channel=current.channel,
            request=current,
        )
        before = journal.snapshot(current)
        current.incident = incident
        current.outcome = RequestOutcome.INCIDENT
        if current.status == RequestStatus.NEW:
            current.status = RequestStatus.IN_PROGRESS
        changes = save_with_journal(
            current,
            before,
            by=by,
            verb=JournalEntry.Verb.UPDATED,
            message=f"turned into {incident.reference}",
        )
        events.publish(current, "request.updated", by=by, changes=changes)
    copy_state(current, req)
    return incident


def link_request(
    req: ServiceRequest,
    *,
    by: Any,
    incident: Incident | None = None,
    known_error: KnownError | None = None,
) -> ServiceRequest:
    """Link to an existing incident (the request follows it) or a known error (the requester
    gets its workaround and the request is resolved)."""
    _may_change(by, req)
    if (incident is None) == (known_error is None):
        raise ValidationError({"incident": "Link either an incident or a known error."})
    with transaction.atomic():
        current = lock(req)
        if current.status not in REQUEST_OPEN:
            raise TransitionError(
                f"{current.reference} is {current.get_status_display()}.",
                allowed=sorted(REQUEST_TRANSITIONS[current.status]),
            )
        if incident is not None:
            if incident.merged_into is not None:
                incident = incident.merged_into
            if incident.status == IncidentStatus.CLOSED:
                raise ValidationError({"incident": f"{incident.reference} is closed."})
            before = journal.snapshot(current)
            current.incident = incident
            current.outcome = RequestOutcome.LINKED_INCIDENT
            if current.status == RequestStatus.NEW:
                current.status = RequestStatus.IN_PROGRESS
            changes = save_with_journal(current, before, by=by)
            event = "request.updated"
        else:
            assert known_error is not None
            if not known_error.active:
                raise ValidationError({"known_error": f"{known_error.reference} is retired."})
            current.known_error = known_error
            changes = _resolve(
                current,
                by=by,
                outcome=RequestOutcome.KNOWN_ERROR,
                answer=f"This is a known error ({known_error.reference}). Workaround: {known_error.workaround}",
            )
            event = "request.resolved"
        events.publish(current, event, by=by, changes=changes)
    return copy_state(current, req)


def close_request(req: ServiceRequest, *, by: Any) -> ServiceRequest:
    """The requester closes their request (confirming it is solved, or withdrawing it); the
    desk may close too. Closing an open request records it as withdrawn."""
    if not is_requester(by, req):
        _may_change(by, req)
    with transaction.atomic():
        current = lock(req)
        guard(current, RequestStatus.CLOSED, REQUEST_TRANSITIONS, RequestStatus)
        before = journal.snapshot(current)
        if current.status in REQUEST_OPEN and not current.outcome:
            current.outcome = RequestOutcome.WITHDRAWN
        current.status = RequestStatus.CLOSED
        current.closed_at = timezone.now()
        changes = save_with_journal(current, before, by=by, verb=JournalEntry.Verb.STATE_CHANGED)
        incident = current.incident
        events.publish(current, "request.closed", by=by, changes=changes)
        if (
            incident is not None
            and incident.status == IncidentStatus.RESOLVED
            and not incident.requests.exclude(pk=current.pk)
            .exclude(status=RequestStatus.CLOSED)
            .exists()
        ):
            # The requester confirmed the fix: the incident is closed with the request.
            from itline.operation.services.incidents import close_incident

            close_incident(incident, by=None)
    return copy_state(current, req)


def reopen_request(req: ServiceRequest, *, by: Any, reason: str = "") -> ServiceRequest:
    """A reply on a resolved request reopens it (requester or desk)."""
    if not is_requester(by, req):
        _may_change(by, req)
    with transaction.atomic():
        current = lock(req)
        if current.status != RequestStatus.RESOLVED:
            raise TransitionError(
                f"Only a resolved request can be reopened; {current.reference} is {current.get_status_display()}.",
                allowed=sorted(REQUEST_TRANSITIONS[current.status]),
            )
        before = journal.snapshot(current)
        current.status = RequestStatus.IN_PROGRESS
        current.resolved_at = None
        changes = save_with_journal(
            current,
            before,
            by=by,
            verb=JournalEntry.Verb.STATE_CHANGED,
            message=reason or "reopened",
        )
        incident = current.incident
        if incident is not None and incident.status == IncidentStatus.RESOLVED:
            from itline.operation.services.incidents import can_reopen, reopen_incident

            if can_reopen(incident):
                reopen_incident(
                    incident, by=None, reason=f"{current.reference} reopened by the requester"
                )
        events.publish(current, "request.updated", by=by, changes=changes)
    return copy_state(current, req)


def resolve_requests_of_incident(incident: Incident, *, by: Any) -> None:
    """Called inside the incident's resolve: open requests that follow it are resolved with
    the incident's resolution, so the requesters hear about it."""
    for req in incident.requests.filter(status__in=REQUEST_OPEN).select_for_update():
        changes = _resolve(
            req, by=by, outcome=req.outcome or RequestOutcome.INCIDENT, answer=incident.resolution
        )
        events.publish(req, "request.resolved", by=by, changes=changes)
