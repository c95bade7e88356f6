"""API: event ingestion (itline JSON, Alertmanager webhook, PagerDuty Events v2), alerts and
their history, event sources (credential shown once) and mapping rules (with export/import as
a file). docs/events.md describes all of it.

The three ingestion endpoints are the hot path: they read the raw body themselves (size limit
first, 413), authenticate with the event source's own credential (not a user token), parse
with orjson into ``NormalizedEvent``s and hand the batch to ``ingest`` -- no pydantic model per
event. Everything else is ordinary ninja.

No ``from __future__ import annotations``: ninja reads the annotations at registration."""

from datetime import datetime
from typing import Any

import orjson
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Q
from django.db.models.fields.json import KeyTransform
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from ninja import Field, Query, Router, Schema, Status

from itline.core.api import ERRORS, config_file_response, page_of, read_config_document
from itline.core.errors import DomainError
from itline.core.pagination import keyset_page
from itline.core.services import require
from itline.operation.ingest import auth, config, parsers
from itline.operation.ingest.events import IngestError
from itline.operation.ingest.store import Busy, ingest
from itline.operation.models import Alert, AlertTransition, EventSource, MappingRule
from itline.operation.models.alerts import (
    AlertStatus,
    EventAuth,
    EventSourceKind,
    MappingTarget,
    Severity,
)

router = Router()

EVENTS = ["Events"]
ALERTS = ["Alerts"]
SOURCES = ["Event sources"]
RULES = ["Mapping rules"]

DEFAULT_MAX_BYTES = 5 * 1024 * 1024


# --- ingestion --------------------------------------------------------------------------------


def _json(body: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> HttpResponse:
    response = HttpResponse(orjson.dumps(body), content_type="application/json", status=status)
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def _error(status: int, field: str, message: str, pagerduty: bool) -> HttpResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="itline events"'} if status == 401 else {}
    if status == 503:
        headers["Retry-After"] = "1"
    if pagerduty:
        # PagerDuty's own error shape, plus the API's common "detail".
        label = {400: "invalid event", 401: "unauthorized", 413: "invalid event"}.get(
            status, "invalid event" if status < 500 else "error"
        )
        shown = message if field in ("request", "") else f"{field}: {message}"
        return _json(
            {
                "status": label,
                "message": "Event object is invalid" if status in (400, 413) else message,
                "errors": [shown],
                "detail": shown,
            },
            status,
            headers,
        )
    return _json(
        {"detail": message, "errors": [{"field": field, "message": message}]}, status, headers
    )


def _read_body(request: HttpRequest) -> bytes:
    limit = int(getattr(settings, "EVENTS_MAX_BYTES", DEFAULT_MAX_BYTES))
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise IngestError(
            "request", f"the body is {declared} bytes; at most {limit} are accepted", 413
        )
    body = request.read(limit + 1)
    if len(body) > limit:
        raise IngestError("request", f"the body is larger than {limit} bytes, the limit", 413)
    return body


def _receive(request: HttpRequest, kind: str) -> HttpResponse:
    pagerduty = kind == EventSourceKind.PAGERDUTY
    try:
        body = _read_body(request)
        data: Any = None
        token = None
        if pagerduty and not request.META.get("HTTP_AUTHORIZATION"):
            data = parsers.load_json(body)
            token = parsers.pagerduty_routing_key(data) or None
        source = auth.authenticate(request, kind, body=body, token=token)
        if pagerduty:
            events = parsers.parse_pagerduty(data if data is not None else body)
        elif kind == EventSourceKind.ALERTMANAGER:
            events = parsers.parse_alertmanager(body)
        else:
            events = parsers.parse_itline(body, source_name=source.name)
        result = ingest(source, events)
    except IngestError as exc:
        status = exc.status if not pagerduty or exc.status == 413 else 400
        return _error(status, exc.field, exc.message, pagerduty)
    except auth.Unauthorized as exc:
        return _error(401, "Authorization", exc.message, pagerduty)
    except Busy as exc:
        return _error(503, "request", str(exc), pagerduty)
    if pagerduty:
        return _json(
            {"status": "success", "message": "Event processed", "dedup_key": events[0].dedup_key},
            202,
        )
    return _json(
        {
            "status": "success",
            "accepted": result.accepted,
            "new": result.new,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "ignored": result.ignored,
        },
        202,
    )


def _body_doc(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }
    }


