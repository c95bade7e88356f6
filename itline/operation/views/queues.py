"""The agent queues: incident and service request lists with queue tabs (mine, my functions',
unassigned, breaching soon, major), filter chips, free text, date range, sortable columns,
keyset pagination, counts, bulk assignment and saved views. State lives in the URL, so reload,
back and a shared link give the same list; HTMX swaps only the list region.

No query per row: rows come with their service, component, function and assignee joined and
their SLA clocks prefetched (a test holds the query count constant in the page size)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Model, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from itline.core.listing import Column, ListSpec, capped_count, render_list
from itline.core.record_views import require_agent
from itline.core.saved_views import SavedView, clean_query
from itline.operation import filters as flt
from itline.operation import services as ops
from itline.operation.forms import REFERENCE, AssignForm, BulkAssignForm, pick_function
from itline.operation.models import Incident, ServiceRequest
from itline.operation.views.common import VERB_ERRORS, describe, safe_next

BULK_LIMIT = 200  # rows one bulk action may touch (a page is at most 50; selections add up)

# Tabs and the result count stop counting here ("1,000+"): exact counts of every open
# incident of a large installation cost more than the page (benchmarks/operation.py).
COUNT_CAP = 1_000


@dataclass(frozen=True)
class DeskList:
    """One list of the desk: what it shows and how it is filtered and assigned."""

    name: str  # saved views are filed under it
    url_name: str
    view_perm: str
    change_perm: str
    add_perm: str
    create_url_name: str
    queues: tuple[flt.Queue, ...]
    open_statuses: tuple[str, ...]
    filters: Callable[[HttpRequest], tuple[Any, ...]]
    base: Callable[[Any], QuerySet[Any]]
    assign: Callable[..., Any]
    bulk_url_name: str
    spec: ListSpec
    noun_one: str


INCIDENT_COLUMNS = (
    Column(""),  # the selection checkbox
    Column("Reference", "reference"),
    Column("Title", "title"),
    Column("Status", "status"),
    Column("Priority", "priority"),
    Column("SLA"),
    Column("Assignee"),
    Column("Service / component"),
    Column("Age", "created_at"),
)


def incident_rows(user: Any) -> QuerySet[Incident]:
    return (
        ops.visible_incidents(user)
        .select_related("service", "component", "assignee", "assigned_function")
        .prefetch_related("clocks")
        .defer("description", "workaround", "resolution")
    )


def request_rows(user: Any) -> QuerySet[ServiceRequest]:
    return (
        ops.visible_requests(user)
        .select_related("requester", "service", "assignee", "assigned_function", "incident")
        .defer("description", "answer")
    )


INCIDENTS = DeskList(
    name="incidents",
    url_name="operation:incident-list",
    view_perm="operation.view_incident",
    change_perm="operation.change_incident",
    add_perm="operation.add_incident",
    create_url_name="operation:incident-create",
    queues=flt.INCIDENT_QUEUES,
    open_statuses=flt.OPEN_INCIDENT_STATUSES,
    filters=flt.incident_filters,
    base=incident_rows,
    assign=lambda record, **kw: ops.assign_incident(record, **kw),
    bulk_url_name="operation:incident-bulk-assign",
    noun_one="incident",
    spec=ListSpec(
        count_cap=COUNT_CAP,
        title="Incidents",
        template="operation/incidents/list.html",
        search_fields=("title", "reference", "description"),
        columns=INCIDENT_COLUMNS,
        default_sort="priority",
        create_label="New incident",
        empty_text="Incidents are interruptions or degradations of a service, or failures of "
        "a component. Register one when a fault is reported or detected.",
    ),
)

REQUEST_COLUMNS = (
    Column(""),
    Column("Reference", "reference"),
    Column("Subject", "title"),
    Column("Type", "request_type"),
    Column("Status", "status"),
    Column("Requester"),
    Column("Channel", "channel"),
    Column("Assignee"),
    Column("Service"),
    Column("Age", "created_at"),
)

REQUESTS = DeskList(
    name="requests",
    url_name="operation:request-list",
    view_perm="operation.view_servicerequest",
    change_perm="operation.change_servicerequest",
    add_perm="operation.add_servicerequest",
    create_url_name="operation:request-create",
    queues=flt.REQUEST_QUEUES,
    open_statuses=flt.OPEN_REQUEST_STATUSES,
    filters=flt.request_filters,
    base=request_rows,
    assign=lambda record, **kw: ops.assign_request(record, **kw),
    bulk_url_name="operation:request-bulk-assign",
    noun_one="service request",
    spec=ListSpec(
        count_cap=COUNT_CAP,
        title="Service requests",
        template="operation/requests/list.html",
        search_fields=("title", "reference", "description"),
        columns=REQUEST_COLUMNS,
        default_sort="-created_at",
        create_label="New request",
        empty_text="Every contact with the service desk starts as a service request: "
        "questions, orders, fault reports, complaints and proposals.",
    ),
)


def _query(params: dict[str, str], **changes: str) -> str:
    merged = {k: v for k, v in {**params, **changes}.items() if v and k != "cursor"}
    return "?" + urlencode(merged) if merged else "?"


def render_desk_list(request: HttpRequest, desk: DeskList) -> HttpResponse:
    require_agent(request, desk.view_perm)
    user: Any = request.user
    params = {k: str(v) for k, v in request.GET.items()}
    queue = flt.find_queue(desk.queues, params.get("queue", ""))
    if params.get("queue") and params["queue"] != queue.slug:
        params.pop("queue")
    status_chosen = bool(params.get("status"))
    base = desk.base(user)
    list_errors: list[str] = []
    start = flt.parse_day(params.get("from", ""), "From", list_errors)
    end = flt.parse_day(params.get("to", ""), "To", list_errors)
    if start and end and start > end:
        list_errors.append("The From date is after the To date; the range was ignored.")
        start = end = None
    qs = base.filter(
        flt.queue_q(queue, user, status_chosen=status_chosen, open_statuses=desk.open_statuses)
    ).filter(flt.day_range_q(start, end))

    visible = desk.base(user).order_by()
    tabs = []
    for q in desk.queues:
        cond = flt.queue_q(q, user, status_chosen=False, open_statuses=desk.open_statuses)
        tabs.append(
            {
                "slug": q.slug,
                "label": q.label,
                "current": q.slug == queue.slug,
                "count": capped_count(visible.filter(cond), COUNT_CAP) if q.counted else None,
                "url": _query(params, queue="" if q.slug == desk.queues[0].slug else q.slug),
            }
        )
    current_query = clean_query(urlencode(params))
    saved = [
        {"view": v, "current": v.query == current_query and bool(current_query)}
        for v in SavedView.objects.filter(user=user, list_name=desk.name)
    ]
    can_assign = user.has_perm(desk.change_perm)
    spec = replace(
        desk.spec,
        filters=desk.filters(request),
        create_url=reverse(desk.create_url_name) if user.has_perm(desk.add_perm) else None,
        extra={
            "desk": desk,
            "tabs": tabs,
            "queue": queue,
            "saved_views": saved,
            "current_query": current_query,
            "list_errors": list_errors,
            "date_from": params.get("from", ""),
            "date_to": params.get("to", ""),
            "date_filtered": bool(start or end),
            "reset_url": _query({"queue": params.get("queue", "")}),
            "can_assign": can_assign,
            "bulk_form": BulkAssignForm(user=user) if can_assign else None,
            "assign_form": AssignForm() if can_assign else None,
            "list_url": request.get_full_path(),
            "noun_one": desk.noun_one,
        },
    )
    return render_list(request, spec, qs)


# Queues change every minute: back and forward must ask again, not show a stale copy.
@never_cache
@login_required
def incident_list(request: HttpRequest) -> HttpResponse:
    return render_desk_list(request, INCIDENTS)


@never_cache
@login_required
def request_list(request: HttpRequest) -> HttpResponse:
    return render_desk_list(request, REQUESTS)


# --- bulk assignment ------------------------------------------------------------------------


def bulk_assign(request: HttpRequest, desk: DeskList, model: type[Model]) -> HttpResponse:
    require_agent(request, desk.change_perm)
    back = safe_next(request, reverse(desk.url_name))
    refs = list(dict.fromkeys(r.strip() for r in request.POST.getlist("refs") if r.strip()))
    form = BulkAssignForm(request.POST, user=request.user)
    if not refs:
        messages.error(request, "Select at least one row first.")
        return redirect(back)
    if len(refs) > BULK_LIMIT:
        messages.error(request, f"Select at most {BULK_LIMIT} rows at once.")
        return redirect(back)
    if not form.is_valid():
        problems = [str(e) for errs in form.errors.values() for e in errs]
        messages.error(request, "Nothing assigned. " + " ".join(problems))
        return redirect(back)
    function = form.cleaned_data["function"]
    assignee = form.cleaned_data["assignee"]
    records = {
        r.reference: r
        for r in desk.base(request.user)
        .filter(reference__in=refs)
        .select_related("assigned_function")
    }
    done: list[str] = []
    for ref in refs:
        record = records.get(ref)
        if record is None:
            messages.error(request, f"{ref}: not found.")
            continue
        target = pick_function(function, assignee, record.assigned_function)
        try:
            desk.assign(record, by=request.user, function=target, assignee=assignee)
        except VERB_ERRORS as exc:
            messages.error(request, f"{ref}: {describe(exc)}")
        else:
            done.append(ref)
    if done:
        who = assignee or function
        messages.success(
            request,
            f"Assigned {len(done)} of {len(refs)} to {who}: {', '.join(done)}."
            if len(done) != len(refs)
            else f"Assigned {len(done)} to {who}.",
        )
    return redirect(back)


@login_required
@require_POST
def incident_bulk_assign(request: HttpRequest) -> HttpResponse:
    return bulk_assign(request, INCIDENTS, Incident)


@login_required
@require_POST
def request_bulk_assign(request: HttpRequest) -> HttpResponse:
    return bulk_assign(request, REQUESTS, ServiceRequest)


# --- saved views ----------------------------------------------------------------------------

DESK_LISTS = {INCIDENTS.name: INCIDENTS, REQUESTS.name: REQUESTS}


@login_required
@require_POST
def saved_view_save(request: HttpRequest, list_name: str) -> HttpResponse:
    desk = DESK_LISTS.get(list_name)
    if desk is None:
        raise Http404("No such list.")
    require_agent(request, desk.view_perm)
    name = request.POST.get("name", "").strip()[:60]
    query = request.POST.get("query", "")
    back = reverse(desk.url_name)
    if not name:
        messages.error(request, "Give the view a name to save it.")
        return redirect(safe_next(request, back))
    if not clean_query(query):
        messages.error(
            request, "Choose a queue, a filter or a search first; there is nothing to save."
        )
        return redirect(safe_next(request, back))
    try:
        view = SavedView.save_for(user=request.user, list_name=desk.name, name=name, query=query)
    except ValidationError as exc:
        messages.error(request, "View not saved. " + " ".join(exc.messages))
        return redirect(safe_next(request, back))
    messages.success(request, f"Saved the view “{view.name}”.")
    return redirect(back + view.url_query)


@login_required
@require_POST
def saved_view_delete(request: HttpRequest, list_name: str, view_id: int) -> HttpResponse:
    desk = DESK_LISTS.get(list_name)
    if desk is None:
        raise Http404("No such list.")
    require_agent(request, desk.view_perm)
    view = get_object_or_404(SavedView, pk=view_id, user=request.user, list_name=desk.name)
    view.delete()
    messages.success(request, f"Deleted the view “{view.name}”.")
    return redirect(safe_next(request, reverse(desk.url_name)))


# --- suggestions for typed record fields ----------------------------------------------------

LOOKUP_LIMIT = 15


@login_required
def lookup(request: HttpRequest, kind: str) -> HttpResponse:
    """``<option>`` elements for a ``<datalist>``: records whose reference or name contains
    what was typed (the typed text arrives under the field's own name)."""
    from itline.cmdb.models import Component, Service
    from itline.operation.models import KnownError
    from itline.org.models import Person

    require_agent(request, "core.agent_access")
    text = ""
    for key in request.GET:
        value = request.GET.get(key, "").strip()
        if value:
            text = value
            break
    text = text[:100]
    sources: dict[str, tuple[QuerySet[Any], tuple[str, ...], str]] = {
        "service": (Service.objects.all(), ("name", "reference"), "name"),
        "component": (Component.objects.all(), ("name", "reference"), "name"),
        "person": (Person.objects.filter(active=True), ("name", "reference", "email"), "name"),
        "incident": (Incident.objects.exclude(status="closed"), ("title", "reference"), "title"),
        "known_error": (KnownError.objects.filter(active=True), ("title", "reference"), "title"),
    }
    if kind not in sources:
        raise Http404("Unknown kind of record.")
    qs, fields, label = sources[kind]
    if text:
        match = REFERENCE.match(text)
        if match:
            # "CMP-000042 db-01" (a suggestion picked earlier): look up by its reference.
            text = match.group(1)
        cond = Q()
        for name in fields:
            cond |= Q(**{f"{name}__icontains": text})
        qs = qs.filter(cond)
    options = list(qs.order_by(label).values_list("reference", label)[:LOOKUP_LIMIT])
    return render(request, "operation/queues/_options.html", {"options": options})
