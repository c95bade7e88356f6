"""API: Maintenance windows, maintenance plans and work orders.

Windows and plans are configuration: they are listed, created and changed here, expanded
into occurrences (``/maintenance-windows/occurrences``) and exported/imported as one document
(``/maintenance/export``, ``/maintenance/import``). Work orders have verbs for their moves
(409 with the allowed moves when the table forbids one) and checklist ticks. Writes go
through the verbs in ``itline.operation.services.maintenance``.

No ``from __future__ import annotations``: ninja reads the annotations at registration."""

from datetime import datetime, timedelta
from typing import Annotated, Any

from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Field, FilterLookup, FilterSchema, Router, Schema

from itline.cmdb.models import Node
from itline.core.api import ERRORS
from itline.core.crud import Crud, resolve_ref
from itline.core.errors import DomainError
from itline.core.rrule import TooManyOccurrences, describe
from itline.core.services import require
from itline.operation import maintenance
from itline.operation.models import MaintenancePlan, MaintenanceWindow, WorkOrder
from itline.operation.models.maintenance import WORK_ORDER_TRANSITIONS, WorkOrderStatus
from itline.operation.services import maintenance as verbs
from itline.org.models import Function, Person

router = Router()

WINDOWS = ["Maintenance windows"]
PLANS = ["Maintenance plans"]
WORK_ORDERS = ["Work orders"]
MAX_RANGE_DAYS = 400
HISTORY_LIMIT = 200


def _ref(obj: Any) -> str | None:
    return None if obj is None else str(obj.reference)


def _viewable(user: Any, perm: str, qs: Any) -> Any:
    if user is not None and not user.has_perm(perm):
        return qs.none()
    return qs


def _node_refs(refs: list[str] | None, field: str = "nodes") -> list[Node] | None:
    if refs is None:
        return None
    found = {n.reference: n for n in Node.objects.filter(reference__in=set(refs))}
    missing = [r for r in refs if r not in found]
    if missing:
        raise DomainError(f"There is no service or component {missing[0]!r}.", field=field)
    return [found[r] for r in dict.fromkeys(refs)]


def _node(ref: str | None, field: str = "node") -> Node | None:
    if not ref:
        return None
    node = Node.objects.filter(reference=ref).first()
    if node is None:
        raise DomainError(f"There is no service or component {ref!r}.", field=field)
    return node


class NodeOut(Schema):
    reference: str
    name: str
    kind: str


def _nodes_out(obj: Any) -> list[dict[str, str]]:
    return [
        {"reference": n.reference, "name": n.name, "kind": n.kind}
        for n in sorted(obj.nodes.all(), key=lambda n: n.name)
    ]


# --- windows ---------------------------------------------------------------------------------


class WindowOut(Schema):
    reference: str
    title: str
    description: str
    nodes: list[NodeOut]
    include_dependencies: bool
    starts_at: datetime
    ends_at: datetime
    rrule: str
    recurrence: str = Field(..., description="The rule in words")
    time_zone: str
    function: str | None
    active: bool
    last_occurrence_end: datetime | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_nodes(obj: MaintenanceWindow) -> list[dict[str, str]]:
        return _nodes_out(obj)

    @staticmethod
    def resolve_recurrence(obj: MaintenanceWindow) -> str:
        return describe(obj.rrule)

    @staticmethod
    def resolve_function(obj: MaintenanceWindow) -> str | None:
        return _ref(obj.function)


class WindowIn(Schema):
    title: str = Field(..., min_length=1, max_length=200)
    description: str = ""
    nodes: list[str] = Field(..., description="References of services/components (SVC-…, CMP-…)")
    include_dependencies: bool = True
    starts_at: datetime
    ends_at: datetime
    rrule: str = Field("", max_length=500, description="Empty for a one-off window")
    time_zone: str = "Europe/Amsterdam"
    function: str | None = None


class WindowPatch(Schema):
    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = None
    nodes: list[str] | None = None
    include_dependencies: bool | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    rrule: str | None = Field(None, max_length=500)
    time_zone: str | None = None
    function: str | None = None