_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
_ITLINE_EVENT = {
    "type": "object",
    "properties": {
        "fingerprint": {"type": "string", "maxLength": 64},
        "status": {"type": "string", "enum": ["firing", "resolved"]},
        "severity": {"type": "string", "example": "critical"},
        "name": {"type": "string"},
        "summary": {"type": "string"},
        "labels": _LABELS,
        "annotations": {"type": "object"},
        "starts_at": {"type": "string", "format": "date-time"},
        "ends_at": {"type": "string", "format": "date-time"},
        "generator_url": {"type": "string"},
        "component": {"type": "string", "description": "reference or name of a component"},
        "service": {"type": "string", "description": "reference or name of a service"},
        "source": {"type": "string", "description": "if given, the name of the source"},
    },
}
_RESPONSES_202 = {
    "responses": {
        202: {"description": "Stored (durably) and handed to correlation"},
        400: {"description": "Not JSON"},
        401: {"description": "No or wrong credential of an event source"},
        413: {"description": "Body larger than EVENTS_MAX_BYTES"},
        422: {"description": "Wrong shape; the error names the field"},
    }
}


@router.post(
    "/events",
    auth=None,
    tags=EVENTS,
    summary="Send itline events (one or a list)",
    openapi_extra={
        **_body_doc(
            "One event or a list; authenticate with the source's token (Bearer) or signature.",
            {"oneOf": [_ITLINE_EVENT, {"type": "array", "items": _ITLINE_EVENT}]},
        ),
        **_RESPONSES_202,
    },
)
def post_events(request: HttpRequest) -> HttpResponse:
    return _receive(request, EventSourceKind.ITLINE)


@router.post(
    "/events/alertmanager",
    auth=None,
    tags=EVENTS,
    summary="Receive an Alertmanager webhook (payload version 4)",
    openapi_extra={
        **_body_doc(
            "The payload Alertmanager's webhook_config sends.",
            {
                "type": "object",
                "required": ["alerts"],
                "properties": {
                    "version": {"type": "string", "example": "4"},
                    "status": {"type": "string"},
                    "alerts": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "status": {"type": "string", "enum": ["firing", "resolved"]},
                                "labels": _LABELS,
                                "annotations": _LABELS,
                                "startsAt": {"type": "string", "format": "date-time"},
                                "endsAt": {"type": "string", "format": "date-time"},
                                "generatorURL": {"type": "string"},
                                "fingerprint": {"type": "string"},
                            },
                        },
                    },
                },
            },
        ),
        **_RESPONSES_202,
    },
)
def post_alertmanager(request: HttpRequest) -> HttpResponse:
    return _receive(request, EventSourceKind.ALERTMANAGER)


@router.post(
    "/events/pagerduty",
    auth=None,
    tags=EVENTS,
    summary="Receive a PagerDuty Events API v2 event",
    openapi_extra={
        **_body_doc(
            "A PagerDuty Events API v2 event; routing_key is the source's token.",
            {
                "type": "object",
                "required": ["routing_key", "event_action"],
                "properties": {
                    "routing_key": {"type": "string"},
                    "event_action": {
                        "type": "string",
                        "enum": ["trigger", "acknowledge", "resolve"],
                    },
                    "dedup_key": {"type": "string", "maxLength": 255},
                    "payload": {
                        "type": "object",
                        "properties": {
                            "summary": {"type": "string"},
                            "source": {"type": "string"},
                            "severity": {
                                "type": "string",
                                "enum": ["critical", "error", "warning", "info"],
                            },
                            "timestamp": {"type": "string", "format": "date-time"},
                            "component": {"type": "string"},
                            "group": {"type": "string"},
                            "class": {"type": "string"},
                            "custom_details": {"type": "object"},
                        },
                    },
                },
            },
        ),
        "responses": {
            202: {
                "description": '{"status": "success", "message": "Event processed", "dedup_key": …}'
            },
            400: {"description": '{"status": "invalid event", "message": …, "errors": […]}'},
            401: {"description": "Unknown routing key"},
            413: {"description": "Body larger than EVENTS_MAX_BYTES"},
        },
    },
)
def post_pagerduty(request: HttpRequest) -> HttpResponse:
    return _receive(request, EventSourceKind.PAGERDUTY)


# --- alerts and their history -------------------------------------------------------------------


def _ref(obj: Any) -> str | None:
    return None if obj is None else str(obj.reference)


