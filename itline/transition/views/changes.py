"""The change list (tabs, chips, window range, keyset pages) and the change page: header with
status and risk pills, the actions the transition table allows this user, readiness, risk
factors, collisions, approval rounds, the calendar position, linked records, deployments,
the drafted review, suggested change-caused incidents and one timeline. One POST view per
action, each calling one verb with the version the user saw."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from itline.core.errors import ConflictError, TransitionError
from itline.core.listing import Column, Filter, ListSpec, render_list
from itline.core.record_views import timeline
from itline.operation.filters import parse_day, service_choices
from itline.org.models import Function, Person
from itline.transition import change_calendar
from itline.transition.choices import (
    CHANGE_OPEN,
    CHANGE_RESCHEDULABLE,
    CHANGE_TRANSITIONS,
    ApprovalPath,
    ChangeStatus,
    ChangeType,
    LinkStatus,
    RiskLevel,
)
from itline.transition.forms import (
    CancelForm,
    CloseForm,
    DecisionForm,
    OutcomeForm,
    OverrideRiskForm,
    RescheduleForm,
    ReviewForm,
    VersionForm,
)
from itline.transition.models import (
    Approval,
    ApprovalRequest,
    Change,
    ChangeIncidentLink,
    ChangeReview,
)
from itline.transition.views.common import (
    MANAGE,
    VERB_ERRORS,
    VIEW,
    describe,
    form_error,
    me,
    require_agent,
    run,
)

S = ChangeStatus

# --- the list -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tab:
    slug: str
    label: str


TABS = (
    Tab("mine", "My changes"),
    Tab("approvals", "Awaiting my approval"),
    Tab("scheduled", "Scheduled"),
    Tab("implementing", "Implementing"),
    Tab("open", "All open"),
    Tab("all", "Everything"),
)


def pending_approvals(person: Person | None) -> Any:
    """Approvals ``person`` may decide now (own and delegated), from T1's inbox query."""
    if person is None:
        return Approval.objects.none()
    from itline.transition.services import pending_for

    return pending_for(person)


def tab_q(slug: str, person: Person | None) -> Q:
    if slug == "mine":
        if person is None:
            return Q(pk__in=[])
        implementing = Change.implementers.through.objects.filter(person=person)
        return Q(requester=person) | Q(owner=person) | Q(pk__in=implementing.values("change_id"))
    if slug == "approvals":
        return Q(pk__in=pending_approvals(person).values("request__change_id"))
    if slug == "scheduled":
        return Q(status__in=[S.APPROVED, S.SCHEDULED])
    if slug == "implementing":
        return Q(status=S.IMPLEMENTING)
    if slug == "open":
        return Q(status__in=CHANGE_OPEN)
    return Q()


def _function_choices() -> list[tuple[str, str]]:
    return list(
        Function.objects.filter(active=True).order_by("name").values_list("reference", "name")
    )


CHANGE_LIST = ListSpec(
    title="Changes",
    template="transition/changes/list.html",
    search_fields=("title", "reference", "description", "reason"),
    columns=(
        Column("Reference", "reference"),
        Column("Title", "title"),
        Column("Type", "change_type"),
        Column("Status", "status"),
        Column("Risk", "risk_score"),
        Column("Window"),
        Column("Affected"),
        Column("Owner"),
        Column("Raised", "created_at"),
    ),
    default_sort="-created_at",
    create_label="New change",
    empty_text="A change is any planned addition, modification or removal that could affect "
    "IT services. Raise one, or pick a pre-approved standard change from the catalogue.",
)


def change_filters(request: HttpRequest) -> tuple[Filter, ...]:
    return (
        Filter("status", "Status", ChangeStatus.choices, "status"),
        Filter("type", "Type", ChangeType.choices, "change_type"),
        Filter("risk", "Risk", RiskLevel.choices, change_calendar.risk_q),
        Filter(
            "service",
            "Service",
            service_choices(request.GET.get("service", "")),
            lambda v: Q(
                pk__in=Change.nodes.through.objects.filter(node__reference=v).values("change_id")
            ),
        ),
        Filter("function", "Function", _function_choices, "function__reference"),
    )


