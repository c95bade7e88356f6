"""The approver inbox (own and delegated pending approvals, decided inline) and the CAB:
meetings, the agenda generated from changes awaiting approval (sorted by risk and window,
with the impact of each), a decision per item, and the minutes (view and Markdown download)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from itline.core.listing import Column, Filter, ListSpec, render_list
from itline.transition.choices import MeetingKind
from itline.transition.forms import CabDecisionForm, DecisionForm, MeetingForm
from itline.transition.models import Approval, CabItem, CabMeeting, Change
from itline.transition.views.changes import pending_approvals
from itline.transition.views.common import (
    VERB_ERRORS,
    VIEW,
    describe,
    form_error,
    me,
    require_agent,
    safe_next,
)

# --- approver inbox -------------------------------------------------------------------------


def _inbox(request: HttpRequest, bound: dict[int, DecisionForm] | None = None) -> dict[str, Any]:
    person = me(request)
    votes = list(
        pending_approvals(person)
        .select_related(
            "approver",
            "request",
            "request__change",
            "request__change__owner",
            "request__change__requester",
        )
        .order_by("request__change__planned_start", "id")[:200]
    )
    bound = bound or {}
    rows = [
        {
            "vote": v,
            "change": v.request.change,
            "delegated": person is not None and v.approver_id != person.pk,
            "form": bound.get(v.pk) or DecisionForm(auto_id=f"v{v.pk}_%s"),
        }
        for v in votes
    ]
    return {"rows": rows, "person": person}


@never_cache
@login_required
def approval_inbox(request: HttpRequest) -> HttpResponse:
    require_agent(request, VIEW)
    return render(request, "transition/approvals/inbox.html", _inbox(request))


@login_required
@require_POST
def approval_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve or reject from the inbox; the decision goes through the change's round."""
    require_agent(request, VIEW)
    vote = get_object_or_404(Approval.objects.select_related("request__change"), pk=pk)
    change = vote.request.change
    form = DecisionForm(request.POST, auto_id=f"v{vote.pk}_%s")
    status = 422
    if form.is_valid():
        from itline.transition.services import decide_approval

        try:
            decide_approval(
                change,
                by=request.user,
                decision=form.cleaned_data["decision"],
                comment=form.cleaned_data["comment"],
            )
        except VERB_ERRORS as exc:
            status = form_error(form, exc)
        else:
            verb = "approved" if form.cleaned_data["decision"] == "approved" else "rejected"
            messages.success(request, f"You {verb} {change.reference}.")
            return redirect(safe_next(request, reverse("transition:approvals")))
    ctx = _inbox(request, {vote.pk: form})
    return render(request, "transition/approvals/inbox.html", ctx, status=status)


# --- CAB ------------------------------------------------------------------------------------

CAB_LIST = ListSpec(
    title="CAB meetings",
    template="transition/cab/list.html",
    search_fields=("title", "reference"),
    columns=(
        Column("Reference", "reference"),
        Column("Title", "title"),
        Column("Kind", "kind"),
        Column("Starts", "starts_at"),
        Column("Agenda"),
        Column("Decided"),
    ),
    default_sort="-starts_at",
    filters=(Filter("kind", "Kind", MeetingKind.choices, "kind"),),
    empty_text="A CAB meeting's agenda is generated from the changes awaiting CAB approval, "
    "high risk first. Plan one to decide them.",
    extra={"count_noun": "meetings"},
)


@never_cache
@login_required
def cab_list(request: HttpRequest) -> HttpResponse:
    require_agent(request, "transition.view_cabmeeting")
    from dataclasses import replace

    from django.db.models import Q

    can_add = request.user.has_perm("transition.add_cabmeeting")
    form = MeetingForm() if can_add else None
    waiting = Change.objects.filter(status="awaiting_approval", approval_path__in=["cab", "ecab"])
    spec = replace(CAB_LIST, extra={**CAB_LIST.extra, "form": form, "waiting": waiting.count()})
    qs = CabMeeting.objects.annotate(
        item_count=Count("items", distinct=True),
        decided_count=Count("items", filter=~Q(items__decision="pending"), distinct=True),
    )
    return render_list(request, spec, qs)