class WindowFilters(FilterSchema):
    node: Annotated[str | None, FilterLookup("nodes__reference")] = None
    function: Annotated[str | None, FilterLookup("function__reference")] = None
    active: bool | None = Field(True, description="false: deleted windows")
    after: datetime | None = Field(None, description="With an occurrence ending after this")
    before: datetime | None = Field(None, description="Starting before this")

    def filter_after(self, value: datetime | None) -> Q:
        if value is None:
            return Q()
        return Q(last_occurrence_end__isnull=True) | Q(last_occurrence_end__gt=value)

    def filter_before(self, value: datetime | None) -> Q:
        return Q() if value is None else Q(starts_at__lt=value)


def windows_for(user: Any) -> Any:
    qs = MaintenanceWindow.objects.select_related("function").prefetch_related("nodes")
    return _viewable(user, "operation.view_maintenancewindow", qs)


def _create_window(*, by: Any, nodes: list[str], **fields: Any) -> MaintenanceWindow:
    window = verbs.create_window(by=by, nodes=_node_refs(nodes) or [], **fields)
    return windows_for(None).get(pk=window.pk)


def _not_null(fields: dict[str, Any], *names: str) -> None:
    for name in names:
        if name in fields and fields[name] is None:
            raise DomainError("This field cannot be empty (null).", field=name)


def _update_window(obj: MaintenanceWindow, *, by: Any, **fields: Any) -> MaintenanceWindow:
    _not_null(fields, "title", "starts_at", "ends_at", "time_zone", "include_dependencies")
    for name in ("description", "rrule"):
        if name in fields and fields[name] is None:
            fields[name] = ""
    nodes = _node_refs(fields.pop("nodes", None))
    verbs.update_window(obj, by=by, nodes=nodes, **fields)
    return windows_for(None).get(pk=obj.pk)


class OccurrenceOut(Schema):
    window: str
    title: str
    starts_at: datetime
    ends_at: datetime
    time_zone: str
    function: str | None
    nodes: list[str] = Field(..., description="The window's own services/components")
    covered: list[str] = Field(..., description="Everything covered, dependencies included")


def _range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    if timezone.is_naive(start) or timezone.is_naive(end):
        raise DomainError(
            "Give start and end with a time zone (e.g. 2026-05-01T00:00Z).", field="start"
        )
    if end <= start:
        raise DomainError("end must be after start.", field="end")
    if end - start > timedelta(days=MAX_RANGE_DAYS):
        raise DomainError(f"Ask for at most {MAX_RANGE_DAYS} days at a time.", field="end")
    return start, end


@router.get(
    "/maintenance-windows/occurrences",
    response={200: list[OccurrenceOut], **ERRORS},
    tags=WINDOWS,
    summary="Window occurrences in a range, expanded",
)
def window_occurrences(
    request: HttpRequest,
    start: datetime,
    end: datetime,
    node: str | None = None,
    function: str | None = None,
) -> Any:
    """Every occurrence of an active window overlapping ``[start, end)`` (at most 400 days),
    by start time; ``node`` keeps those covering that service/component (dependencies
    included), ``function`` those of that function."""
    require(request.user, "operation.view_maintenancewindow")
    start, end = _range(start, end)
    target = _node(node)
    func = resolve_ref(Function, function, "function")
    try:
        found = maintenance.windows_between(start, end, None if target is None else [target.pk])
    except TooManyOccurrences as exc:
        raise DomainError(str(exc), field="end") from None
    if func is not None:
        found = [o for o in found if o.window.function_id == func.pk]
    windows = {
        w.pk: w
        for w in MaintenanceWindow.objects.filter(pk__in={o.window.pk for o in found})
        .select_related("function")
        .prefetch_related("nodes")
    }
    covered_ids = set().union(*(o.node_ids for o in found)) if found else set()
    refs = dict(Node.objects.filter(pk__in=covered_ids).values_list("pk", "reference"))
    return [
        {
            "window": o.window.reference,
            "title": o.window.title,
            "starts_at": o.starts_at,
            "ends_at": o.ends_at,
            "time_zone": o.window.time_zone,
            "function": _ref(windows[o.window.pk].function),
            "nodes": sorted(n.reference for n in windows[o.window.pk].nodes.all()),
            "covered": sorted(refs[i] for i in o.node_ids if i in refs),
        }
        for o in found
    ]