def change_queryset() -> Any:
    from itline.cmdb.models import Node

    return Change.objects.select_related("owner", "function", "template").prefetch_related(
        Prefetch("nodes", queryset=Node.objects.only("id", "reference", "name", "kind"))
    )


def _window_q(start: dt.date | None, end: dt.date | None) -> Q:
    """Changes whose window overlaps [start, end] (days in the site's time zone)."""
    tz = timezone.get_current_timezone()
    cond = Q()
    if start is not None:
        cond &= Q(planned_end__gt=dt.datetime.combine(start, dt.time.min, tzinfo=tz))
    if end is not None:
        cond &= Q(
            planned_start__lt=dt.datetime.combine(
                end + dt.timedelta(days=1), dt.time.min, tzinfo=tz
            )
        )
    return cond


@never_cache
@login_required
def change_list(request: HttpRequest) -> HttpResponse:
    require_agent(request, VIEW)
    person = me(request)
    slug = request.GET.get("tab", "")
    tab = next((t for t in TABS if t.slug == slug), None) or (TABS[0] if person else TABS[-2])
    errors: list[str] = []
    start = parse_day(request.GET.get("from", ""), "Window from", errors)
    end = parse_day(request.GET.get("to", ""), "Window to", errors)
    qs = change_queryset().filter(tab_q(tab.slug, person), _window_q(start, end))
    base = {k: v for k, v in request.GET.items() if k not in ("cursor", "tab")}
    tabs = [
        {
            "slug": t.slug,
            "label": t.label,
            "current": t == tab,
            "url": "?" + urlencode({**({"tab": t.slug}), **base}),
        }
        for t in TABS
    ]
    can_add = request.user.has_perm("transition.add_change")
    spec = replace(
        CHANGE_LIST,
        filters=change_filters(request),
        create_url=reverse("transition:change-create") if can_add else None,
        extra={
            "tabs": tabs,
            "tab": tab,
            "date_from": request.GET.get("from", ""),
            "date_to": request.GET.get("to", ""),
            "range_errors": errors,
            "catalogue_url": reverse("transition:catalogue"),
        },
    )
    return render_list(request, spec, qs)


# --- the record page ------------------------------------------------------------------------


@dataclass(frozen=True)
class Action:
    name: str
    label: str
    form: type[forms.Form] | None = None
    primary: bool = False
    danger: bool = False
    intro: str = ""


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action(
            "submit",
            "Submit",
            primary=True,
            intro="Computes risk and collisions and sends it on its approval path.",
        ),
        Action("request_approval", "Request approval", primary=True),
        Action("withdraw", "Withdraw to draft"),
        Action("decide", "Approve or reject…", DecisionForm, primary=True),
        Action(
            "schedule",
            "Schedule",
            primary=True,
            intro="Confirms the window on the change calendar.",
        ),
        Action(
            "reschedule",
            "Reschedule…",
            RescheduleForm,
            intro="Collisions and risk are checked again for the new window.",
        ),
        Action("start", "Start implementation", primary=True),
        Action(
            "implement",
            "Implementation done…",
            OutcomeForm,
            primary=True,
            intro="Records the outcome; the review drafts itself from the window's evidence.",
        ),
        Action("review", "Start review", primary=True),
        Action("close", "Close…", CloseForm),
        Action("cancel", "Cancel change…", CancelForm, danger=True),
        Action(
            "override",
            "Override risk…",
            OverrideRiskForm,
            intro="The approval path follows the level you set.",
        ),
    )
}


def _participant(change: Change, person: Person | None) -> bool:
    if person is None:
        return False
    if person.pk in (change.requester_id, change.owner_id):
        return True
    return change.implementers.filter(pk=person.pk).exists()


