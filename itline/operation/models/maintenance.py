"""Preventive maintenance: windows in which planned work happens on components or services
(alerts inside them are recorded but suppressed; availability reporting and the change
calendar read them too), and maintenance plans that generate work orders with checklists."""

from __future__ import annotations

from typing import ClassVar

from django.db import models
from django.urls import reverse

from itline.core.models import ReferencedRecord, validate_timezone


class WorkOrderStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


WORK_ORDER_TRANSITIONS: dict[str, frozenset[str]] = {
    WorkOrderStatus.OPEN: frozenset(
        {WorkOrderStatus.IN_PROGRESS, WorkOrderStatus.DONE, WorkOrderStatus.CANCELLED}
    ),
    WorkOrderStatus.IN_PROGRESS: frozenset(
        {WorkOrderStatus.OPEN, WorkOrderStatus.DONE, WorkOrderStatus.CANCELLED}
    ),
    WorkOrderStatus.DONE: frozenset(),
    WorkOrderStatus.CANCELLED: frozenset(),
}


class MaintenanceWindow(ReferencedRecord):
    """A period of planned work on components or services, one-off (``starts_at`` to
    ``ends_at``) or recurring (the same duration repeated by ``rrule`` from ``starts_at``,
    expanded in ``time_zone`` so 02:00 stays 02:00 across DST). Alerts on covered nodes inside
    an occurrence are suppressed with this window named as the reason."""

    REFERENCE_PREFIX = "MW"

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    nodes = models.ManyToManyField("cmdb.Node", related_name="maintenance_windows")
    include_dependencies = models.BooleanField(
        default=True,
        help_text="Also cover what the named services/components run on (downstream)",
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    rrule = models.CharField(
        max_length=500,
        blank=True,
        help_text="iCalendar RRULE for a recurring window, e.g. FREQ=WEEKLY;BYDAY=SU",
    )
    time_zone = models.CharField(
        max_length=64, default="Europe/Amsterdam", validators=[validate_timezone]
    )
    function = models.ForeignKey(
        "org.Function", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    active = models.BooleanField(default=True)
    # Expansion horizon kept for fast "is anything in maintenance now" checks.
    last_occurrence_end = models.DateTimeField(
        null=True, blank=True, help_text="End of the last occurrence; empty for endless rules"
    )

    class Meta:
        ordering = ["starts_at", "id"]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("maintenance:window-detail", args=[self.reference])


class MaintenancePlan(ReferencedRecord):
    """Preventive work that recurs on components or services: a recurrence (RRULE from
    ``first_due_at`` in ``time_zone``), a checklist template, the responsible function and a
    lead time. A periodic task creates each work order ``lead_days`` before it is due."""

    REFERENCE_PREFIX = "MP"

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    nodes = models.ManyToManyField("cmdb.Node", related_name="maintenance_plans")
    rrule = models.CharField(max_length=500, help_text="e.g. FREQ=MONTHLY;BYMONTHDAY=1")
    first_due_at = models.DateTimeField()
    time_zone = models.CharField(
        max_length=64, default="Europe/Amsterdam", validators=[validate_timezone]
    )
    checklist = models.JSONField(default=list, blank=True, help_text="List of step texts")
    function = models.ForeignKey("org.Function", on_delete=models.PROTECT, related_name="+")
    lead_days = models.PositiveSmallIntegerField(default=7)
    estimated_minutes = models.PositiveIntegerField(default=60)
    active = models.BooleanField(default=True)
    generated_until = models.DateTimeField(
        null=True, blank=True, help_text="Due dates up to here have their work orders"
    )

    class Meta:
        ordering = ["title", "id"]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("maintenance:plan-detail", args=[self.reference])


class WorkOrder(ReferencedRecord):
    """One piece of planned work: usually an occurrence of a maintenance plan, with the plan's
    checklist copied (``[{"text": ..., "done": false}]``), a due date, an assignee and the
    completion notes. Overdue open work orders are flagged and their function told once."""

    REFERENCE_PREFIX = "WO"
    JOURNAL_EXCLUDE: ClassVar[set[str]] = {*ReferencedRecord.JOURNAL_EXCLUDE, "version"}

    plan = models.ForeignKey(
        MaintenancePlan,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="work_orders",
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    nodes = models.ManyToManyField("cmdb.Node", related_name="work_orders")
    status = models.CharField(
        max_length=12, choices=WorkOrderStatus.choices, default=WorkOrderStatus.OPEN
    )
    function = models.ForeignKey("org.Function", on_delete=models.PROTECT, related_name="+")
    assignee = models.ForeignKey(
        "org.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    due_at = models.DateTimeField()
    checklist = models.JSONField(default=list, blank=True)
    completion_notes = models.TextField(blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        "org.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    overdue_notified_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "due_at"], name="work_order_once_per_plan_occurrence"
            )
        ]
        indexes = [models.Index(fields=["status", "due_at"], name="wo_status_due")]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("maintenance:work-order-detail", args=[self.reference])
