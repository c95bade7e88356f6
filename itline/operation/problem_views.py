"""Pages of problem management: problems (list, record with its incidents and timeline,
forms, transition buttons), known errors (list, record, forms, retire, apply to an incident
or request), recurrence proposals (list, record, accept, dismiss, scan now) and the
known-error suggestions fragment. Thin: reads plus verbs; every error becomes a message or a
field error, never a 500."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from itline.cmdb.models import Component, Service
from itline.core.errors import DomainError
from itline.core.listing import Column, Filter, ListSpec, render_list
from itline.core.record_views import form_page, require_agent, timeline
from itline.operation import recurrence, services, suggestions
from itline.operation.choices import (
    INCIDENT_OPEN,
    PROBLEM_OPEN,
    PROBLEM_TRANSITIONS,
    REQUEST_OPEN,
    Priority,
    ProblemStatus,
    ProposalStatus,
)
from itline.operation.models import Incident, KnownError, Problem, RecurrenceProposal
from itline.operation.problem_forms import (
    AcceptForm,
    DismissForm,
    KnownErrorEditForm,
    LinkIncidentForm,
    ProblemCreateForm,
    ProblemEditForm,
)
from itline.org.models import Function

INCIDENTS_SHOWN = 100


def _say(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    if isinstance(exc, DomainError):
        return exc.message
    return str(exc) or "Not allowed."


def _back(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def _nodes_with(related: str, kind: type[Service] | type[Component]) -> Any:
    def choices() -> list[tuple[str, str]]:
        return list(
            kind.objects.filter(**{f"{related}__isnull": False})
            .distinct()
            .order_by("name")
            .values_list("reference", "name")
        )

    return choices


def _functions_with_problems() -> list[tuple[str, str]]:
    return list(
        Function.objects.filter(problems__isnull=False)
        .distinct()
        .order_by("name")
        .values_list("reference", "name")
    )


def _open_q(value: str) -> Q:
    return Q(status__in=PROBLEM_OPEN) if value == "open" else ~Q(status__in=PROBLEM_OPEN)


# --- problems: list -------------------------------------------------------------------------

PROBLEM_LIST = ListSpec(
    title="Problems",
    template="operation/problems/list.html",
    search_fields=("title", "reference", "description", "symptoms", "root_cause"),
    columns=(
        Column("Reference", "reference"),
        Column("Title", "title"),
        Column("Status", "status"),
        Column("Priority", "priority"),
        Column("Service / component"),
        Column("Owner"),
        Column("Incidents"),
        Column("Opened", "created_at"),
    ),
    default_sort="-created_at",
    filters=(
        Filter("state", "State", [("open", "Open"), ("done", "Resolved or closed")], _open_q),
        Filter("status", "Status", ProblemStatus.choices, "status"),
        Filter("priority", "Priority", [(str(v), lbl) for v, lbl in Priority.choices], "priority"),
        Filter("function", "Owner function", _functions_with_problems, "owner_function__reference"),
        Filter("service", "Service", _nodes_with("problems", Service), "service__reference"),
    ),
    create_label="New problem",
    empty_text="A problem is the unknown cause of one or more incidents. Raise one from an "
    "incident, accept a recurrence proposal, or create it here.",
)


def problem_queryset() -> Any:
    return Problem.objects.select_related(
        "service", "component", "owner", "owner_function"
    ).annotate(incident_count=Count("incidents", distinct=True))


@login_required
def problem_list(request: HttpRequest) -> HttpResponse:
    require_agent(request, "operation.view_problem")
    can_add = request.user.has_perm("operation.add_problem")
    spec = replace(PROBLEM_LIST, create_url=reverse("problems:problem-create") if can_add else None)
    return render_list(request, spec, problem_queryset())


# --- problems: record -----------------------------------------------------------------------

# The natural next step from each status gets the primary button.
NEXT_STEP = {
    ProblemStatus.NEW: ProblemStatus.INVESTIGATING,
    ProblemStatus.INVESTIGATING: ProblemStatus.KNOWN_ERROR,
    ProblemStatus.KNOWN_ERROR: ProblemStatus.RESOLVED,
    ProblemStatus.RESOLVED: ProblemStatus.CLOSED,
}
ACTION_LABEL = {
    ProblemStatus.INVESTIGATING: "Investigate",
    ProblemStatus.KNOWN_ERROR: "Mark as known error",
    ProblemStatus.RESOLVED: "Resolve",
    ProblemStatus.CLOSED: "Close",
}


def _transitions(problem: Problem) -> list[dict[str, Any]]:
    allowed = PROBLEM_TRANSITIONS.get(problem.status, frozenset())
    order = [s for s in ProblemStatus.values if s in allowed]
    out = []
    for status in order:
        label = ACTION_LABEL.get(ProblemStatus(status), ProblemStatus(status).label)
        if status == ProblemStatus.INVESTIGATING and problem.status != ProblemStatus.NEW:
            label = "Reopen investigation"
        needs = ""
        if status == ProblemStatus.RESOLVED and not problem.resolution.strip():
            needs = "resolution"
        elif status == ProblemStatus.KNOWN_ERROR and not (
            problem.workaround.strip() or problem.root_cause.strip()
        ):
            needs = "workaround"
        out.append(
            {
                "status": status,
                "label": label,
                "primary": NEXT_STEP.get(ProblemStatus(problem.status)) == status,
                "needs": needs,
            }
        )
    return out


def _problem_context(request: HttpRequest, problem: Problem, **extra: Any) -> dict[str, Any]:
    incidents = problem.incidents.select_related(
        "service", "component", "assignee", "assigned_function"
    ).order_by("-created_at", "-id")
    can_change = request.user.has_perm("operation.change_problem")
    return {
        "problem": problem,
        "obj": problem,
        "transitions": _transitions(problem) if can_change else [],
        "incidents": list(incidents[:INCIDENTS_SHOWN]),
        "incident_count": incidents.count(),
        "known_errors": list(problem.known_errors.select_related("service", "component")),
        "proposals": list(problem.proposals.all()),
        "can_change": can_change,
        "can_record_known_error": can_change
        and request.user.has_perm("operation.add_knownerror")
        and bool(problem.workaround.strip()),
        "link_form": extra.pop("link_form", None) or (LinkIncidentForm() if can_change else None),
        "timeline": timeline(problem),
        **extra,
    }


@login_required
def problem_detail(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "operation.view_problem")
    problem = get_object_or_404(problem_queryset(), reference=ref)
    return render(request, "operation/problems/detail.html", _problem_context(request, problem))


@login_required
def problem_create(request: HttpRequest) -> HttpResponse:
    require_agent(request, "operation.add_problem")

    def save(data: dict[str, Any]) -> Problem:
        try:
            return services.create_problem(by=request.user, **data)
        except DomainError as exc:
            raise ValidationError({exc.field or "__all__": exc.message}) from None

    return form_page(
        request,
        form_class=ProblemCreateForm,  # type: ignore[arg-type]
        instance=None,
        save=save,
        title="New problem",
        cancel_url=reverse("problems:problem-list"),
        success_message="Problem {obj.reference} created.",
    )


@login_required
def problem_edit(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "operation.change_problem")
    problem = get_object_or_404(Problem, reference=ref)
    return form_page(
        request,
        form_class=ProblemEditForm,  # type: ignore[arg-type]
        instance=problem,
        save=lambda data: services.update_problem(
            Problem.objects.get(pk=problem.pk), by=request.user, **data
        ),
        title=f"Edit {problem.reference}",
        cancel_url=problem.get_absolute_url(),
        success_message="Problem {obj.reference} saved.",
    )


@login_required
@require_POST
def problem_transition(request: HttpRequest, ref: str) -> HttpResponse:
    """Move the problem; a resolution or workaround typed next to the button is saved with it."""
    require_agent(request, "operation.change_problem")
    problem = get_object_or_404(Problem, reference=ref)
    status = request.POST.get("status", "")
    text = {
        ProblemStatus.RESOLVED: ("resolution", request.POST.get("resolution", "").strip()),
        ProblemStatus.KNOWN_ERROR: ("workaround", request.POST.get("workaround", "").strip()),
    }.get(status)  # type: ignore[call-overload]
    try:
        with transaction.atomic():
            if text and text[1]:
                services.update_problem(problem, by=request.user, **{text[0]: text[1]})
            services.transition_problem(problem, by=request.user, status=status)
    except (ValidationError, DomainError) as exc:
        messages.error(request, _say(exc))
    else:
        messages.success(request, f"{problem.reference} is now {problem.get_status_display()}.")
    return redirect(problem.get_absolute_url())


@login_required
@require_POST
def problem_link_incident(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "operation.change_problem")
    problem = get_object_or_404(problem_queryset(), reference=ref)
    form = LinkIncidentForm(request.POST)
    if form.is_valid():
        incident = form.cleaned_data["incident"]
        try:
            if incident.problem_id and incident.problem_id != problem.pk:
                raise DomainError(
                    f"{incident.reference} is already linked to {incident.problem.reference}.",
                    field="incident",
                )
            services.link_incident_to_problem(incident, problem, by=request.user)
        except (ValidationError, DomainError, PermissionDenied) as exc:
            form.add_error("incident", _say(exc))
        else:
            messages.success(request, f"{incident.reference} linked to {problem.reference}.")
            return redirect(problem.get_absolute_url())
    context = _problem_context(request, problem, link_form=form)
    return render(request, "operation/problems/detail.html", context, status=422)


@login_required
@require_POST
def problem_record_known_error(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "operation.add_knownerror")
    problem = get_object_or_404(Problem, reference=ref)
    try:
        known = services.record_known_error(problem, by=request.user)
    except (ValidationError, DomainError) as exc:
        messages.error(request, _say(exc))
        return redirect(problem.get_absolute_url())
    messages.success(request, f"Known error {known.reference} recorded from {problem.reference}.")
    return redirect(known.get_absolute_url())


@login_required
@require_POST
def raise_from_incident(request: HttpRequest, ref: str) -> HttpResponse:
    """The incident page's "Raise problem" button."""
    require_agent(request, "operation.add_problem")
    incident = get_object_or_404(services.visible_incidents(request.user), reference=ref)
    try:
        problem = services.raise_problem_from_incident(incident, by=request.user)
    except (ValidationError, DomainError) as exc:
        messages.error(request, _say(exc))
        return redirect(_back(request, reverse("search") + f"?q={incident.reference}"))
    messages.success(request, f"Problem {problem.reference} raised from {incident.reference}.")
    return redirect(problem.get_absolute_url())


