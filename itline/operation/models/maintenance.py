"""Preventive maintenance: windows in which planned work happens on components or services
(alerts inside them are recorded but suppressed; availability reporting and the change
calendar read them too), and maintenance plans that generate work orders with checklists."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils import timezone

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

    @property
    def is_recurring(self) -> bool:
        return bool(self.rrule)

    @property
    def duration(self) -> Any:
        return self.ends_at - self.starts_at

    def clean(self) -> None:
        """Ends after it starts; a valid, bounded rule whose first occurrence exists; the
        end of the last occurrence kept for fast "is this window over" checks."""
        from itline.core.models import validate_timezone
        from itline.core.rrule import (
            first_occurrence,
            last_occurrence_end,
            normalize_rrule,
            validate_rrule,
        )

        self.title = (self.title or "").strip()
        self.rrule = normalize_rrule(self.rrule)
        if not isinstance(self.starts_at, datetime) or not isinstance(self.ends_at, datetime):
            return  # the field validators name the missing date
        if self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "The window must end after it starts."})
        try:
            validate_timezone(self.time_zone)
        except ValidationError:
            return  # reported on time_zone by the field validator
        if self.rrule:
            try:
                validate_rrule(self.rrule)
            except ValidationError as exc:
                raise ValidationError({"rrule": exc.messages}) from None
            if self.duration.days > 31:
                raise ValidationError(
                    {"ends_at": "A recurring window's occurrences may last 31 days at most."}
                )
            # The first occurrence is the first time the rule matches from the start on;
            # starting there keeps DTSTART in step with the RRULE, as RFC 5545 asks (calendar
            # clients would otherwise count the start as an extra occurrence).
            first = first_occurrence(self.starts_at, self.rrule, self.time_zone)
            if first is not None and first != self.starts_at:
                self.ends_at = first + self.duration
                self.starts_at = first
        self.last_occurrence_end = last_occurrence_end(
            self.starts_at, self.ends_at, self.rrule, self.time_zone
        )
        if self.last_occurrence_end is not None and self.last_occurrence_end <= self.starts_at:
            raise ValidationError({"rrule": "This rule has no occurrence from the start on."})

    def is_over(self, now: datetime | None = None) -> bool:
        """Every occurrence has ended."""
        end = self.last_occurrence_end
        return end is not None and end <= (now or timezone.now())


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

    def clean(self) -> None:
        from itline.core.models import validate_timezone
        from itline.core.rrule import first_occurrence, normalize_rrule, validate_rrule

        self.title = (self.title or "").strip()
        self.rrule = normalize_rrule(self.rrule)
        errors: dict[str, Any] = {}
        if not isinstance(self.checklist, list) or not all(
            isinstance(item, str) and item.strip() for item in self.checklist
        ):
            errors["checklist"] = 'Give a list of step texts, e.g. ["Check the logs"].'
        else:
            self.checklist = [item.strip() for item in self.checklist]
        if not self.rrule:
            errors["rrule"] = "A plan needs a recurrence rule, e.g. FREQ=MONTHLY;BYMONTHDAY=1."
        else:
            try:
                validate_rrule(self.rrule)
            except ValidationError as exc:
                errors["rrule"] = exc.messages
        if errors:
            raise ValidationError(errors)
        try:
            validate_timezone(self.time_zone)
        except ValidationError:
            return
        if isinstance(self.first_due_at, datetime) and (
            first_occurrence(self.first_due_at, self.rrule, self.time_zone) is None
        ):
            raise ValidationError(
                {"rrule": "This rule has no occurrence from the first due date on."}
            )

    def due_dates(self, start: datetime, end: datetime) -> list[datetime]:
        """The due dates in ``[start, end)``."""
        from datetime import timedelta

        from itline.core.rrule import occurrences

        tick = timedelta(microseconds=1)
        return [
            begins
            for begins, _ in occurrences(
                self.first_due_at, self.first_due_at + tick, self.rrule, self.time_zone, start, end
            )
            if begins >= start
        ]


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

    @property
    def is_open(self) -> bool:
        return self.status in (WorkOrderStatus.OPEN, WorkOrderStatus.IN_PROGRESS)

    def is_overdue(self, now: datetime | None = None) -> bool:
        return self.is_open and self.due_at < (now or timezone.now())

    @property
    def overdue(self) -> bool:
        return self.is_overdue()

    @property
    def was_late(self) -> bool:
        """Completed after its due date."""
        return self.completed_at is not None and self.completed_at > self.due_at

    @property
    def open_items(self) -> list[str]:
        return [item.get("text", "") for item in self.checklist or [] if not item.get("done")]

    @property
    def done_count(self) -> int:
        return sum(1 for item in self.checklist or [] if item.get("done"))

    def clean(self) -> None:
        self.title = (self.title or "").strip()
        checklist = self.checklist
        if not isinstance(checklist, list) or not all(
            isinstance(item, dict)
            and isinstance(item.get("text"), str)
            and item["text"].strip()
            and isinstance(item.get("done", False), bool)
            for item in checklist
        ):
            raise ValidationError(
                {"checklist": 'Give a list like [{"text": "Check the logs", "done": false}].'}
            )
        if self.status == WorkOrderStatus.DONE and not (self.completion_notes or "").strip():
            raise ValidationError({"completion_notes": "Write what was done before completing."})
