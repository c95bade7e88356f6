"""Delivery Control records. For now only the improvement register, which the service desk
feeds with improvement proposals."""

from __future__ import annotations

from django.db import models
from django.urls import reverse

from itline.core.models import ReferencedRecord


class ImprovementStatus(models.TextChoices):
    NEW = "new", "New"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    DONE = "done", "Done"


class Improvement(ReferencedRecord):
    """An entry of the improvement register: an idea to make the line produce better or
    cheaper, from a user's proposal, a KPI deviation or a review. Delivery Control decides on
    it; this first version only registers and tracks its status."""

    REFERENCE_PREFIX = "IMP"

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(
        max_length=20, choices=ImprovementStatus.choices, default=ImprovementStatus.NEW
    )
    service = models.ForeignKey(
        "cmdb.Service", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    proposed_by = models.ForeignKey(
        "org.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source_reference = models.CharField(
        max_length=20, blank=True, help_text="The request this proposal came from"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("delivery:improvement-detail", args=[self.reference])
