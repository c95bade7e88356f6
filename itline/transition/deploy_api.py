"""API: Releases, deployments, post-implementation reviews, change-caused incidents and change metrics.

Pipelines ``POST /deployments`` with a read-write token; the answer says which change the
deployment belongs to and how it was matched (``matched``). Writes go through the verbs in
``itline.transition.services.deployments`` / ``reviews`` and ``itline.transition.caused``.

No ``from __future__ import annotations``: ninja reads the annotations at registration."""

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Field, FilterSchema, Query, Router, Schema, Status

from itline.cmdb.models import Component, Node, Service
from itline.core.api import ERRORS, page_of
from itline.core.crud import Crud
from itline.core.errors import DomainError
from itline.core.pagination import keyset_page
from itline.transition import caused, metrics
from itline.transition.choices import (
    ChangeStatus,
    DeploymentStatus,
    LinkStatus,
    ReleaseStatus,
    ReviewStatus,
)
from itline.transition.models import Change, ChangeIncidentLink, ChangeReview, Deployment, Release
from itline.transition.services import deployments as deploy
from itline.transition.services import reviews

router = Router()

DEPLOYMENTS = ["Deployments"]
RELEASES = ["Releases"]
REVIEWS = ["Change reviews"]
CAUSED = ["Change-caused incidents"]
METRICS = ["Change metrics"]
METRICS_MAX_DAYS = 731


def _ref(obj: Any) -> str | None:
    return None if obj is None else str(obj.reference)


def changes_for(user: Any) -> Any:
    if user is not None and not user.has_perm("transition.view_change"):
        return Change.objects.none()
    return Change.objects.all()


def _change(request: HttpRequest, ref: str) -> Change:
    return get_object_or_404(changes_for(request.user), reference=ref)


# --- deployments --------------------------------------------------------------------------


class DeploymentOut(Schema):
    reference: str
    node: str
    node_name: str
    node_kind: str
    version: str
    environment: str
    status: DeploymentStatus
    pipeline_url: str
    commit: str
    started_at: datetime
    finished_at: datetime | None
    change: str | None
    change_type: str | None
    release: str | None
    unplanned: bool = Field(..., description="A production deployment no change covers")
    created_at: datetime

    @staticmethod
    def resolve_node(obj: Deployment) -> str:
        return str(obj.node.reference)

    @staticmethod
    def resolve_node_name(obj: Deployment) -> str:
        return str(obj.node.name)

    @staticmethod
    def resolve_node_kind(obj: Deployment) -> str:
        return str(obj.node.kind)

    @staticmethod
    def resolve_change(obj: Deployment) -> str | None:
        return _ref(obj.change)

    @staticmethod
    def resolve_change_type(obj: Deployment) -> str | None:
        return None if obj.change is None else str(obj.change.change_type)

    @staticmethod
    def resolve_release(obj: Deployment) -> str | None:
        return _ref(obj.release)

    @staticmethod
    def resolve_unplanned(obj: Deployment) -> bool:
        return deploy.is_unplanned(obj)


class DeploymentPostedOut(DeploymentOut):
    matched: str = Field(
        ...,
        description="How the change was found: explicit (named in the post), change (a "
        "change covers it), template (a standard change was created), unplanned (production, "
        "no change), none (lower environment, no change), existing (a re-post updated it)",
    )


class DeploymentIn(Schema):
    component: str | None = Field(None, description="Reference (CMP-…) or exact name")
    service: str | None = Field(None, description="Reference (SVC-…) or exact name")
    version: str = Field(..., min_length=1, max_length=100)
    environment: str = Field(..., min_length=1, max_length=40, description="e.g. production")
    status: str = Field(..., description="started, succeeded, failed or rolled_back")
    pipeline_url: str = Field("", max_length=500)
    commit: str = Field("", max_length=64)
    started_at: datetime | None = Field(None, description="Default: now")
    finished_at: datetime | None = Field(None, description="Default for a finished status: now")
    change: str | None = Field(None, description="Reference of the change it belongs to")
    release: str | None = Field(
        None, description="Reference (REL-…) of the release, or a version only one release has"
    )