@router.delete(
    "/maintenance-windows/{ref}",
    response={200: WindowOut, **ERRORS},
    tags=WINDOWS,
    summary="Delete (deactivate) a maintenance window",
)
def delete_window(request: HttpRequest, ref: str, reason: str = "") -> Any:
    """The window stops covering anything; it stays readable (``active=false``) because
    suppressed alerts and the journal name it."""
    window = get_object_or_404(windows_for(request.user), reference=ref)
    verbs.delete_window(window, by=request.user, reason=reason)
    return windows_for(None).get(pk=window.pk)


# --- plans -----------------------------------------------------------------------------------


class PlanOut(Schema):
    reference: str
    title: str
    description: str
    nodes: list[NodeOut]
    rrule: str
    recurrence: str
    first_due_at: datetime
    time_zone: str
    checklist: list[str]
    function: str
    lead_days: int
    estimated_minutes: int
    active: bool
    generated_until: datetime | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_nodes(obj: MaintenancePlan) -> list[dict[str, str]]:
        return _nodes_out(obj)

    @staticmethod
    def resolve_recurrence(obj: MaintenancePlan) -> str:
        return describe(obj.rrule)

    @staticmethod
    def resolve_function(obj: MaintenancePlan) -> str:
        return str(obj.function.reference)


class PlanIn(Schema):
    title: str = Field(..., min_length=1, max_length=200)
    description: str = ""
    nodes: list[str]
    rrule: str = Field(..., max_length=500)
    first_due_at: datetime
    time_zone: str = "Europe/Amsterdam"
    checklist: list[str] = []
    function: str
    lead_days: int = Field(7, ge=0, le=365)
    estimated_minutes: int = Field(60, ge=0, le=100_000)


class PlanPatch(Schema):
    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = None
    nodes: list[str] | None = None
    rrule: str | None = Field(None, max_length=500)
    first_due_at: datetime | None = None
    time_zone: str | None = None
    checklist: list[str] | None = None
    function: str | None = None
    lead_days: int | None = Field(None, ge=0, le=365)
    estimated_minutes: int | None = Field(None, ge=0, le=100_000)
    active: bool | None = None


class PlanFilters(FilterSchema):
    node: Annotated[str | None, FilterLookup("nodes__reference")] = None
    function: Annotated[str | None, FilterLookup("function__reference")] = None
    active: bool | None = None


def plans_for(user: Any) -> Any:
    qs = MaintenancePlan.objects.select_related("function").prefetch_related("nodes")
    return _viewable(user, "operation.view_maintenanceplan", qs)


def _create_plan(*, by: Any, nodes: list[str], function: Any, **fields: Any) -> MaintenancePlan:
    if function is None:
        raise DomainError("Name the responsible function.", field="function")
    plan = verbs.create_plan(by=by, nodes=_node_refs(nodes) or [], function=function, **fields)
    return plans_for(None).get(pk=plan.pk)


def _update_plan(obj: MaintenancePlan, *, by: Any, **fields: Any) -> MaintenancePlan:
    _not_null(
        fields,
        "title",
        "rrule",
        "first_due_at",
        "time_zone",
        "function",
        "lead_days",
        "estimated_minutes",
        "active",
        "checklist",
    )
    if "description" in fields and fields["description"] is None:
        fields["description"] = ""
    nodes = _node_refs(fields.pop("nodes", None))
    verbs.update_plan(obj, by=by, nodes=nodes, **fields)
    return plans_for(None).get(pk=obj.pk)


class GeneratedOut(Schema):
    created: int