# --- known errors ---------------------------------------------------------------------------

KNOWN_ERROR_LIST = ListSpec(
    title="Known errors",
    template="operation/known_errors/list.html",
    search_fields=("title", "reference", "symptoms", "root_cause", "workaround"),
    columns=(
        Column("Reference", "reference"),
        Column("Title", "title"),
        Column("Service / component"),
        Column("Problem"),
        Column("Applied"),
        Column("State"),
        Column("Recorded", "created_at"),
    ),
    default_sort="-created_at",
    filters=(
        Filter(
            "state",
            "State",
            [("active", "Active"), ("retired", "Retired")],
            lambda v: Q(active=v == "active"),
        ),
        Filter("service", "Service", _nodes_with("known_errors", Service), "service__reference"),
        Filter(
            "component",
            "Component",
            _nodes_with("known_errors", Component),
            "component__reference",
        ),
    ),
    create_label="New known error",
    empty_text="Known errors are faults with a documented workaround. Agents are offered them "
    "on matching incidents and requests.",
)


def known_error_queryset() -> Any:
    return KnownError.objects.select_related("service", "component", "problem").annotate(
        incident_count=Count("incidents", distinct=True)
    )


@login_required
def known_error_list(request: HttpRequest) -> HttpResponse:
    require_agent(request, "operation.view_knownerror")
    can_add = request.user.has_perm("operation.add_knownerror")
    spec = replace(
        KNOWN_ERROR_LIST, create_url=reverse("problems:known-error-create") if can_add else None
    )
    return render_list(request, spec, known_error_queryset())


