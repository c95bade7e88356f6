"""Statuses and transition tables of the Transition records. One status field per workflow
record; the tables below are the only place that says which move is legal."""

from __future__ import annotations

from django.db import models


class ChangeType(models.TextChoices):
    STANDARD = "standard", "Standard"
    NORMAL = "normal", "Normal"
    EMERGENCY = "emergency", "Emergency"


class ChangeStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SUBMITTED = "submitted", "Submitted"
    ASSESSED = "assessed", "Assessed"
    AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    SCHEDULED = "scheduled", "Scheduled"
    IMPLEMENTING = "implementing", "Implementing"
    IMPLEMENTED = "implemented", "Implemented"
    IN_REVIEW = "in_review", "In review"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"


S = ChangeStatus
CHANGE_TRANSITIONS: dict[str, frozenset[str]] = {
    S.DRAFT: frozenset({S.SUBMITTED, S.CANCELLED}),
    S.SUBMITTED: frozenset({S.ASSESSED, S.DRAFT, S.CANCELLED}),
    # assessed -> approved: a standard change within its template; -> implementing: an
    # emergency (the verb refuses it for other types); -> draft: withdrawn to edit.
    S.ASSESSED: frozenset({S.AWAITING_APPROVAL, S.APPROVED, S.IMPLEMENTING, S.DRAFT, S.CANCELLED}),
    # -> implementing: an emergency that cannot wait for its ECAB; -> in review: the ECAB's
    # decision after the fact on an emergency that is already implemented.
    S.AWAITING_APPROVAL: frozenset(
        {S.APPROVED, S.REJECTED, S.IMPLEMENTING, S.IN_REVIEW, S.DRAFT, S.CANCELLED}
    ),
    # -> awaiting approval: a new window raised the approval path.
    S.APPROVED: frozenset({S.SCHEDULED, S.IMPLEMENTING, S.AWAITING_APPROVAL, S.CANCELLED}),
    S.REJECTED: frozenset({S.DRAFT, S.CANCELLED}),
    S.SCHEDULED: frozenset({S.IMPLEMENTING, S.AWAITING_APPROVAL, S.CANCELLED}),
    S.IMPLEMENTING: frozenset({S.IMPLEMENTED}),
    # Emergency changes are implemented first and approved after the fact by the ECAB;
    # implemented -> closed skips the review step (standard changes, pipeline deployments).
    S.IMPLEMENTED: frozenset({S.IN_REVIEW, S.AWAITING_APPROVAL, S.CLOSED}),
    S.IN_REVIEW: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
    S.CANCELLED: frozenset(),
}
# Before these states the window may still move; from IMPLEMENTING on it is history.
CHANGE_RESCHEDULABLE = frozenset(
    {S.DRAFT, S.SUBMITTED, S.ASSESSED, S.AWAITING_APPROVAL, S.APPROVED, S.REJECTED, S.SCHEDULED}
)
CHANGE_OPEN = frozenset(set(S) - {S.CLOSED, S.CANCELLED, S.REJECTED})
# Windows of changes in these states take part in collision checks and the calendar.
CHANGE_ON_CALENDAR = frozenset(
    {
        S.SUBMITTED,
        S.ASSESSED,
        S.AWAITING_APPROVAL,
        S.APPROVED,
        S.SCHEDULED,
        S.IMPLEMENTING,
        S.IMPLEMENTED,
        S.IN_REVIEW,
        S.CLOSED,
    }
)


class ChangeOutcome(models.TextChoices):
    NONE = "", "Not yet known"
    SUCCESSFUL = "successful", "Successful"
    SUCCESSFUL_WITH_ISSUES = "successful_with_issues", "Successful with issues"
    FAILED = "failed", "Failed"
    BACKED_OUT = "backed_out", "Backed out"


FAILED_OUTCOMES = frozenset({ChangeOutcome.FAILED, ChangeOutcome.BACKED_OUT})


class RiskLevel(models.TextChoices):
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"


class ApprovalPath(models.TextChoices):
    NONE = "none", "Pre-approved (standard)"
    CHANGE_MANAGER = "change_manager", "Change manager"
    CAB = "cab", "Change Advisory Board"
    ECAB = "ecab", "Emergency CAB (after the fact)"


class ApprovalRule(models.TextChoices):
    ANY = "any", "Any one approver"
    ALL = "all", "All approvers"
    QUORUM = "quorum", "A quorum of approvers"


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"


class Decision(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"


class MeetingKind(models.TextChoices):
    CAB = "cab", "CAB"
    ECAB = "ecab", "Emergency CAB"


class ReleaseStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    IN_PROGRESS = "in_progress", "In progress"
    RELEASED = "released", "Released"
    CANCELLED = "cancelled", "Cancelled"


class DeploymentStatus(models.TextChoices):
    STARTED = "started", "Started"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    ROLLED_BACK = "rolled_back", "Rolled back"


class ReviewStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    COMPLETED = "completed", "Completed"


class LinkStatus(models.TextChoices):
    SUGGESTED = "suggested", "Suggested"
    CONFIRMED = "confirmed", "Confirmed"
    DISMISSED = "dismissed", "Dismissed"
