from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.urls import reverse

from itline.core.models import ReferencedRecord
from itline.operation.choices import Channel, RequestOutcome, RequestStatus, RequestType


class ServiceRequest(ReferencedRecord):
    """Every contact of a user with the service desk starts as a service request of a type
    (question, order, fault report, complaint, improvement proposal), whatever the channel.
    The desk answers or fulfils it, turns a fault into an incident (or links it to an
    existing incident or known error), or passes a proposal to the improvement register."""

    REFERENCE_PREFIX = "REQ"
    JOURNAL_EXCLUDE: ClassVar[set[str]] = {*ReferencedRecord.JOURNAL_EXCLUDE, "version"}

    request_type = models.CharField(
        max_length=24, choices=RequestType.choices, default=RequestType.QUESTION
    )
    channel = models.CharField(max_length=12, choices=Channel.choices, default=Channel.PORTAL)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(
        max_length=24, choices=RequestStatus.choices, default=RequestStatus.NEW
    )
    outcome = models.CharField(
        max_length=20, choices=RequestOutcome.choices, default=RequestOutcome.NONE, blank=True
    )
    requester = models.ForeignKey(
        "org.Person", on_delete=models.PROTECT, related_name="service_requests"
    )
    customer = models.ForeignKey(
        "org.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    service = models.ForeignKey(
        "cmdb.Service", null=True, blank=True, on_delete=models.PROTECT, related_name="requests"
    )
    assigned_function = models.ForeignKey(
        "org.Function", null=True, blank=True, on_delete=models.PROTECT, related_name="requests"
    )
    assignee = models.ForeignKey(
        "org.Person",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_requests",
    )
    incident = models.ForeignKey(
        "operation.Incident",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="requests",
    )
    known_error = models.ForeignKey(
        "operation.KnownError",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="requests",
    )
    improvement_reference = models.CharField(max_length=20, blank=True)
    answer = models.TextField(blank=True, help_text="The answer or fulfilment note")
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "created_at", "id"], name="req_status_created"),
            models.Index(fields=["requester", "created_at"], name="req_requester_created"),
            models.Index(fields=["assigned_function", "status"], name="req_function_status"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("operation:request-detail", args=[self.reference])
