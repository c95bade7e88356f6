"""Transition records: change templates (the standard change catalogue), changes with their
risk, readiness checklist and approvals, freeze windows, CAB meetings, releases, deployments
from pipelines, post-implementation reviews and change-caused incident links."""

from __future__ import annotations

from typing import ClassVar

from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from itline.core.models import Record, ReferencedRecord, validate_timezone
from itline.transition.choices import (
    ApprovalPath,
    ApprovalRule,
    ApprovalStatus,
    ChangeOutcome,
    ChangeStatus,
    ChangeType,
    Decision,
    DeploymentStatus,
    LinkStatus,
    MeetingKind,
    ReleaseStatus,
    ReviewStatus,
    RiskLevel,
)


class ChangeTemplate(ReferencedRecord):
    """A pre-approved standard change in the catalogue: what it may touch (``nodes``; empty
    means any node of ``component_types``), how long it may take, its plans and readiness
    checklist. Changes from it within these limits need no approval. ``deployment_match``
    lets a pipeline's deployment record create and close such a change by itself."""

    REFERENCE_PREFIX = "CHT"

    name = models.CharField(max_length=150, unique=True)
    description = models.TextField(blank=True)
    nodes = models.ManyToManyField("cmdb.Node", blank=True, related_name="change_templates")
    component_types = models.ManyToManyField(
        "cmdb.ComponentType", blank=True, related_name="change_templates"
    )
    max_duration_minutes = models.PositiveIntegerField(default=120)
    implementation_plan = models.TextField(blank=True)
    backout_plan = models.TextField(blank=True)
    test_plan = models.TextField(blank=True)
    readiness_items = models.JSONField(
        default=list, blank=True, help_text="Checklist item texts required before approval"
    )
    function = models.ForeignKey(
        "org.Function", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    deployment_match = models.JSONField(
        default=dict,
        blank=True,
        help_text='e.g. {"environments": ["production"]}; empty: deployments never match',
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("transition:template-detail", args=[self.reference])


class Release(ReferencedRecord):
    """A set of changes shipped together under one version, with release notes."""

    REFERENCE_PREFIX = "REL"

    name = models.CharField(max_length=150)
    version = models.CharField(max_length=60)
    notes = models.TextField(blank=True)
    status = models.CharField(
        max_length=12, choices=ReleaseStatus.choices, default=ReleaseStatus.PLANNED
    )
    planned_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="release_unique_version")
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"

    def get_absolute_url(self) -> str:
        return reverse("transition:release-detail", args=[self.reference])


class Change(ReferencedRecord):
    """A planned addition, modification or removal of anything that could affect IT services.
    It names what it touches in the service structure, why, how it is done and undone, and
    when. Its risk is computed from the structure and history (and may be overridden with a
    reason); the approval path follows the risk and the type."""

    REFERENCE_PREFIX = "CHG"
    JOURNAL_EXCLUDE: ClassVar[set[str]] = {
        *ReferencedRecord.JOURNAL_EXCLUDE,
        "version",
        "risk_factors",
        "collisions",
        # Each tick is journaled as one message naming the item, not as the whole list.
        "readiness",
    }

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    change_type = models.CharField(
        max_length=10, choices=ChangeType.choices, default=ChangeType.NORMAL
    )
    template = models.ForeignKey(
        ChangeTemplate, null=True, blank=True, on_delete=models.PROTECT, related_name="changes"
    )
    status = models.CharField(
        max_length=20, choices=ChangeStatus.choices, default=ChangeStatus.DRAFT
    )
    outcome = models.CharField(
        max_length=24, choices=ChangeOutcome.choices, default=ChangeOutcome.NONE, blank=True
    )
    reason = models.TextField(blank=True, help_text="Why the change is needed")
    problems = models.ManyToManyField("operation.Problem", blank=True, related_name="changes")
    known_errors = models.ManyToManyField(
        "operation.KnownError", blank=True, related_name="changes"
    )
    incidents = models.ManyToManyField(
        "operation.Incident", blank=True, related_name="fixing_changes"
    )
    nodes = models.ManyToManyField(
        "cmdb.Node", blank=True, related_name="changes", help_text="Affected services/components"
    )
    implementation_plan = models.TextField(blank=True)
    backout_plan = models.TextField(blank=True)
    test_plan = models.TextField(blank=True)
    planned_start = models.DateTimeField(null=True, blank=True)
    planned_end = models.DateTimeField(null=True, blank=True)
    actual_start = models.DateTimeField(null=True, blank=True)
    actual_end = models.DateTimeField(null=True, blank=True)
    requester = models.ForeignKey(
        "org.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    owner = models.ForeignKey(
        "org.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    implementers = models.ManyToManyField("org.Person", blank=True, related_name="+")
    function = models.ForeignKey(
        "org.Function", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    release = models.ForeignKey(
        Release, null=True, blank=True, on_delete=models.SET_NULL, related_name="changes"
    )
    # [{"key": "monitoring", "text": "Monitoring is in place", "done": false, "by": "", "at": ""}]
    readiness = models.JSONField(default=list, blank=True)
    risk_score = models.PositiveSmallIntegerField(default=0)
    risk_level = models.CharField(max_length=8, choices=RiskLevel.choices, default=RiskLevel.LOW)
    # [{"key": "breadth", "label": "...", "weight": 20, "value": 0.4, "points": 8, "why": "..."}]
    risk_factors = models.JSONField(default=list, blank=True)
    risk_override = models.CharField(
        max_length=8, choices=RiskLevel.choices, blank=True, help_text="Set by a change manager"
    )
    risk_override_reason = models.TextField(blank=True)
    # [{"kind": "change"|"maintenance"|"freeze", "ref": "...", "title": "...", "path": [...],
    #   "blocking": bool, "message": "..."}] as of the last submit/reschedule
    collisions = models.JSONField(default=list, blank=True)
    approval_path = models.CharField(
        max_length=16, choices=ApprovalPath.choices, default=ApprovalPath.CHANGE_MANAGER
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "planned_start"], name="chg_status_start"),
            models.Index(fields=["planned_start", "planned_end"], name="chg_window"),
            models.Index(fields=["planned_end"], name="chg_window_end"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("transition:change-detail", args=[self.reference])

    @property
    def effective_risk(self) -> str:
        return self.risk_override or self.risk_level

    def clean(self) -> None:
        if self.planned_start and self.planned_end and self.planned_end <= self.planned_start:
            raise ValidationError({"planned_end": "The window must end after it starts."})
        if self.change_type == ChangeType.STANDARD and not self.template_id:
            raise ValidationError(
                {"template": "A standard change is made from a standard change template."}
            )


class ChangeNode(models.Model):
    """Denormalised (node, window) rows of scheduled changes, so collision checks are one
    indexed range query instead of a scan of every change. Kept in step by the verbs."""

    change = models.ForeignKey(Change, on_delete=models.CASCADE, related_name="+")
    node = models.ForeignKey("cmdb.Node", on_delete=models.CASCADE, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["change", "node"], name="change_node_unique")
        ]
        indexes = [models.Index(fields=["node", "starts_at", "ends_at"], name="chgnode_window")]

    def __str__(self) -> str:
        return f"{self.change_id} on {self.node_id}"


class ApprovalPolicy(Record):
    """Who approves on one approval path and how many must agree: the members of a function
    and/or named people, any one / all / a quorum. ``forbid_self_approval`` stops the
    requester or owner deciding on their own change."""

    path = models.CharField(max_length=16, choices=ApprovalPath.choices, unique=True)
    rule = models.CharField(max_length=8, choices=ApprovalRule.choices, default=ApprovalRule.ANY)
    quorum = models.PositiveSmallIntegerField(default=1)
    function = models.ForeignKey(
        "org.Function", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    people = models.ManyToManyField("org.Person", blank=True, related_name="+")
    forbid_self_approval = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "approval policies"

    def __str__(self) -> str:
        return f"{self.get_path_display()}: {self.get_rule_display()}"


class ApprovalRequest(Record):
    """One round of approval of a change on its path: the rule in force when it was asked and
    its outcome. A change resubmitted after rejection gets a new round."""

    change = models.ForeignKey(Change, on_delete=models.CASCADE, related_name="approval_rounds")
    path = models.CharField(max_length=16, choices=ApprovalPath.choices)
    rule = models.CharField(max_length=8, choices=ApprovalRule.choices)
    quorum = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(
        max_length=10, choices=ApprovalStatus.choices, default=ApprovalStatus.PENDING
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.change_id} {self.path} {self.status}"


class Approval(Record):
    """One approver's decision in a round. ``decided_by`` differs from ``approver`` when a
    delegate decided while the approver was away."""

    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="votes")
    approver = models.ForeignKey("org.Person", on_delete=models.CASCADE, related_name="+")
    decision = models.CharField(max_length=10, choices=Decision.choices, default=Decision.PENDING)
    decided_by = models.ForeignKey(
        "org.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    comment = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["request", "approver"], name="approval_once_per_round")
        ]
        indexes = [models.Index(fields=["approver", "decision"], name="approval_inbox")]

    def __str__(self) -> str:
        return f"{self.approver_id}: {self.decision}"


class Delegation(Record):
    """While ``person`` is away (``starts_at``..``ends_at``), ``delegate`` may decide their
    approvals."""

    person = models.ForeignKey("org.Person", on_delete=models.CASCADE, related_name="+")
    delegate = models.ForeignKey("org.Person", on_delete=models.CASCADE, related_name="+")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()

    class Meta:
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(person=models.F("delegate")), name="delegation_not_self"
            )
        ]

    def __str__(self) -> str:
        return f"{self.person_id} -> {self.delegate_id}"

    def clean(self) -> None:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "The delegation must end after it starts."})


