"""Operation records: service requests, incidents, problems, known errors, their timeline
messages and attachments, SLA clocks and notification preferences."""

from itline.operation.models.incidents import Incident, PriorityRule
from itline.operation.models.intake import ServiceRequest
from itline.operation.models.messages import Attachment, InboundMail, Message
from itline.operation.models.notifications import NotificationPreference
from itline.operation.models.problems import KnownError, Problem, RecurrenceProposal
from itline.operation.models.sla import SlaClock

__all__ = [
    "Attachment",
    "InboundMail",
    "Incident",
    "KnownError",
    "Message",
    "NotificationPreference",
    "PriorityRule",
    "Problem",
    "RecurrenceProposal",
    "ServiceRequest",
    "SlaClock",
]
