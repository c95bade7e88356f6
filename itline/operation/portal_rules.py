"""What the requester portal shows of a record: statuses in the requester's words, which
records are theirs, and which messages and files of a record they may read. Internal notes,
mails to agents and files agents keep to themselves never reach the portal."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from itline.core import journal
from itline.operation.choices import (
    INCIDENT_OPEN,
    PUBLIC_MESSAGE_KINDS,
    REQUEST_OPEN,
    HoldReason,
    IncidentStatus,
    MessageKind,
    RequestStatus,
)
from itline.operation.models import Attachment, Incident, Message, ServiceRequest
from itline.org.models import Person

# --- status in plain words --------------------------------------------------------------------
# (pill label, pill colour, explanation). The portal speaks to people outside IT, so the
# labels are theirs ("Waiting for you"), not the desk's ("Waiting for requester").
REQUEST_STATUS: dict[str, tuple[str, str, str]] = {
    RequestStatus.NEW: (
        "Received",
        "blue",
        "We have received your request. The service desk will pick it up shortly.",
    ),
    RequestStatus.IN_PROGRESS: (
        "In progress",
        "blue",
        "The service desk is working on your request.",
    ),
    RequestStatus.WAITING_FOR_REQUESTER: (
        "Waiting for you",
        "amber",
        "The service desk needs something from you before it can go on. Please reply below.",
    ),
    RequestStatus.RESOLVED: (
        "Resolved",
        "green",
        "The service desk considers this done. If you agree, close the request. If something "
        "is still wrong, reply below and the request is reopened.",
    ),
    RequestStatus.CLOSED: (
        "Closed",
        "grey",
        "This request is closed. If you need more help, submit a new request.",
    ),
}
INCIDENT_STATUS: dict[str, tuple[str, str, str]] = {
    IncidentStatus.NEW: (
        "Registered",
        "blue",
        "The fault is registered; a support team is being assigned.",
    ),
    IncidentStatus.ASSIGNED: (
        "Assigned",
        "blue",
        "A support team has taken the fault on and will start on it shortly.",
    ),
    IncidentStatus.IN_PROGRESS: (
        "Being fixed",
        "blue",
        "An engineer is working on the fault.",
    ),
    IncidentStatus.ON_HOLD: (
        "On hold",
        "amber",
        "Work is paused for now.",
    ),
    IncidentStatus.RESOLVED: (
        "Fixed",
        "green",
        "The fault has been fixed. If it still happens, reply and tell us.",
    ),
    IncidentStatus.CLOSED: ("Closed", "grey", "The fault is fixed and the incident is closed."),
}
HOLD_TEXT: dict[str, tuple[str, str]] = {
    HoldReason.WAITING_FOR_CUSTOMER: (
        "Waiting for you",
        "Work is paused until we hear from you. Please reply below.",
    ),
    HoldReason.WAITING_FOR_SUPPLIER: (
        "Waiting for a supplier",
        "Work is paused while an external supplier does their part.",
    ),
    HoldReason.WAITING_FOR_CHANGE: (
        "Waiting for a planned change",
        "The fix needs a planned change, which has not been carried out yet.",
    ),
}

# Filter chips of "My requests": a few groups people understand, across both record types.
STATE_FILTERS: dict[str, tuple[str, Q, Q]] = {
    # param value: (label, request condition, incident condition)
    "open": (
        "Open",
        Q(status__in=REQUEST_OPEN),
        Q(status__in=INCIDENT_OPEN),
    ),
    "waiting": (
        "Waiting for you",
        Q(status=RequestStatus.WAITING_FOR_REQUESTER),
        Q(status=IncidentStatus.ON_HOLD, hold_reason=HoldReason.WAITING_FOR_CUSTOMER),
    ),
    "resolved": (
        "Resolved",
        Q(status=RequestStatus.RESOLVED),
        Q(status=IncidentStatus.RESOLVED),
    ),
    "closed": (
        "Closed",
        Q(status=RequestStatus.CLOSED),
        Q(status=IncidentStatus.CLOSED),
    ),
}


def request_state(req: ServiceRequest) -> dict[str, str]:
    label, colour, text = REQUEST_STATUS.get(req.status, (req.status, "grey", ""))
    return {"label": label, "colour": colour, "text": text}


def incident_state(inc: Incident) -> dict[str, str]:
    label, colour, text = INCIDENT_STATUS.get(inc.status, (inc.status, "grey", ""))
    if inc.status == IncidentStatus.ON_HOLD and inc.hold_reason in HOLD_TEXT:
        label, text = HOLD_TEXT[inc.hold_reason]
    return {"label": label, "colour": colour, "text": text}


# --- which records and messages are the person's -----------------------------------------


def my_requests(person: Person) -> QuerySet[ServiceRequest]:
    return ServiceRequest.objects.filter(requester=person)


def my_incidents(person: Person) -> QuerySet[Incident]:
    """Incidents the person called in, or that one of their requests became."""
    return Incident.objects.filter(
        Q(caller=person)
        | Q(
            pk__in=ServiceRequest.objects.filter(requester=person, incident__isnull=False).values(
                "incident"
            )
        )
    )


def public_to(message: Message, person: Person) -> bool:
    """Whether the requester may read ``message``: replies, received e-mails and stakeholder
    updates; of the e-mails sent, only those sent to them (a notification to the assignee may
    quote an internal note). Internal notes never."""
    if message.kind not in PUBLIC_MESSAGE_KINDS:
        return False
    if message.kind == MessageKind.EMAIL_OUT:
        mine = (person.email or "").strip().lower()
        return bool(mine) and mine in {str(a).strip().lower() for a in message.to_addresses or []}
    return True


def conversation(record: Any, person: Person) -> list[dict[str, Any]]:
    """The public side of a record's timeline: replies, e-mails and stakeholder updates with
    their attachments, plus the status changes, oldest first."""
    ct = journal.content_type_for(record)
    msgs = [
        m
        for m in Message.objects.filter(
            content_type=ct, object_id=str(record.pk), kind__in=PUBLIC_MESSAGE_KINDS
        )
        .select_related("author")
        .prefetch_related("attachments")
        .order_by("created_at", "id")
        if public_to(m, person)
    ]
    items: list[dict[str, Any]] = []
    for m in msgs:
        mine = m.author_id == person.pk and m.kind != MessageKind.EMAIL_OUT
        if m.kind == MessageKind.EMAIL_OUT:
            who = "E-mail sent to you"
        elif mine:
            who = "You" + (" (by e-mail)" if m.kind == MessageKind.EMAIL_IN else "")
        elif m.author is not None:
            who = f"{m.author.name}, service desk"
        elif m.kind == MessageKind.EMAIL_IN:
            who = m.from_address or "E-mail"
        else:
            who = "Service desk"
        items.append(
            {
                "type": "message",
                "at": m.created_at,
                "who": who,
                "mine": mine,
                "kind": m.kind,
                "kind_label": "Update" if m.kind == MessageKind.UPDATE else "",
                "subject": m.subject,
                "body": m.body,
                "attachments": list(m.attachments.all()),
            }
        )
    labels = REQUEST_STATUS if isinstance(record, ServiceRequest) else INCIDENT_STATUS
    for entry in journal.entries_for(record).select_related(None).only("at", "changes"):
        change = (entry.changes or {}).get("status")
        if not change or not isinstance(change, list) or len(change) != 2:
            continue
        before, after = change
        if before is None:  # the creation itself: the record's own header says it
            continue
        label = labels.get(after, (str(after), "grey", ""))
        items.append({"type": "status", "at": entry.at, "label": label[0], "colour": label[1]})
    items.sort(key=lambda i: i["at"])
    return items


def public_attachments(record: Any, person: Person) -> list[Attachment]:
    """Files on the record that the requester may see: those they added themselves, and
    those on a message they may read. Files an agent added on their own, or on an internal
    note, stay internal."""
    ct = journal.content_type_for(record)
    files = (
        Attachment.objects.filter(content_type=ct, object_id=str(record.pk))
        .filter(
            Q(message__isnull=True, created_by_id=person.user_id)
            | Q(message__kind__in=PUBLIC_MESSAGE_KINDS)
        )
        .select_related("message")
        .order_by("created_at", "id")
    )
    return [f for f in files if f.message is None or public_to(f.message, person)]