@login_required
def known_error_detail(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "operation.view_knownerror")
    known = get_object_or_404(known_error_queryset(), reference=ref)
    incidents = known.incidents.select_related("service", "component").order_by(
        "-created_at", "-id"
    )
    return render(
        request,
        "operation/known_errors/detail.html",
        {
            "known": known,
            "obj": known,
            "incidents": list(incidents[:INCIDENTS_SHOWN]),
            "request_count": known.requests.count(),
            "can_change": request.user.has_perm("operation.change_knownerror"),
            "timeline": timeline(known),
        },
    )


@login_required
def known_error_create(request: HttpRequest) -> HttpResponse:
    require_agent(request, "operation.add_knownerror")
    return form_page(
        request,
        form_class=KnownErrorEditForm,  # type: ignore[arg-type]
        instance=None,
        save=lambda data: services.create_known_error(by=request.user, **data),
        title="New known error",
        cancel_url=reverse("problems:known-error-list"),
        success_message="Known error {obj.reference} recorded.",
    )


@login_required
def known_error_edit(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "operation.change_knownerror")
    known = get_object_or_404(KnownError, reference=ref)
    return form_page(
        request,
        form_class=KnownErrorEditForm,  # type: ignore[arg-type]
        instance=known,
        save=lambda data: services.update_known_error(
            KnownError.objects.get(pk=known.pk), by=request.user, **data
        ),
        title=f"Edit {known.reference}",
        cancel_url=known.get_absolute_url(),
        success_message="Known error {obj.reference} saved.",
    )


