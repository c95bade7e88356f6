"""Outbound webhooks: who wants to hear about which record events, and the log of every
attempt to tell them. The rules of delivery (signing, retries, disabling) live in
``itline.core.webhooks`` and ``itline.core.webhook_tasks``."""

from __future__ import annotations

import secrets
import uuid
from typing import Any, ClassVar
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.utils import timezone

from itline.core.models import ReferencedRecord

# Every event a subscription may ask for. Record verbs publish them (itline.operation.events);
# a name here that nothing publishes is a promise the docs make, so keep the two in step.
EVENTS: tuple[tuple[str, str], ...] = (
    ("incident.created", "An incident was registered"),
    ("incident.updated", "Fields of an incident changed"),
    ("incident.assigned", "An incident was (re)assigned to a function or person"),
    ("incident.resolved", "An incident was resolved"),
    ("incident.closed", "An incident was closed"),
    ("incident.reopened", "A resolved incident was reopened"),
    ("incident.merged", "An incident was merged into another as a duplicate"),
    ("incident.major_update", "A communication update was posted on a major incident"),
    ("incident.breach_warning", "An SLA clock passed its warning threshold"),
    ("incident.breach", "An SLA clock passed its target"),
    ("request.created", "A service request was registered"),
    ("request.updated", "A service request changed"),
    ("request.resolved", "A service request was answered or fulfilled"),
    ("request.closed", "A service request was closed"),
    ("problem.created", "A problem was registered"),
    ("problem.updated", "A problem changed"),
    ("known_error.created", "A known error was recorded"),
    ("alert_group.opened", "Correlation opened an alert group"),
    ("alert_group.resolved", "Every alert of an alert group resolved"),
    ("change.created", "A change was raised"),
    ("change.updated", "Fields of a change changed"),
    ("change.submitted", "A change was submitted (risk and collisions computed)"),
    ("change.approval_requested", "A change was sent for approval"),
    ("change.approved", "A change was approved"),
    ("change.rejected", "A change was rejected"),
    ("change.risk_overridden", "A change manager overrode a change's risk"),
    ("change.rescheduled", "A change's window moved"),
    ("change.scheduled", "A change was scheduled"),
    ("change.implementing", "Implementation of a change started"),
    ("change.implemented", "A change was implemented"),
    ("change.in_review", "A change went to its post-implementation review"),
    ("change.closed", "A change was closed"),
    ("change.cancelled", "A change was cancelled"),
    ("deployment.recorded", "A pipeline recorded a deployment"),
    ("deployment.updated", "A deployment's status changed"),
    ("deployment.unplanned", "A production deployment no change covers"),
    ("maintenance_window.created", "A maintenance window was planned"),
    ("maintenance_window.updated", "A maintenance window changed"),
    ("maintenance_window.deleted", "A maintenance window was deleted or deactivated"),
    ("maintenance_plan.created", "A maintenance plan was created"),
    ("maintenance_plan.updated", "A maintenance plan changed"),
    ("work_order.created", "A work order was created (by hand or from a plan)"),
    ("work_order.updated", "A work order changed"),
    ("work_order.in_progress", "Work on a work order started"),
    ("work_order.open", "A work order was handed back"),
    ("work_order.done", "A work order was completed"),
    ("work_order.cancelled", "A work order was cancelled"),
    ("work_order.overdue", "A work order passed its due date"),
)
EVENT_NAMES: frozenset[str] = frozenset(name for name, _ in EVENTS)
EVENT_GROUPS: tuple[str, ...] = tuple(dict.fromkeys(name.split(".")[0] for name, _ in EVENTS))
# Sent only by "send test event", to the one subscription asked; nobody subscribes to it.
TEST_EVENT = "webhook.test"


def event_patterns() -> list[str]:
    """What a subscription's event list may hold: every event, ``group.*`` and ``*``."""
    return ["*", *(f"{group}.*" for group in EVENT_GROUPS), *(name for name, _ in EVENTS)]


