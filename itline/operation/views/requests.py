"""Service request pages for agents: phone intake, the record page with the classify actions
(answer, fulfil, turn into an incident, link to an incident or known error, pass to the
improvement register), assignment, status, close/reopen, and the same activity timeline and
composer as incidents. Every write is a verb."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from itline.core.record_views import require_agent
from itline.operation import services as ops
from itline.operation.choices import (
    REQUEST_OPEN,
    MessageKind,
    RequestStatus,
    RequestType,
)
from itline.operation.forms import (
    AnswerForm,
    AssignForm,
    ComposerForm,
    ConvertForm,
    LinkForm,
    RequestCreateForm,
    RequestEditForm,
    VersionForm,
    pick_function,
)
from itline.operation.models import ServiceRequest
from itline.operation.views.common import (
    MESSAGE_STYLE,
    activity_for,
    attempt,
    describe,
    expected_version,
    keep_current_version,
    report,
)
from itline.operation.views.incidents import _proposal_from, post_message
from itline.org.models import person_of

VIEW = "operation.view_servicerequest"
CHANGE = "operation.change_servicerequest"
ADD = "operation.add_servicerequest"


def detail_url(req: ServiceRequest) -> str:
    return reverse("operation:request-detail", args=[req.reference])


def _get(request: HttpRequest, ref: str, perm: str = VIEW) -> ServiceRequest:
    require_agent(request, perm)
    return get_object_or_404(
        ops.visible_requests(request.user).select_related(
            "requester",
            "requester__business_unit",
            "customer",
            "service",
            "assigned_function",
            "assignee",
            "incident",
            "known_error",
        ),
        reference=ref,
    )


def _actions(request: HttpRequest, req: ServiceRequest) -> dict[str, bool]:
    user = request.user
    can = user.has_perm(CHANGE)
    is_open = req.status in REQUEST_OPEN
    me = person_of(user)
    return {
        "answer": can and is_open,
        "convert": can
        and is_open
        and not req.incident_id
        and user.has_perm("operation.add_incident"),
        "link": can and is_open,
        "improvement": can and is_open and user.has_perm("delivery.add_improvement"),
        "assign": can and is_open,
        "assign_me": can and is_open and me is not None and req.assignee_id != me.pk,
        "waiting": can and req.status in (RequestStatus.NEW, RequestStatus.IN_PROGRESS),
        "in_progress": can
        and req.status in (RequestStatus.NEW, RequestStatus.WAITING_FOR_REQUESTER),
        "close": can and req.status != RequestStatus.CLOSED,
        "reopen": can and req.status == RequestStatus.RESOLVED,
        "edit": can and req.status != RequestStatus.CLOSED,
    }


def _default_forms(req: ServiceRequest) -> dict[str, forms.Form]:
    v = {"version": req.version}
    return {
        "assign": AssignForm(
            initial={**v, "function": req.assigned_function, "assignee": req.assignee},
            auto_id="assign_%s",
        ),
        "answer": AnswerForm(initial=v, auto_id="answer_%s"),
        "link": LinkForm(auto_id="link_%s"),
        "composer": ComposerForm(auto_id="composer_%s"),
        "version": VersionForm(initial=v, auto_id="v_%s"),
    }


def _suggestions(req: ServiceRequest) -> dict[str, Any]:
    out: dict[str, Any] = {"known_errors": [], "similar": []}
    if req.status not in REQUEST_OPEN:
        return out
    try:
        from itline.operation import suggestions
    except ImportError:  # pragma: no cover
        return out
    out["known_errors"] = suggestions.known_errors_for(req, limit=4)
    if not req.incident_id:
        out["similar"] = suggestions.similar_incidents(req, limit=4)
    return out


def render_request(
    request: HttpRequest,
    req: ServiceRequest,
    *,
    status: int = 200,
    bound: dict[str, forms.Form] | None = None,
    open_panel: str = "",
    conflict: str = "",
) -> HttpResponse:
    page_forms = _default_forms(req)
    page_forms.update(bound or {})
    if request.htmx and status >= 400:  # type: ignore[attr-defined]
        status = 200
    context = {
        "req": req,
        "obj": req,
        "record": req,
        "actions": _actions(request, req),
        "forms": page_forms,
        "open_panel": open_panel,
        "conflict": conflict,
        "suggestions": _suggestions(req),
        "activity": activity_for(req),
        "message_style": MESSAGE_STYLE,
        "is_open": req.status in REQUEST_OPEN,
        "is_proposal": req.request_type == RequestType.IMPROVEMENT_PROPOSAL,
        "is_fault": req.request_type == RequestType.FAULT_REPORT,
        "other_requests": ops.visible_requests(request.user)
        .filter(requester_id=req.requester_id)
        .exclude(pk=req.pk)
        .order_by("-created_at")
        .only("reference", "title", "status", "created_at")[:5],
    }
    return render(request, "operation/requests/detail.html", context, status=status)


@never_cache
@login_required
def request_detail(request: HttpRequest, ref: str) -> HttpResponse:
    return render_request(request, _get(request, ref))


def _action(
    request: HttpRequest,
    ref: str,
    panel: str,
    form_class: type[forms.Form],
    run: Callable[[ServiceRequest, dict[str, Any], int | None], Any],
) -> HttpResponse:
    req = _get(request, ref, CHANGE)
    form = form_class(request.POST, auto_id=f"{panel}_%s")
    status = 422
    conflict = ""
    if form.is_valid():
        outcome = attempt(form, lambda: run(req, form.cleaned_data, expected_version(form)))
        if outcome.ok:
            text, target = (
                outcome.result if isinstance(outcome.result, tuple) else (outcome.result, None)
            )
            if text:
                messages.success(request, text)
            return redirect(target or detail_url(req))
        status = outcome.status
        if outcome.stale:
            conflict = describe(outcome.error)
    fresh = _get(request, ref)
    if conflict:
        keep_current_version(form, fresh.version)
    if not _actions(request, fresh).get(panel):
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
    return render_request(
        request, fresh, status=status, bound={panel: form}, open_panel=panel, conflict=conflict
    )


def _button(
    request: HttpRequest, ref: str, run: Callable[[ServiceRequest, int | None], Any], success: str
) -> HttpResponse:
    req = _get(request, ref, CHANGE)
    form = VersionForm(request.POST)
    version = form.cleaned_data.get("version") if form.is_valid() else None
    report(request, lambda: run(req, version), success.format(ref=req.reference))
    return redirect(detail_url(req))


@login_required
@require_POST
def request_assign(request: HttpRequest, ref: str) -> HttpResponse:
    def run(req: ServiceRequest, data: dict[str, Any], version: int | None) -> str:
        assignee = data["assignee"]
        function = pick_function(data["function"], assignee, req.assigned_function)
        ops.assign_request(
            req, by=request.user, function=function, assignee=assignee, expected_version=version
        )
        return f"{req.reference} assigned to {assignee or function}."

    return _action(request, ref, "assign", AssignForm, run)


@login_required
@require_POST
def request_assign_me(request: HttpRequest, ref: str) -> HttpResponse:
    me = person_of(request.user)

    def run(req: ServiceRequest, version: int | None) -> Any:
        if me is None:
            raise PermissionDenied("Your login has no person record; ask an administrator.")
        function = pick_function(None, me, req.assigned_function)
        return ops.assign_request(
            req, by=request.user, function=function, assignee=me, expected_version=version
        )

    return _button(request, ref, run, "{ref} is assigned to you.")


@login_required
@require_POST
def request_answer(request: HttpRequest, ref: str) -> HttpResponse:
    def run(req: ServiceRequest, data: dict[str, Any], version: int | None) -> str:
        ops.answer_request(
            req,
            by=request.user,
            answer=data["answer"],
            outcome=data["outcome"],
            expected_version=version,
        )
        return f"{req.reference} is resolved ({data['outcome']}); the requester is told."

    return _action(request, ref, "answer", AnswerForm, run)


@login_required
@require_POST
def request_link(request: HttpRequest, ref: str) -> HttpResponse:
    def run(req: ServiceRequest, data: dict[str, Any], version: int | None) -> str:
        incident, known_error = data.get("incident"), data.get("known_error")
        ops.link_request(req, by=request.user, incident=incident, known_error=known_error)
        if incident is not None:
            return f"{req.reference} now follows {incident.reference}."
        return f"{req.reference} is resolved with the workaround of {known_error}."

    return _action(request, ref, "link", LinkForm, run)


@login_required
@require_POST
def request_improvement(request: HttpRequest, ref: str) -> HttpResponse:
    def run(req: ServiceRequest, version: int | None) -> Any:
        from itline.delivery.services import register_improvement_from_request

        improvement = register_improvement_from_request(req, by=request.user)
        messages.info(
            request, f"Registered as {improvement.reference} in the improvement register."
        )
        return improvement

    return _button(request, ref, run, "{ref} is passed to the improvement register.")


@login_required
@require_POST
def request_status(request: HttpRequest, ref: str) -> HttpResponse:
    target = request.POST.get("status", "")
    if target not in (RequestStatus.IN_PROGRESS, RequestStatus.WAITING_FOR_REQUESTER):
        messages.error(request, "Choose in progress or waiting for requester.")
        return redirect(reverse("operation:request-detail", args=[ref]))
    label = str(dict(RequestStatus.choices)[target]).lower()
    return _button(
        request,
        ref,
        lambda req, v: ops.set_request_status(
            req, by=request.user, status=target, expected_version=v
        ),
        "{ref} is " + label + ".",
    )


@login_required
@require_POST
def request_close(request: HttpRequest, ref: str) -> HttpResponse:
    return _button(
        request, ref, lambda req, v: ops.close_request(req, by=request.user), "{ref} is closed."
    )


@login_required
@require_POST
def request_reopen(request: HttpRequest, ref: str) -> HttpResponse:
    return _button(
        request, ref, lambda req, v: ops.reopen_request(req, by=request.user), "{ref} is reopened."
    )


@login_required
@require_POST
def request_message(request: HttpRequest, ref: str) -> HttpResponse:
    req = _get(request, ref)
    form = ComposerForm(request.POST, request.FILES, auto_id="composer_%s")
    status = 422
    if form.is_valid():
        ok, status = post_message(request, req, form)
        if ok:
            kind = form.cleaned_data["kind"]
            messages.success(request, "Reply sent." if kind == MessageKind.REPLY else "Note added.")
            return redirect(detail_url(req) + "#activity-end")
    return render_request(
        request, _get(request, ref), status=status, bound={"composer": form}, open_panel="composer"
    )


# --- turn into an incident ------------------------------------------------------------------


@login_required
def request_convert(request: HttpRequest, ref: str) -> HttpResponse:
    """The new-incident form, prefilled from the request; saving links the two."""
    req = _get(request, ref, CHANGE)
    require_agent(request, "operation.add_incident")
    initial = {"title": req.title, "service": req.service}
    form = ConvertForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            data = form.cleaned_data
            outcome = attempt(
                form,
                lambda: ops.convert_request_to_incident(
                    req,
                    by=request.user,
                    title=data["title"],
                    service=data["service"],
                    component=data["component"],
                    impact=data["impact"],
                    urgency=data["urgency"],
                    assigned_function=data["assigned_function"],
                ),
            )
            status = outcome.status
            if outcome.ok:
                incident = outcome.result
                messages.success(
                    request, f"{req.reference} is now followed by incident {incident.reference}."
                )
                return redirect(reverse("operation:incident-detail", args=[incident.reference]))
    return render(
        request,
        "operation/requests/convert.html",
        {
            "form": form,
            "req": req,
            "title": f"Turn {req.reference} into an incident",
            "cancel_url": detail_url(req),
            "proposal": _proposal_from(request.POST or {"service": form["service"].value() or ""}),
        },
        status=status,
    )


# --- intake and edit ------------------------------------------------------------------------


@login_required
def request_create(request: HttpRequest) -> HttpResponse:
    """Phone (or walk-in) intake: the agent types who is calling and what they need."""
    require_agent(request, ADD)
    initial = {k: v for k, v in request.GET.items() if k in ("requester", "title", "service")}
    form = RequestCreateForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            data = form.cleaned_data
            outcome = attempt(
                form,
                lambda: ops.create_request(
                    by=request.user,
                    requester=data["requester"],
                    title=data["title"],
                    description=data["description"],
                    request_type=data["request_type"],
                    channel=data["channel"],
                    service=data["service"],
                ),
            )
            status = outcome.status
            if outcome.ok:
                req = outcome.result
                messages.success(
                    request, f"Request {req.reference} registered for {req.requester}."
                )
                return redirect(detail_url(req))
    return render(
        request,
        "operation/requests/form.html",
        {"form": form, "title": "New request", "cancel_url": reverse("operation:request-list")},
        status=status,
    )


@login_required
def request_edit(request: HttpRequest, ref: str) -> HttpResponse:
    req = _get(request, ref, CHANGE)
    initial = {
        "version": req.version,
        "title": req.title,
        "description": req.description,
        "request_type": req.request_type,
        "service": req.service,
    }
    form = RequestEditForm(request.POST or None, initial=initial)
    status = 200
    conflict = ""
    if request.method == "POST":
        status = 422
        if form.is_valid():
            data = form.cleaned_data
            outcome = attempt(
                form,
                lambda: ops.update_request(
                    req,
                    by=request.user,
                    expected_version=expected_version(form),
                    **{k: data[k] for k in ("title", "description", "request_type", "service")},
                ),
            )
            status = outcome.status
            if outcome.ok:
                messages.success(request, f"{req.reference} saved.")
                return redirect(detail_url(req))
            if outcome.stale:
                req = _get(request, ref)
                conflict = describe(outcome.error)
                keep_current_version(form, req.version)
    return render(
        request,
        "operation/requests/form.html",
        {
            "form": form,
            "title": f"Edit {req.reference}",
            "cancel_url": detail_url(req),
            "conflict": conflict,
            "req": req,
        },
        status=status,
    )
