"""Statuses and transition tables of the Operation records. One status field per workflow
record; the tables below are the only place that says which move is legal."""

from __future__ import annotations

from django.db import models


class RequestType(models.TextChoices):
    QUESTION = "question", "Question"
    ORDER = "order", "Order"
    FAULT_REPORT = "fault_report", "Fault report"
    COMPLAINT = "complaint", "Complaint"
    IMPROVEMENT_PROPOSAL = "improvement_proposal", "Improvement proposal"


class Channel(models.TextChoices):
    PORTAL = "portal", "Portal"
    EMAIL = "email", "E-mail"
    PHONE = "phone", "Phone"
    API = "api", "API"
    MONITORING = "monitoring", "Monitoring"


class RequestStatus(models.TextChoices):
    NEW = "new", "New"
    IN_PROGRESS = "in_progress", "In progress"
    WAITING_FOR_REQUESTER = "waiting_for_requester", "Waiting for requester"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


REQUEST_TRANSITIONS: dict[str, frozenset[str]] = {
    RequestStatus.NEW: frozenset(
        {
            RequestStatus.IN_PROGRESS,
            RequestStatus.WAITING_FOR_REQUESTER,
            RequestStatus.RESOLVED,
            RequestStatus.CLOSED,
        }
    ),
    RequestStatus.IN_PROGRESS: frozenset(
        {RequestStatus.WAITING_FOR_REQUESTER, RequestStatus.RESOLVED, RequestStatus.CLOSED}
    ),
    RequestStatus.WAITING_FOR_REQUESTER: frozenset(
        {RequestStatus.IN_PROGRESS, RequestStatus.RESOLVED, RequestStatus.CLOSED}
    ),
    RequestStatus.RESOLVED: frozenset({RequestStatus.CLOSED, RequestStatus.IN_PROGRESS}),
    RequestStatus.CLOSED: frozenset(),
}
REQUEST_OPEN = frozenset(
    {RequestStatus.NEW, RequestStatus.IN_PROGRESS, RequestStatus.WAITING_FOR_REQUESTER}
)


class RequestOutcome(models.TextChoices):
    """How the service desk dealt with a request."""

    NONE = "", "Not yet decided"
    ANSWERED = "answered", "Answered"
    FULFILLED = "fulfilled", "Fulfilled"
    INCIDENT = "incident", "Turned into an incident"
    LINKED_INCIDENT = "linked_incident", "Linked to an existing incident"
    KNOWN_ERROR = "known_error", "Linked to a known error"
    IMPROVEMENT = "improvement", "Passed to the improvement register"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn by the requester"


class IncidentStatus(models.TextChoices):
    NEW = "new", "New"
    ASSIGNED = "assigned", "Assigned"
    IN_PROGRESS = "in_progress", "In progress"
    ON_HOLD = "on_hold", "On hold"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


INCIDENT_TRANSITIONS: dict[str, frozenset[str]] = {
    IncidentStatus.NEW: frozenset(
        {
            IncidentStatus.ASSIGNED,
            IncidentStatus.IN_PROGRESS,
            IncidentStatus.ON_HOLD,
            IncidentStatus.RESOLVED,
            IncidentStatus.CLOSED,
        }
    ),
    IncidentStatus.ASSIGNED: frozenset(
        {
            IncidentStatus.IN_PROGRESS,
            IncidentStatus.ON_HOLD,
            IncidentStatus.RESOLVED,
            IncidentStatus.CLOSED,
        }
    ),
    IncidentStatus.IN_PROGRESS: frozenset(
        {
            IncidentStatus.ASSIGNED,
            IncidentStatus.ON_HOLD,
            IncidentStatus.RESOLVED,
            IncidentStatus.CLOSED,
        }
    ),
    IncidentStatus.ON_HOLD: frozenset(
        {
            IncidentStatus.ASSIGNED,
            IncidentStatus.IN_PROGRESS,
            IncidentStatus.RESOLVED,
            IncidentStatus.CLOSED,
        }
    ),
    # Reopening (resolved -> in progress) is further limited to the reopen period.
    IncidentStatus.RESOLVED: frozenset({IncidentStatus.CLOSED, IncidentStatus.IN_PROGRESS}),
    IncidentStatus.CLOSED: frozenset(),
}
INCIDENT_OPEN = frozenset(
    {
        IncidentStatus.NEW,
        IncidentStatus.ASSIGNED,
        IncidentStatus.IN_PROGRESS,
        IncidentStatus.ON_HOLD,
    }
)
# The same, in a fixed order: queries must spell "status IN (...)" exactly as the partial
# queue indexes do, or SQLite and PostgreSQL cannot prove the index covers them.
INCIDENT_OPEN_ORDERED: tuple[str, ...] = tuple(sorted(str(s) for s in INCIDENT_OPEN))