class FreezeWindow(ReferencedRecord):
    """A period in which changes are forbidden (except emergencies): global when it names no
    service, else for the named services and what they run on. One-off or recurring (RRULE in
    ``time_zone``), e.g. the last three days of every month."""

    REFERENCE_PREFIX = "FRZ"

    title = models.CharField(max_length=200)
    reason = models.TextField(blank=True)
    services = models.ManyToManyField("cmdb.Node", blank=True, related_name="freeze_windows")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    rrule = models.CharField(max_length=500, blank=True)
    time_zone = models.CharField(
        max_length=64, default="Europe/Amsterdam", validators=[validate_timezone]
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["starts_at", "id"]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("transition:freeze-detail", args=[self.reference])

    def clean(self) -> None:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "The freeze window must end after it starts."})
        if (self.rrule or "").strip():
            from itline.core.rrule import normalize_rrule, validate_rrule

            try:
                validate_rrule(self.rrule)
            except ValidationError as exc:
                raise ValidationError({"rrule": exc.messages}) from None
            self.rrule = normalize_rrule(self.rrule)


class CabMeeting(ReferencedRecord):
    """A CAB (or emergency CAB) meeting: its agenda is generated from changes awaiting
    approval, decisions are recorded per item, and the minutes are exported."""

    REFERENCE_PREFIX = "CAB"

    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=6, choices=MeetingKind.choices, default=MeetingKind.CAB)
    starts_at = models.DateTimeField()
    chair = models.ForeignKey(
        "org.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    attendees = models.ManyToManyField("org.Person", blank=True, related_name="+")
    minutes = models.TextField(blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-starts_at"]

    def __str__(self) -> str:
        return f"{self.reference} {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("transition:cab-detail", args=[self.reference])


class CabItem(models.Model):
    """One change on a CAB agenda, with the board's decision and notes."""

    meeting = models.ForeignKey(CabMeeting, on_delete=models.CASCADE, related_name="items")
    change = models.ForeignKey(Change, on_delete=models.CASCADE, related_name="cab_items")
    position = models.PositiveSmallIntegerField(default=0)
    decision = models.CharField(max_length=10, choices=Decision.choices, default=Decision.PENDING)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["meeting", "change"], name="cab_item_once")]

    def __str__(self) -> str:
        return f"{self.meeting_id}: {self.change_id}"