@router.post(
    "/maintenance-plans/{ref}/generate",
    response={200: GeneratedOut, **ERRORS},
    tags=PLANS,
    summary="Create the plan's due work orders now",
)
def generate_plan(request: HttpRequest, ref: str) -> Any:
    """What the periodic task does for this plan: work orders due within the lead time."""
    plan = get_object_or_404(plans_for(request.user), reference=ref)
    require(request.user, "operation.change_maintenanceplan")
    return {"created": verbs.generate_work_orders(plans=[plan])}


# --- work orders -----------------------------------------------------------------------------


class ChecklistItem(Schema):
    text: str
    done: bool = False


class WorkOrderOut(Schema):
    reference: str
    title: str
    description: str
    status: WorkOrderStatus
    allowed_transitions: list[str]
    plan: str | None
    nodes: list[NodeOut]
    function: str
    assignee: str | None
    due_at: datetime
    overdue: bool
    checklist: list[ChecklistItem]
    completion_notes: str
    completed_at: datetime | None
    completed_by: str | None
    version: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_allowed_transitions(obj: WorkOrder) -> list[str]:
        return sorted(str(s) for s in WORK_ORDER_TRANSITIONS.get(obj.status, ()))

    @staticmethod
    def resolve_plan(obj: WorkOrder) -> str | None:
        return _ref(obj.plan)

    @staticmethod
    def resolve_nodes(obj: WorkOrder) -> list[dict[str, str]]:
        return _nodes_out(obj)

    @staticmethod
    def resolve_function(obj: WorkOrder) -> str:
        return str(obj.function.reference)

    @staticmethod
    def resolve_assignee(obj: WorkOrder) -> str | None:
        return _ref(obj.assignee)

    @staticmethod
    def resolve_completed_by(obj: WorkOrder) -> str | None:
        return _ref(obj.completed_by)

    @staticmethod
    def resolve_overdue(obj: WorkOrder) -> bool:
        return obj.is_overdue()


class WorkOrderIn(Schema):
    title: str = Field(..., min_length=1, max_length=200)
    description: str = ""
    function: str
    due_at: datetime
    nodes: list[str] = []
    checklist: list[str] = []
    assignee: str | None = None


class WorkOrderPatch(Schema):
    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = None
    due_at: datetime | None = None
    assignee: str | None = None
    version: int | None = Field(None, description="The version you read; 409 if it changed")


class WorkOrderFilters(FilterSchema):
    node: Annotated[str | None, FilterLookup("nodes__reference")] = None
    function: Annotated[str | None, FilterLookup("function__reference")] = None
    assignee: Annotated[str | None, FilterLookup("assignee__reference")] = None
    plan: Annotated[str | None, FilterLookup("plan__reference")] = None
    status: WorkOrderStatus | None = None
    open: bool | None = Field(None, description="true: open or in progress")
    overdue: bool | None = Field(None, description="true: open and past its due date")
    due_after: datetime | None = None
    due_before: datetime | None = None

    def filter_open(self, value: bool | None) -> Q:
        if value is None:
            return Q()
        q = Q(status__in=[WorkOrderStatus.OPEN, WorkOrderStatus.IN_PROGRESS])
        return q if value else ~q

    def filter_overdue(self, value: bool | None) -> Q:
        if value is None:
            return Q()
        q = Q(
            status__in=[WorkOrderStatus.OPEN, WorkOrderStatus.IN_PROGRESS],
            due_at__lt=timezone.now(),
        )
        return q if value else ~q

    def filter_due_after(self, value: datetime | None) -> Q:
        return Q() if value is None else Q(due_at__gte=value)

    def filter_due_before(self, value: datetime | None) -> Q:
        return Q() if value is None else Q(due_at__lt=value)


def work_orders_for(user: Any) -> Any:
    qs = WorkOrder.objects.select_related(
        "function", "assignee", "plan", "completed_by"
    ).prefetch_related("nodes")
    return _viewable(user, "operation.view_workorder", qs)


def _create_work_order(*, by: Any, nodes: list[str] | None = None, **fields: Any) -> WorkOrder:
    if fields.get("function") is None:
        raise DomainError("Name the responsible function.", field="function")
    work_order = verbs.create_work_order(by=by, nodes=_node_refs(nodes) or [], **fields)
    return work_orders_for(None).get(pk=work_order.pk)