def allowed_actions(request: HttpRequest, change: Change, my_votes: list[Approval]) -> list[str]:
    """The actions the transition table allows from the change's status that this user may
    take: participants (requester, owner, implementers) and change managers move it; approvers
    decide; change managers override risk."""
    user = request.user
    manager = user.has_perm(MANAGE)
    can_move = manager or _participant(change, me(request)) or (change.created_by_id == user.pk)
    nxt = CHANGE_TRANSITIONS.get(change.status, frozenset())
    status = change.status
    out: list[str] = []
    if my_votes:
        out.append("decide")
    if not can_move:
        return out
    if status == S.DRAFT:
        out.append("submit")
    if status == S.ASSESSED and change.approval_path != ApprovalPath.NONE:
        out.append("request_approval")
    if status in (S.ASSESSED, S.AWAITING_APPROVAL) and S.DRAFT in nxt:
        out.append("withdraw")
    if status == S.APPROVED:
        out.append("schedule")
    if status in (S.APPROVED, S.SCHEDULED) or (
        change.change_type == ChangeType.EMERGENCY and status in (S.ASSESSED, S.AWAITING_APPROVAL)
    ):
        out.append("start")
    if status == S.IMPLEMENTING:
        out.append("implement")
    if status == S.IMPLEMENTED and not (
        change.approval_path == ApprovalPath.ECAB and not change.approved_at
    ):
        out.append("review")
    ecab_pending = change.approval_path == ApprovalPath.ECAB and not change.approved_at
    if status in (S.IMPLEMENTED, S.IN_REVIEW) and not ecab_pending:
        out.append("close")
    if status in CHANGE_RESCHEDULABLE and status not in (S.REJECTED,) and change.planned_start:
        out.append("reschedule")
    if S.CANCELLED in nxt:
        out.append("cancel")
    if (
        manager
        and status in CHANGE_RESCHEDULABLE
        and status not in (S.DRAFT, S.REJECTED)
        and change.change_type != ChangeType.STANDARD
    ):
        out.append("override")
    return out


def _initial_forms(change: Change) -> dict[str, forms.Form]:
    v = {"version": change.version}
    out: dict[str, forms.Form] = {}
    for action in ACTIONS.values():
        if action.form is None:
            continue
        initial: dict[str, Any] = dict(v)
        if action.name == "reschedule" and change.planned_start:
            initial["planned_start"] = timezone.localtime(change.planned_start)
            initial["planned_end"] = timezone.localtime(change.planned_end)
        if action.name == "override":
            initial["level"] = change.effective_risk
        if action.name == "close":
            initial["outcome"] = change.outcome
        out[action.name] = action.form(initial=initial, auto_id=f"{action.name}_%s")
    return out


def change_for_page(ref: str) -> Change:
    return get_object_or_404(
        Change.objects.select_related(
            "template", "requester", "owner", "function", "release", "created_by"
        ),
        reference=ref,
    )


def my_votes(request: HttpRequest, change: Change) -> list[Approval]:
    if change.status not in (S.AWAITING_APPROVAL,):
        return []
    return list(
        pending_approvals(me(request))
        .filter(request__change=change)
        .select_related("approver", "request")
    )


def _readiness(change: Change) -> dict[str, Any]:
    items = list(change.readiness or [])
    done = sum(1 for i in items if i.get("done"))
    return {"items": items, "done": done, "total": len(items)}