class Deployment(ReferencedRecord):
    """A deployment of a version to an environment, reported by a pipeline. It belongs to the
    change that covers it (a matching standard change is created for it when none does)."""

    REFERENCE_PREFIX = "DEP"

    node = models.ForeignKey("cmdb.Node", on_delete=models.PROTECT, related_name="deployments")
    version = models.CharField(max_length=100)
    environment = models.CharField(max_length=40)
    pipeline_url = models.URLField(max_length=500, blank=True)
    status = models.CharField(max_length=12, choices=DeploymentStatus.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    change = models.ForeignKey(
        Change, null=True, blank=True, on_delete=models.SET_NULL, related_name="deployments"
    )
    release = models.ForeignKey(
        Release, null=True, blank=True, on_delete=models.SET_NULL, related_name="deployments"
    )
    commit = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["node", "environment", "started_at"], name="dep_node_env"),
            models.Index(fields=["environment", "started_at"], name="dep_env_started"),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.version} to {self.environment}"


class ChangeReview(Record):
    """The post-implementation review of a change, drafted automatically from the window's
    alerts and incidents on the touched components and their neighbours, SLA impact,
    deployments and the outcome (``draft`` holds that evidence); the owner completes it."""

    change = models.OneToOneField(Change, on_delete=models.CASCADE, related_name="review")
    status = models.CharField(
        max_length=10, choices=ReviewStatus.choices, default=ReviewStatus.DRAFT
    )
    draft = models.JSONField(default=dict, blank=True)
    summary = models.TextField(blank=True)
    lessons = models.TextField(blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        "org.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"Review of {self.change_id}"


class ChangeIncidentLink(Record):
    """An incident suggested (or confirmed) as caused by a change: it hit a touched component
    within the configured period after implementation. A confirmed link counts the change as
    failed for metrics."""

    change = models.ForeignKey(Change, on_delete=models.CASCADE, related_name="caused_links")
    incident = models.ForeignKey(
        "operation.Incident", on_delete=models.CASCADE, related_name="change_links"
    )
    status = models.CharField(
        max_length=10, choices=LinkStatus.choices, default=LinkStatus.SUGGESTED
    )
    reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        "org.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["change", "incident"], name="change_incident_once")
        ]

    def __str__(self) -> str:
        return f"{self.change_id} -> {self.incident_id} ({self.status})"
