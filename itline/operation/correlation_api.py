"""API of correlation: alert groups (list with filters, one group with its alerts and the
decisions taken), the alert verbs (acknowledge, silence, unsilence; acknowledge a whole
group) and alert rules (CRUD, and export/import of all rules as one file: config as code).
Writes go through the verbs in ``itline.operation.services.alerts``.

No ``from __future__ import annotations``: ninja reads the annotations at registration."""

from datetime import datetime
from typing import Any, Literal

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema, Status

from itline.cmdb.models import Node
from itline.core.api import ERRORS, ErrorOut, config_file_response, page_of, read_config_document
from itline.core.errors import DomainError
from itline.core.pagination import keyset_page
from itline.core.services import require
from itline.operation.correlation.rules import export_rules, import_rules
from itline.operation.models import Alert, AlertGroup, AlertRule, EventSource
from itline.operation.models.alerts import AlertGroupStatus, AlertStatus, Severity
from itline.operation.services import alerts as verbs

router = Router()

GROUPS = ["Alert groups"]
ALERTS = ["Alerts"]
RULES = ["Alert rules"]
ALERTS_SHOWN = 500


def _ref(obj: Any) -> str | None:
    return None if obj is None else str(obj.reference)


def _name(obj: Any) -> str | None:
    return None if obj is None else str(obj.name)


class Decision(Schema):
    at: str
    what: str
    why: str


# --- alerts ---------------------------------------------------------------------------------


class AlertStateOut(Schema):
    """An alert as correlation sees it: where it went and who acted on it."""

    id: int
    name: str
    status: AlertStatus
    severity: Severity
    summary: str
    labels: dict[str, Any]
    component: str | None = Field(None, description="Reference of the mapped component")
    component_name: str | None
    service: str | None = Field(None, description="Reference of the mapped service")
    group: str | None
    changed_at: datetime
    flapping: bool
    suppressed_by: str | None = Field(None, description="Maintenance window keeping it quiet")
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    silenced_until: datetime | None
    silenced_by: str | None
    silence_reason: str
    decisions: list[Decision]

    @staticmethod
    def resolve_component(obj: Alert) -> str | None:
        return _ref(obj.component)

    @staticmethod
    def resolve_component_name(obj: Alert) -> str | None:
        return _name(obj.component)

    @staticmethod
    def resolve_service(obj: Alert) -> str | None:
        return _ref(obj.service)

    @staticmethod
    def resolve_group(obj: Alert) -> str | None:
        return _ref(obj.group)

    @staticmethod
    def resolve_suppressed_by(obj: Alert) -> str | None:
        return _ref(obj.suppressed_by)

    @staticmethod
    def resolve_acknowledged_by(obj: Alert) -> str | None:
        return _ref(obj.acknowledged_by)

    @staticmethod
    def resolve_silenced_by(obj: Alert) -> str | None:
        return _ref(obj.silenced_by)


def _alerts(user: Any) -> Any:
    require(user, "operation.view_alert")
    return Alert.objects.select_related(
        "component", "service", "group", "suppressed_by", "acknowledged_by", "silenced_by"
    )


def _alert(request: HttpRequest, alert_id: int) -> Alert:
    return get_object_or_404(_alerts(request.user), pk=alert_id)


class SilenceIn(Schema):
    until: datetime = Field(..., description="When the silence ends (with time zone)")
    reason: str = Field(..., min_length=1, max_length=300)


@router.post(
    "/alerts/{alert_id}/acknowledge",
    response={200: AlertStateOut, **ERRORS},
    tags=ALERTS,
    summary="Acknowledge a firing alert",
)
def acknowledge_alert(request: HttpRequest, alert_id: int) -> Any:
    """409 when the alert has resolved. Acknowledging twice keeps the first."""
    alert = _alert(request, alert_id)
    verbs.acknowledge_alert(alert, by=request.user)
    return _alert(request, alert_id)


@router.post(
    "/alerts/{alert_id}/silence",
    response={200: AlertStateOut, **ERRORS},
    tags=ALERTS,
    summary="Silence an alert until a moment",
)
def silence_alert(request: HttpRequest, alert_id: int, payload: SilenceIn) -> Any:
    """While silenced, the alert's state changes join no new group, open no incident and
    notify nobody. ``until`` must be in the future, within ALERT_SILENCE_MAX_DAYS."""
    alert = _alert(request, alert_id)
    verbs.silence_alert(alert, by=request.user, until=payload.until, reason=payload.reason)
    return _alert(request, alert_id)


@router.post(
    "/alerts/{alert_id}/unsilence",
    response={200: AlertStateOut, **ERRORS},
    tags=ALERTS,
    summary="Lift an alert's silence",
)
def unsilence_alert(request: HttpRequest, alert_id: int) -> Any:
    """409 when it is not silenced. A firing alert is correlated again at once."""
    alert = _alert(request, alert_id)
    verbs.unsilence_alert(alert, by=request.user)
    return _alert(request, alert_id)