def change_context(
    request: HttpRequest,
    change: Change,
    *,
    bound: dict[str, forms.Form] | None = None,
    open_panel: str = "",
    conflict: bool = False,
) -> dict[str, Any]:
    votes = my_votes(request, change)
    actions = allowed_actions(request, change, votes)
    page_forms = _initial_forms(change)
    page_forms.update(bound or {})
    rounds = list(
        ApprovalRequest.objects.filter(change=change).prefetch_related(
            Prefetch(
                "votes",
                queryset=Approval.objects.select_related("approver", "decided_by").order_by("id"),
            )
        )
    )
    review = ChangeReview.objects.filter(change=change).select_related("completed_by").first()
    links = list(
        ChangeIncidentLink.objects.filter(change=change)
        .exclude(status=LinkStatus.DISMISSED)
        .select_related("incident", "incident__service", "incident__component", "decided_by")
        .order_by("status", "-id")
    )
    position = None
    if change.planned_start and change.planned_end:
        start, end, entries = change_calendar.neighbours(change)
        position = {"start": start, "end": end, "entries": entries, "days": _days(start, end)}
    nodes = list(change.nodes.order_by("kind", "name"))
    can_review = bool(
        review
        and review.status == "draft"
        and (
            request.user.has_perm("transition.change_changereview")
            or _participant(change, me(request))
        )
    )
    return {
        "change": change,
        "obj": change,
        "actions": [ACTIONS[a] for a in actions],
        "action_names": set(actions),
        "forms": page_forms,
        "open_panel": open_panel,
        "conflict": conflict,
        "votes": votes,
        "nodes": nodes,
        "readiness": _readiness(change),
        "can_tick": change.status in CHANGE_RESCHEDULABLE and bool(actions),
        "rounds": rounds,
        "review": review,
        "review_form": (bound or {}).get("review_form") or (ReviewForm() if can_review else None),
        "links": links,
        "can_link": request.user.has_perm("transition.change_changeincidentlink"),
        "deployments": list(change.deployments.select_related("node").order_by("-started_at")[:50]),
        "position": position,
        "problems": list(change.problems.all()),
        "known_errors": list(change.known_errors.all()),
        "incidents": list(change.incidents.all()),
        "implementers": list(change.implementers.all()),
        "blocking": [c for c in change.collisions or [] if c.get("blocking")],
        "timeline": timeline(change),
        "can_edit": change.status in (S.DRAFT, S.REJECTED, S.SUBMITTED, S.ASSESSED)
        and (
            request.user.has_perm(MANAGE)
            or _participant(change, me(request))
            or change.created_by_id == request.user.pk
        ),
        "tz": timezone.get_current_timezone_name(),
    }