class AlertOut(Schema):
    id: int
    fingerprint: str
    name: str
    status: AlertStatus
    severity: Severity
    summary: str
    labels: dict[str, Any]
    annotations: dict[str, Any]
    source: str
    component: str | None = Field(None, description="Reference of the mapped component")
    component_name: str | None
    service: str | None = Field(None, description="Reference of the mapped service")
    service_name: str | None
    mapping_rule: str | None = Field(None, description="Name of the rule that mapped it")
    group: str | None
    starts_at: datetime
    ends_at: datetime | None
    first_seen_at: datetime
    last_seen_at: datetime
    changed_at: datetime
    transitions: int
    flapping: bool
    pending: bool
    suppressed_by: str | None
    acknowledged_at: datetime | None
    silenced_until: datetime | None
    generator_url: str

    @staticmethod
    def resolve_source(obj: Alert) -> str:
        return obj.source.name

    @staticmethod
    def resolve_component(obj: Alert) -> str | None:
        return _ref(obj.component)

    @staticmethod
    def resolve_component_name(obj: Alert) -> str | None:
        return None if obj.component is None else obj.component.name

    @staticmethod
    def resolve_service(obj: Alert) -> str | None:
        return _ref(obj.service)

    @staticmethod
    def resolve_service_name(obj: Alert) -> str | None:
        return None if obj.service is None else obj.service.name

    @staticmethod
    def resolve_mapping_rule(obj: Alert) -> str | None:
        return None if obj.mapping_rule is None else obj.mapping_rule.name

    @staticmethod
    def resolve_group(obj: Alert) -> str | None:
        return _ref(obj.group)

    @staticmethod
    def resolve_suppressed_by(obj: Alert) -> str | None:
        return _ref(obj.suppressed_by)


class AlertDetailOut(AlertOut):
    decisions: list[dict[str, Any]]


class AlertFilters(Schema):
    status: AlertStatus | None = None
    severity: Severity | None = None
    source: str | None = Field(None, description="Name of the event source")
    component: str | None = Field(None, description="Reference of a component")
    service: str | None = Field(None, description="Reference of a service")
    group: str | None = Field(None, description="Reference of an alert group")
    fingerprint: str | None = None
    label: list[str] = Field([], description="key:value; repeat for several (all must match)")
    unmapped: bool | None = Field(None, description="true: no component and no service")
    since: datetime | None = Field(None, description="Changed at or after")
    until: datetime | None = Field(None, description="Changed before")


def _node_id(ref: str) -> int:
    """The id of the node ``ref`` names; 0 (matches nothing) when there is none."""
    from itline.cmdb.models import Node

    return Node.objects.filter(reference=ref).values_list("id", flat=True).first() or 0


def _label_filter(qs: Any, labels: list[str], prefix: str = "") -> Any:
    for index, item in enumerate(labels):
        key, sep, value = item.partition(":")
        if not sep or not key:
            raise DomainError("label filters are key:value, e.g. label=job:node", field="label")
        if connection.vendor == "postgresql":
            qs = qs.filter(**{f"{prefix}labels__contains": {key: value}})
        else:
            alias = f"_label{index}"
            qs = qs.alias(**{alias: KeyTransform(key, f"{prefix}labels")}).filter(**{alias: value})
    return qs


def _alerts(user: Any) -> Any:
    require(user, "operation.view_alert")
    return Alert.objects.select_related(
        "source", "component", "service", "mapping_rule", "group", "suppressed_by"
    )


