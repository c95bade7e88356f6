"""The standard change catalogue, freeze windows (list, record, form), releases and
deployments (lists with filters, records)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from itline.core.listing import Column, Filter, ListSpec, render_list
from itline.core.record_views import timeline
from itline.operation.filters import component_choices, service_choices
from itline.transition.choices import DeploymentStatus, ReleaseStatus
from itline.transition.forms import FreezeWindowForm
from itline.transition.models import ChangeTemplate, Deployment, FreezeWindow, Release
from itline.transition.views.common import VERB_ERRORS, form_error, require_agent

# --- standard change catalogue --------------------------------------------------------------

CATALOGUE = ListSpec(
    title="Standard change catalogue",
    template="transition/catalogue/list.html",
    search_fields=("name", "reference", "description"),
    columns=(
        Column("Template", "name"),
        Column("Applies to"),
        Column("Max. duration", "max_duration_minutes"),
        Column("Used"),
        Column(""),
    ),
    default_sort="name",
    empty_text="Standard changes are pre-approved, low-risk changes done the same way every "
    "time. Templates in this catalogue need no approval within their limits.",
    extra={"count_noun": "templates"},
)


@never_cache
@login_required
def catalogue(request: HttpRequest) -> HttpResponse:
    require_agent(request, "transition.view_changetemplate")
    qs = (
        ChangeTemplate.objects.filter(active=True)
        .select_related("function")
        .prefetch_related("nodes", "component_types")
        .annotate(use_count=Count("changes", distinct=True))
    )
    spec = replace(
        CATALOGUE,
        extra={**CATALOGUE.extra, "can_use": request.user.has_perm("transition.add_change")},
    )
    return render_list(request, spec, qs)


@never_cache
@login_required
def template_detail(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "transition.view_changetemplate")
    template = get_object_or_404(ChangeTemplate.objects.select_related("function"), reference=ref)
    recent = template.changes.select_related("owner").order_by("-created_at")[:20]
    return render(
        request,
        "transition/catalogue/detail.html",
        {
            "template": template,
            "obj": template,
            "nodes": list(template.nodes.order_by("name")),
            "types": list(template.component_types.order_by("name")),
            "recent": list(recent),
            "can_use": request.user.has_perm("transition.add_change") and template.active,
            "timeline": timeline(template),
        },
    )


# --- freeze windows -------------------------------------------------------------------------


def _freeze_state(value: str) -> Q:
    now = timezone.now()
    if value == "current":
        return Q(active=True, starts_at__lte=now) & (Q(ends_at__gt=now) | ~Q(rrule=""))
    if value == "recurring":
        return ~Q(rrule="")
    if value == "inactive":
        return Q(active=False)
    return Q()


FREEZE_LIST = ListSpec(
    title="Freeze windows",
    template="transition/freeze/list.html",
    search_fields=("title", "reference", "reason"),
    columns=(
        Column("Reference", "reference"),
        Column("Title", "title"),
        Column("Covers"),
        Column("Starts", "starts_at"),
        Column("Ends", "ends_at"),
        Column("Repeats"),
        Column("State"),
    ),
    default_sort="-starts_at",
    filters=(
        Filter(
            "state",
            "State",
            [
                ("current", "In force or recurring"),
                ("recurring", "Recurring"),
                ("inactive", "Inactive"),
            ],
            _freeze_state,
        ),
    ),
    create_label="New freeze window",
    empty_text="A freeze (blackout) window forbids changes except emergencies: globally or on "
    "named services and what they run on, once or recurring (e.g. every month end).",
    extra={"count_noun": "freeze windows"},
)


@never_cache
@login_required
def freeze_list(request: HttpRequest) -> HttpResponse:
    require_agent(request, "transition.view_freezewindow")
    can_add = request.user.has_perm("transition.add_freezewindow")
    spec = replace(FREEZE_LIST, create_url=reverse("transition:freeze-create") if can_add else None)
    return render_list(request, spec, FreezeWindow.objects.prefetch_related("services"))


@never_cache
@login_required
def freeze_detail(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "transition.view_freezewindow")
    window = get_object_or_404(FreezeWindow, reference=ref)
    from itline.transition.freeze import freezes_between

    now = timezone.now()
    upcoming = [
        o
        for o in freezes_between(now - timedelta(days=1), now + timedelta(days=400))
        if o.window.pk == window.pk
    ][:12]
    try:
        from itline.core.rrule import describe as describe_rule

        repeats = describe_rule(window.rrule)
    except ImportError:  # pragma: no cover
        repeats = window.rrule or "once"
    return render(
        request,
        "transition/freeze/detail.html",
        {
            "window": window,
            "obj": window,
            "services": list(window.services.order_by("name")),
            "upcoming": upcoming,
            "repeats": repeats,
            "can_change": request.user.has_perm("transition.change_freezewindow"),
            "timeline": timeline(window),
        },
    )


def _save_freeze(window: FreezeWindow | None, data: dict[str, Any], by: Any) -> FreezeWindow:
    from itline.transition.services.catalogue import create_freeze, update_freeze

    if window is None:
        return create_freeze(by=by, **data)
    return update_freeze(window, by=by, **data)


def _freeze_form(request: HttpRequest, window: FreezeWindow | None) -> HttpResponse:
    if request.method == "POST":
        form = FreezeWindowForm(request.POST)
        status = 422
        if form.is_valid():
            try:
                saved = _save_freeze(window, dict(form.cleaned_data), request.user)
            except VERB_ERRORS as exc:
                status = form_error(form, exc)
            else:
                messages.success(request, f"Freeze window {saved.reference} saved.")
                return redirect(saved.get_absolute_url())
    else:
        form = FreezeWindowForm(initial=FreezeWindowForm.initial_for(window) if window else None)
        status = 200
    return render(
        request,
        "core/form_page.html",
        {
            "form": form,
            "title": f"Edit {window.reference}" if window else "New freeze window",
            "cancel_url": window.get_absolute_url()
            if window
            else reverse("transition:freeze-list"),
            "instance": window,
        },
        status=status,
    )


@never_cache
@login_required
def freeze_create(request: HttpRequest) -> HttpResponse:
    require_agent(request, "transition.add_freezewindow")
    return _freeze_form(request, None)


@never_cache
@login_required
def freeze_edit(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "transition.change_freezewindow")
    return _freeze_form(request, get_object_or_404(FreezeWindow, reference=ref))


# --- releases -------------------------------------------------------------------------------

RELEASE_LIST = ListSpec(
    title="Releases",
    template="transition/releases/list.html",
    search_fields=("name", "version", "reference", "notes"),
    columns=(
        Column("Reference", "reference"),
        Column("Release", "name"),
        Column("Version", "version"),
        Column("Status", "status"),
        Column("Changes"),
        Column("Deployments"),
        Column("Created", "created_at"),
    ),
    default_sort="-created_at",
    filters=(Filter("status", "Status", ReleaseStatus.choices, "status"),),
    empty_text="A release groups changes shipped together under one version, with notes. "
    "Pipelines name the release when they record deployments.",
)


@never_cache
@login_required
def release_list(request: HttpRequest) -> HttpResponse:
    require_agent(request, "transition.view_release")
    qs = Release.objects.annotate(
        change_count=Count("changes", distinct=True),
        deployment_count=Count("deployments", distinct=True),
    )
    return render_list(request, RELEASE_LIST, qs)


@never_cache
@login_required
def release_detail(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "transition.view_release")
    release = get_object_or_404(Release, reference=ref)
    return render(
        request,
        "transition/releases/detail.html",
        {
            "release": release,
            "obj": release,
            "changes": list(release.changes.select_related("owner").order_by("planned_start")),
            "deployments": list(
                release.deployments.select_related("node", "change").order_by("-started_at")[:200]
            ),
            "timeline": timeline(release),
        },
    )


# --- deployments ----------------------------------------------------------------------------


def _environments() -> list[tuple[str, str]]:
    values = (
        Deployment.objects.order_by("environment").values_list("environment", flat=True).distinct()
    )
    return [(v, v) for v in values[:100]]


def deployment_filters(request: HttpRequest) -> tuple[Filter, ...]:
    get = request.GET.get
    return (
        Filter("environment", "Environment", _environments, "environment"),
        Filter("status", "Status", DeploymentStatus.choices, "status"),
        Filter("service", "Service", service_choices(get("service", "")), "node__reference"),
        Filter(
            "component", "Component", component_choices(get("component", "")), "node__reference"
        ),
        Filter(
            "planned",
            "Covered",
            [("unplanned", "Unplanned (no change)"), ("planned", "Covered by a change")],
            lambda v: Q(change__isnull=v == "unplanned"),
        ),
    )


DEPLOYMENT_LIST = ListSpec(
    title="Deployments",
    template="transition/deployments/list.html",
    search_fields=("version", "reference", "commit", "node__name"),
    columns=(
        Column("Reference", "reference"),
        Column("Service / component"),
        Column("Version", "version"),
        Column("Environment", "environment"),
        Column("Status", "status"),
        Column("Change"),
        Column("Started", "started_at"),
    ),
    default_sort="-started_at",
    empty_text="Pipelines record deployments with POST /api/v1/deployments; each belongs to "
    "the change that covers it, or creates a matching standard change.",
)


@never_cache
@login_required
def deployment_list(request: HttpRequest) -> HttpResponse:
    require_agent(request, "transition.view_deployment")
    spec = replace(DEPLOYMENT_LIST, filters=deployment_filters(request))
    qs = Deployment.objects.select_related("node", "change", "release")
    return render_list(request, spec, qs)


@never_cache
@login_required
def deployment_detail(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "transition.view_deployment")
    deployment = get_object_or_404(
        Deployment.objects.select_related("node", "change", "release"), reference=ref
    )
    return render(
        request,
        "transition/deployments/detail.html",
        {"deployment": deployment, "obj": deployment, "timeline": timeline(deployment)},
    )
