"""The change form (create and edit) with live feedback: while affected items and the window
change, HTMX posts the form to ``preview`` and swaps in the risk score with its weighted
factors, the collisions (naming the other change and the path that relates them) and the
freeze windows, in an aria-live side panel. The preview computes with the same pure reads
submit uses (``risk.assess`` and ``collisions.check``) on an unsaved change; nothing is
written until the user saves."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from itline.cmdb.models import Node
from itline.core.errors import ConflictError, TransitionError
from itline.transition.choices import ApprovalPath, ChangeStatus, ChangeType
from itline.transition.forms import REF, ChangeForm, find_nodes
from itline.transition.models import Change, ChangeTemplate
from itline.transition.views.common import (
    ADD,
    VERB_ERRORS,
    VIEW,
    form_error,
    me,
    require_agent,
)

LOOKUP_LIMIT = 20
EDITABLE = (
    ChangeStatus.DRAFT,
    ChangeStatus.SUBMITTED,
    ChangeStatus.ASSESSED,
    ChangeStatus.REJECTED,
)


def _page(
    request: HttpRequest,
    form: ChangeForm,
    *,
    change: Change | None,
    status: int = 200,
    conflict: bool = False,
) -> HttpResponse:
    templates = list(
        ChangeTemplate.objects.filter(active=True).order_by("name").values_list("reference", "name")
    )
    return render(
        request,
        "transition/changes/form.html",
        {
            "form": form,
            "change": change,
            "title": f"Edit {change.reference}" if change else "New change",
            "cancel_url": change.get_absolute_url()
            if change
            else reverse("transition:change-list"),
            "preview_url": reverse("transition:change-preview")
            + (f"?change={change.reference}" if change else ""),
            "preview": preview_for(form, change)
            if form.is_bound or form.initial.get("nodes")
            else None,
            "tz": timezone.get_current_timezone_name(),
            "templates": templates,
            "conflict": conflict,
        },
        status=status,
    )


@never_cache
@login_required
def change_create(request: HttpRequest) -> HttpResponse:
    require_agent(request, ADD)
    if request.method != "POST":
        initial: dict[str, Any] = {"owner": me(request)}
        ref = request.GET.get("template", "").strip().upper()
        if ref:
            template = ChangeTemplate.objects.filter(reference=ref, active=True).first()
            if template is None:
                messages.error(request, f"There is no active standard change template {ref}.")
            else:
                initial.update(ChangeForm.initial_from_template(template))
        node_ref = request.GET.get("node", "").strip()
        if node_ref and not initial.get("nodes"):
            initial["nodes"] = find_nodes([node_ref])[0]
        return _page(request, ChangeForm(initial=initial), change=None)
    form = ChangeForm(request.POST)
    if not form.is_valid():
        return _page(request, form, change=None, status=422)
    from itline.transition.services import create_change

    fields = form.verb_fields()
    try:
        change = create_change(by=request.user, requester=me(request), **fields)
    except VERB_ERRORS as exc:
        return _page(request, form, change=None, status=form_error(form, exc))
    messages.success(request, f"Change {change.reference} saved as a draft. Submit it when ready.")
    return redirect(change.get_absolute_url())


@never_cache
@login_required
def change_edit(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, VIEW)
    change = get_object_or_404(Change, reference=ref)
    if request.method != "POST":
        if change.status not in EDITABLE:
            messages.error(
                request,
                f"{change.reference} is {change.get_status_display().lower()}: its details are "
                "settled. Reschedule or cancel it from its page.",
            )
            return redirect(change.get_absolute_url())
        return _page(request, ChangeForm(initial=ChangeForm.initial_for(change)), change=change)
    form = ChangeForm(request.POST)
    if not form.is_valid():
        return _page(request, form, change=change, status=422)
    from itline.transition.services import update_change

    fields = form.verb_fields()
    fields.pop("change_type")
    nodes = fields.pop("nodes")
    try:
        update_change(
            change,
            by=request.user,
            version=form.cleaned_data.get("version"),
            nodes=nodes,
            **fields,
        )
    except VERB_ERRORS as exc:
        status = form_error(form, exc)
        stale = (
            isinstance(exc, ConflictError)
            and not isinstance(exc, TransitionError)
            and exc.field == "version"
        )
        fresh = Change.objects.get(pk=change.pk)
        if stale:
            # Keep the user's input; the next save applies it to the current version.
            data = form.data.copy()  # type: ignore[attr-defined]
            data["version"] = str(fresh.version)
            form.data = data
        return _page(request, form, change=fresh, status=status, conflict=stale)
    messages.success(request, f"{change.reference} saved.")
    return redirect(change.get_absolute_url())


# --- live feedback --------------------------------------------------------------------------


def preview_for(form: ChangeForm, change: Change | None) -> dict[str, Any]:
    """Risk, collisions and freezes of what the form holds now (valid or not)."""
    from itline.transition import collisions, risk

    if form.is_bound:
        form.is_valid()
        data = form.cleaned_data
        nodes = data.get("node_list", [])
    else:
        data = dict(form.initial)
        nodes = list(data.get("nodes") or [])
    change_type = data.get("change_type") or ChangeType.NORMAL
    start, end = data.get("planned_start"), data.get("planned_end")
    draft = Change(
        pk=change.pk if change else None,
        title=data.get("title") or "",
        change_type=change_type,
        template=data.get("template"),
        planned_start=start,
        planned_end=end,
        status=change.status if change else ChangeStatus.DRAFT,
        submitted_at=change.submitted_at if change else None,
    )
    ids = [n.pk for n in nodes]
    window_ok = bool(start and end and end > start)
    found: list[dict[str, Any]] = []
    if ids and start and end and window_ok:
        found = collisions.check(
            nodes=ids,
            start=start,
            end=end,
            exclude_change_id=change.pk if change else None,
            change_type=change_type,
        )
    assessment = risk.assess(draft, node_ids=ids, collisions=found) if ids else None
    factors = sorted(
        assessment.factors if assessment else [], key=lambda f: -(f.get("points") or 0)
    )
    return {
        "nodes": nodes,
        "window_ok": window_ok,
        "assessment": assessment,
        "factors": factors,
        "collisions": [c for c in found if c.get("kind") != "freeze"],
        "freezes": [c for c in found if c.get("kind") == "freeze"],
        "blocking": any(c.get("blocking") for c in found),
        "path_label": ApprovalPath(assessment.approval_path).label if assessment else "",
        "emergency": change_type == ChangeType.EMERGENCY,
    }


@login_required
@require_POST
def change_preview(request: HttpRequest) -> HttpResponse:
    """The side panel for the form as typed (plus the chips, out of band, when one was
    added): no write, so it may run on every change of the form."""
    require_agent(request, ADD)
    change = None
    ref = request.GET.get("change", "").strip().upper()
    if ref:
        change = Change.objects.filter(reference=ref).first()
    form = ChangeForm(request.POST)
    preview = preview_for(form, change)
    chips = None
    if (request.POST.get("node_add") or "").strip():
        chips = ChangeForm(initial={"nodes": preview["nodes"]})
        if form.has_error("node_add"):
            chips = form
    return render(
        request,
        "transition/changes/_preview.html",
        {"preview": preview, "chips_form": chips, "form": form},
    )


@login_required
@require_GET
def node_lookup(request: HttpRequest) -> HttpResponse:
    """``<option>``s of services and components whose reference or name contains the text."""
    require_agent(request, "core.agent_access")
    text = ""
    for key in request.GET:
        value = request.GET.get(key, "").strip()
        if value:
            text = value[:100]
            break
    qs = Node.objects.all()
    if text:
        match = REF.match(text)
        if match:
            text = match.group(1)
        qs = qs.filter(Q(name__icontains=text) | Q(reference__icontains=text))
    options = list(qs.order_by("name").values_list("reference", "name")[:LOOKUP_LIMIT])
    return render(request, "operation/queues/_options.html", {"options": options})