@router.get(
    "/alerts",
    response={200: page_of(AlertOut), **ERRORS},
    tags=ALERTS,
    summary="List alerts",
)
def list_alerts(
    request: HttpRequest,
    filters: Query[AlertFilters],
    sort: str = "-changed_at",
    cursor: str | None = None,
    limit: int = 50,
) -> Any:
    """Newest change first by default. ``service=SVC-…&status=firing`` is an index lookup."""
    qs = _alerts(request.user)
    f = filters
    if f.status:
        qs = qs.filter(status=f.status)
    if f.severity:
        qs = qs.filter(severity=f.severity)
    if f.source:
        qs = qs.filter(source__name=f.source)
    if f.component:
        qs = qs.filter(component_id=_node_id(f.component))
    if f.service:
        qs = qs.filter(service_id=_node_id(f.service))
    if f.group:
        qs = qs.filter(group__reference=f.group)
    if f.fingerprint:
        qs = qs.filter(fingerprint=f.fingerprint)
    if f.unmapped is not None:
        unmapped = Q(component__isnull=True, service__isnull=True)
        qs = qs.filter(unmapped if f.unmapped else ~unmapped)
    if f.since:
        qs = qs.filter(changed_at__gte=f.since)
    if f.until:
        qs = qs.filter(changed_at__lt=f.until)
    qs = _label_filter(qs, f.label)
    page = keyset_page(
        qs,
        sort=sort,
        allowed=("changed_at", "starts_at", "last_seen_at", "first_seen_at", "id"),
        cursor=cursor,
        limit=limit,
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get(
    "/alerts/{alert_id}",
    response={200: AlertDetailOut, **ERRORS},
    tags=ALERTS,
    summary="Read one alert, with the decisions taken on it",
)
def read_alert(request: HttpRequest, alert_id: int) -> Any:
    return get_object_or_404(_alerts(request.user), pk=alert_id)


class TransitionOut(Schema):
    id: int
    alert: int
    alert_name: str
    status: AlertStatus
    severity: Severity
    at: datetime = Field(..., description="When the sender says it happened")
    received_at: datetime
    component: str | None
    service: str | None
    summary: str

    @staticmethod
    def resolve_alert(obj: AlertTransition) -> int:
        return int(obj.alert_id)

    @staticmethod
    def resolve_alert_name(obj: AlertTransition) -> str:
        return obj.alert.name

    @staticmethod
    def resolve_component(obj: AlertTransition) -> str | None:
        return _ref(obj.component)

    @staticmethod
    def resolve_service(obj: AlertTransition) -> str | None:
        return _ref(obj.service)


def _history(user: Any) -> Any:
    require(user, "operation.view_alert")
    return AlertTransition.objects.select_related("alert", "component", "service")


@router.get(
    "/alerts/{alert_id}/history",
    response={200: page_of(TransitionOut), **ERRORS},
    tags=ALERTS,
    summary="Every firing/resolved transition of one alert",
)
def alert_history(
    request: HttpRequest,
    alert_id: int,
    sort: str = "at",
    cursor: str | None = None,
    limit: int = 100,
) -> Any:
    get_object_or_404(_alerts(request.user), pk=alert_id)
    qs = _history(request.user).filter(alert_id=alert_id)
    page = keyset_page(qs, sort=sort, allowed=("at", "id"), cursor=cursor, limit=limit)
    return {"items": page.items, "next_cursor": page.next_cursor}


class HistoryFilters(Schema):
    component: str | None = Field(None, description="Reference of a component")
    service: str | None = Field(None, description="Reference of a service")
    source: str | None = Field(None, description="Name of the event source")
    status: AlertStatus | None = None
    severity: Severity | None = None
    label: list[str] = Field([], description="key:value of the alert's labels; repeatable")
    since: datetime | None = Field(None, description="At or after")
    until: datetime | None = Field(None, description="Before")


@router.get(
    "/alert-history",
    response={200: page_of(TransitionOut), **ERRORS},
    tags=ALERTS,
    summary="Alert history: transitions by component, service, label and time",
)
def list_history(
    request: HttpRequest,
    filters: Query[HistoryFilters],
    sort: str = "-at",
    cursor: str | None = None,
    limit: int = 100,
) -> Any:
    """The component and service are those of the alert when the transition happened."""
    qs = _history(request.user)
    f = filters
    if f.component:
        qs = qs.filter(component_id=_node_id(f.component))
    if f.service:
        qs = qs.filter(service_id=_node_id(f.service))
    if f.source:
        qs = qs.filter(alert__source__name=f.source)
    if f.status:
        qs = qs.filter(status=f.status)
    if f.severity:
        qs = qs.filter(severity=f.severity)
    if f.since:
        qs = qs.filter(at__gte=f.since)
    if f.until:
        qs = qs.filter(at__lt=f.until)
    qs = _label_filter(qs, f.label, prefix="alert__")
    page = keyset_page(qs, sort=sort, allowed=("at", "id"), cursor=cursor, limit=limit)
    return {"items": page.items, "next_cursor": page.next_cursor}


# --- event sources --------------------------------------------------------------------------------


class EventSourceOut(Schema):
    id: int
    name: str
    kind: EventSourceKind
    auth: EventAuth
    token_prefix: str = Field(..., description="Start of the credential, to recognise it")
    endpoint: str = Field(..., description="Where this source posts its events")
    active: bool
    description: str
    last_event_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_endpoint(obj: EventSource) -> str:
        return auth.ENDPOINTS.get(obj.kind, "/api/v1/events")


class EventSourceCreatedOut(EventSourceOut):
    secret: str = Field(..., description="The token (or HMAC secret); shown once, store it now")


class EventSourceIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    kind: EventSourceKind
    auth: EventAuth = EventAuth.TOKEN
    description: str = ""
    active: bool = True


class EventSourcePatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    description: str | None = None
    active: bool | None = None


class RotateIn(Schema):
    auth: EventAuth | None = Field(None, description="Switch between token and hmac")


def _sources(user: Any) -> Any:
    require(user, "operation.view_eventsource")
    return EventSource.objects.all()


def _with_secret(source: EventSource, secret: str) -> EventSource:
    source.secret = secret  # type: ignore[attr-defined]  # for the response only
    return source


@router.get(
    "/event-sources",
    response={200: list[EventSourceOut], **ERRORS},
    tags=SOURCES,
    summary="List event sources",
)
def list_sources(request: HttpRequest) -> Any:
    return list(_sources(request.user))


@router.post(
    "/event-sources",
    response={201: EventSourceCreatedOut, **ERRORS},
    tags=SOURCES,
    summary="Create an event source (its credential is shown once)",
)
def create_source(request: HttpRequest, payload: EventSourceIn) -> Any:
    source, secret = config.create_source(by=request.user, **payload.model_dump())
    return Status(201, _with_secret(source, secret))


@router.get(
    "/event-sources/{source_id}",
    response={200: EventSourceOut, **ERRORS},
    tags=SOURCES,
    summary="Read one event source",
)
def read_source(request: HttpRequest, source_id: int) -> Any:
    return get_object_or_404(_sources(request.user), pk=source_id)


@router.patch(
    "/event-sources/{source_id}",
    response={200: EventSourceOut, **ERRORS},
    tags=SOURCES,
    summary="Rename, describe or switch an event source on/off",
)
def update_source(request: HttpRequest, source_id: int, payload: EventSourcePatch) -> Any:
    source = get_object_or_404(_sources(request.user), pk=source_id)
    data = payload.model_dump(exclude_unset=True)
    if not data:
        raise DomainError("Send at least one field to change.", field="request")
    for name in ("name", "active"):
        if name in data and data[name] is None:
            raise DomainError("This field cannot be empty (null).", field=name)
    if data.get("description", "") is None:
        data["description"] = ""
    return config.update_source(source, by=request.user, **data)


@router.delete(
    "/event-sources/{source_id}",
    response={204: None, **ERRORS},
    tags=SOURCES,
    summary="Delete an event source without alerts (409 otherwise: switch it off)",
)
def delete_source(request: HttpRequest, source_id: int) -> Any:
    source = get_object_or_404(_sources(request.user), pk=source_id)
    config.delete_source(source, by=request.user)
    return Status(204, None)


@router.post(
    "/event-sources/{source_id}/rotate",
    response={200: EventSourceCreatedOut, **ERRORS},
    tags=SOURCES,
    summary="Give an event source a new credential (the old one stops working)",
)
def rotate_source(request: HttpRequest, source_id: int, payload: RotateIn) -> Any:
    source = get_object_or_404(_sources(request.user), pk=source_id)
    secret = config.rotate_credential(source, by=request.user, auth=payload.auth)
    return _with_secret(source, secret)


# --- mapping rules ----------------------------------------------------------------------------------


class MappingRuleOut(Schema):
    id: int
    position: int
    name: str
    source: str | None = Field(None, description="Name of the event source; null: all")
    label: str
    pattern: str
    target: MappingTarget
    node: str | None = Field(None, description="Reference of the fixed node, if any")
    active: bool
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_source(obj: MappingRule) -> str | None:
        return None if obj.source is None else obj.source.name

    @staticmethod
    def resolve_node(obj: MappingRule) -> str | None:
        return _ref(obj.node)


class MappingRuleIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    position: int = Field(100, ge=0, le=2**31 - 1)
    source: str | None = Field(None, description="Name of an event source; null for all")
    label: str = Field(..., min_length=1, max_length=100)
    pattern: str = Field("", max_length=300)
    target: MappingTarget
    node: str | None = Field(None, description="Reference of a component or service")
    active: bool = True


class MappingRulePatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    position: int | None = Field(None, ge=0, le=2**31 - 1)
    source: str | None = None
    label: str | None = Field(None, min_length=1, max_length=100)
    pattern: str | None = Field(None, max_length=300)
    target: MappingTarget | None = None
    node: str | None = None
    active: bool | None = None


def _rules(user: Any) -> Any:
    require(user, "operation.view_mappingrule")
    return MappingRule.objects.select_related("source", "node")


def _rule_fields(data: dict[str, Any]) -> dict[str, Any]:
    from itline.cmdb.models import Node

    for name in ("name", "position", "label", "target", "active"):
        if name in data and data[name] is None:
            raise DomainError("This field cannot be empty (null).", field=name)
    if "pattern" in data and data["pattern"] is None:
        data["pattern"] = ""
    if "source" in data:
        name = data.pop("source")
        data["source"] = None
        if name:
            data["source"] = EventSource.objects.filter(name=name).first()
            if data["source"] is None:
                raise ValidationError({"source": f"There is no event source {name!r}."})
    if "node" in data:
        ref = data.pop("node")
        data["node"] = None
        if ref:
            data["node"] = Node.objects.filter(reference=ref).first()
            if data["node"] is None:
                raise ValidationError({"node": f"There is no component or service {ref!r}."})
    return data


@router.get(
    "/mapping-rules",
    response={200: list[MappingRuleOut], **ERRORS},
    tags=RULES,
    summary="List mapping rules in the order they run",
)
def list_rules(request: HttpRequest) -> Any:
    return list(_rules(request.user).order_by("position", "id"))


@router.get(
    "/mapping-rules/export",
    tags=RULES,
    summary="Export the mapping rules as a file (YAML or JSON)",
    response={200: dict[str, Any], **ERRORS},
    openapi_extra={
        "responses": {200: {"description": "The file", "content": {"application/yaml": {}}}}
    },
)
def export_rules(request: HttpRequest, format: str = "yaml") -> Any:
    require(request.user, "operation.view_mappingrule")
    return config_file_response(config.export_rules(), format=format, name="mapping-rules")


class ImportOut(Schema):
    created: int
    updated: int
    unchanged: int
    deleted: int


@router.post(
    "/mapping-rules/import",
    response={200: ImportOut, **ERRORS},
    tags=RULES,
    summary="Import mapping rules from a file (idempotent; one transaction)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "application/yaml": {"schema": {"type": "string"}},
            },
        }
    },
)
def import_rules(request: HttpRequest, prune: bool = False) -> Any:
    """Rules are matched by name; ``prune=true`` deletes rules the file does not name. A bad
    item refuses the whole file; its error names it (``mapping_rules.3.pattern``)."""
    require(request.user, "operation.change_mappingrule")
    data = read_config_document(request, max_bytes=settings.EVENTS_MAX_BYTES)
    return config.import_rules(data, by=request.user, prune=prune)