@login_required
@require_POST
def cab_create(request: HttpRequest) -> HttpResponse:
    require_agent(request, "transition.add_cabmeeting")
    form = MeetingForm(request.POST)
    if form.is_valid():
        from itline.transition.services import create_meeting

        try:
            meeting = create_meeting(
                by=request.user,
                starts_at=form.cleaned_data["starts_at"],
                kind=form.cleaned_data["kind"],
                title=form.cleaned_data["title"] or None,
                chair=me(request),
            )
        except VERB_ERRORS as exc:
            messages.error(request, describe(exc))
        else:
            messages.success(
                request,
                f"{meeting.reference} planned with {meeting.items.count()} change(s) on the agenda.",
            )
            return redirect(meeting.get_absolute_url())
    else:
        problems = [
            f"{form.fields[k].label or k}: {' '.join(str(e) for e in v)}"
            if k in form.fields
            else " ".join(str(e) for e in v)
            for k, v in form.errors.items()
        ]
        messages.error(request, "The meeting was not planned. " + " ".join(problems))
    return redirect(reverse("transition:cab-list"))


def _cab_context(request: HttpRequest, meeting: CabMeeting, **extra: Any) -> dict[str, Any]:
    from itline.transition.services import impact_summary, minutes_markdown

    items = list(
        meeting.items.select_related("change", "change__owner").prefetch_related(
            Prefetch("change__nodes")
        )
    )
    can_decide = request.user.has_perm("transition.change_cabmeeting")
    bound = extra.pop("bound", {})
    rows = [
        {
            "item": item,
            "change": item.change,
            "impact": impact_summary(item.change),
            "form": bound.get(item.pk)
            or (
                CabDecisionForm(auto_id=f"i{item.pk}_%s", initial={"notes": item.notes})
                if can_decide and item.decision == "pending"
                else None
            ),
        }
        for item in items
    ]
    try:
        minutes = minutes_markdown(meeting)
    except NotImplementedError:
        minutes = ""
    return {
        "meeting": meeting,
        "obj": meeting,
        "rows": rows,
        "can_decide": can_decide,
        "minutes": minutes,
        "attendees": list(meeting.attendees.all()),
        **extra,
    }


@never_cache
@login_required
def cab_detail(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "transition.view_cabmeeting")
    meeting = get_object_or_404(CabMeeting.objects.select_related("chair"), reference=ref)
    return render(request, "transition/cab/detail.html", _cab_context(request, meeting))


@login_required
@require_POST
def cab_decide(request: HttpRequest, ref: str, pk: int) -> HttpResponse:
    require_agent(request, "transition.change_cabmeeting")
    meeting = get_object_or_404(CabMeeting.objects.select_related("chair"), reference=ref)
    item = get_object_or_404(CabItem.objects.select_related("change"), pk=pk, meeting=meeting)
    form = CabDecisionForm(request.POST, auto_id=f"i{item.pk}_%s")
    status = 422
    if form.is_valid():
        from itline.transition.services import record_cab_decision

        try:
            record_cab_decision(
                item,
                by=request.user,
                decision=form.cleaned_data["decision"],
                notes=form.cleaned_data["notes"],
            )
        except VERB_ERRORS as exc:
            status = form_error(form, exc)
        else:
            messages.success(
                request,
                f"CAB decision on {item.change.reference}: {form.cleaned_data['decision']}.",
            )
            return redirect(meeting.get_absolute_url() + f"#item-{item.pk}")
    ctx = _cab_context(request, meeting, bound={item.pk: form})
    return render(request, "transition/cab/detail.html", ctx, status=status)


@login_required
def cab_minutes(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "transition.view_cabmeeting")
    meeting = get_object_or_404(CabMeeting, reference=ref)
    from itline.transition.services import minutes_markdown

    response = HttpResponse(minutes_markdown(meeting), content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{meeting.reference}-minutes.md"'
    return response
