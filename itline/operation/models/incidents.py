from __future__ import annotations

from typing import ClassVar

from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from itline.core.models import Record, ReferencedRecord
from itline.operation.choices import (
    INCIDENT_OPEN_ORDERED,
    HoldReason,
    Impact,
    IncidentStatus,
    Priority,
    ResolutionCategory,
    Urgency,
)


class PriorityRule(Record):
    """One cell of the priority matrix: impact and urgency give a priority. The matrix is
    configuration (editable through the API and exported as a file); defaults are created
    after migrate."""

    impact = models.PositiveSmallIntegerField(choices=Impact.choices)
    urgency = models.PositiveSmallIntegerField(choices=Urgency.choices)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices)

    class Meta:
        ordering = ["impact", "urgency"]
        constraints = [
            models.UniqueConstraint(fields=["impact", "urgency"], name="priority_rule_unique_cell")
        ]

    def __str__(self) -> str:
        return f"impact {self.impact}, urgency {self.urgency}: P{self.priority}"


class Incident(ReferencedRecord):
    """An unplanned interruption or reduction in quality of a service, or a failure of a
    component that has not yet hit a service. It hangs on the service structure (a service,
    a component, or both), carries impact, urgency and the priority they give, is routed to
    the owner function, and runs response and resolution clocks under the customer's
    agreement until it is resolved by a workaround or a fix."""

    REFERENCE_PREFIX = "INC"
    JOURNAL_EXCLUDE: ClassVar[set[str]] = {
        *ReferencedRecord.JOURNAL_EXCLUDE,
        "version",
        "is_open",
    }

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(
        max_length=20, choices=IncidentStatus.choices, default=IncidentStatus.NEW
    )
    # Derived by the database from the status, so every writer (verbs, bulk loads) agrees.
    is_open = models.GeneratedField(
        expression=models.Case(
            models.When(status__in=INCIDENT_OPEN_ORDERED, then=models.Value(True)),
            default=models.Value(False),
        ),
        output_field=models.BooleanField(),
        db_persist=True,
    )
    hold_reason = models.CharField(
        max_length=24, choices=HoldReason.choices, default=HoldReason.NONE, blank=True
    )
    service = models.ForeignKey(
        "cmdb.Service", null=True, blank=True, on_delete=models.PROTECT, related_name="incidents"
    )
    component = models.ForeignKey(
        "cmdb.Component",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="incidents",
    )
    impact = models.PositiveSmallIntegerField(choices=Impact.choices, default=Impact.MEDIUM)
    urgency = models.PositiveSmallIntegerField(choices=Urgency.choices, default=Urgency.MEDIUM)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.MEDIUM)
    caller = models.ForeignKey(
        "org.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="incidents"
    )
    customer = models.ForeignKey(
        "org.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    agreement = models.ForeignKey(
        "relations.Agreement",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="incidents",
    )
    assigned_function = models.ForeignKey(
        "org.Function", null=True, blank=True, on_delete=models.PROTECT, related_name="incidents"
    )
    assignee = models.ForeignKey(
        "org.Person",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_incidents",
    )
    major = models.BooleanField(default=False)
    workaround = models.TextField(blank=True)
    resolution = models.TextField(blank=True)
    resolution_category = models.CharField(
        max_length=20,
        choices=ResolutionCategory.choices,
        default=ResolutionCategory.NONE,
        blank=True,
    )
    problem = models.ForeignKey(
        "operation.Problem",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="incidents",
    )
    known_error = models.ForeignKey(
        "operation.KnownError",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="incidents",
    )
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged"
    )
    channel = models.CharField(max_length=12, default="api", blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Optimistic concurrency: every write bumps it; a writer holding an older value is told.
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(service__isnull=False) | models.Q(component__isnull=False),
                name="incident_needs_service_or_component",
            )
        ]
        indexes = [
            models.Index(fields=["status", "priority", "created_at", "id"], name="inc_queue"),
            models.Index(
                fields=["assigned_function", "status", "created_at", "id"],
                name="inc_function_queue",
            ),
            models.Index(
                fields=["assignee", "status", "created_at", "id"], name="inc_assignee_queue"
            ),
            models.Index(fields=["service", "created_at"], name="inc_service_created"),
            models.Index(fields=["component", "created_at"], name="inc_component_created"),
            # The agent queues list open incidents in priority or age order and stop after a
            # page: indexes led by ``is_open`` give that order without sorting every open
            # incident (benchmarks/operation.py). A plain column, not a partial index: SQLite
            # cannot match a partial index against a bound "status IN (?, ...)".
            models.Index(fields=["is_open", "priority", "id"], name="inc_open_priority"),
            models.Index(fields=["is_open", "created_at", "id"], name="inc_open_created"),
            models.Index(
                fields=["assignee", "is_open", "priority", "id"], name="inc_open_assignee"
            ),
            models.Index(
                fields=["assigned_function", "is_open", "priority", "id"], name="inc_open_function"
            ),
            models.Index(fields=["major", "is_open", "priority", "id"], name="inc_open_major"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("operation:incident-detail", args=[self.reference])

    def clean(self) -> None:
        if self.service_id is None and self.component_id is None:
            raise ValidationError(
                {"service": "Name the affected service or component (at least one)."}
            )
        if self.status == IncidentStatus.ON_HOLD and not self.hold_reason:
            raise ValidationError({"hold_reason": "Say why the incident is on hold."})
        if self.status != IncidentStatus.ON_HOLD and self.hold_reason:
            self.hold_reason = HoldReason.NONE
        if self.status in (IncidentStatus.RESOLVED, IncidentStatus.CLOSED) and not (
            self.resolution or self.merged_into_id
        ):
            raise ValidationError({"resolution": "Describe how the incident was resolved."})