# --- alert groups ---------------------------------------------------------------------------


class GroupOut(Schema):
    reference: str
    title: str
    status: AlertGroupStatus
    severity: Severity
    probable_cause: str | None = Field(None, description="Reference of the probable cause")
    probable_cause_name: str | None
    service: str | None
    service_name: str | None
    incident: str | None
    incident_status: str | None
    firing_count: int
    alert_count: int
    opened_at: datetime
    last_alert_at: datetime
    resolved_at: datetime | None

    @staticmethod
    def resolve_probable_cause(obj: AlertGroup) -> str | None:
        return _ref(obj.probable_cause)

    @staticmethod
    def resolve_probable_cause_name(obj: AlertGroup) -> str | None:
        return _name(obj.probable_cause)

    @staticmethod
    def resolve_service(obj: AlertGroup) -> str | None:
        return _ref(obj.service)

    @staticmethod
    def resolve_service_name(obj: AlertGroup) -> str | None:
        return _name(obj.service)

    @staticmethod
    def resolve_incident(obj: AlertGroup) -> str | None:
        return _ref(obj.incident)

    @staticmethod
    def resolve_incident_status(obj: AlertGroup) -> str | None:
        return None if obj.incident is None else str(obj.incident.status)


class GroupDetailOut(GroupOut):
    decisions: list[Decision]
    alerts: list[AlertStateOut] = Field(..., description=f"At most {ALERTS_SHOWN}, newest first")

    @staticmethod
    def resolve_alerts(obj: AlertGroup) -> list[Alert]:
        return list(_alerts(None).filter(group=obj).order_by("-changed_at", "-id")[:ALERTS_SHOWN])


class GroupFilters(Schema):
    status: AlertGroupStatus | None = None
    severity: Severity | None = None
    service: str | None = Field(None, description="Reference of a service")
    probable_cause: str | None = Field(None, description="Reference of a component or service")
    incident: str | None = Field(None, description="Reference of an incident")
    q: str | None = Field(None, description="Text in the title")


def _groups(user: Any) -> Any:
    require(user, "operation.view_alertgroup")
    return AlertGroup.objects.select_related("probable_cause", "service", "incident")


def _node_id(ref: str) -> int:
    return Node.objects.filter(reference=ref).values_list("id", flat=True).first() or 0