def resolve_node(component: str | None, service: str | None) -> Node:
    """The deployed node from a component or service reference or exact name; a clear 422
    naming the field when it is missing, unknown or ambiguous."""
    if component and service:
        raise ValidationError({"component": "Name a component or a service, not both."})
    if not component and not service:
        raise ValidationError({"component": "Name the deployed component (or service)."})
    model: type[Node] = Component if component else Service
    field = "component" if component else "service"
    text = (component or service or "").strip()
    found = list(model.objects.filter(Q(reference=text) | Q(name__iexact=text))[:2])
    exact = [n for n in found if n.reference == text]
    if exact:
        return exact[0]
    if not found:
        raise ValidationError({field: f"There is no {field} with reference or name {text!r}."})
    if len(found) > 1:
        raise ValidationError(
            {field: f"Several {field}s are named {text!r}; give the reference instead."}
        )
    return found[0]


def _release(text: str | None) -> Release | None:
    if not text:
        return None
    release = Release.objects.filter(reference=text).first()
    if release is not None:
        return release
    matches = list(Release.objects.filter(version=text)[:2])
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ValidationError(
            {"release": f"Several releases have version {text!r}; give the reference."}
        )
    raise ValidationError({"release": f"There is no release with reference or version {text!r}."})


def deployments_for(user: Any) -> Any:
    qs = Deployment.objects.select_related("node", "change", "release")
    if user is not None and not user.has_perm("transition.view_deployment"):
        return qs.none()
    return qs


@router.post(
    "/deployments",
    response={200: DeploymentPostedOut, 201: DeploymentPostedOut, **ERRORS},
    tags=DEPLOYMENTS,
    summary="Record a deployment (pipelines)",
)
def post_deployment(request: HttpRequest, payload: DeploymentIn) -> Any:
    """201 for a new deployment, 200 when a re-post (same component, version, environment
    and pipeline URL) updated the status. The deployment is tied to the change that covers
    it, creates and closes a matching standard change, or is flagged unplanned."""
    node = resolve_node(payload.component, payload.service)
    change = None
    if payload.change:
        change = changes_for(request.user).filter(reference=payload.change).first()
        if change is None:
            raise ValidationError(
                {"change": f"There is no change with reference {payload.change!r}."}
            )
    result = deploy.post_deployment(
        by=request.user,
        node=node,
        version=payload.version,
        environment=payload.environment,
        status=payload.status,
        pipeline_url=payload.pipeline_url,
        started_at=payload.started_at,
        finished_at=payload.finished_at,
        commit=payload.commit,
        release=_release(payload.release),
        change=change,
    )
    out = deployments_for(None).get(pk=result.deployment.pk)
    out.matched = result.matched  # type: ignore[attr-defined]
    return Status(201 if result.created else 200, out)


class DeploymentFilters(FilterSchema):
    environment: str | None = None
    status: DeploymentStatus | None = None
    node: str | None = Field(None, description="Reference of the component or service")
    change: str | None = Field(None, description="Reference of the change")
    release: str | None = Field(None, description="Reference of the release")
    unplanned: bool | None = Field(
        None, description="true: production deployments no change covers"
    )
    since: datetime | None = Field(None, description="Started at or after")
    until: datetime | None = Field(None, description="Started before")

    def filter_environment(self, value: str | None) -> Q:
        return Q(environment=value.strip().lower()) if value else Q()

    def filter_node(self, value: str | None) -> Q:
        return Q(node__reference=value) if value else Q()

    def filter_change(self, value: str | None) -> Q:
        return Q(change__reference=value) if value else Q()

    def filter_release(self, value: str | None) -> Q:
        return Q(release__reference=value) if value else Q()

    def filter_unplanned(self, value: bool | None) -> Q:
        if value is None:
            return Q()
        return deploy.unplanned_q() if value else ~deploy.unplanned_q()

    def filter_since(self, value: datetime | None) -> Q:
        return Q(started_at__gte=value) if value else Q()

    def filter_until(self, value: datetime | None) -> Q:
        return Q(started_at__lt=value) if value else Q()