@login_required
@require_POST
def known_error_active(request: HttpRequest, ref: str) -> HttpResponse:
    """Retire (no longer suggested) or reactivate a known error."""
    require_agent(request, "operation.change_knownerror")
    known = get_object_or_404(KnownError, reference=ref)
    active = request.POST.get("active") == "true"
    services.update_known_error(known, by=request.user, active=active)
    messages.success(
        request,
        f"{known.reference} is {'active again' if active else 'retired: no longer suggested'}.",
    )
    return redirect(known.get_absolute_url())


@login_required
@require_POST
def known_error_apply(request: HttpRequest, ref: str) -> HttpResponse:
    """Apply a known error to the incident or service request named in ``record``: the
    incident gets its workaround, the request is linked (and answered with it)."""
    require_agent(request, "operation.view_knownerror")
    known = get_object_or_404(KnownError, reference=ref)
    target = (request.POST.get("record") or "").strip().upper()
    fallback = reverse("search") + f"?q={target}"
    try:
        if target.startswith("INC-"):
            incident = get_object_or_404(services.visible_incidents(request.user), reference=target)
            services.apply_known_error(incident, known, by=request.user)
            fallback = _url_of(incident, fallback)
        elif target.startswith("REQ-"):
            req = get_object_or_404(services.visible_requests(request.user), reference=target)
            services.link_request(req, by=request.user, known_error=known)
            fallback = _url_of(req, fallback)
        else:
            raise DomainError("Name the incident or request (INC-… or REQ-…).", field="record")
    except (ValidationError, DomainError, PermissionDenied) as exc:
        messages.error(request, _say(exc))
    else:
        messages.success(request, f"{known.reference} applied to {target}.")
    return redirect(_back(request, fallback))


