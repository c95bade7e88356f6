"""Pages of the improvement register: list, detail, create and edit. Thin: reads plus verbs."""

from __future__ import annotations

from dataclasses import replace

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from itline.core.listing import Column, Filter, ListSpec, render_list
from itline.core.record_views import form_page, require_agent, timeline
from itline.delivery import services
from itline.delivery.api import improvements_for
from itline.delivery.forms import ImprovementForm
from itline.delivery.models import Improvement, ImprovementStatus

IMPROVEMENT_LIST = ListSpec(
    title="Improvement register",
    template="delivery/improvement_list.html",
    search_fields=("title", "reference", "description", "source_reference"),
    columns=(
        Column("Reference", "reference"),
        Column("Title", "title"),
        Column("Status", "status"),
        Column("Service"),
        Column("Proposed by"),
        Column("From"),
        Column("Registered", "created_at"),
    ),
    default_sort="-created_at",
    filters=(
        Filter("status", "Status", ImprovementStatus.choices, "status"),
        Filter(
            "source",
            "Source",
            [("desk", "From the service desk"), ("other", "Other")],
            lambda v: ~Q(source_reference="") if v == "desk" else Q(source_reference=""),
        ),
    ),
    create_label="New improvement",
    empty_text=(
        "The improvement register collects ideas to make IT produce better or cheaper: "
        "proposals users send the service desk land here. Register the first one."
    ),
)


@login_required
def improvement_list(request: HttpRequest) -> HttpResponse:
    require_agent(request, "delivery.view_improvement")
    can_add = request.user.has_perm("delivery.add_improvement")
    spec = replace(
        IMPROVEMENT_LIST, create_url=reverse("delivery:improvement-create") if can_add else None
    )
    return render_list(request, spec, improvements_for(request.user))


@login_required
def improvement_detail(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "delivery.view_improvement")
    improvement = get_object_or_404(improvements_for(request.user), reference=ref)
    return render(
        request,
        "delivery/improvement_detail.html",
        {"improvement": improvement, "timeline": timeline(improvement)},
    )


@login_required
def improvement_create(request: HttpRequest) -> HttpResponse:
    require_agent(request, "delivery.add_improvement")
    return form_page(
        request,
        form_class=ImprovementForm,
        instance=None,
        save=lambda data: services.create_improvement(by=request.user, **data),
        title="New improvement",
        cancel_url=reverse("delivery:improvement-list"),
        success_message="{obj} registered.",
    )


@login_required
def improvement_edit(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "delivery.change_improvement")
    improvement = get_object_or_404(Improvement, reference=ref)
    return form_page(
        request,
        form_class=ImprovementForm,
        instance=Improvement.objects.get(pk=improvement.pk),
        save=lambda data: services.update_improvement(improvement, by=request.user, **data),
        title=f"Edit {improvement.reference}",
        cancel_url=improvement.get_absolute_url(),
        success_message="{obj} saved.",
    )
