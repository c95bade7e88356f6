"""Event management: where monitoring events come from, how their labels map onto the service
structure, the alerts they describe (one row per fingerprint, with every firing/resolved
transition kept as history), the groups correlation builds from them, and the rules that turn
groups into incidents."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any, ClassVar

from django.db import models
from django.urls import reverse
from django.utils import timezone

from itline.core.models import Record, ReferencedRecord


class EventSourceKind(models.TextChoices):
    ITLINE = "itline", "itline JSON events"
    ALERTMANAGER = "alertmanager", "Prometheus Alertmanager webhook"
    PAGERDUTY = "pagerduty", "PagerDuty Events API v2"


class EventAuth(models.TextChoices):
    TOKEN = "token", "Bearer token (or PagerDuty routing key)"
    HMAC = "hmac", "HMAC-SHA256 signature of the body"


class Severity(models.TextChoices):
    """Ordered from worst to least; ``SEVERITY_RANK`` gives the order."""

    CRITICAL = "critical", "Critical"
    ERROR = "error", "Error"
    WARNING = "warning", "Warning"
    INFO = "info", "Info"


SEVERITY_RANK = {Severity.CRITICAL: 4, Severity.ERROR: 3, Severity.WARNING: 2, Severity.INFO: 1}


class AlertStatus(models.TextChoices):
    FIRING = "firing", "Firing"
    RESOLVED = "resolved", "Resolved"


class AlertGroupStatus(models.TextChoices):
    OPEN = "open", "Open"
    RESOLVED = "resolved", "Resolved"


class EventSource(Record):
    """A monitoring system allowed to send events, with its own credential. A token source
    stores only the SHA-256 of its token (shown once); an HMAC source keeps the shared secret
    it verifies signatures with. For PagerDuty-shaped sources the token is the routing key."""

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=EventSourceKind.choices)
    auth = models.CharField(max_length=10, choices=EventAuth.choices, default=EventAuth.TOKEN)
    token_prefix = models.CharField(max_length=16, blank=True, editable=False)
    token_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    hmac_secret = models.CharField(max_length=128, blank=True, editable=False)
    active = models.BooleanField(default=True)
    description = models.TextField(blank=True)
    last_event_at = models.DateTimeField(null=True, blank=True)

    TOKEN_PREFIX: ClassVar[str] = "itle_"  # noqa: S105 (a public marker, not a secret)
    # Secrets never go to the journal; last_event_at moves with traffic, not with edits.
    JOURNAL_EXCLUDE: ClassVar[set[str]] = Record.JOURNAL_EXCLUDE | {
        "token_hash",
        "hmac_secret",
        "last_event_at",
    }

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        if self.kind == EventSourceKind.PAGERDUTY and self.auth == EventAuth.HMAC:
            raise ValidationError(
                {"auth": "PagerDuty-shaped sources authenticate with their routing key (token)."}
            )

    @staticmethod
    def hash(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    def new_secret(self) -> str:
        """Give the source a new credential and return it (shown once; not saved here)."""
        secret = self.TOKEN_PREFIX + secrets.token_urlsafe(24)
        if self.auth == EventAuth.HMAC:
            self.hmac_secret = secret
            self.token_hash = ""
        else:
            self.token_hash = self.hash(secret)
            self.hmac_secret = ""
        self.token_prefix = secret[: len(self.TOKEN_PREFIX) + 6]
        return secret


class MappingTarget(models.TextChoices):
    COMPONENT = "component", "Component"
    SERVICE = "service", "Service"


class MappingRule(Record):
    """One ordered rule from an alert label to the structure, e.g. the ``instance`` label
    (port stripped by ``pattern``) names a component, or the ``job`` label names a service.
    Rules run in ``position`` order; the first rule that finds a component sets the component,
    the first that finds a service sets the service. Alerts that no rule maps stay visible as
    unmapped."""

    position = models.PositiveIntegerField(default=100)
    name = models.CharField(max_length=100, unique=True)
    source = models.ForeignKey(
        EventSource,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="mapping_rules",
        help_text="Only for events of this source; empty for all",
    )
    label = models.CharField(max_length=100, help_text="Label whose value is looked up")
    pattern = models.CharField(
        max_length=300,
        blank=True,
        help_text="Regular expression the value must match in full; its first group (or the "
        "group named 'name') is the name looked up, e.g. ^(.+?)(:\\d+)?$ strips a port",
    )
    target = models.CharField(max_length=10, choices=MappingTarget.choices)
    node = models.ForeignKey(
        "cmdb.Node",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="Map every matching value to this node instead of looking the name up",
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.position}. {self.name}"

    def clean(self) -> None:
        import re

        from django.core.exceptions import ValidationError

        errors: dict[str, str] = {}
        if self.pattern:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                errors["pattern"] = f"Not a valid regular expression: {exc}."
        node = self.node if self.node_id is not None else None
        if node is not None and node.kind != self.target:
            errors["node"] = f"{node} is a {node.kind}, but the rule maps to a {self.target}."
        if errors:
            raise ValidationError(errors)


class AlertRule(Record):
    """When an alert group becomes an incident. Rules run in ``position`` order and the
    first whose matchers all equal the alert's labels (and whose source fits) decides:
    a severity threshold, a minimum firing duration, flapping hysteresis and whether the
    incident resolves itself when every alert of the group has resolved."""

    position = models.PositiveIntegerField(default=100)
    name = models.CharField(max_length=100, unique=True)
    source = models.ForeignKey(
        EventSource, null=True, blank=True, on_delete=models.CASCADE, related_name="alert_rules"
    )
    matchers = models.JSONField(
        default=dict, blank=True, help_text='Labels that must equal, e.g. {"env": "prod"}'
    )
    open_incident = models.BooleanField(default=True)
    min_severity = models.CharField(max_length=10, choices=Severity.choices, default=Severity.ERROR)
    min_duration_seconds = models.PositiveIntegerField(default=0)
    flap_threshold = models.PositiveSmallIntegerField(
        default=4, help_text="State changes within the flap window that mark an alert flapping"
    )
    flap_window_seconds = models.PositiveIntegerField(default=900)
    auto_resolve = models.BooleanField(default=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.position}. {self.name}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        matchers = self.matchers
        if not isinstance(matchers, dict) or not all(
            isinstance(k, str) and k and isinstance(v, str) for k, v in matchers.items()
        ):
            raise ValidationError(
                {
                    "matchers": 'Give label names and the values they must equal, e.g. {"env": "prod"}.'
                }
            )
        if self.flap_threshold == 1:
            raise ValidationError(
                {"flap_threshold": "Use 0 (never flapping) or 2 and more state changes."}
            )
        if self.flap_threshold and not self.flap_window_seconds:
            raise ValidationError(
                {"flap_window_seconds": "Flapping is counted within a window of 1 s or more."}
            )

    def matches(self, source_id: int | None, labels: dict[str, Any]) -> bool:
        """Whether this rule decides for an alert of ``source_id`` with ``labels``."""
        if self.source_id is not None and self.source_id != source_id:
            return False
        return all(labels.get(name) == value for name, value in (self.matchers or {}).items())

    def severity_reached(self, severity: str) -> bool:
        return SEVERITY_RANK.get(severity, 0) >= SEVERITY_RANK.get(self.min_severity, 0)  # type: ignore[call-overload]


class AlertGroup(ReferencedRecord):
    """Alerts that correlation found to be one situation: their components are related in
    the structure within the configured depth and fired within the time window. The most
    upstream failing component is the probable cause. A group opens, updates and (by its
    rule) resolves at most one incident."""

    REFERENCE_PREFIX = "ALG"

    title = models.CharField(max_length=300)
    status = models.CharField(
        max_length=10, choices=AlertGroupStatus.choices, default=AlertGroupStatus.OPEN
    )
    severity = models.CharField(max_length=10, choices=Severity.choices)
    probable_cause = models.ForeignKey(
        "cmdb.Node", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    service = models.ForeignKey(
        "cmdb.Node", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    incident = models.ForeignKey(
        "operation.Incident",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="alert_groups",
    )
    opened_at = models.DateTimeField(default=timezone.now)
    last_alert_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    firing_count = models.PositiveIntegerField(default=0)
    alert_count = models.PositiveIntegerField(default=0)
    # [{"at": iso, "what": "opened incident INC-…", "why": "…"}], newest last, bounded
    decisions = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-last_alert_at", "-id"]
        indexes = [
            models.Index(fields=["status", "last_alert_at"], name="alg_status_last"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("alerts:group-detail", args=[self.reference])


class Alert(models.Model):
    """The current state of one alert, identified by its fingerprint (given by the sender or
    computed from its labels). Re-posts of a firing alert only move ``last_seen_at``; every
    change of state is an ``AlertTransition`` row, so the full history survives whatever the
    monitoring system forgets. ``decisions`` explains grouping, suppression and incidents."""

    id = models.BigAutoField(primary_key=True)
    fingerprint = models.CharField(max_length=64, unique=True)
    source = models.ForeignKey(EventSource, on_delete=models.PROTECT, related_name="alerts")
    name = models.CharField(max_length=200, blank=True, help_text="alertname or class")
    status = models.CharField(max_length=10, choices=AlertStatus.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    summary = models.CharField(max_length=1024, blank=True)
    labels = models.JSONField(default=dict)
    annotations = models.JSONField(default=dict, blank=True)
    component = models.ForeignKey(
        "cmdb.Node",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    service = models.ForeignKey(
        "cmdb.Node",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    mapping_rule = models.ForeignKey(
        MappingRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    group = models.ForeignKey(
        AlertGroup,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="alerts",
        db_index=False,
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    changed_at = models.DateTimeField(help_text="When the status last changed")
    transitions = models.PositiveIntegerField(default=1)
    flapping = models.BooleanField(default=False)
    suppressed_by = models.ForeignKey(
        "operation.MaintenanceWindow",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="suppressed_alerts",
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        "org.Person",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    silenced_until = models.DateTimeField(null=True, blank=True)
    silenced_by = models.ForeignKey(
        "org.Person",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    silence_reason = models.CharField(max_length=300, blank=True)
    generator_url = models.URLField(max_length=1000, blank=True)
    # Set by ingestion when the status changed; correlation clears it. A sweep picks up
    # anything left pending (e.g. the process died between commit and correlation).
    pending = models.BooleanField(default=False)
    decisions = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [
            models.Index(fields=["service", "status", "severity"], name="alert_service_status"),
            models.Index(fields=["component", "status"], name="alert_component_status"),
            models.Index(fields=["status", "severity", "changed_at"], name="alert_status_sev"),
            models.Index(fields=["status", "component", "service"], name="alert_unmapped"),
            models.Index(fields=["group", "status"], name="alert_group_status"),
            models.Index(fields=["pending", "id"], name="alert_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.name or self.fingerprint[:12]} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("alerts:alert-detail", args=[self.pk])

    @property
    def is_mapped(self) -> bool:
        return self.component_id is not None or self.service_id is not None

    def is_silenced(self, at: Any = None) -> bool:
        return self.silenced_until is not None and self.silenced_until > (at or timezone.now())


class AlertTransition(models.Model):
    """One firing or resolved transition of an alert: the alert history. Component and service
    are copied from the alert at the time, so history stays queryable by structure even after
    a mapping rule changes."""

    id = models.BigAutoField(primary_key=True)
    # The composite indexes below lead with alert/component/service: no single-column ones
    # (every index costs each insert on the hot path).
    alert = models.ForeignKey(
        Alert, on_delete=models.CASCADE, related_name="history", db_index=False
    )
    status = models.CharField(max_length=10, choices=AlertStatus.choices)
    severity = models.CharField(max_length=10, choices=Severity.choices)
    at = models.DateTimeField(help_text="When the sender says it happened")
    received_at = models.DateTimeField()
    component = models.ForeignKey(
        "cmdb.Node",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    service = models.ForeignKey(
        "cmdb.Node",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    summary = models.CharField(max_length=1024, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["alert", "at"], name="alerttr_alert_at"),
            models.Index(fields=["component", "at"], name="alerttr_component_at"),
            models.Index(fields=["service", "at"], name="alerttr_service_at"),
            models.Index(fields=["at"], name="alerttr_at"),
        ]

    def __str__(self) -> str:
        return f"{self.alert_id} {self.status} at {self.at:%Y-%m-%d %H:%M:%S}"
