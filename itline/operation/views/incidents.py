"""The incident pages: register (with the impact proposed from the structure), the record
page (header with pills, SLA badge and the actions the transition table allows; one activity
timeline with the composer; editable properties, links and suggestions at the side) and one
small POST view per action. Every write is a verb from ``itline.operation.services``.

Each action form carries the incident's ``version``. When someone else changed the incident
in between, the verb refuses (ConflictError); the page is shown again with the other change
visible, the user's input kept in the form and the form set to the current version, so a
second submit applies it deliberately."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from itline.core.record_views import require_agent
from itline.operation import services as ops
from itline.operation.choices import (
    INCIDENT_OPEN,
    INCIDENT_TRANSITIONS,
    IncidentStatus,
    MessageKind,
)
from itline.operation.forms import (
    AssignForm,
    ComposerForm,
    HoldForm,
    IncidentCreateForm,
    IncidentEditForm,
    KnownErrorForm,
    MajorUpdateForm,
    MergeForm,
    PriorityForm,
    ReopenForm,
    ResolveForm,
    VersionForm,
    component_field,
    pick_function,
    service_field,
)
from itline.operation.models import Attachment, Incident
from itline.operation.views.common import (
    MESSAGE_STYLE,
    activity_for,
    attempt,
    describe,
    expected_version,
    has_template,
    keep_current_version,
    report,
    sla_badge,
)
from itline.org.models import person_of

VIEW = "operation.view_incident"
CHANGE = "operation.change_incident"
ADD = "operation.add_incident"
SLA_PARTIAL = "operation/sla/_clocks.html"
KNOWN_ERRORS_PARTIAL = "operation/suggestions/_known_errors.html"


def detail_url(incident: Incident) -> str:
    return reverse("operation:incident-detail", args=[incident.reference])


def _incidents(request: HttpRequest) -> Any:
    return ops.visible_incidents(request.user)


def _get(request: HttpRequest, ref: str, perm: str = VIEW) -> Incident:
    require_agent(request, perm)
    return get_object_or_404(
        _incidents(request).select_related(
            "service",
            "component",
            "caller",
            "customer",
            "agreement",
            "assigned_function",
            "assignee",
            "problem",
            "known_error",
            "merged_into",
        ),
        reference=ref,
    )


# --- the record page ------------------------------------------------------------------------


def _allowed_actions(request: HttpRequest, incident: Incident) -> dict[str, bool]:
    user = request.user
    can = user.has_perm(CHANGE)
    status = incident.status
    allowed = INCIDENT_TRANSITIONS.get(status, frozenset())
    is_open = status in INCIDENT_OPEN
    me = person_of(user)
    return {
        "start": can
        and status in (IncidentStatus.NEW, IncidentStatus.ASSIGNED)
        and IncidentStatus.IN_PROGRESS in allowed,
        "resume": can
        and status == IncidentStatus.ON_HOLD
        and IncidentStatus.IN_PROGRESS in allowed,
        "hold": can and status != IncidentStatus.RESOLVED and IncidentStatus.ON_HOLD in allowed,
        "resolve": can and IncidentStatus.RESOLVED in allowed,
        "close": can and status == IncidentStatus.RESOLVED,
        "reopen": can and ops.can_reopen(incident),
        "assign": can and is_open,
        "assign_me": can and is_open and me is not None and incident.assignee_id != me.pk,
        "merge": can and status != IncidentStatus.CLOSED and not incident.merged_into_id,
        "major": can and is_open,
        "major_update": can and incident.major and status != IncidentStatus.CLOSED,
        "raise_problem": user.has_perm("operation.add_problem") and not incident.problem_id,
        "known_error": can and status != IncidentStatus.CLOSED,
        "edit": can and status != IncidentStatus.CLOSED,
        "comment": user.has_perm(CHANGE) or user.has_perm(VIEW),
        "priority": can and status != IncidentStatus.CLOSED,
    }


PANEL_ACTION = {"composer": "comment"}


def _default_forms(incident: Incident) -> dict[str, forms.Form]:
    v = {"version": incident.version}
    return {
        "assign": AssignForm(
            initial={**v, "function": incident.assigned_function, "assignee": incident.assignee},
            auto_id="assign_%s",
        ),
        "hold": HoldForm(initial=v, auto_id="hold_%s"),
        "resolve": ResolveForm(initial={**v, "workaround": ""}, auto_id="resolve_%s"),
        "reopen": ReopenForm(initial=v, auto_id="reopen_%s"),
        "merge": MergeForm(auto_id="merge_%s"),
        "major_update": MajorUpdateForm(auto_id="update_%s"),
        "known_error": KnownErrorForm(auto_id="ke_%s"),
        "composer": ComposerForm(auto_id="composer_%s"),
        "priority": PriorityForm(
            initial={**v, "impact": incident.impact, "urgency": incident.urgency},
            auto_id="priority_%s",
        ),
        "version": VersionForm(initial=v, auto_id="v_%s"),
    }


def _suggestions(incident: Incident) -> dict[str, Any]:
    """Known errors that probably apply and open incidents that look the same, computed
    once per page: the problem management partial, when present, shows these same ones."""
    out: dict[str, Any] = {"known_errors": [], "similar": []}
    if incident.status == IncidentStatus.CLOSED:
        return out
    try:
        from itline.operation import suggestions
    except ImportError:  # pragma: no cover - the engine lands in the same change set
        return out
    out["known_errors"] = [
        s for s in suggestions.known_errors_for(incident) if s.record.pk != incident.known_error_id
    ]
    out["similar"] = suggestions.similar_incidents(incident, limit=4)
    return out


def incident_context(
    request: HttpRequest,
    incident: Incident,
    *,
    bound: dict[str, forms.Form] | None = None,
    open_panel: str = "",
    conflict: str = "",
) -> dict[str, Any]:
    page_forms = _default_forms(incident)
    page_forms.update(bound or {})
    clocks = list(incident.clocks.all())
    known_errors_partial = KNOWN_ERRORS_PARTIAL if has_template(KNOWN_ERRORS_PARTIAL) else None
    actions = _allowed_actions(request, incident)
    return {
        "incident": incident,
        "obj": incident,
        "record": incident,
        "actions": actions,
        "forms": page_forms,
        "open_panel": open_panel,
        "conflict": conflict,
        "clocks": clocks,
        "sla": sla_badge(clocks),
        "sla_partial": SLA_PARTIAL if has_template(SLA_PARTIAL) else None,
        "known_errors_partial": known_errors_partial,
        "suggestions": _suggestions(incident),
        "activity": activity_for(incident),
        "message_style": MESSAGE_STYLE,
        "requests": list(incident.requests.select_related("requester").order_by("created_at")),
        "merged": list(incident.merged.order_by("created_at")),
        "status_transitions": sorted(INCIDENT_TRANSITIONS.get(incident.status, ())),
        "is_open": incident.status in INCIDENT_OPEN,
        "me": person_of(request.user),
    }


def render_incident(
    request: HttpRequest,
    incident: Incident,
    *,
    status: int = 200,
    **kwargs: Any,
) -> HttpResponse:
    # HTMX swaps only 2xx answers; it gets the page with the errors as a 200.
    if request.htmx and status >= 400:  # type: ignore[attr-defined]
        status = 200
    return render(
        request,
        "operation/incidents/detail.html",
        incident_context(request, incident, **kwargs),
        status=status,
    )


@never_cache
@login_required
def incident_detail(request: HttpRequest, ref: str) -> HttpResponse:
    return render_incident(request, _get(request, ref))


@login_required
def incident_badge(request: HttpRequest, ref: str) -> HttpResponse:
    """The SLA badge alone, polled by the record page so the time left stays current."""
    incident = _get(request, ref)
    return render(
        request,
        "operation/incidents/_sla_badge.html",
        {"incident": incident, "sla": sla_badge(incident.clocks.all())},
    )


def _action(
    request: HttpRequest,
    ref: str,
    panel: str,
    form_class: type[forms.Form],
    run: Callable[[Incident, dict[str, Any], int | None], str],
    *,
    with_files: bool = False,
) -> HttpResponse:
    """POST one action form: on success a message and back to the record (PRG); on error
    the record page again with the form, its input and the error next to the field."""
    incident = _get(request, ref, CHANGE if panel != "composer" else VIEW)
    prefix = {
        "assign": "assign_%s",
        "hold": "hold_%s",
        "resolve": "resolve_%s",
        "reopen": "reopen_%s",
        "merge": "merge_%s",
        "major_update": "update_%s",
        "known_error": "ke_%s",
        "composer": "composer_%s",
        "priority": "priority_%s",
        "version": "v_%s",
    }[panel]
    form = form_class(request.POST, request.FILES if with_files else None, auto_id=prefix)
    status = 422
    conflict = ""
    if form.is_valid():
        outcome = attempt(form, lambda: run(incident, form.cleaned_data, expected_version(form)))
        if outcome.ok:
            if outcome.result:
                messages.success(request, outcome.result)
            return redirect(detail_url(incident))
        status = outcome.status
        if outcome.stale:
            conflict = describe(outcome.error)
    fresh = _get(request, ref)
    if conflict:
        keep_current_version(form, fresh.version)
    if not _allowed_actions(request, fresh).get(PANEL_ACTION.get(panel, panel)):
        # The record moved on (closed, merged, ...): the form is not shown any more, so its
        # errors go to the message area instead of vanishing with it.
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
    return render_incident(
        request, fresh, status=status, bound={panel: form}, open_panel=panel, conflict=conflict
    )


def _button(
    request: HttpRequest, ref: str, run: Callable[[Incident, int | None], Any], success: str
) -> HttpResponse:
    """POST a button without input (start work, assign to me, close, ...)."""
    incident = _get(request, ref, CHANGE)
    form = VersionForm(request.POST)
    version = form.cleaned_data.get("version") if form.is_valid() else None
    report(request, lambda: run(incident, version), success.format(ref=incident.reference))
    return redirect(detail_url(incident))


@login_required
@require_POST
def incident_assign(request: HttpRequest, ref: str) -> HttpResponse:
    def run(inc: Incident, data: dict[str, Any], version: int | None) -> str:
        assignee = data["assignee"]
        function = pick_function(data["function"], assignee, inc.assigned_function)
        ops.assign_incident(
            inc, by=request.user, function=function, assignee=assignee, expected_version=version
        )
        who = f"{assignee} ({function})" if assignee and function else str(assignee or function)
        return f"{inc.reference} assigned to {who}."

    return _action(request, ref, "assign", AssignForm, run)


@login_required
@require_POST
def incident_assign_me(request: HttpRequest, ref: str) -> HttpResponse:
    me = person_of(request.user)

    def run(inc: Incident, version: int | None) -> Any:
        if me is None:
            raise PermissionDenied("Your login has no person record; ask an administrator.")
        function = pick_function(None, me, inc.assigned_function)
        return ops.assign_incident(
            inc, by=request.user, function=function, assignee=me, expected_version=version
        )

    return _button(request, ref, run, "{ref} is assigned to you.")


@login_required
@require_POST
def incident_status(request: HttpRequest, ref: str) -> HttpResponse:
    """Start work / resume (to in progress) or hand back to the queue (to assigned)."""
    target = request.POST.get("status", "")
    if target not in (IncidentStatus.IN_PROGRESS, IncidentStatus.ASSIGNED):
        messages.error(
            request, "Choose in progress or assigned; resolve and hold have their own forms."
        )
        return redirect(reverse("operation:incident-detail", args=[ref]))
    label = dict(IncidentStatus.choices)[target]
    return _button(
        request,
        ref,
        lambda inc, v: ops.transition_incident(
            inc, by=request.user, status=target, expected_version=v
        ),
        "{ref} is " + str(label).lower() + ".",
    )


@login_required
@require_POST
def incident_hold(request: HttpRequest, ref: str) -> HttpResponse:
    def run(inc: Incident, data: dict[str, Any], version: int | None) -> str:
        ops.transition_incident(
            inc,
            by=request.user,
            status=IncidentStatus.ON_HOLD,
            hold_reason=data["hold_reason"],
            message=data.get("note", ""),
            expected_version=version,
        )
        return f"{inc.reference} is on hold."

    return _action(request, ref, "hold", HoldForm, run)


@login_required
@require_POST
def incident_resolve(request: HttpRequest, ref: str) -> HttpResponse:
    def run(inc: Incident, data: dict[str, Any], version: int | None) -> str:
        ops.resolve_incident(
            inc,
            by=request.user,
            resolution=data["resolution"],
            category=data["category"],
            workaround=data.get("workaround") or None,
            expected_version=version,
        )
        return f"{inc.reference} is resolved."

    return _action(request, ref, "resolve", ResolveForm, run)


@login_required
@require_POST
def incident_close(request: HttpRequest, ref: str) -> HttpResponse:
    return _button(
        request,
        ref,
        lambda inc, v: ops.close_incident(inc, by=request.user, expected_version=v),
        "{ref} is closed.",
    )


@login_required
@require_POST
def incident_reopen(request: HttpRequest, ref: str) -> HttpResponse:
    def run(inc: Incident, data: dict[str, Any], version: int | None) -> str:
        ops.reopen_incident(inc, by=request.user, reason=data["reason"], expected_version=version)
        return f"{inc.reference} is reopened."

    return _action(request, ref, "reopen", ReopenForm, run)


@login_required
@require_POST
def incident_merge(request: HttpRequest, ref: str) -> HttpResponse:
    def run(inc: Incident, data: dict[str, Any], version: int | None) -> str:
        survivor = data["into"]
        ops.merge_incident(inc, into=survivor, by=request.user)
        return f"{inc.reference} is merged into {survivor.reference}."

    return _action(request, ref, "merge", MergeForm, run)


@login_required
@require_POST
def incident_major(request: HttpRequest, ref: str) -> HttpResponse:
    major = request.POST.get("major") == "1"
    return _button(
        request,
        ref,
        lambda inc, v: ops.set_major(inc, by=request.user, major=major, expected_version=v),
        "{ref} is flagged as a major incident."
        if major
        else "{ref} is no longer a major incident.",
    )


@login_required
@require_POST
def incident_major_update(request: HttpRequest, ref: str) -> HttpResponse:
    def run(inc: Incident, data: dict[str, Any], version: int | None) -> str:
        ops.post_major_update(inc, by=request.user, body=data["body"])
        return "Update posted and sent to the stakeholders."

    return _action(request, ref, "major_update", MajorUpdateForm, run)


@login_required
@require_POST
def incident_priority(request: HttpRequest, ref: str) -> HttpResponse:
    def run(inc: Incident, data: dict[str, Any], version: int | None) -> str:
        before = inc.priority
        updated = ops.update_incident(
            inc,
            by=request.user,
            expected_version=version,
            impact=data["impact"],
            urgency=data["urgency"],
        )
        if updated.priority != before:
            return f"Priority is now {updated.get_priority_display()}."
        return "Impact and urgency saved."

    return _action(request, ref, "priority", PriorityForm, run)


@login_required
@require_POST
def incident_known_error(request: HttpRequest, ref: str) -> HttpResponse:
    def run(inc: Incident, data: dict[str, Any], version: int | None) -> str:
        ke = data["known_error"]
        ops.apply_known_error(inc, ke, by=request.user)
        return f"{ke.reference} applied: its workaround is on the incident."

    return _action(request, ref, "known_error", KnownErrorForm, run)


@login_required
@require_POST
def incident_raise_problem(request: HttpRequest, ref: str) -> HttpResponse:
    incident = _get(request, ref, "operation.add_problem")
    created: list[Any] = []

    def run() -> None:
        created.append(ops.raise_problem_from_incident(incident, by=request.user))

    if report(request, run, ""):
        problem = created[0]
        messages.success(request, f"Problem {problem.reference} raised from {incident.reference}.")
    return redirect(detail_url(incident))


def post_message(request: HttpRequest, record: Any, form: ComposerForm) -> tuple[bool, int]:
    """Add the composer's message and files in one transaction: a refused file (too big)
    leaves no half-posted message behind."""
    from itline.operation.services.messages import max_attachment_bytes

    data = form.cleaned_data
    limit = max_attachment_bytes()
    for upload in data["attachments"]:
        if upload.size > limit:
            form.add_error(
                "attachments",
                f"{upload.name} is {upload.size:,} bytes; the limit is {limit:,} bytes.",
            )
            return False, 422

    def run() -> None:
        with transaction.atomic():
            message = None
            if (data.get("body") or "").strip():
                message = ops.add_message(
                    record, by=request.user, kind=data["kind"], body=data["body"]
                )
            for upload in data["attachments"]:
                ops.add_attachment(
                    record,
                    by=request.user,
                    filename=upload.name,
                    content=upload.read(),
                    mime_type=upload.content_type or "",
                    message=message,
                )

    outcome = attempt(form, run)
    return outcome.ok, outcome.status


@login_required
@require_POST
def incident_message(request: HttpRequest, ref: str) -> HttpResponse:
    incident = _get(request, ref)
    form = ComposerForm(request.POST, request.FILES, auto_id="composer_%s")
    status = 422
    if form.is_valid():
        ok, status = post_message(request, incident, form)
        if ok:
            kind = form.cleaned_data["kind"]
            messages.success(request, "Reply sent." if kind == MessageKind.REPLY else "Note added.")
            return redirect(detail_url(incident) + "#activity-end")
    return render_incident(
        request, _get(request, ref), status=status, bound={"composer": form}, open_panel="composer"
    )


# --- create and edit ------------------------------------------------------------------------


@login_required
def incident_create(request: HttpRequest) -> HttpResponse:
    require_agent(request, ADD)
    initial = {
        k: v for k, v in request.GET.items() if k in ("title", "service", "component", "caller")
    }
    form = IncidentCreateForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        status = 422
        if form.is_valid():
            data = form.cleaned_data
            outcome = attempt(
                form,
                lambda: ops.create_incident(
                    by=request.user,
                    title=data["title"],
                    description=data["description"],
                    service=data["service"],
                    component=data["component"],
                    impact=data["impact"],
                    urgency=data["urgency"],
                    caller=data["caller"],
                    assigned_function=data["assigned_function"],
                    major=data["major"],
                    channel=data.get("channel") or "phone",
                ),
            )
            status = outcome.status
            if outcome.ok:
                incident = outcome.result
                messages.success(request, f"Incident {incident.reference} registered.")
                return redirect(detail_url(incident))
    return render(
        request,
        "operation/incidents/form.html",
        {
            "form": form,
            "title": "New incident",
            "cancel_url": reverse("operation:incident-list"),
            "proposal": _proposal_from(request.POST or request.GET),
        },
        status=status,
    )


def _proposal_from(data: Any) -> dict[str, Any] | None:
    """Impact proposed for the service/component typed so far (quietly ignoring text that
    names nothing yet)."""
    nodes = {}
    for name, make in (("service", service_field), ("component", component_field)):
        text = (data.get(name) or "").strip()
        if not text:
            continue
        try:
            nodes[name] = make().clean(text)
        except ValidationError:
            continue
    if not nodes:
        return None
    impact, reason = ops.propose_impact(
        service=nodes.get("service"), component=nodes.get("component")
    )
    from itline.operation.choices import Impact

    out: dict[str, Any] = {"impact": impact, "label": Impact(impact).label, "reason": reason}
    try:
        urgency = int(data.get("urgency") or 2)
        out["priority"] = ops.priority_for(impact, urgency)
    except (ValueError, ValidationError):
        pass
    if "priority" in out:
        from itline.operation.choices import Priority

        out["priority_label"] = Priority(out["priority"]).label
    function = ops.route(service=nodes.get("service"), component=nodes.get("component"))
    out["function"] = function
    return out


@login_required
def incident_impact_proposal(request: HttpRequest) -> HttpResponse:
    """The HTMX answer to "which impact would the structure give?" on the new form."""
    require_agent(request, ADD)
    return render(
        request, "operation/incidents/_proposal.html", {"proposal": _proposal_from(request.GET)}
    )


@login_required
def incident_edit(request: HttpRequest, ref: str) -> HttpResponse:
    incident = _get(request, ref, CHANGE)
    fields = (
        "title",
        "description",
        "service",
        "component",
        "impact",
        "urgency",
        "caller",
        "workaround",
    )
    form = IncidentEditForm(request.POST or None, initial=IncidentEditForm.initial_for(incident))
    status = 200
    conflict = ""
    if request.method == "POST":
        status = 422
        if form.is_valid():
            data = form.cleaned_data
            outcome = attempt(
                form,
                lambda: ops.update_incident(
                    incident,
                    by=request.user,
                    expected_version=expected_version(form),
                    **{name: data[name] for name in fields},
                ),
            )
            status = outcome.status
            if outcome.ok:
                messages.success(request, f"{incident.reference} saved.")
                return redirect(detail_url(incident))
            if outcome.stale:
                fresh = _get(request, ref)
                conflict = describe(outcome.error)
                keep_current_version(form, fresh.version)
                incident = fresh
    return render(
        request,
        "operation/incidents/edit.html",
        {
            "form": form,
            "incident": incident,
            "title": f"Edit {incident.reference}",
            "cancel_url": detail_url(incident),
            "conflict": conflict,
            "current": incident,
        },
        status=status,
    )


# --- files ----------------------------------------------------------------------------------


@login_required
def attachment_download(request: HttpRequest, pk: int) -> FileResponse:
    """A file on a record an agent may see. Always a download: a stored HTML or SVG file
    never runs in itline's origin."""
    require_agent(request, "core.agent_access")
    att = get_object_or_404(Attachment.objects.select_related("content_type"), pk=pk)
    model = att.content_type.model_class()
    perm = f"{att.content_type.app_label}.view_{att.content_type.model}"
    if model is None or not request.user.has_perm(perm):
        raise Http404("No such file")
    try:
        handle = att.file.open("rb")
    except (FileNotFoundError, ValueError):
        raise Http404("The file is no longer stored") from None
    return FileResponse(
        handle, as_attachment=True, filename=att.filename, content_type="application/octet-stream"
    )