@router.get(
    "/deployments",
    response={200: page_of(DeploymentOut), **ERRORS},
    tags=DEPLOYMENTS,
    summary="List deployments",
)
def list_deployments(
    request: HttpRequest,
    filters: Query[DeploymentFilters],
    sort: str = "-started_at",
    cursor: str | None = None,
    limit: int = 50,
) -> Any:
    qs = filters.filter(deployments_for(request.user))
    page = keyset_page(
        qs,
        sort=sort,
        allowed=("started_at", "created_at", "reference", "environment", "version"),
        cursor=cursor,
        limit=limit,
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.get(
    "/deployments/{ref}",
    response={200: DeploymentOut, **ERRORS},
    tags=DEPLOYMENTS,
    summary="Read one deployment",
)
def get_deployment(request: HttpRequest, ref: str) -> Any:
    return get_object_or_404(deployments_for(request.user), reference=ref)


# --- releases -----------------------------------------------------------------------------


class ReleaseOut(Schema):
    reference: str
    name: str
    version: str
    notes: str
    status: ReleaseStatus
    planned_at: datetime | None
    released_at: datetime | None
    changes: list[str]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_changes(obj: Release) -> list[str]:
        return sorted(c.reference for c in obj.changes.all())


class ReleaseIn(Schema):
    name: str = Field(..., min_length=1, max_length=150)
    version: str = Field(..., min_length=1, max_length=60)
    notes: str = ""
    status: ReleaseStatus = ReleaseStatus.PLANNED
    planned_at: datetime | None = None
    released_at: datetime | None = None
    changes: list[str] = Field([], description="References of the changes in the release")


class ReleasePatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=150)
    version: str | None = Field(None, min_length=1, max_length=60)
    notes: str | None = None
    status: ReleaseStatus | None = None
    planned_at: datetime | None = None
    released_at: datetime | None = None
    changes: list[str] | None = Field(None, description="Replaces the changes in the release")


class ReleaseFilters(FilterSchema):
    status: ReleaseStatus | None = None


def releases_for(user: Any) -> Any:
    qs = Release.objects.prefetch_related("changes")
    if user is not None and not user.has_perm("transition.view_release"):
        return qs.none()
    return qs


def _changes(refs: list[str] | None) -> list[Change] | None:
    if refs is None:
        return None
    found = {c.reference: c for c in Change.objects.filter(reference__in=set(refs))}
    missing = [r for r in refs if r not in found]
    if missing:
        raise ValidationError({"changes": f"There is no change with reference {missing[0]!r}."})
    return [found[r] for r in dict.fromkeys(refs)]


def _create_release(*, by: Any, changes: list[str] | None = None, **fields: Any) -> Release:
    release = deploy.create_release(by=by, changes=_changes(changes), **fields)
    return releases_for(None).get(pk=release.pk)


def _update_release(
    obj: Release, *, by: Any, changes: list[str] | None = None, **fields: Any
) -> Release:
    for name in ("name", "version", "status"):
        if name in fields and fields[name] is None:
            raise DomainError("This field cannot be empty (null).", field=name)
    if "notes" in fields and fields["notes"] is None:
        fields["notes"] = ""
    deploy.update_release(obj, by=by, changes=_changes(changes), **fields)
    return releases_for(None).get(pk=obj.pk)


Crud(
    path="releases",
    model=Release,
    out=ReleaseOut,
    create_in=ReleaseIn,
    patch_in=ReleasePatch,
    filters=ReleaseFilters,
    queryset_for=releases_for,
    create=_create_release,
    update=_update_release,
    search_fields=("name", "version", "reference", "notes"),
    sort_fields=("created_at", "reference", "name", "version", "status"),
    default_sort="-created_at",
    tag="Releases",
).register(router)


# --- metrics (before /changes/{ref}/… so the path wins) ------------------------------------


class Summary(Schema):
    mean: float | None
    median: float | None
    count: int


class LeadTime(Summary):
    basis: dict[str, int]


class Restore(Summary):
    unresolved: int


class LeadTimes(Schema):
    from_created: Summary
    from_submitted: Summary


class ChangeFigures(Schema):
    implemented: int
    by_type: dict[str, int]
    by_outcome: dict[str, int]
    failed: int
    failed_by_outcome: int
    failed_by_caused_incident_only: int
    success_rate: float | None
    emergency_ratio: float | None
    lead_time_hours: LeadTimes


class DeploymentFigures(Schema):
    production: int
    succeeded: int
    failed: int
    unplanned: int


class Frequency(Schema):
    deployments: int
    per_day: float | None
    per_week: float | None
    days_with_deployments: int


class Dora(Schema):
    deployment_frequency: Frequency
    lead_time_for_changes_hours: LeadTime
    change_failure_rate: float | None
    time_to_restore_hours: Restore


class Period(Schema):
    start: datetime
    end: datetime
    days: float