def _days(start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    local = timezone.localtime(start)
    out: list[dt.datetime] = []
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    while day < end and len(out) < 31:
        out.append(day)
        day += dt.timedelta(days=1)
    return out


@never_cache
@login_required
def change_detail(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, VIEW)
    change = change_for_page(ref)
    return render(request, "transition/changes/detail.html", change_context(request, change))


# --- actions --------------------------------------------------------------------------------


def _verb(name: str, change: Change, by: Any, data: dict[str, Any]) -> Any:
    from itline.transition import services as t

    version = data.get("version")
    if name == "submit":
        return t.submit_change(change, by=by, version=version)
    if name == "request_approval":
        return t.request_approval(change, by=by)
    if name == "withdraw":
        return t.withdraw_change(change, by=by, version=version)
    if name == "decide":
        return t.decide_approval(
            change, by=by, decision=data["decision"], comment=data.get("comment", "")
        )
    if name == "schedule":
        return t.schedule_change(change, by=by, version=version)
    if name == "reschedule":
        return t.reschedule_change(
            change,
            by=by,
            planned_start=data["planned_start"],
            planned_end=data["planned_end"],
            version=version,
        )
    if name == "start":
        return t.start_implementation(change, by=by, version=version)
    if name == "implement":
        return t.complete_implementation(change, by=by, outcome=data["outcome"], version=version)
    if name == "review":
        return t.start_review(change, by=by, version=version)
    if name == "close":
        return t.close_change(change, by=by, outcome=data.get("outcome") or None, version=version)
    if name == "cancel":
        return t.cancel_change(change, by=by, reason=data["reason"], version=version)
    if name == "override":
        return t.override_risk(
            change, by=by, level=data["level"], reason=data["reason"], version=version
        )
    raise Http404("Unknown action.")


DONE = {
    "submit": "{ref} submitted: risk and collisions are assessed.",
    "request_approval": "Approval requested for {ref}.",
    "withdraw": "{ref} is a draft again; edit it and submit it anew.",
    "decide": "Your decision on {ref} is recorded.",
    "schedule": "{ref} is scheduled.",
    "reschedule": "{ref} has a new window.",
    "start": "Implementation of {ref} started.",
    "implement": "{ref} is implemented; its review is drafted.",
    "review": "{ref} is in review.",
    "close": "{ref} is closed.",
    "cancel": "{ref} is cancelled.",
    "override": "The risk of {ref} is overridden.",
}


@login_required
@require_POST
def change_action(request: HttpRequest, ref: str, action: str) -> HttpResponse:
    require_agent(request, VIEW)
    spec = ACTIONS.get(action)
    if spec is None:
        raise Http404("Unknown action.")
    change = change_for_page(ref)
    form = (spec.form or VersionForm)(request.POST, auto_id=f"{action}_%s")
    if not form.is_valid():
        ctx = change_context(request, change, bound={action: form}, open_panel=action)
        return render(request, "transition/changes/detail.html", ctx, status=422)
    try:
        _verb(action, change, request.user, form.cleaned_data)
    except VERB_ERRORS as exc:
        status = form_error(form, exc)
        stale = (
            isinstance(exc, ConflictError)
            and not isinstance(exc, TransitionError)
            and exc.field == "version"
        )
        fresh = change_for_page(ref)
        if stale and spec.form is not None:
            data = form.data.copy()  # type: ignore[attr-defined]
            data["version"] = str(fresh.version)
            form.data = data
        if spec.form is None:
            messages.error(request, describe(exc))
            return redirect(fresh.get_absolute_url())
        ctx = change_context(
            request, fresh, bound={action: form}, open_panel=action, conflict=stale
        )
        return render(request, "transition/changes/detail.html", ctx, status=status)
    messages.success(request, DONE[action].format(ref=change.reference))
    return redirect(change.get_absolute_url())


@login_required
@require_POST
def change_readiness(request: HttpRequest, ref: str) -> HttpResponse:
    """Tick or untick one readiness item; HTMX swaps the checklist only."""
    require_agent(request, VIEW)
    change = change_for_page(ref)
    from itline.transition.services import tick_readiness

    key = request.POST.get("key", "")
    done = request.POST.get("done") == "1"
    ok = run(request, lambda: tick_readiness(change, by=request.user, key=key, done=done))
    if not getattr(request, "htmx", False):
        return redirect(change.get_absolute_url())
    # The whole page: HTMX swaps in the checklist and, out of band, the messages and the
    # actions (their forms carry the version the tick just moved on).
    change = change_for_page(ref)
    ctx = change_context(request, change)
    ctx["readiness_error"] = "" if ok else "Not saved; see the message above."
    return render(request, "transition/changes/detail.html", ctx)


@login_required
@require_POST
def review_complete(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, VIEW)
    change = change_for_page(ref)
    review = get_object_or_404(ChangeReview, change=change)
    form = ReviewForm(request.POST)
    if form.is_valid():
        from itline.transition.services.reviews import complete_review

        try:
            complete_review(
                review,
                by=request.user,
                summary=form.cleaned_data["summary"],
                lessons=form.cleaned_data["lessons"],
            )
        except VERB_ERRORS as exc:
            status = form_error(form, exc)
        else:
            messages.success(request, f"The review of {change.reference} is complete.")
            return redirect(change.get_absolute_url() + "#review")
    else:
        status = 422
    ctx = change_context(request, change, bound={"review_form": form})
    return render(request, "transition/changes/detail.html", ctx, status=status)


@login_required
@require_POST
def link_decide(request: HttpRequest, ref: str, pk: int) -> HttpResponse:
    """Confirm or dismiss a suggested change-caused incident."""
    require_agent(request, "transition.change_changeincidentlink")
    change = change_for_page(ref)
    link = get_object_or_404(ChangeIncidentLink, pk=pk, change=change)
    from itline.transition import caused

    if request.POST.get("decision") == "confirm":
        run(
            request,
            lambda: caused.confirm_link(link, by=request.user),
            f"{link.incident.reference} is confirmed as caused by {change.reference}.",
        )
    else:
        run(
            request,
            lambda: caused.dismiss_link(link, by=request.user),
            f"{link.incident.reference} is not linked to {change.reference}.",
        )
    return redirect(change.get_absolute_url() + "#caused")
