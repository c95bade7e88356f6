"""Pages of preventive maintenance: the calendar (month grid and week list), windows, plans
and work orders (lists, records, forms, moves, HTMX checklist ticks) and the iCalendar feed.
Thin: reads plus verbs; every refusal becomes a message or a field error, never a 500."""

from __future__ import annotations

import calendar as pycalendar
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from itline.cmdb.models import Node, Service
from itline.core.errors import DomainError, TransitionError
from itline.core.listing import Column, Filter, ListSpec, render_list
from itline.core.record_views import form_page, require_agent, timeline
from itline.core.rrule import TooManyOccurrences, describe
from itline.operation import maintenance
from itline.operation.maintenance_forms import (
    AssignForm,
    CancelForm,
    CompleteForm,
    PlanForm,
    WindowForm,
    WorkOrderForm,
)
from itline.operation.models import MaintenancePlan, MaintenanceWindow, WorkOrder
from itline.operation.models.maintenance import WORK_ORDER_TRANSITIONS, WorkOrderStatus
from itline.operation.services import maintenance as verbs
from itline.org.models import Function

OPEN = [WorkOrderStatus.OPEN, WorkOrderStatus.IN_PROGRESS]


def _say(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    if isinstance(exc, DomainError):
        return exc.message
    return str(exc) or "Not allowed."


def _functions() -> list[tuple[str, str]]:
    return list(Function.objects.order_by("name").values_list("reference", "name"))


def _services() -> list[tuple[str, str]]:
    return list(Service.objects.order_by("name").values_list("reference", "name"))


# --- calendar --------------------------------------------------------------------------------


@dataclass
class Item:
    kind: str  # "window" or "work_order"
    title: str
    url: str
    starts_at: datetime
    ends_at: datetime
    reference: str
    tone: str = ""
    note: str = ""


@dataclass
class Day:
    day: date
    in_month: bool
    today: bool
    items: list[Item] = field(default_factory=list)

    @property
    def shaded(self) -> bool:
        return any(i.kind == "window" for i in self.items)


def _parse_day(text: str | None) -> date:
    try:
        return date.fromisoformat(text) if text else timezone.localdate()
    except ValueError:
        return timezone.localdate()


def _scope(service: Service | None) -> set[int] | None:
    if service is None:
        return None
    from itline.cmdb.impact import impact

    return {int(i) for i in impact([service.pk], "down").node_ids.tolist()} | {service.pk}


def calendar_items(
    start: datetime, end: datetime, *, service: Service | None, function: Function | None
) -> list[Item]:
    """Window occurrences and work orders between ``start`` and ``end`` for the filters."""
    scope = _scope(service)
    try:
        found = maintenance.windows_between(start, end, scope)
    except TooManyOccurrences:
        found = []
    if function is not None:
        found = [o for o in found if o.window.function_id == function.pk]
    items = [
        Item(
            "window",
            o.window.title,
            o.window.get_absolute_url(),
            o.starts_at,
            o.ends_at,
            o.window.reference,
            note=describe(o.window.rrule),
        )
        for o in found
    ]
    orders = WorkOrder.objects.filter(due_at__gte=start, due_at__lt=end).select_related("function")
    if function is not None:
        orders = orders.filter(function=function)
    if scope is not None:
        orders = orders.filter(nodes__in=scope).distinct()
    now = timezone.now()
    for wo in orders.order_by("due_at", "id"):
        tone = {"done": "green", "cancelled": ""}.get(wo.status, "red" if wo.due_at < now else "")
        items.append(
            Item(
                "work_order",
                wo.title,
                wo.get_absolute_url(),
                wo.due_at,
                wo.due_at,
                wo.reference,
                tone=tone,
                note=wo.get_status_display() + (" · overdue" if wo.is_overdue(now) else ""),
            )
        )
    items.sort(key=lambda i: (i.starts_at, i.kind != "window", i.reference))
    return items


def _days(first: date, last: date, month: int | None, items: list[Item]) -> list[Day]:
    tz = timezone.get_current_timezone()
    today = timezone.localdate()
    days = []
    current = first
    while current <= last:
        begin = datetime.combine(current, time.min, tzinfo=tz)
        finish = begin + timedelta(days=1)
        days.append(
            Day(
                current,
                month is None or current.month == month,
                current == today,
                [
                    i
                    for i in items
                    if i.starts_at < finish and (i.ends_at > begin or i.starts_at >= begin)
                ],
            )
        )
        current += timedelta(days=1)
    return days


@login_required
@require_GET
def calendar_view(request: HttpRequest) -> HttpResponse:
    require_agent(request, "operation.view_maintenancewindow")
    view = request.GET.get("view") if request.GET.get("view") in ("month", "week") else "month"
    anchor = _parse_day(request.GET.get("date"))
    service = Service.objects.filter(reference=request.GET.get("service") or "").first()
    function = Function.objects.filter(reference=request.GET.get("function") or "").first()
    tz = timezone.get_current_timezone()
    if view == "month":
        first_of_month = anchor.replace(day=1)
        first = first_of_month - timedelta(days=first_of_month.weekday())
        last_of_month = anchor.replace(day=pycalendar.monthrange(anchor.year, anchor.month)[1])
        last = last_of_month + timedelta(days=6 - last_of_month.weekday())
        prev_day = (first_of_month - timedelta(days=1)).replace(day=1)
        next_day = last_of_month + timedelta(days=1)
        heading = anchor.strftime("%B %Y")
    else:
        first = anchor - timedelta(days=anchor.weekday())
        last = first + timedelta(days=6)
        prev_day, next_day = first - timedelta(days=7), first + timedelta(days=7)
        heading = f"Week {first.isocalendar().week}, {first:%d %b} – {last:%d %b %Y}"  # noqa: RUF001
    start = datetime.combine(first, time.min, tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time.min, tzinfo=tz)
    items = calendar_items(start, end, service=service, function=function)
    days = _days(first, last, anchor.month if view == "month" else None, items)
    filters = {
        "view": view if view != "month" else "",
        "service": service.reference if service else "",
        "function": function.reference if function else "",
    }

    def url(**changes: str) -> str:
        params = {k: v for k, v in {**filters, **changes}.items() if v}
        return "?" + urlencode(params) if params else "?"

    feed_params = {k: v for k, v in filters.items() if k != "view" and v}
    feed_url = reverse("maintenance:feed") + ("?" + urlencode(feed_params) if feed_params else "")
    context = {
        "view": view,
        "heading": heading,
        "weeks": [days[i : i + 7] for i in range(0, len(days), 7)],
        "days": days,
        "weekday_names": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
        "prev_url": url(date=prev_day.isoformat()),
        "next_url": url(date=next_day.isoformat()),
        "today_url": url(date=""),
        "month_url": url(view="", date=anchor.isoformat()),
        "week_url": url(view="week", date=anchor.isoformat()),
        "service": service,
        "function": function,
        "services": _services(),
        "functions": _functions(),
        "anchor": anchor,
        "feed_url": request.build_absolute_uri(feed_url),
        "window_count": len({i.reference for i in items if i.kind == "window"}),
        "work_order_count": sum(1 for i in items if i.kind == "work_order"),
        "can_add_window": request.user.has_perm("operation.add_maintenancewindow"),
    }
    return render(request, "operation/maintenance/calendar.html", context)


@require_GET
def feed_view(request: HttpRequest) -> HttpResponse:
    """``/maintenance/feed.ics?function=…&service=…&token=…``: a read token or the session."""
    from itline.core.feeds import feed_user, ics_response
    from itline.operation.ics import feed

    user = feed_user(request)
    if user is None:
        response = HttpResponse(
            "Sign in, or add ?token=<API token> to the feed address.\n",
            status=401,
            content_type="text/plain",
        )
        response["WWW-Authenticate"] = 'Bearer realm="itline feed"'
        return response
    if not user.has_perm("operation.view_maintenancewindow"):
        return HttpResponse("You may not see maintenance.\n", status=403, content_type="text/plain")
    function = service = None
    if request.GET.get("function"):
        function = Function.objects.filter(reference=request.GET["function"]).first()
        if function is None:
            return HttpResponse("Unknown function.\n", status=404, content_type="text/plain")
    if request.GET.get("service"):
        service = Service.objects.filter(reference=request.GET["service"]).first()
        if service is None:
            return HttpResponse("Unknown service.\n", status=404, content_type="text/plain")
    cal = feed(function=function, service=service)
    name = "-".join(["maintenance", *(r.reference for r in (function, service) if r)])
    return ics_response(cal, name)


# --- windows ---------------------------------------------------------------------------------


def _window_state(value: str) -> Q:
    now = timezone.now()
    if value == "current":
        return Q(active=True) & (
            Q(last_occurrence_end__isnull=True) | Q(last_occurrence_end__gt=now)
        )
    if value == "over":
        return Q(active=True, last_occurrence_end__lte=now)
    return Q(active=False)


WINDOW_LIST = ListSpec(
    title="Maintenance windows",
    template="operation/maintenance/window_list.html",
    search_fields=("title", "reference", "description"),
    columns=(
        Column("Reference", "reference"),
        Column("Title", "title"),
        Column("When", "starts_at"),
        Column("Repeats"),
        Column("Covers"),
        Column("Function"),
    ),
    default_sort="starts_at",
    filters=(
        Filter(
            "state",
            "State",
            [("current", "Current or upcoming"), ("over", "Over"), ("deleted", "Deleted")],
            _window_state,
        ),
        Filter("function", "Function", _functions, "function__reference"),
        Filter(
            "node",
            "Service",
            _services,
            lambda ref: Q(nodes__reference=ref),
        ),
    ),
    create_label="New window",
    empty_text="A maintenance window is planned work on services or components; alerts on "
    "what it covers are recorded but do not open incidents while it runs.",
)


@login_required
def window_list(request: HttpRequest) -> HttpResponse:
    require_agent(request, "operation.view_maintenancewindow")
    can_add = request.user.has_perm("operation.add_maintenancewindow")
    spec = replace(
        WINDOW_LIST, create_url=reverse("maintenance:window-create") if can_add else None
    )
    qs = MaintenanceWindow.objects.select_related("function").prefetch_related("nodes")
    if "state" not in request.GET:
        qs = qs.filter(active=True)
    return render_list(request, spec, qs)


@login_required
def window_detail(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "operation.view_maintenancewindow")
    window = get_object_or_404(
        MaintenanceWindow.objects.select_related("function").prefetch_related("nodes"),
        reference=ref,
    )
    now = timezone.now()
    try:
        upcoming = [
            o
            for o in maintenance.windows_between(now, now + timedelta(days=120))
            if o.window.pk == window.pk
        ][:8]
    except TooManyOccurrences:
        upcoming = []
    covered = maintenance.coverage_of(window.pk)
    own = {n.pk for n in window.nodes.all()}
    dependencies = list(Node.objects.filter(pk__in=covered - own).order_by("name")[:50])
    can_change = request.user.has_perm("operation.change_maintenancewindow")
    context = {
        "window": window,
        "upcoming": upcoming,
        "dependencies": dependencies,
        "dependency_count": len(covered - own),
        "recurrence": describe(window.rrule),
        "is_over": window.is_over(now),
        "can_change": can_change and window.active and not window.is_over(now),
        "can_delete": can_change and window.active,
        "timeline": timeline(window),
    }
    return render(request, "operation/maintenance/window_detail.html", context)


def _window_form_page(request: HttpRequest, window: MaintenanceWindow | None) -> HttpResponse:
    def save(data: dict[str, Any]) -> MaintenanceWindow:
        fields = {
            k: data[k]
            for k in (
                "title",
                "starts_at",
                "ends_at",
                "rrule",
                "time_zone",
                "include_dependencies",
                "function",
                "description",
            )
        }
        if window is None:
            return verbs.create_window(by=request.user, nodes=data["nodes"], **fields)
        try:
            return verbs.update_window(window, by=request.user, nodes=data["nodes"], **fields)
        except DomainError as exc:
            raise ValidationError({exc.field or "__all__": exc.message}) from None

    title = "New maintenance window" if window is None else f"Edit {window.reference}"
    return form_page(
        request,
        form_class=WindowForm,  # type: ignore[arg-type]
        instance=window,
        save=save,
        title=title,
        cancel_url=window.get_absolute_url() if window else reverse("maintenance:window-list"),
        success_message="Saved {obj.reference}.",
    )


@login_required
def window_create(request: HttpRequest) -> HttpResponse:
    require_agent(request, "operation.add_maintenancewindow")
    return _window_form_page(request, None)


@login_required
def window_edit(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "operation.change_maintenancewindow")
    window = get_object_or_404(MaintenanceWindow, reference=ref)
    return _window_form_page(request, window)


@login_required
@require_POST
def window_delete(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "operation.change_maintenancewindow")
    window = get_object_or_404(MaintenanceWindow, reference=ref)
    try:
        verbs.delete_window(window, by=request.user, reason=request.POST.get("reason", ""))
        messages.success(request, f"Deleted {window.reference}; it no longer covers anything.")
    except (ValidationError, DomainError, PermissionDenied) as exc:
        messages.error(request, _say(exc))
    return redirect(window.get_absolute_url())


# --- plans -----------------------------------------------------------------------------------

PLAN_LIST = ListSpec(
    title="Maintenance plans",
    template="operation/maintenance/plan_list.html",
    search_fields=("title", "reference", "description"),
    columns=(
        Column("Reference", "reference"),
        Column("Title", "title"),
        Column("Recurs"),
        Column("Function"),
        Column("On"),
        Column("First due", "first_due_at"),
    ),
    default_sort="title",
    filters=(
        Filter("function", "Function", _functions, "function__reference"),
        Filter(
            "active",
            "State",
            [("yes", "Active"), ("no", "Stopped")],
            lambda v: Q(active=v == "yes"),
        ),
    ),
    create_label="New plan",
    empty_text="A maintenance plan is preventive work that recurs (backup restore tests, "
    "certificate renewals, UPS checks); it creates work orders ahead of their due date.",
)


@login_required
def plan_list(request: HttpRequest) -> HttpResponse:
    require_agent(request, "operation.view_maintenanceplan")
    can_add = request.user.has_perm("operation.add_maintenanceplan")
    spec = replace(PLAN_LIST, create_url=reverse("maintenance:plan-create") if can_add else None)
    qs = MaintenancePlan.objects.select_related("function").prefetch_related("nodes")
    return render_list(request, spec, qs)


@login_required
def plan_detail(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "operation.view_maintenanceplan")
    plan = get_object_or_404(
        MaintenancePlan.objects.select_related("function").prefetch_related("nodes"), reference=ref
    )
    now = timezone.now()
    orders = plan.work_orders.select_related("assignee", "completed_by")
    context = {
        "plan": plan,
        "recurrence": describe(plan.rrule),
        "next_dues": plan.due_dates(now, now + timedelta(days=400))[:5],
        "open_orders": list(orders.filter(status__in=OPEN).order_by("due_at")[:20]),
        "done_orders": list(orders.exclude(status__in=OPEN).order_by("-due_at")[:20]),
        "can_change": request.user.has_perm("operation.change_maintenanceplan"),
        "timeline": timeline(plan),
        "now": now,
    }
    return render(request, "operation/maintenance/plan_detail.html", context)


def _plan_form_page(request: HttpRequest, plan: MaintenancePlan | None) -> HttpResponse:
    def save(data: dict[str, Any]) -> MaintenancePlan:
        fields = {
            k: data[k]
            for k in (
                "title",
                "rrule",
                "first_due_at",
                "time_zone",
                "function",
                "lead_days",
                "estimated_minutes",
                "checklist",
                "description",
            )
        }
        if plan is None:
            return verbs.create_plan(by=request.user, nodes=data["nodes"], **fields)
        return verbs.update_plan(plan, by=request.user, nodes=data["nodes"], **fields)

    return form_page(
        request,
        form_class=PlanForm,  # type: ignore[arg-type]
        instance=plan,
        save=save,
        title="New maintenance plan" if plan is None else f"Edit {plan.reference}",
        cancel_url=plan.get_absolute_url() if plan else reverse("maintenance:plan-list"),
        success_message="Saved {obj.reference}.",
    )


@login_required
def plan_create(request: HttpRequest) -> HttpResponse:
    require_agent(request, "operation.add_maintenanceplan")
    return _plan_form_page(request, None)


@login_required
def plan_edit(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "operation.change_maintenanceplan")
    return _plan_form_page(request, get_object_or_404(MaintenancePlan, reference=ref))


@login_required
@require_POST
def plan_generate(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "operation.change_maintenanceplan")
    plan = get_object_or_404(MaintenancePlan, reference=ref)
    created = verbs.generate_work_orders(plans=[plan])
    messages.success(
        request,
        f"Created {created} work order(s)." if created else "Nothing is due within the lead time.",
    )
    return redirect(plan.get_absolute_url())


# --- work orders -----------------------------------------------------------------------------


def _work_order_state(value: str) -> Q:
    now = timezone.now()
    if value == "overdue":
        return Q(status__in=OPEN, due_at__lt=now)
    if value == "open":
        return Q(status__in=OPEN)
    return ~Q(status__in=OPEN)


WORK_ORDER_LIST = ListSpec(
    title="Work orders",
    template="operation/maintenance/work_order_list.html",
    search_fields=("title", "reference", "description"),
    columns=(
        Column("Reference", "reference"),
        Column("Title", "title"),
        Column("Status", "status"),
        Column("Due", "due_at"),
        Column("Checklist"),
        Column("Assignee"),
        Column("Function"),
    ),
    default_sort="due_at",
    filters=(
        Filter(
            "state",
            "State",
            [("open", "Open"), ("overdue", "Overdue"), ("closed", "Done or cancelled")],
            _work_order_state,
        ),
        Filter("status", "Status", WorkOrderStatus.choices, "status"),
        Filter("function", "Function", _functions, "function__reference"),
        Filter(
            "plan",
            "Plan",
            lambda: list(
                MaintenancePlan.objects.order_by("title").values_list("reference", "title")
            ),
            "plan__reference",
        ),
    ),
    create_label="New work order",
    empty_text="Work orders are the occurrences of maintenance plans (created ahead of their "
    "due date) and one-off planned work, each with its checklist.",
)


@login_required
def work_order_list(request: HttpRequest) -> HttpResponse:
    require_agent(request, "operation.view_workorder")
    can_add = request.user.has_perm("operation.add_workorder")
    spec = replace(
        WORK_ORDER_LIST,
        create_url=reverse("maintenance:work-order-create") if can_add else None,
        extra={"now": timezone.now()},
    )
    qs = WorkOrder.objects.select_related("function", "assignee", "plan")
    if "state" not in request.GET and "status" not in request.GET:
        qs = qs.filter(status__in=OPEN)
    return render_list(request, spec, qs)


def _work_order_context(request: HttpRequest, wo: WorkOrder) -> dict[str, Any]:
    can_change = request.user.has_perm("operation.change_workorder")
    allowed = WORK_ORDER_TRANSITIONS.get(wo.status, frozenset()) if can_change else frozenset()
    return {
        "wo": wo,
        "now": timezone.now(),
        "can_change": can_change and wo.is_open,
        "can_start": WorkOrderStatus.IN_PROGRESS in allowed,
        "can_reopen": WorkOrderStatus.OPEN in allowed,
        "can_complete": WorkOrderStatus.DONE in allowed,
        "can_cancel": WorkOrderStatus.CANCELLED in allowed,
        "complete_form": CompleteForm(),
        "cancel_form": CancelForm(),
        "assign_form": AssignForm(
            initial={"assignee": wo.assignee.reference if wo.assignee else None},
            function=wo.function,
        )
        if can_change and wo.is_open
        else None,
        "timeline": timeline(wo),
    }


def _load_work_order(ref: str) -> WorkOrder:
    return get_object_or_404(
        WorkOrder.objects.select_related(
            "function", "assignee", "plan", "completed_by"
        ).prefetch_related("nodes"),
        reference=ref,
    )


@login_required
def work_order_detail(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "operation.view_workorder")
    wo = _load_work_order(ref)
    return render(
        request, "operation/maintenance/work_order_detail.html", _work_order_context(request, wo)
    )


@login_required
def work_order_create(request: HttpRequest) -> HttpResponse:
    require_agent(request, "operation.add_workorder")

    def save(data: dict[str, Any]) -> WorkOrder:
        due = data["due_at"]
        return verbs.create_work_order(
            by=request.user,
            title=data["title"],
            function=data["function"],
            due_at=due,
            nodes=data["nodes"] or [],
            checklist=data["checklist"],
            description=data["description"],
        )

    return form_page(
        request,
        form_class=WorkOrderForm,  # type: ignore[arg-type]
        instance=None,
        save=save,
        title="New work order",
        cancel_url=reverse("maintenance:work-order-list"),
        success_message="Created {obj.reference}.",
    )


def _act(request: HttpRequest, ref: str, action: Any, done: str) -> HttpResponse:
    require_agent(request, "operation.change_workorder")
    wo = _load_work_order(ref)
    try:
        action(wo)
        messages.success(request, done.format(ref=wo.reference))
    except TransitionError as exc:
        messages.error(request, exc.message)
    except (ValidationError, DomainError, PermissionDenied) as exc:
        messages.error(request, _say(exc))
    return redirect(wo.get_absolute_url())


def _version(request: HttpRequest) -> int | None:
    value = request.POST.get("version", "")
    return int(value) if value.isdigit() else None


@login_required
@require_POST
def work_order_start(request: HttpRequest, ref: str) -> HttpResponse:
    return _act(
        request,
        ref,
        lambda wo: verbs.start_work_order(wo, by=request.user, version=_version(request)),
        "Started {ref}.",
    )


@login_required
@require_POST
def work_order_reopen(request: HttpRequest, ref: str) -> HttpResponse:
    return _act(
        request,
        ref,
        lambda wo: verbs.reopen_work_order(wo, by=request.user, version=_version(request)),
        "{ref} is open again.",
    )


@login_required
@require_POST
def work_order_complete(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "operation.change_workorder")
    wo = _load_work_order(ref)
    form = CompleteForm(request.POST)
    if form.is_valid():
        try:
            verbs.complete_work_order(
                wo, by=request.user, notes=form.cleaned_data["notes"], version=_version(request)
            )
            messages.success(request, f"Completed {wo.reference}.")
            return redirect(wo.get_absolute_url())
        except ValidationError as exc:
            for name, errs in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
                form.add_error("notes" if name == "completion_notes" else None, errs)
        except DomainError as exc:
            form.add_error(None, exc.message)
    wo = _load_work_order(ref)
    context = _work_order_context(request, wo)
    context["complete_form"] = form
    context["complete_open"] = True
    return render(request, "operation/maintenance/work_order_detail.html", context, status=422)


@login_required
@require_POST
def work_order_cancel(request: HttpRequest, ref: str) -> HttpResponse:
    return _act(
        request,
        ref,
        lambda wo: verbs.cancel_work_order(
            wo, by=request.user, reason=request.POST.get("reason", ""), version=_version(request)
        ),
        "Cancelled {ref}.",
    )


@login_required
@require_POST
def work_order_assign(request: HttpRequest, ref: str) -> HttpResponse:
    from itline.org.models import Person

    def assign(wo: WorkOrder) -> None:
        ref_ = request.POST.get("assignee", "")
        person = Person.objects.filter(reference=ref_).first() if ref_ else None
        if ref_ and person is None:
            raise ValidationError({"assignee": f"There is no person {ref_!r}."})
        verbs.assign_work_order(wo, by=request.user, assignee=person)

    return _act(request, ref, assign, "Assignment of {ref} saved.")


@login_required
@require_POST
def work_order_tick(request: HttpRequest, ref: str, index: int) -> HttpResponse:
    """Tick or untick one checklist item; HTMX swaps the checklist (and the status pill),
    without HTMX the page reloads."""
    require_agent(request, "operation.change_workorder")
    wo = _load_work_order(ref)
    error = ""
    try:
        verbs.tick_checklist_item(
            wo, by=request.user, index=index, done=request.POST.get("done") == "1"
        )
    except (ValidationError, DomainError, PermissionDenied) as exc:
        error = _say(exc)
    if not request.headers.get("HX-Request"):
        if error:
            messages.error(request, error)
        return redirect(wo.get_absolute_url())
    wo = _load_work_order(ref)
    context = _work_order_context(request, wo)
    context["tick_error"] = error
    # 200 even when refused: HTMX swaps only successful answers, and the refusal is shown
    # in the checklist's live region.
    return render(request, "operation/maintenance/_checklist.html", context)
