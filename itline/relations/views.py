"""Pages of agreements: list, detail (scope, support hours, targets, history) and the create
and edit forms. Thin: reads plus the verbs of ``services.py``."""

from __future__ import annotations

from dataclasses import replace

from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from itline.core.listing import Column, Filter, ListSpec, render_list
from itline.core.models import BusinessCalendar
from itline.core.record_views import form_page, require_agent, timeline
from itline.relations import services
from itline.relations.forms import PRIORITIES, AgreementForm, format_minutes
from itline.relations.models import Agreement, PauseState


def _calendars() -> list[tuple[str, str]]:
    return list(BusinessCalendar.objects.values_list("reference", "name"))


AGREEMENT_LIST = ListSpec(
    title="Agreements",
    template="relations/agreement_list.html",
    search_fields=(
        "name",
        "reference",
        "description",
        "customer__business_unit__name",
        "service__name",
    ),
    columns=(
        Column("Reference", "reference"),
        Column("Name", "name"),
        Column("Covers"),
        Column("Support hours"),
        Column("Targets"),
        Column("Updated", "updated_at"),
    ),
    default_sort="name",
    filters=(
        Filter(
            "scope",
            "Scope",
            [
                ("default", "Default"),
                ("customer", "Names a customer"),
                ("service", "Names a service"),
            ],
            lambda v: (
                Q(is_default=True)
                if v == "default"
                else Q(customer__isnull=False)
                if v == "customer"
                else Q(service__isnull=False)
            ),
        ),
        Filter("calendar", "Support hours", _calendars, "calendar__reference"),
        Filter(
            "active",
            "Status",
            [("yes", "Active"), ("no", "Inactive")],
            lambda v: Q(active=v == "yes"),
        ),
    ),
    create_label="New agreement",
    empty_text=(
        "Agreements set the support hours and the response and resolution targets that "
        "incidents are measured against. Start with a default agreement."
    ),
)


def target_rows(agreement: Agreement) -> list[dict[str, object]]:
    targets = {t.priority: t for t in agreement.targets.all()}
    rows = []
    for priority, label in PRIORITIES:
        target = targets.get(priority)
        rows.append(
            {
                "priority": priority,
                "label": label,
                "response": format_minutes(target.response_minutes) if target else None,
                "resolution": format_minutes(target.resolution_minutes) if target else None,
                "warn_response": format_minutes(
                    round(target.response_minutes * agreement.warning_percent / 100)
                )
                if target
                else None,
                "warn_resolution": format_minutes(
                    round(target.resolution_minutes * agreement.warning_percent / 100)
                )
                if target
                else None,
            }
        )
    return rows


@login_required
def agreement_list(request: HttpRequest) -> HttpResponse:
    require_agent(request, "relations.view_agreement")
    can_add = request.user.has_perm("relations.add_agreement")
    spec = replace(
        AGREEMENT_LIST, create_url=reverse("relations:agreement-create") if can_add else None
    )
    return render_list(request, spec, services.agreements_for(request.user))


@login_required
def agreement_detail(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "relations.view_agreement")
    agreement = get_object_or_404(services.agreements_for(request.user), reference=ref)
    from itline.operation.models import Incident  # read-only: how many incidents it covers

    covered = Incident.objects.filter(agreement=agreement)
    if agreement.is_default:
        covered = Incident.objects.filter(Q(agreement=agreement) | Q(agreement__isnull=True))
    labels = dict(PauseState.choices)
    return render(
        request,
        "relations/agreement_detail.html",
        {
            "agreement": agreement,
            "targets": target_rows(agreement),
            "pause_labels": [labels.get(s, s) for s in agreement.pause_states or []],
            "running_labels": [
                label
                for value, label in PauseState.choices
                if value not in (agreement.pause_states or [])
            ],
            "incident_count": covered.count(),
            "timeline": timeline(agreement),
        },
    )


@login_required
def agreement_create(request: HttpRequest) -> HttpResponse:
    require_agent(request, "relations.add_agreement")
    return form_page(
        request,
        form_class=AgreementForm,
        instance=None,
        save=lambda form: services.create_agreement(by=request.user, **form.values()),
        title="New agreement",
        cancel_url=reverse("relations:agreement-list"),
        success_message="Agreement {obj} created.",
        pass_form=True,
    )


@login_required
def agreement_edit(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "relations.change_agreement")
    agreement = get_object_or_404(Agreement, reference=ref)
    return form_page(
        request,
        form_class=AgreementForm,
        instance=Agreement.objects.get(pk=agreement.pk),
        save=lambda form: services.update_agreement(agreement, by=request.user, **form.values()),
        title=f"Edit {agreement}",
        cancel_url=agreement.get_absolute_url(),
        success_message="Agreement {obj} saved. Run `itline sla recompute` to apply it to open incidents.",
        pass_form=True,
    )