@router.get(
    "/alert-groups",
    response={200: page_of(GroupOut), **ERRORS},
    tags=GROUPS,
    summary="List alert groups",
)
def list_groups(
    request: HttpRequest,
    filters: Query[GroupFilters],
    sort: str = "-last_alert_at",
    cursor: str | None = None,
    limit: int = 50,
) -> Any:
    """Newest activity first. ``status=open&service=SVC-…`` is what the console shows."""
    f = filters
    qs = _groups(request.user)
    if f.status:
        qs = qs.filter(status=f.status)
    if f.severity:
        qs = qs.filter(severity=f.severity)
    if f.service:
        qs = qs.filter(service_id=_node_id(f.service))
    if f.probable_cause:
        qs = qs.filter(probable_cause_id=_node_id(f.probable_cause))
    if f.incident:
        qs = qs.filter(incident__reference=f.incident)
    if f.q:
        qs = qs.filter(title__icontains=f.q)
    page = keyset_page(
        qs,
        sort=sort,
        allowed=("last_alert_at", "opened_at", "firing_count", "reference"),
        cursor=cursor,
        limit=limit,
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get(
    "/alert-groups/{ref}",
    response={200: GroupDetailOut, **ERRORS},
    tags=GROUPS,
    summary="Read one alert group with its alerts and decisions",
)
def read_group(request: HttpRequest, ref: str) -> Any:
    return get_object_or_404(_groups(request.user), reference=ref)


@router.post(
    "/alert-groups/{ref}/acknowledge",
    response={200: GroupDetailOut, **ERRORS},
    tags=GROUPS,
    summary="Acknowledge every firing alert of a group",
)
def acknowledge_group(request: HttpRequest, ref: str) -> Any:
    """409 when no firing, unacknowledged alert is left."""
    group = get_object_or_404(_groups(request.user), reference=ref)
    verbs.acknowledge_group(group, by=request.user)
    return _groups(None).get(pk=group.pk)


# --- alert rules ------------------------------------------------------------------------------


class RuleOut(Schema):
    id: int
    name: str
    position: int
    source: str | None = Field(None, description="Name of the event source; null: every source")
    matchers: dict[str, str]
    open_incident: bool
    min_severity: Severity
    min_duration_seconds: int
    flap_threshold: int
    flap_window_seconds: int
    auto_resolve: bool
    active: bool
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_source(obj: AlertRule) -> str | None:
        return _name(obj.source)


class RuleIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    position: int = Field(100, ge=0, lt=2**31)
    source: str | None = Field(None, description="Name of an event source")
    matchers: dict[str, str] = Field({}, description='Labels that must equal, e.g. {"env": "prod"}')
    open_incident: bool = True
    min_severity: Severity = Severity.ERROR
    min_duration_seconds: int = Field(0, ge=0, lt=2**31)
    flap_threshold: int = Field(4, ge=0, le=32767)
    flap_window_seconds: int = Field(900, ge=0, lt=2**31)
    auto_resolve: bool = True
    active: bool = True


class RulePatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    position: int | None = Field(None, ge=0, lt=2**31)
    source: str | None = None
    matchers: dict[str, str] | None = None
    open_incident: bool | None = None
    min_severity: Severity | None = None
    min_duration_seconds: int | None = Field(None, ge=0, lt=2**31)
    flap_threshold: int | None = Field(None, ge=0, le=32767)
    flap_window_seconds: int | None = Field(None, ge=0, lt=2**31)
    auto_resolve: bool | None = None
    active: bool | None = None


def _rules(user: Any) -> Any:
    require(user, "operation.view_alertrule")
    return AlertRule.objects.select_related("source").order_by("position", "id")


def _rule_fields(data: dict[str, Any]) -> dict[str, Any]:
    if "source" in data:
        name = data["source"]
        if name in (None, ""):
            data["source"] = None
        else:
            source = EventSource.objects.filter(name=name).first()
            if source is None:
                raise ValidationError({"source": f"There is no event source named {name!r}."})
            data["source"] = source
    for key, value in data.items():
        if value is None and key != "source":
            raise DomainError("This field cannot be empty (null).", field=key)
    return data


@router.get(
    "/alert-rules/export",
    response={200: dict[str, Any], **ERRORS},
    tags=RULES,
    summary="Every alert rule as one document",
)
def export_alert_rules(request: HttpRequest, format: Literal["json", "yaml"] = "json") -> Any:
    """``{"alert_rules": [...]}`` in position order, sources by name; ``format=yaml`` gives the
    same document as YAML text. ``POST /alert-rules/import`` takes it back."""
    require(request.user, "operation.view_alertrule")
    return config_file_response(export_rules(), format=format, name="alert-rules")


class ImportOut(Schema):
    created: list[str]
    updated: list[str]
    deleted: list[str]
    unchanged: list[str]
    dry_run: bool


@router.post(
    "/alert-rules/import",
    response={200: ImportOut, 413: ErrorOut, **ERRORS},
    tags=RULES,
    summary="Make the alert rules what a document says",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "application/yaml": {"schema": {"type": "string"}},
            }
        }
    },
)
def import_alert_rules(request: HttpRequest, prune: bool = False, dry_run: bool = False) -> Any:
    """The export document as JSON or YAML (``Content-Type: application/yaml``). Rules are
    matched by name: created, updated (journaled) or, with ``prune=true``, deleted when the
    document does not list them. All or nothing: 422 names ``alert_rules[i].field``."""
    for perm in ("operation.add_alertrule", "operation.change_alertrule"):
        require(request.user, perm)
    if prune:
        require(request.user, "operation.delete_alertrule")
    document = read_config_document(request)
    return import_rules(document, by=request.user, prune=prune, dry_run=dry_run)


@router.get(
    "/alert-rules",
    response={200: list[RuleOut], **ERRORS},
    tags=RULES,
    summary="List alert rules in the order they are tried",
)
def list_rules(request: HttpRequest) -> Any:
    return list(_rules(request.user))


@router.post(
    "/alert-rules",
    response={201: RuleOut, **ERRORS},
    tags=RULES,
    summary="Create an alert rule",
)
def create_rule(request: HttpRequest, payload: RuleIn) -> Any:
    rule = verbs.create_rule(by=request.user, **_rule_fields(payload.model_dump()))
    return Status(201, _rules(None).get(pk=rule.pk))


@router.get(
    "/alert-rules/{rule_id}",
    response={200: RuleOut, **ERRORS},
    tags=RULES,
    summary="Read one alert rule",
)
def read_rule(request: HttpRequest, rule_id: int) -> Any:
    return get_object_or_404(_rules(request.user), pk=rule_id)


@router.patch(
    "/alert-rules/{rule_id}",
    response={200: RuleOut, **ERRORS},
    tags=RULES,
    summary="Change an alert rule",
)
def update_rule(request: HttpRequest, rule_id: int, payload: RulePatch) -> Any:
    rule = get_object_or_404(_rules(request.user), pk=rule_id)
    data = payload.model_dump(exclude_unset=True)
    if not data:
        raise DomainError("Send at least one field to change.", field="request")
    verbs.update_rule(rule, by=request.user, **_rule_fields(data))
    return _rules(None).get(pk=rule.pk)


@router.delete(
    "/alert-rules/{rule_id}",
    response={204: None, **ERRORS},
    tags=RULES,
    summary="Delete an alert rule",
)
def delete_rule(request: HttpRequest, rule_id: int) -> Any:
    rule = get_object_or_404(_rules(request.user), pk=rule_id)
    verbs.delete_rule(rule, by=request.user)
    return Status(204, None)
