"""Incident verbs: register, route, prioritise, assign, move through the transition table,
resolve, close, reopen, merge duplicates, major incident communication, known errors.

Every verb re-reads the incident under a row lock inside its transaction, so two agents
acting at once serialise and neither change is lost; a caller that passes
``expected_version`` (forms and the API do) is told when someone else changed the incident
since it was read."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from itline.cmdb.models import Component, Service
from itline.core import journal
from itline.core.errors import DomainError, TransitionError
from itline.core.models import JournalEntry
from itline.core.services import create_record, require
from itline.operation import events, sla
from itline.operation.choices import (
    INCIDENT_OPEN,
    INCIDENT_TRANSITIONS,
    HoldReason,
    IncidentStatus,
    MessageKind,
    ResolutionCategory,
)
from itline.operation.defaults import DEFAULT_MATRIX
from itline.operation.models import Incident, KnownError, PriorityRule
from itline.operation.services.common import (
    bump,
    check_member,
    check_version,
    copy_state,
    customer_of,
    guard,
    lock,
    reopen_days,
    save_with_journal,
)
from itline.org.models import Function, Person

CHANGE = "operation.change_incident"
EDITABLE = {
    "title",
    "description",
    "service",
    "component",
    "impact",
    "urgency",
    "caller",
    "workaround",
    "resolution_category",
}


def priority_for(impact: int, urgency: int) -> int:
    """The priority the configured matrix gives; the default matrix fills a missing cell."""
    rule = PriorityRule.objects.filter(impact=impact, urgency=urgency).values_list(
        "priority", flat=True
    )
    found = rule.first()
    if found is not None:
        return int(found)
    try:
        return DEFAULT_MATRIX[(int(impact), int(urgency))]
    except KeyError:
        raise ValidationError(
            {"impact": "Impact and urgency must be 1 (high) to 3 (low)."}
        ) from None


def propose_impact(
    *, service: Service | None = None, component: Component | None = None
) -> tuple[int, str]:
    """Impact proposed from the structure: how critical the affected services are and how
    many of them (and their customers) the failure reaches through the impact engine."""
    from itline.cmdb.impact import impact as traverse

    starts = [n.pk for n in (service, component) if n is not None]
    if not starts:
        return 2, "No service or component given; medium by default."
    result = traverse(starts, "up")
    service_ids = {int(i) for i in result.service_ids.tolist()}
    if service is not None:
        service_ids.add(service.pk)
    services = list(Service.objects.filter(pk__in=service_ids).only("name", "criticality"))
    if not services:
        return 3, "No service depends on this component; low impact."
    top = max(s.criticality for s in services)
    customers = len(result.customers()) if service_ids else 0
    most = max(services, key=lambda s: s.criticality)
    why = (
        f"{len(services)} service(s) affected, the most critical {most.name} "
        f"(criticality {top}/5), {customers} customer(s)."
    )
    if top >= 4 or len(services) >= 5 or customers >= 3:
        return 1, "High: " + why
    if top >= 3 or len(services) >= 2:
        return 2, "Medium: " + why
    return 3, "Low: " + why


def route(*, service: Service | None = None, component: Component | None = None) -> Function | None:
    """The owner function of the component, else of the service."""
    for node in (component, service):
        if node is not None and node.owner_function_id:
            return Function.objects.filter(pk=node.owner_function_id).first()
    return None


def _agreement_for(customer: Any, service: Service | None) -> Any:
    try:
        from itline.relations.services import agreement_for
    except ImportError:  # pragma: no cover - relations verbs land in the same change
        return None
    return agreement_for(customer=customer, service=service)


def create_incident(
    *,
    by: Any,
    title: str,
    description: str = "",
    service: Service | None = None,
    component: Component | None = None,
    impact: int | None = None,
    urgency: int = 2,
    caller: Person | None = None,
    assigned_function: Function | None = None,
    assignee: Person | None = None,
    major: bool = False,
    channel: str = "api",
    request: Any = None,
) -> Incident:
    require(by, "operation.add_incident")
    if service is None and component is None:
        raise ValidationError({"service": "Name the affected service or component (at least one)."})
    if impact is None:
        impact = propose_impact(service=service, component=component)[0]
    with transaction.atomic():
        customer = customer_of(caller)
        function = assigned_function or route(service=service, component=component)
        incident = Incident(
            title=title,
            description=description,
            service=service,
            component=component,
            impact=impact,
            urgency=urgency,
            priority=priority_for(impact, urgency),
            caller=caller,
            customer=customer,
            assigned_function=function,
            assignee=assignee,
            major=major,
            channel=channel,
        )
        incident.agreement = _agreement_for(customer, service)
        if assignee is not None or function is not None:
            incident.status = IncidentStatus.ASSIGNED
        create_record(
            incident, by=by, message=f"from {request.reference}" if request is not None else ""
        )
        sla.refresh(incident)
        events.publish(incident, "incident.created", by=by)
    return incident


def update_incident(
    incident: Incident, *, by: Any, expected_version: int | None = None, **fields: Any
) -> Incident:
    """Edit the descriptive fields; impact/urgency recompute the priority, and a new service
    or component re-evaluates the agreement."""
    require(by, CHANGE)
    unknown = sorted(set(fields) - EDITABLE)
    if unknown:
        raise ValidationError({unknown[0]: "This field cannot be edited here."})
    with transaction.atomic():
        current = lock(incident)
        check_version(current, expected_version)
        before = journal.snapshot(current)
        for name, value in fields.items():
            setattr(current, name, value)
        if "impact" in fields or "urgency" in fields:
            current.priority = priority_for(current.impact, current.urgency)
        if "service" in fields or "caller" in fields:
            current.customer = customer_of(current.caller)
            current.agreement = _agreement_for(current.customer, current.service)
        changes = save_with_journal(current, before, by=by)
        if changes:
            sla.refresh(current)
            events.publish(current, "incident.updated", by=by, changes=changes)
    return copy_state(current, incident)


def assign_incident(
    incident: Incident,
    *,
    by: Any,
    function: Function | None = None,
    assignee: Person | None = None,
    expected_version: int | None = None,
) -> Incident:
    """Give the incident to a function and optionally a person. A person who is not a member
    of the function is refused; a new incident moves to assigned."""
    require(by, CHANGE)
    with transaction.atomic():
        current = lock(incident)
        check_version(current, expected_version)
        if current.status not in INCIDENT_OPEN:
            raise TransitionError(
                f"{current.reference} is {current.get_status_display()}; reopen it before assigning.",
                allowed=sorted(INCIDENT_TRANSITIONS[current.status]),
            )
        function = function or current.assigned_function
        if function is None and assignee is None:
            raise ValidationError({"function": "Choose a function or a person."})
        check_member(function, assignee)
        before = journal.snapshot(current)
        current.assigned_function = function
        current.assignee = assignee
        if current.status == IncidentStatus.NEW:
            current.status = IncidentStatus.ASSIGNED
        changes = save_with_journal(current, before, by=by, verb=JournalEntry.Verb.ASSIGNED)
        if changes:
            sla.refresh(current)
            events.publish(current, "incident.assigned", by=by, changes=changes)
    return copy_state(current, incident)


def transition_incident(
    incident: Incident,
    *,
    by: Any,
    status: str,
    hold_reason: str = "",
    expected_version: int | None = None,
    message: str = "",
) -> Incident:
    """Move to assigned, in progress or on hold. Resolving, closing and reopening have their
    own verbs because they carry more than a status."""
    require(by, CHANGE)
    if status in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED):
        raise DomainError(f"Use the {status} action: it needs more than a status.", field="status")
    if status not in IncidentStatus.values:
        raise ValidationError({"status": f"Unknown status {status!r}."})
    with transaction.atomic():
        current = lock(incident)
        check_version(current, expected_version)
        if current.status == IncidentStatus.RESOLVED and status == IncidentStatus.IN_PROGRESS:
            raise DomainError("Reopen a resolved incident with the reopen action.", field="status")
        guard(current, status, INCIDENT_TRANSITIONS, IncidentStatus)
        if status == IncidentStatus.ON_HOLD and hold_reason not in HoldReason.values[1:]:
            raise ValidationError(
                {
                    "hold_reason": "Say why the incident is on hold: "
                    + ", ".join(HoldReason.values[1:])
                    + "."
                }
            )
        before = journal.snapshot(current)
        current.status = status
        current.hold_reason = hold_reason if status == IncidentStatus.ON_HOLD else ""
        if (
            status in (IncidentStatus.IN_PROGRESS, IncidentStatus.ON_HOLD)
            and not current.responded_at
        ):
            current.responded_at = timezone.now()
        if status == IncidentStatus.IN_PROGRESS and current.assignee is None:
            from itline.org.models import person_of

            me = person_of(by)
            if me is not None:
                current.assignee = me
        changes = save_with_journal(
            current, before, by=by, verb=JournalEntry.Verb.STATE_CHANGED, message=message
        )
        sla.refresh(current)
        events.publish(current, "incident.updated", by=by, changes=changes)
    return copy_state(current, incident)


def acknowledge(incident: Incident, *, by: Any) -> Incident:
    """Take the incident: assign it to me and start work (the on-call path)."""
    from itline.org.models import person_of

    me = person_of(by)
    if me is None:
        raise DomainError("Your login has no person record; ask an administrator.")
    with transaction.atomic():
        current = lock(incident)
        if current.assignee_id != me.pk:
            function = current.assigned_function
            if function is not None and not function.memberships.filter(person=me).exists():
                function = me.functions.first() or function
            assign_incident(current, by=by, function=function, assignee=me)
        if current.status in (IncidentStatus.NEW, IncidentStatus.ASSIGNED, IncidentStatus.ON_HOLD):
            transition_incident(current, by=by, status=IncidentStatus.IN_PROGRESS)
    return copy_state(current, incident)


def resolve_incident(
    incident: Incident,
    *,
    by: Any,
    resolution: str,
    category: str = ResolutionCategory.FIXED,
    workaround: str | None = None,
    expected_version: int | None = None,
) -> Incident:
    require(by, CHANGE)
    if not (resolution or "").strip():
        raise ValidationError({"resolution": "Describe how the incident was resolved."})
    if category not in ResolutionCategory.values or not category:
        raise ValidationError(
            {"category": "Choose one of: " + ", ".join(ResolutionCategory.values[1:]) + "."}
        )
    with transaction.atomic():
        current = lock(incident)
        check_version(current, expected_version)
        guard(current, IncidentStatus.RESOLVED, INCIDENT_TRANSITIONS, IncidentStatus)
        before = journal.snapshot(current)
        now = timezone.now()
        current.status = IncidentStatus.RESOLVED
        current.hold_reason = ""
        current.resolution = resolution.strip()
        current.resolution_category = category
        if workaround is not None:
            current.workaround = workaround
        current.resolved_at = now
        current.responded_at = current.responded_at or now
        changes = save_with_journal(current, before, by=by, verb=JournalEntry.Verb.STATE_CHANGED)
        sla.refresh(current)
        from itline.operation.services.intake import resolve_requests_of_incident

        resolve_requests_of_incident(current, by=by)
        events.publish(current, "incident.resolved", by=by, changes=changes)
    return copy_state(current, incident)


def close_incident(incident: Incident, *, by: Any, expected_version: int | None = None) -> Incident:
    require(by, CHANGE)
    with transaction.atomic():
        current = lock(incident)
        check_version(current, expected_version)
        guard(current, IncidentStatus.CLOSED, INCIDENT_TRANSITIONS, IncidentStatus)
        if current.status != IncidentStatus.RESOLVED and not current.merged_into_id:
            raise TransitionError(
                f"{current.reference} must be resolved before it is closed.",
                allowed=sorted(INCIDENT_TRANSITIONS[current.status]),
            )
        before = journal.snapshot(current)
        current.status = IncidentStatus.CLOSED
        current.closed_at = timezone.now()
        changes = save_with_journal(current, before, by=by, verb=JournalEntry.Verb.STATE_CHANGED)
        sla.refresh(current)
        events.publish(current, "incident.closed", by=by, changes=changes)
    return copy_state(current, incident)


def can_reopen(incident: Incident, now: Any = None) -> bool:
    if incident.status != IncidentStatus.RESOLVED or incident.resolved_at is None:
        return False
    return (now or timezone.now()) - incident.resolved_at <= timedelta(days=reopen_days())


def reopen_incident(
    incident: Incident, *, by: Any, reason: str = "", expected_version: int | None = None
) -> Incident:
    """Back to in progress: only a resolved incident, within the reopen period."""
    from itline.org.models import person_of

    with transaction.atomic():
        current = lock(incident)
        caller_reopens = (
            by is not None
            and current.caller_id is not None
            and getattr(person_of(by), "pk", None) == current.caller_id
        )
        if not caller_reopens:
            require(by, CHANGE)
        check_version(current, expected_version)
        if current.status != IncidentStatus.RESOLVED:
            raise TransitionError(
                f"Only a resolved incident can be reopened; {current.reference} is "
                f"{current.get_status_display()}.",
                allowed=sorted(INCIDENT_TRANSITIONS[current.status]),
            )
        if not can_reopen(current):
            raise TransitionError(
                f"{current.reference} was resolved more than {reopen_days()} days ago; "
                "open a new incident instead.",
                allowed=[IncidentStatus.CLOSED],
            )
        before = journal.snapshot(current)
        current.status = IncidentStatus.IN_PROGRESS
        current.resolved_at = None
        current.resolution = ""
        current.resolution_category = ""
        changes = save_with_journal(
            current,
            before,
            by=by,
            verb=JournalEntry.Verb.STATE_CHANGED,
            message=reason or "reopened",
        )
        sla.refresh(current)
        events.publish(current, "incident.reopened", by=by, changes=changes)
    return copy_state(current, incident)


def merge_incident(duplicate: Incident, *, into: Incident, by: Any) -> Incident:
    """Close ``duplicate`` as merged into ``into``: its requests and messages' contacts follow
    the survivor and are told."""
    require(by, CHANGE)
    if duplicate.pk == into.pk:
        raise ValidationError({"into": "An incident cannot be merged into itself."})
    with transaction.atomic():
        current = lock(duplicate)
        survivor = lock(into)
        if survivor.merged_into_id:
            raise ValidationError(
                {"into": f"{survivor.reference} is itself merged; merge into the survivor."}
            )
        if survivor.status not in INCIDENT_OPEN and survivor.status != IncidentStatus.RESOLVED:
            raise ValidationError({"into": f"{survivor.reference} is closed."})
        if current.status == IncidentStatus.CLOSED:
            raise TransitionError(f"{current.reference} is already closed.", allowed=[])
        before = journal.snapshot(current)
        current.merged_into = survivor
        current.status = IncidentStatus.CLOSED
        current.hold_reason = ""
        current.resolution = f"Duplicate of {survivor.reference}."
        current.resolution_category = ResolutionCategory.DUPLICATE
        now = timezone.now()
        current.resolved_at = current.resolved_at or now
        current.closed_at = now
        changes = save_with_journal(
            current,
            before,
            by=by,
            verb=JournalEntry.Verb.STATE_CHANGED,
            message=f"merged into {survivor.reference}",
        )
        moved = list(current.requests.values_list("pk", flat=True))
        current.requests.update(incident=survivor)
        journal.record(
            survivor,
            by=by,
            verb=JournalEntry.Verb.UPDATED,
            message=f"{current.reference} merged into this incident"
            + (f"; {len(moved)} request(s) moved" if moved else ""),
        )
        bump(survivor)
        survivor.save(update_fields=["version", "updated_at"])
        sla.refresh(current)
        events.publish(
            current, "incident.merged", by=by, changes=changes, extra={"into": survivor.reference}
        )
    return copy_state(current, duplicate)


def set_major(
    incident: Incident, *, by: Any, major: bool, expected_version: int | None = None
) -> Incident:
    require(by, CHANGE)
    with transaction.atomic():
        current = lock(incident)
        check_version(current, expected_version)
        before = journal.snapshot(current)
        current.major = bool(major)
        changes = save_with_journal(current, before, by=by)
        if changes:
            events.publish(current, "incident.updated", by=by, changes=changes)
    return copy_state(current, incident)


def post_major_update(incident: Incident, *, by: Any, body: str) -> Any:
    """A stakeholder update of a major incident: on the timeline, and e-mailed to the
    caller, the contacts of linked requests and the customers' decision makers."""
    require(by, CHANGE)
    if not incident.major:
        raise DomainError(
            f"{incident.reference} is not a major incident; flag it major first.", field="major"
        )
    if not (body or "").strip():
        raise ValidationError({"body": "Write the update."})
    from itline.operation.services.messages import add_message

    with transaction.atomic():
        message = add_message(incident, by=by, kind=MessageKind.UPDATE, body=body.strip())
        events.publish(incident, "incident.major_update", by=by, extra={"message": message.pk})
    return message