def event_matches(pattern: str, event: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return event.startswith(pattern[:-1])
    return pattern == event


def validate_events(value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError('Give a list of event names, e.g. ["incident.created"].')
    if not value:
        raise ValidationError("Choose at least one event (or * for all).")
    allowed = set(event_patterns())
    unknown = [item for item in value if item not in allowed]
    if unknown:
        raise ValidationError(
            f"Unknown event {', '.join(repr(u) for u in unknown)}; "
            f"use one of {', '.join(event_patterns())}."
        )


_URL = URLValidator(schemes=["http", "https"])


def validate_webhook_url(value: str) -> None:
    """An absolute http(s) address without credentials. Receivers prove who is calling by
    checking the signature, so a password in the address is never needed and would only be
    shown to everyone who can read the subscription."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError("Give the receiver's address, e.g. https://example.com/hooks/itline.")
    scheme = value.split(":", 1)[0].lower() if ":" in value else ""
    if scheme not in {"http", "https"}:
        raise ValidationError(
            f"Only http:// and https:// addresses can receive webhooks (got {scheme or 'no'} scheme)."
        )
    try:
        _URL(value)
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError for a port out of range
    except (ValidationError, ValueError):
        raise ValidationError(
            "This is not a valid http(s) address, e.g. https://example.com/hooks/itline."
        ) from None
    if parts.username or parts.password:
        raise ValidationError(
            "Leave user name and password out of the address; receivers check the signature."
        )


SECRET_PREFIX = "whsec_"  # noqa: S105  (a marker, not a secret)


def generate_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def validate_secret(value: str) -> None:
    if len(value) < 16:
        raise ValidationError("A signing secret needs at least 16 characters.")


class WebhookSubscription(ReferencedRecord):
    """An outside system that wants to hear about record events: the address itline posts
    signed JSON to, the events it wants (exact names, ``incident.*`` or ``*``), and the state
    of the line to it. After too many failed deliveries in a row the subscription switches
    itself off and says why, so a dead receiver costs nothing until someone fixes it."""

    REFERENCE_PREFIX = "WHK"
    JOURNAL_EXCLUDE: ClassVar[set[str]] = {
        *ReferencedRecord.JOURNAL_EXCLUDE,
        "secret",
        "failure_count",
    }

    name = models.CharField(max_length=100)
    url = models.CharField(
        "address",
        max_length=500,
        validators=[validate_webhook_url],
        error_messages={
            "blank": "Give the receiver's address, e.g. https://example.com/hooks/itline."
        },
        help_text="The receiver's http(s) address; itline POSTs JSON to it.",
    )
    # Kept in clear text because every delivery is signed with it; never shown after creation.
    secret = models.CharField(max_length=200, default=generate_secret, validators=[validate_secret])
    events = models.JSONField(
        default=list,
        validators=[validate_events],
        error_messages={"blank": "Choose at least one event (or * for all)."},
        help_text='Event names, "incident.*" for a record type, or "*" for every event.',
    )
    active = models.BooleanField(default=True)
    failure_count = models.PositiveIntegerField(
        default=0, editable=False, help_text="Failed delivery attempts in a row."
    )
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=300, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = "webhook"
        verbose_name_plural = "webhooks"

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("webhooks:detail", args=[self.reference])

    def clean(self) -> None:
        if isinstance(self.events, list) and all(isinstance(e, str) for e in self.events):
            self.events = list(dict.fromkeys(e.strip() for e in self.events))

    def matches(self, event: str) -> bool:
        return any(event_matches(pattern, event) for pattern in self.events or [])


class WebhookDelivery(models.Model):
    """One attempt to deliver one event to one subscription, with what the receiver said.
    A failed attempt that will be retried is ``failed`` and the retry is a new ``pending``
    row with the next attempt number, so the log shows every try with its response code.
    Rows of one event share ``event_id`` (the id receivers use to drop duplicates)."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        SENDING = "sending", "sending"
        DELIVERED = "delivered", "delivered"
        FAILED = "failed", "failed, will retry"
        GIVEN_UP = "given_up", "given up"

    class Trigger(models.TextChoices):
        EVENT = "event", "record event"
        TEST = "test", "test event"
        REDELIVERY = "redelivery", "redelivery"

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(max_length=60)
    event_id = models.UUIDField(default=uuid.uuid4, db_index=True)
    trigger = models.CharField(max_length=12, choices=Trigger.choices, default=Trigger.EVENT)
    payload = models.JSONField(default=dict)
    attempt = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(
        default=timezone.now, help_text="Pending: when it is due. Failed: when the retry is due."
    )
    attempted_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # the retry sweep: due pending rows
            models.Index(fields=["status", "next_attempt_at"]),
            # the delivery log of one subscription, newest first
            models.Index(fields=["subscription", "created_at", "id"]),
        ]

    def __str__(self) -> str:
        return f"{self.event} #{self.attempt} → {self.subscription_id}: {self.status}"

    @property
    def note(self) -> str:
        """The error without the status code the log already shows beside it."""
        prefix = f"HTTP {self.response_code}"
        if self.response_code is not None and self.error.startswith(prefix):
            return self.error[len(prefix) :].lstrip(":; ")
        return self.error

    @property
    def outcome(self) -> str:
        """One line for the log: the response code or the error."""
        if self.response_code is not None:
            return f"HTTP {self.response_code}"
        return self.error or "—"