class MetricsOut(Schema):
    period: Period
    services: list[str]
    changes: ChangeFigures
    deployments: DeploymentFigures
    dora: Dora


@router.get(
    "/changes/metrics",
    response={200: MetricsOut, **ERRORS},
    tags=METRICS,
    summary="Change success, emergency ratio, lead time and the DORA figures",
)
def change_metrics(
    request: HttpRequest,
    start: datetime | None = Query(None, description="Default: 30 days before end"),  # noqa: B008
    end: datetime | None = Query(None, description="Default: now"),  # noqa: B008
    service: list[str] = Query([], description="Service reference; repeat for several"),  # noqa: B008
) -> Any:
    """Definitions: docs/deployments.md (Metrics). The period is [start, end)."""
    if not request.user.has_perm("transition.view_change"):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied("You are not allowed to see change metrics.")
    end = end or timezone.now()
    start = start or end - timedelta(days=30)
    if timezone.is_naive(start) or timezone.is_naive(end):
        raise DomainError("Give start and end with a time zone offset.", field="start")
    if end <= start:
        raise DomainError("end must be after start.", field="end")
    if end - start > timedelta(days=METRICS_MAX_DAYS):
        raise DomainError(f"The period is at most {METRICS_MAX_DAYS} days.", field="start")
    found = dict(Service.objects.filter(reference__in=set(service)).values_list("reference", "pk"))
    missing = [s for s in service if s not in found]
    if missing:
        raise DomainError(f"There is no service with reference {missing[0]!r}.", field="service")
    figures = metrics.change_metrics(start, end, [found[s] for s in service] or None)
    return {**figures, "services": sorted(found)}


# --- post-implementation reviews ----------------------------------------------------------


class ReviewOut(Schema):
    change: str
    change_status: ChangeStatus
    status: ReviewStatus
    summary: str
    lessons: str
    draft: dict[str, Any]
    completed_at: datetime | None
    completed_by: str | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_change(obj: ChangeReview) -> str:
        return str(obj.change.reference)

    @staticmethod
    def resolve_change_status(obj: ChangeReview) -> str:
        return str(obj.change.status)

    @staticmethod
    def resolve_completed_by(obj: ChangeReview) -> str | None:
        return _ref(obj.completed_by)


class ReviewIn(Schema):
    summary: str = Field(..., min_length=1)
    lessons: str = ""
    close: bool = Field(False, description="Also close the change (it must be in review)")


def _review(change: Change) -> ChangeReview:
    review = (
        ChangeReview.objects.select_related("change", "completed_by").filter(change=change).first()
    )
    if review is None:
        from django.http import Http404

        raise Http404(
            f"{change.reference} has no review yet; it is drafted when the change is implemented."
        )
    return review


@router.get(
    "/changes/{ref}/review",
    response={200: ReviewOut, **ERRORS},
    tags=REVIEWS,
    summary="The post-implementation review of a change (with its drafted evidence)",
)
def get_review(request: HttpRequest, ref: str) -> Any:
    return _review(_change(request, ref))


@router.put(
    "/changes/{ref}/review",
    response={200: ReviewOut, **ERRORS},
    tags=REVIEWS,
    summary="Complete the review (the change owner or a change manager)",
)
def complete_review(request: HttpRequest, ref: str, payload: ReviewIn) -> Any:
    """Records the summary and lessons; with ``close`` the change is then closed (from in
    review; an implemented change is moved to review first)."""
    change = _change(request, ref)
    review = _review(change)
    reviews.complete_review(
        review, by=request.user, summary=payload.summary, lessons=payload.lessons
    )
    if payload.close:
        from itline.transition import services as changes

        change.refresh_from_db()
        if change.status == ChangeStatus.IMPLEMENTED:
            change = changes.start_review(change, by=request.user)
        changes.close_change(change, by=request.user)
    return _review(change)


# --- change-caused incidents --------------------------------------------------------------