def _update_work_order(obj: WorkOrder, *, by: Any, **fields: Any) -> WorkOrder:
    _not_null(fields, "title", "due_at")
    if "description" in fields and fields["description"] is None:
        fields["description"] = ""
    version = fields.pop("version", None)
    verbs.update_work_order(obj, by=by, version=version, **fields)
    return work_orders_for(None).get(pk=obj.pk)


class CompletedOut(Schema):
    reference: str
    title: str
    plan: str | None
    due_at: datetime
    completed_at: datetime | None
    completed_by: str | None
    late: bool
    completion_notes: str

    @staticmethod
    def resolve_plan(obj: WorkOrder) -> str | None:
        return _ref(obj.plan)

    @staticmethod
    def resolve_completed_by(obj: WorkOrder) -> str | None:
        return _ref(obj.completed_by)

    @staticmethod
    def resolve_late(obj: WorkOrder) -> bool:
        return obj.was_late


@router.get(
    "/work-orders/history",
    response={200: list[CompletedOut], **ERRORS},
    tags=WORK_ORDERS,
    summary="Completion history of a service or component",
)
def completion_history(request: HttpRequest, node: str, limit: int = 50) -> Any:
    """The work orders completed on ``node``, newest first (at most 200)."""
    require(request.user, "operation.view_workorder")
    if not 1 <= limit <= HISTORY_LIMIT:
        raise DomainError(f"limit must be between 1 and {HISTORY_LIMIT}", field="limit")
    target = _node(node)
    return verbs.completion_history(target, limit=limit)


def _work_order(request: HttpRequest, ref: str) -> WorkOrder:
    return get_object_or_404(work_orders_for(request.user), reference=ref)  # type: ignore[no-any-return]


class VersionIn(Schema):
    version: int | None = None


class CompleteIn(Schema):
    notes: str = Field(..., description="What was done (required)")
    version: int | None = None


class CancelIn(Schema):
    reason: str
    version: int | None = None


class TickIn(Schema):
    done: bool = True
    version: int | None = None


class AssignIn(Schema):
    assignee: str | None = Field(None, description="Reference of a member of the function")
    version: int | None = None


def _verb_route(path: str, summary: str) -> Any:
    return router.post(
        f"/work-orders/{{ref}}/{path}",
        response={200: WorkOrderOut, **ERRORS},
        tags=WORK_ORDERS,
        summary=summary,
    )


@_verb_route("start", "Start a work order")
def start_work_order(request: HttpRequest, ref: str, payload: VersionIn | None = None) -> Any:
    work_order = _work_order(request, ref)
    verbs.start_work_order(work_order, by=request.user, version=payload and payload.version)
    return work_orders_for(None).get(pk=work_order.pk)


@_verb_route("complete", "Complete a work order (notes required, checklist ticked)")
def complete_work_order(request: HttpRequest, ref: str, payload: CompleteIn) -> Any:
    work_order = _work_order(request, ref)
    verbs.complete_work_order(
        work_order, by=request.user, notes=payload.notes, version=payload.version
    )
    return work_orders_for(None).get(pk=work_order.pk)


@_verb_route("cancel", "Cancel a work order (reason required)")
def cancel_work_order(request: HttpRequest, ref: str, payload: CancelIn) -> Any:
    work_order = _work_order(request, ref)
    verbs.cancel_work_order(
        work_order, by=request.user, reason=payload.reason, version=payload.version
    )
    return work_orders_for(None).get(pk=work_order.pk)


@_verb_route("reopen", "Hand an in-progress work order back (open)")
def reopen_work_order(request: HttpRequest, ref: str, payload: VersionIn | None = None) -> Any:
    work_order = _work_order(request, ref)
    verbs.reopen_work_order(work_order, by=request.user, version=payload and payload.version)
    return work_orders_for(None).get(pk=work_order.pk)