class HoldReason(models.TextChoices):
    NONE = "", "—"
    WAITING_FOR_CUSTOMER = "waiting_for_customer", "Waiting for customer"
    WAITING_FOR_SUPPLIER = "waiting_for_supplier", "Waiting for supplier"
    WAITING_FOR_CHANGE = "waiting_for_change", "Waiting for change"


class Impact(models.IntegerChoices):
    HIGH = 1, "High"
    MEDIUM = 2, "Medium"
    LOW = 3, "Low"


class Urgency(models.IntegerChoices):
    HIGH = 1, "High"
    MEDIUM = 2, "Medium"
    LOW = 3, "Low"


class Priority(models.IntegerChoices):
    CRITICAL = 1, "P1 critical"
    HIGH = 2, "P2 high"
    MEDIUM = 3, "P3 medium"
    LOW = 4, "P4 low"


class ResolutionCategory(models.TextChoices):
    NONE = "", "—"
    FIXED = "fixed", "Fixed"
    WORKAROUND = "workaround", "Workaround applied"
    CONFIGURATION = "configuration", "Configuration corrected"
    HARDWARE = "hardware", "Hardware replaced"
    SOFTWARE = "software", "Software fix"
    USER_ERROR = "user_error", "User error / advice"
    NO_FAULT = "no_fault", "No fault found"
    DUPLICATE = "duplicate", "Duplicate (merged)"
    CHANGE = "change", "Resolved by a change"


class ProblemStatus(models.TextChoices):
    NEW = "new", "New"
    INVESTIGATING = "investigating", "Investigating"
    KNOWN_ERROR = "known_error", "Known error"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


PROBLEM_TRANSITIONS: dict[str, frozenset[str]] = {
    ProblemStatus.NEW: frozenset(
        {ProblemStatus.INVESTIGATING, ProblemStatus.KNOWN_ERROR, ProblemStatus.CLOSED}
    ),
    ProblemStatus.INVESTIGATING: frozenset(
        {ProblemStatus.KNOWN_ERROR, ProblemStatus.RESOLVED, ProblemStatus.CLOSED}
    ),
    ProblemStatus.KNOWN_ERROR: frozenset(
        {ProblemStatus.INVESTIGATING, ProblemStatus.RESOLVED, ProblemStatus.CLOSED}
    ),
    ProblemStatus.RESOLVED: frozenset({ProblemStatus.CLOSED, ProblemStatus.INVESTIGATING}),
    ProblemStatus.CLOSED: frozenset(),
}
PROBLEM_OPEN = frozenset(
    {ProblemStatus.NEW, ProblemStatus.INVESTIGATING, ProblemStatus.KNOWN_ERROR}
)


class ProposalStatus(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    ACCEPTED = "accepted", "Accepted"
    DISMISSED = "dismissed", "Dismissed"


class MessageKind(models.TextChoices):
    """What a timeline message is. Replies and e-mails are seen by the requester; notes are
    internal; updates are major-incident communications to stakeholders."""

    REPLY = "reply", "Public reply"
    NOTE = "note", "Internal note"
    EMAIL_IN = "email_in", "E-mail received"
    EMAIL_OUT = "email_out", "E-mail sent"
    UPDATE = "update", "Stakeholder update"


PUBLIC_MESSAGE_KINDS = frozenset(
    {MessageKind.REPLY, MessageKind.EMAIL_IN, MessageKind.EMAIL_OUT, MessageKind.UPDATE}
)


class ClockKind(models.TextChoices):
    RESPONSE = "response", "Response"
    RESOLUTION = "resolution", "Resolution"


class ClockState(models.TextChoices):
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    STOPPED = "stopped", "Stopped"


class NotificationEvent(models.TextChoices):
    NEW = "new", "New record"
    ASSIGNED = "assigned", "Assigned to me or my function"
    UPDATED = "updated", "Record updated"
    RESOLVED = "resolved", "Record resolved"
    BREACH_WARNING = "breach_warning", "SLA warning"
    BREACH = "breach", "SLA breach"
    MAJOR_UPDATE = "major_update", "Major incident update"
