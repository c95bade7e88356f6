"""API: the deployment gate for pipelines, and the live risk and collision preview of the
change form. Thin: the logic is ``itline.transition.gate`` and ``itline.transition.risk``.

Mounted before ``transition/api.py`` so ``/changes/gate`` and ``/changes/preview`` win over
``/changes/{ref}``.

No ``from __future__ import annotations``: ninja reads the endpoint annotations."""

from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema

from itline.cmdb.choices import NodeKind
from itline.cmdb.models import Node
from itline.core.api import ERRORS
from itline.core.errors import DomainError
from itline.transition import gate as gates
from itline.transition import risk
from itline.transition.choices import ChangeType
from itline.transition.models import Change, ChangeTemplate

router = Router(tags=["Change gate"])

MAX_PREVIEW_NODES = 500


class NotFound(DomainError):
    status_code = 404


def _require(request: HttpRequest, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied(f"You are not allowed to do this ({perm}).")


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and timezone.is_naive(value):
        raise DomainError(
            f"Give {field} with a time zone offset, e.g. 2026-03-01T02:00:00Z.", field=field
        )
    return value


def _node(text: str) -> Node:
    """A component or service by reference (``CMP-000042``) or by its exact name."""
    text = (text or "").strip()
    if not text:
        raise DomainError("Name the component or service (reference or name).", field="component")
    by_ref = Node.objects.filter(reference=text.upper()).first()
    if by_ref is not None:
        return by_ref
    # Exact name through the (kind, name) index first; any case only when that finds nothing.
    named = list(Node.objects.filter(kind__in=NodeKind.values, name=text).order_by("reference")[:5])
    if not named:
        named = list(Node.objects.filter(name__iexact=text).order_by("reference")[:5])
    if len(named) == 1:
        return named[0]
    if named:
        refs = ", ".join(n.reference for n in named)
        raise DomainError(
            f"More than one service or component is named {text!r} ({refs}); give its reference.",
            field="component",
        )
    raise NotFound(f"There is no component or service {text!r}.", field="component")


# --- the gate -----------------------------------------------------------------------------


class GateChangeOut(Schema):
    reference: str
    title: str
    status: str
    change_type: str
    planned_start: datetime | None
    planned_end: datetime | None
    url: str


class GateOut(Schema):
    allowed: bool = Field(..., description="Whether the deployment may proceed now")
    reasons: list[str] = Field(..., description="Why, in sentences for the pipeline's log")
    component: str = Field(..., description="Reference of the component or service asked about")
    at: datetime
    change: GateChangeOut | None = Field(None, description="The change that covers it, if any")
    template: str | None = Field(
        None, description="The standard change template that covers it, when no change does"
    )


@router.get(
    "/changes/gate",
    response={200: GateOut, **ERRORS},
    summary="May a deployment to this component proceed now?",
    description=(
        "Answers 200 with `allowed` true or false (pipelines read the field) and the reasons: "
        "an approved, scheduled or implementing change must cover the component (or something "
        "that depends on it) at `at`, no freeze window may be in force (emergency changes "
        "excepted) and the change must have no blocking collision. With `environment`, an "
        "active standard change template whose deployment match fits also lets it through. "
        "404 for an unknown component, 4xx for a bad `at`."
    ),
)
def change_gate(
    request: HttpRequest,
    component: str = Query(..., description="Reference (CMP-000042) or exact name"),
    at: datetime | None = Query(None, description="ISO 8601 with offset; default: now"),  # noqa: B008
    environment: str = Query("", max_length=40, description="e.g. production"),
) -> Any:
    _require(request, "transition.view_change")
    moment = _aware(at, "at") or timezone.now()
    node = _node(component)
    answer = gates.gate(node, moment, environment=environment)
    change = answer.change
    return {
        "allowed": answer.allowed,
        "reasons": answer.reasons,
        "component": node.reference,
        "at": moment,
        "change": None
        if change is None
        else {
            "reference": change.reference,
            "title": change.title,
            "status": change.status,
            "change_type": change.change_type,
            "planned_start": change.planned_start,
            "planned_end": change.planned_end,
            "url": request.build_absolute_uri(change.get_absolute_url()),
        },
        "template": None if answer.template is None else answer.template.reference,
    }


# --- the form preview ---------------------------------------------------------------------


class PreviewIn(Schema):
    nodes: list[str] = Field(
        default_factory=list, description="References of the affected services/components"
    )
    start: datetime | None = None
    end: datetime | None = None
    type: ChangeType = ChangeType.NORMAL
    template: str | None = Field(None, description="Standard change template reference")
    change: str | None = Field(
        None, description="The change being edited (left out of its own collisions)"
    )


class FactorOut(Schema):
    key: str
    label: str
    weight: int
    value: float
    points: float
    why: str


class CollisionOut(Schema):
    kind: str
    ref: str
    title: str
    path: list[str]
    blocking: bool
    message: str
    starts_at: str | None = None
    ends_at: str | None = None


class PreviewOut(Schema):
    score: int
    level: str
    approval_path: str
    factors: list[FactorOut]
    outside_template: list[str] = Field(
        ..., description="Why a standard change is outside its template (empty: within)"
    )
    collisions: list[CollisionOut]
    blocking: bool


def _preview_nodes(refs: list[str]) -> list[int]:
    if len(refs) > MAX_PREVIEW_NODES:
        raise DomainError(f"At most {MAX_PREVIEW_NODES} affected items.", field="nodes")
    found = dict(Node.objects.filter(reference__in=refs).values_list("reference", "pk"))
    for k, ref in enumerate(refs):
        if ref not in found:
            raise DomainError(f"There is no service or component {ref!r}.", field=f"nodes.{k}")
    return list(found.values())


@router.post(
    "/changes/preview",
    response={200: PreviewOut, **ERRORS},
    summary="Live risk and collisions of a change being edited",
    description=(
        "What the change form shows while affected items and the window are filled in: the "
        "risk score, level, factors and approval path, and the collisions (other changes, "
        "maintenance and freeze windows on the same or related nodes). Nothing is saved."
    ),
)
def change_preview(request: HttpRequest, payload: PreviewIn) -> Any:
    _require(request, "transition.add_change")
    start = _aware(payload.start, "start")
    end = _aware(payload.end, "end")
    if start and end and end <= start:
        raise DomainError("The window must end after it starts.", field="end")
    node_ids = _preview_nodes(payload.nodes)
    template = None
    if payload.template:
        template = ChangeTemplate.objects.filter(reference=payload.template).first()
        if template is None:
            raise DomainError(f"There is no template {payload.template!r}.", field="template")
    change = None
    if payload.change:
        change = Change.objects.filter(reference=payload.change).first()
        if change is None:
            raise DomainError(f"There is no change {payload.change!r}.", field="change")
    if payload.type == ChangeType.STANDARD and template is None:
        raise DomainError(
            "A standard change is made from a standard change template.", field="template"
        )
    result = risk.preview(
        node_ids=node_ids,
        start=start,
        end=end,
        change_type=payload.type,
        template=template,
        change=change,
    )
    return result.as_dict()
