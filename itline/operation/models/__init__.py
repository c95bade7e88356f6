"""Operation records: monitoring events (alerts, groups, rules), maintenance windows, plans
and work orders, service requests, incidents, problems, known errors, their timeline
messages and attachments, SLA clocks and notification preferences."""

from itline.operation.models.alerts import (
    Alert,
    AlertGroup,
    AlertRule,
    AlertTransition,
    EventSource,
    MappingRule,
)
from itline.operation.models.incidents import Incident, PriorityRule
from itline.operation.models.intake import ServiceRequest
from itline.operation.models.maintenance import MaintenancePlan, MaintenanceWindow, WorkOrder
from itline.operation.models.messages import Attachment, InboundMail, Message
from itline.operation.models.notifications import NotificationPreference
from itline.operation.models.problems import KnownError, Problem, RecurrenceProposal
from itline.operation.models.sla import SlaClock

__all__ = [
    "Alert",
    "AlertGroup",
    "AlertRule",
    "AlertTransition",
    "Attachment",
    "EventSource",
    "InboundMail",
    "Incident",
    "KnownError",
    "MaintenancePlan",
    "MaintenanceWindow",
    "MappingRule",
    "Message",
    "NotificationPreference",
    "PriorityRule",
    "Problem",
    "RecurrenceProposal",
    "ServiceRequest",
    "SlaClock",
    "WorkOrder",
]