def _url_of(record: Any, fallback: str) -> str:
    from itline.operation.templatetags.problems import record_url

    return record_url(record) or fallback


# --- suggestions ----------------------------------------------------------------------------


def suggestion_context(
    request: HttpRequest,
    record: Any,
    *,
    limit: int = 5,
    is_incident: bool = True,
    computed: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What the known-error partial shows for ``record`` (an incident or a request).
    ``computed`` holds suggestions the including page already has (``known_errors`` and
    ``similar`` lists), so they are not computed twice."""
    user = request.user
    if not getattr(user, "is_authenticated", False):
        return {"known_errors": [], "similar": [], "record": None}
    can_see = user.has_perm("operation.view_knownerror")
    change = "operation.change_incident" if is_incident else "operation.change_servicerequest"
    is_open = record.status in (INCIDENT_OPEN if is_incident else REQUEST_OPEN)
    if computed is not None:
        known, similar = computed.get("known_errors") or [], computed.get("similar") or []
    else:
        known = suggestions.known_errors_for(record, limit=limit) if can_see else []
        similar = (
            suggestions.similar_incidents(record, limit=limit)
            if user.has_perm("operation.view_incident")
            else []
        )
    return {
        "record": record,
        "is_incident": is_incident,
        "known_errors": known if can_see else [],
        "similar": similar,
        # a finished record keeps its suggestions visible but takes no new workaround
        "can_apply": can_see and is_open and user.has_perm(change),
        "applied_id": getattr(record, "known_error_id", None),
        "next": request.get_full_path(),
    }


@login_required
@require_GET
def suggestion_fragment(request: HttpRequest) -> HttpResponse:
    """The suggestions partial for a record (``incident``/``request`` reference) or for text
    being typed into a form (``title``, ``description``, ``service``, ``component``)."""
    require_agent(request, "operation.view_knownerror")
    record: Any = None
    ref = (request.GET.get("incident") or request.GET.get("request") or "").strip()
    if ref:
        if "incident" in request.GET:
            record = get_object_or_404(services.visible_incidents(request.user), reference=ref)
        else:
            record = get_object_or_404(services.visible_requests(request.user), reference=ref)
        sugg = suggestion_context(request, record, is_incident=isinstance(record, Incident))
    else:
        subject = suggestions.Subject(
            text=f"{request.GET.get('title', '')}\n{request.GET.get('description', '')}"[:5000],
            service_id=_node_id(Service, request.GET.get("service")),
            component_id=_node_id(Component, request.GET.get("component")),
        )
        found = subject.text.strip() or subject.service_id or subject.component_id
        sugg = {
            "record": None,
            "known_errors": suggestions.known_errors_for_subject(subject) if found else [],
            "similar": suggestions.similar_incidents_for_subject(subject) if found else [],
            "can_apply": False,
        }
    return render(
        request,
        "operation/suggestions/_known_errors.html",
        {"suggestion_set": sugg, "incident": record if isinstance(record, Incident) else None},
    )


def _node_id(model: type[Service] | type[Component], text: str | None) -> int | None:
    from itline.operation.forms import REFERENCE

    match = REFERENCE.match((text or "").strip())
    if not match:
        return None
    return (
        model.objects.filter(reference__iexact=match.group(1)).values_list("pk", flat=True).first()
    )


# --- recurrence proposals -------------------------------------------------------------------

PROPOSAL_LIST = ListSpec(
    title="Recurrence proposals",
    template="operation/proposals/list.html",
    search_fields=("title", "reason"),
    columns=(
        Column("Proposal"),
        Column("Where"),
        Column("Incidents"),
        Column("Status", "status"),
        Column("Problem"),
        Column("Proposed", "created_at"),
    ),
    default_sort="-created_at",
    filters=(Filter("status", "Status", ProposalStatus.choices, "status"),),
    empty_text="When several incidents on one component or service read alike within a few "
    "days, the detector proposes a problem here for a problem manager to accept or dismiss.",
)


def proposal_queryset() -> Any:
    return RecurrenceProposal.objects.select_related("service", "component", "problem").annotate(
        incident_count=Count("incidents", distinct=True)
    )


@login_required
def proposal_list(request: HttpRequest) -> HttpResponse:
    require_agent(request, "operation.view_recurrenceproposal")
    spec = replace(
        PROPOSAL_LIST,
        extra={
            "can_scan": request.user.has_perm("operation.change_recurrenceproposal"),
            "thresholds": recurrence.Thresholds.from_settings(),
        },
    )
    return render_list(request, spec, proposal_queryset())


def _proposal_context(
    request: HttpRequest, proposal: RecurrenceProposal, **forms: Any
) -> dict[str, Any]:
    can_decide = (
        request.user.has_perm("operation.change_recurrenceproposal")
        and proposal.status == ProposalStatus.PROPOSED
    )
    return {
        "proposal": proposal,
        "obj": proposal,
        "incidents": list(
            proposal.incidents.select_related("service", "component", "problem").order_by(
                "created_at", "id"
            )[:500]
        ),
        "can_decide": can_decide,
        "accept_form": forms.get("accept_form")
        or (AcceptForm(initial={"title": proposal.title}) if can_decide else None),
        "dismiss_form": forms.get("dismiss_form") or (DismissForm() if can_decide else None),
        "timeline": timeline(proposal),
    }


@login_required
def proposal_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require_agent(request, "operation.view_recurrenceproposal")
    proposal = get_object_or_404(proposal_queryset(), pk=pk)
    return render(request, "operation/proposals/detail.html", _proposal_context(request, proposal))


@login_required
@require_POST
def proposal_accept(request: HttpRequest, pk: int) -> HttpResponse:
    require_agent(request, "operation.change_recurrenceproposal")
    proposal = get_object_or_404(proposal_queryset(), pk=pk)
    form = AcceptForm(request.POST)
    if form.is_valid():
        try:
            problem = recurrence.accept_proposal(
                proposal,
                by=request.user,
                title=form.cleaned_data["title"],
                owner=form.cleaned_data["owner"],
                note=form.cleaned_data["note"],
            )
        except (ValidationError, DomainError, PermissionDenied) as exc:
            form.add_error(None, _say(exc))
        else:
            messages.success(
                request,
                f"Problem {problem.reference} raised; {problem.incidents.count()} incidents linked.",
            )
            return redirect(problem.get_absolute_url())
    context = _proposal_context(request, proposal, accept_form=form)
    return render(request, "operation/proposals/detail.html", context, status=422)


@login_required
@require_POST
def proposal_dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    require_agent(request, "operation.change_recurrenceproposal")
    proposal = get_object_or_404(proposal_queryset(), pk=pk)
    form = DismissForm(request.POST)
    if form.is_valid():
        try:
            recurrence.dismiss_proposal(
                proposal, by=request.user, reason=form.cleaned_data["reason"]
            )
        except (ValidationError, DomainError, PermissionDenied) as exc:
            form.add_error("reason", _say(exc))
        else:
            messages.success(request, "Proposal dismissed; this group will not be proposed again.")
            return redirect(reverse("problems:proposal-list"))
    context = _proposal_context(request, proposal, dismiss_form=form)
    return render(request, "operation/proposals/detail.html", context, status=422)


@login_required
@require_POST
def proposal_scan(request: HttpRequest) -> HttpResponse:
    require_agent(request, "operation.change_recurrenceproposal")
    result = recurrence.detect_recurring_incidents(by=request.user)
    messages.success(
        request,
        f"Scanned {result.scanned} recent incidents: {len(result.created)} new proposal(s), "
        f"{len(result.extended)} extended.",
    )
    return redirect(reverse("problems:proposal-list"))