class CausedLinkOut(Schema):
    id: int
    change: str
    change_title: str
    incident: str
    incident_title: str
    incident_status: str
    incident_created_at: datetime
    status: LinkStatus
    reason: str
    decided_by: str | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_change(obj: ChangeIncidentLink) -> str:
        return str(obj.change.reference)

    @staticmethod
    def resolve_change_title(obj: ChangeIncidentLink) -> str:
        return str(obj.change.title)

    @staticmethod
    def resolve_incident(obj: ChangeIncidentLink) -> str:
        return str(obj.incident.reference)

    @staticmethod
    def resolve_incident_title(obj: ChangeIncidentLink) -> str:
        return str(obj.incident.title)

    @staticmethod
    def resolve_incident_status(obj: ChangeIncidentLink) -> str:
        return str(obj.incident.status)

    @staticmethod
    def resolve_incident_created_at(obj: ChangeIncidentLink) -> datetime:
        return obj.incident.created_at

    @staticmethod
    def resolve_decided_by(obj: ChangeIncidentLink) -> str | None:
        return _ref(obj.decided_by)


def _links() -> Any:
    return ChangeIncidentLink.objects.select_related("change", "incident", "decided_by").order_by(
        "incident__created_at", "id"
    )


@router.get(
    "/changes/{ref}/caused-incidents",
    response={200: list[CausedLinkOut], **ERRORS},
    tags=CAUSED,
    summary="Incidents suggested or confirmed as caused by a change",
)
def list_caused(request: HttpRequest, ref: str, status: LinkStatus | None = None) -> Any:
    change = _change(request, ref)
    qs = _links().filter(change=change)
    return list(qs.filter(status=status) if status else qs)


@router.post(
    "/changes/{ref}/caused-incidents/scan",
    response={200: list[CausedLinkOut], **ERRORS},
    tags=CAUSED,
    summary="Look for caused incidents now (returns the new suggestions)",
)
def scan_caused(request: HttpRequest, ref: str) -> Any:
    from django.core.exceptions import PermissionDenied

    change = _change(request, ref)
    if not request.user.has_perm(caused.DECIDE):
        raise PermissionDenied(
            "You are not allowed to do this (transition.change_changeincidentlink)."
        )
    made = caused.suggest_caused_incidents(change)
    return list(_links().filter(pk__in=[link.pk for link in made]))


class LinkIncidentIn(Schema):
    incident: str = Field(..., min_length=1, description="Reference of the incident")
    reason: str = ""


@router.post(
    "/changes/{ref}/caused-incidents",
    response={201: CausedLinkOut, **ERRORS},
    tags=CAUSED,
    summary="Link an incident as caused by the change (confirmed at once)",
)
def link_caused(request: HttpRequest, ref: str, payload: LinkIncidentIn) -> Any:
    from itline.operation.services import visible_incidents

    change = _change(request, ref)
    incident = visible_incidents(request.user).filter(reference=payload.incident).first()
    if incident is None:
        raise ValidationError(
            {"incident": f"There is no incident with reference {payload.incident!r}."}
        )
    link = caused.link_incident(change, incident, by=request.user, reason=payload.reason)
    return Status(201, _links().get(pk=link.pk))


def _link(request: HttpRequest, ref: str, link_id: int) -> ChangeIncidentLink:
    change = _change(request, ref)
    return get_object_or_404(ChangeIncidentLink, pk=link_id, change=change)


@router.post(
    "/changes/{ref}/caused-incidents/{link_id}/confirm",
    response={200: CausedLinkOut, **ERRORS},
    tags=CAUSED,
    summary="Confirm that the incident was caused by the change (counts it as failed)",
)
def confirm_caused(request: HttpRequest, ref: str, link_id: int) -> Any:
    link = caused.confirm_link(_link(request, ref, link_id), by=request.user)
    return _links().get(pk=link.pk)


@router.post(
    "/changes/{ref}/caused-incidents/{link_id}/dismiss",
    response={200: CausedLinkOut, **ERRORS},
    tags=CAUSED,
    summary="Dismiss the suggestion",
)
def dismiss_caused(request: HttpRequest, ref: str, link_id: int) -> Any:
    link = caused.dismiss_link(_link(request, ref, link_id), by=request.user)
    return _links().get(pk=link.pk)


@router.get(
    "/incidents/{ref}/caused-by",
    response={200: list[CausedLinkOut], **ERRORS},
    tags=CAUSED,
    summary="Changes suggested or confirmed as the cause of an incident",
)
def incident_caused_by(request: HttpRequest, ref: str) -> Any:
    from itline.operation.services import visible_incidents

    incident = get_object_or_404(visible_incidents(request.user), reference=ref)
    qs = _links().filter(incident=incident)
    if not request.user.has_perm("transition.view_change"):
        return []
    return list(qs.exclude(status=LinkStatus.DISMISSED))