@_verb_route("assign", "Assign a work order to a member of its function")
def assign_work_order(request: HttpRequest, ref: str, payload: AssignIn) -> Any:
    work_order = _work_order(request, ref)
    assignee = resolve_ref(Person, payload.assignee, "assignee")
    verbs.assign_work_order(work_order, by=request.user, assignee=assignee, version=payload.version)
    return work_orders_for(None).get(pk=work_order.pk)


@router.post(
    "/work-orders/{ref}/checklist/{index}",
    response={200: WorkOrderOut, **ERRORS},
    tags=WORK_ORDERS,
    summary="Tick or untick a checklist item (0-based index)",
)
def tick_item(request: HttpRequest, ref: str, index: int, payload: TickIn) -> Any:
    work_order = _work_order(request, ref)
    verbs.tick_checklist_item(
        work_order, by=request.user, index=index, done=payload.done, version=payload.version
    )
    return work_orders_for(None).get(pk=work_order.pk)


# --- config as code --------------------------------------------------------------------------


class ExportOut(Schema):
    version: int
    windows: list[dict[str, Any]]
    plans: list[dict[str, Any]]


class ImportIn(Schema):
    version: int = 1
    windows: list[dict[str, Any]] = []
    plans: list[dict[str, Any]] = []


class ImportOut(Schema):
    created: int
    updated: int
    unchanged: int
    dry_run: bool


@router.get(
    "/maintenance/export",
    response={200: ExportOut, **ERRORS},
    tags=WINDOWS,
    summary="Export windows and plans (config as code)",
)
def export_config(request: HttpRequest) -> Any:
    """Active windows that are not over and active plans, with references of their
    services/components and functions. ``POST /maintenance/import`` takes the same document."""
    require(request.user, "operation.view_maintenancewindow")
    require(request.user, "operation.view_maintenanceplan")
    from itline.operation.maintenance_exchange import export_document

    return export_document()


@router.post(
    "/maintenance/import",
    response={200: ImportOut, **ERRORS},
    tags=WINDOWS,
    summary="Import windows and plans (config as code)",
)
def import_config(request: HttpRequest, payload: ImportIn, dry_run: bool = False) -> Any:
    """Items with a ``reference`` that exists are updated, others created; all or nothing
    (errors name the item, e.g. ``windows[2].rrule``). ``dry_run=true`` checks only."""
    from itline.operation.maintenance_exchange import import_document

    with transaction.atomic():
        counts = import_document(payload.model_dump(), by=request.user)
        if dry_run:
            transaction.set_rollback(True)
    return {**counts, "dry_run": dry_run}


# Generic endpoints last: /maintenance-windows/occurrences and /work-orders/history must win
# over /{ref}.
Crud(
    path="maintenance-windows",
    model=MaintenanceWindow,
    out=WindowOut,
    create_in=WindowIn,
    patch_in=WindowPatch,
    filters=WindowFilters,
    queryset_for=windows_for,
    create=_create_window,
    update=_update_window,
    search_fields=("title", "reference", "description"),
    sort_fields=("starts_at", "reference", "title", "created_at", "updated_at"),
    default_sort="starts_at",
    refs={"function": Function},
    tag="Maintenance windows",
).register(router)

Crud(
    path="maintenance-plans",
    model=MaintenancePlan,
    out=PlanOut,
    create_in=PlanIn,
    patch_in=PlanPatch,
    filters=PlanFilters,
    queryset_for=plans_for,
    create=_create_plan,
    update=_update_plan,
    search_fields=("title", "reference", "description"),
    sort_fields=("title", "reference", "first_due_at", "created_at", "updated_at"),
    default_sort="title",
    refs={"function": Function},
    tag="Maintenance plans",
).register(router)

Crud(
    path="work-orders",
    model=WorkOrder,
    out=WorkOrderOut,
    create_in=WorkOrderIn,
    patch_in=WorkOrderPatch,
    filters=WorkOrderFilters,
    queryset_for=work_orders_for,
    create=_create_work_order,
    update=_update_work_order,
    search_fields=("title", "reference", "description"),
    sort_fields=("due_at", "reference", "title", "created_at", "updated_at", "status"),
    default_sort="due_at",
    refs={"function": Function, "assignee": Person},
    tag="Work orders",
).register(router)