def apply_known_error(incident: Incident, known_error: KnownError, *, by: Any) -> Incident:
    """Link the known error and copy its workaround onto the incident."""
    require(by, CHANGE)
    if not known_error.active:
        raise ValidationError({"known_error": f"{known_error.reference} is retired."})
    with transaction.atomic():
        current = lock(incident)
        before = journal.snapshot(current)
        current.known_error = known_error
        if known_error.workaround and known_error.workaround not in current.workaround:
            current.workaround = (
                current.workaround + "\n\n" if current.workaround else ""
            ) + f"From {known_error.reference}: {known_error.workaround}"
        if known_error.problem_id and not current.problem_id:
            current.problem_id = known_error.problem_id
        changes = save_with_journal(current, before, by=by)
        if changes:
            events.publish(current, "incident.updated", by=by, changes=changes)
    return copy_state(current, incident)


def visible_incidents(user: Any) -> Any:
    """Agents see every incident; anyone else only those they are the caller of."""
    from itline.org.models import person_of

    qs = Incident.objects.all()
    if user is None or user.has_perm("operation.view_incident"):
        return qs
    me = person_of(user)
    return qs.filter(caller=me) if me is not None else qs.none()


def check_can_view(user: Any, incident: Incident) -> None:
    if not visible_incidents(user).filter(pk=incident.pk).exists():
        raise PermissionDenied("You cannot see this incident.")
