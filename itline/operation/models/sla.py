from __future__ import annotations

from django.db import models

from itline.operation.choices import ClockKind, ClockState


class SlaClock(models.Model):
    """The response or resolution clock of one incident under its agreement. The clock is
    derived from the incident's journal and the agreement's calendar (it can be recomputed at
    any time); the stored columns are that computation's result, kept so queues and the
    breach scan are index lookups instead of replays."""

    incident = models.ForeignKey(
        "operation.Incident", on_delete=models.CASCADE, related_name="clocks"
    )
    kind = models.CharField(max_length=12, choices=ClockKind.choices)
    agreement = models.ForeignKey(
        "relations.Agreement", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target_minutes = models.PositiveIntegerField()
    warning_percent = models.PositiveSmallIntegerField(default=75)
    state = models.CharField(max_length=10, choices=ClockState.choices)
    started_at = models.DateTimeField()
    elapsed_minutes = models.FloatField(default=0, help_text="Business minutes used so far")
    computed_at = models.DateTimeField()
    warn_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    warned_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["incident", "kind"], name="sla_clock_unique_kind")
        ]
        indexes = [
            models.Index(fields=["state", "warn_at"], name="sla_clock_warn"),
            models.Index(fields=["state", "due_at"], name="sla_clock_due"),
            # The breach scan reads only thresholds passed but not yet notified; these hold
            # just those candidates, so a scan costs the same with any backlog of breached
            # open clocks (itline.operation.sla.scan, benchmarks/sla.py).
            models.Index(
                fields=["warn_at"],
                condition=models.Q(warned_at__isnull=True, warn_at__isnull=False),
                name="sla_clock_warn_pending",
            ),
            models.Index(
                fields=["due_at"],
                condition=models.Q(breached_at__isnull=True, due_at__isnull=False),
                name="sla_clock_due_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.incident_id} {self.kind} {self.state}"
