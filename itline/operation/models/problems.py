from __future__ import annotations

from django.db import models

from itline.core.models import Record, ReferencedRecord
from itline.operation.choices import Priority, ProblemStatus, ProposalStatus


class Problem(ReferencedRecord):
    """The unknown cause of one or more incidents. Problem management investigates the root
    cause, records a workaround as a known error, and gets the permanent fix done (usually
    through a change) so the incidents stop coming back."""

    REFERENCE_PREFIX = "PRB"

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(
        max_length=20, choices=ProblemStatus.choices, default=ProblemStatus.NEW
    )
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.MEDIUM)
    service = models.ForeignKey(
        "cmdb.Service", null=True, blank=True, on_delete=models.PROTECT, related_name="problems"
    )
    component = models.ForeignKey(
        "cmdb.Component", null=True, blank=True, on_delete=models.PROTECT, related_name="problems"
    )
    owner = models.ForeignKey(
        "org.Person",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_problems",
    )
    owner_function = models.ForeignKey(
        "org.Function", null=True, blank=True, on_delete=models.PROTECT, related_name="problems"
    )
    symptoms = models.TextField(blank=True)
    root_cause = models.TextField(blank=True)
    analysis = models.TextField(
        blank=True, help_text="How the cause was found (5 whys, timeline, ...)"
    )
    workaround = models.TextField(blank=True)
    resolution = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at", "id"], name="prb_status_created")]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("problems:problem-detail", args=[self.reference])


class KnownError(ReferencedRecord):
    """A fault whose cause is known (or at least whose workaround is), documented so agents
    can restore service quickly: offered on matching new incidents and requests."""

    REFERENCE_PREFIX = "KE"

    title = models.CharField(max_length=200)
    symptoms = models.TextField(blank=True)
    root_cause = models.TextField(blank=True)
    workaround = models.TextField()
    problem = models.ForeignKey(
        Problem, null=True, blank=True, on_delete=models.SET_NULL, related_name="known_errors"
    )
    service = models.ForeignKey(
        "cmdb.Service", null=True, blank=True, on_delete=models.PROTECT, related_name="known_errors"
    )
    component = models.ForeignKey(
        "cmdb.Component",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="known_errors",
    )
    active = models.BooleanField(default=True, help_text="Retired known errors are not suggested")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("problems:known-error-detail", args=[self.reference])


class RecurrenceProposal(Record):
    """A suggestion, made by the recurring-incident detector, that a group of incidents on the
    same service or component with similar text share a cause and deserve a problem. A problem
    manager accepts it (a problem is raised and the incidents linked) or dismisses it."""

    status = models.CharField(
        max_length=12, choices=ProposalStatus.choices, default=ProposalStatus.PROPOSED
    )
    service = models.ForeignKey(
        "cmdb.Service", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    component = models.ForeignKey(
        "cmdb.Component", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    incidents = models.ManyToManyField("operation.Incident", related_name="recurrence_proposals")
    title = models.CharField(max_length=200)
    reason = models.TextField(help_text="Why these incidents were grouped")
    terms = models.JSONField(default=list, blank=True, help_text="Words the incidents share")
    signature = models.CharField(
        max_length=64, unique=True, help_text="Stable hash of the grouped incidents"
    )
    problem = models.ForeignKey(
        Problem, null=True, blank=True, on_delete=models.SET_NULL, related_name="proposals"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(
        blank=True, help_text="Why it was dismissed, or a note given on acceptance"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("problems:proposal-detail", args=[self.pk])