@router.post(
    "/mapping-rules",
    response={201: MappingRuleOut, **ERRORS},
    tags=RULES,
    summary="Create a mapping rule",
)
def create_rule(request: HttpRequest, payload: MappingRuleIn) -> Any:
    rule = config.create_rule(by=request.user, **_rule_fields(payload.model_dump()))
    return Status(201, _rules(None).get(pk=rule.pk))


@router.get(
    "/mapping-rules/{rule_id}",
    response={200: MappingRuleOut, **ERRORS},
    tags=RULES,
    summary="Read one mapping rule",
)
def read_rule(request: HttpRequest, rule_id: int) -> Any:
    return get_object_or_404(_rules(request.user), pk=rule_id)


@router.patch(
    "/mapping-rules/{rule_id}",
    response={200: MappingRuleOut, **ERRORS},
    tags=RULES,
    summary="Change a mapping rule",
)
def update_rule(request: HttpRequest, rule_id: int, payload: MappingRulePatch) -> Any:
    rule = get_object_or_404(_rules(request.user), pk=rule_id)
    data = payload.model_dump(exclude_unset=True)
    if not data:
        raise DomainError("Send at least one field to change.", field="request")
    config.update_rule(rule, by=request.user, **_rule_fields(data))
    return _rules(None).get(pk=rule.pk)


@router.delete(
    "/mapping-rules/{rule_id}",
    response={204: None, **ERRORS},
    tags=RULES,
    summary="Delete a mapping rule",
)
def delete_rule(request: HttpRequest, rule_id: int) -> Any:
    rule = get_object_or_404(_rules(request.user), pk=rule_id)
    config.delete_rule(rule, by=request.user)
    return Status(204, None)
