"""Operation's sections of the component and service pages (``settings.NODE_PANELS``): the
alerts firing there now and the recent alert history. Each function takes the request and the
node and returns one HTML section, or "" when the user may not see it."""

from __future__ import annotations

from typing import Any

from django.db.models import Case, Count, IntegerField, Q, Value, When
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse

from itline.operation.models.alerts import (
    SEVERITY_RANK,
    Alert,
    AlertStatus,
    AlertTransition,
    Severity,
)

FIRING_SHOWN = 8
HISTORY_SHOWN = 10


def severity_rank() -> Case:
    """Worst first as a sortable number (the stored value is a word)."""
    return Case(
        *(When(severity=value, then=Value(rank)) for value, rank in SEVERITY_RANK.items()),
        default=Value(0),
        output_field=IntegerField(),
    )


def node_scope(node: Any) -> tuple[list[int], Q]:
    """The node ids whose alerts count for ``node`` and the matching condition: a component
    counts its own alerts; a service also those of everything it runs on (the structure
    ``down`` from it), as an engineer looking at the service wants to see them."""
    from itline.cmdb.choices import NodeKind

    if node.kind == NodeKind.SERVICE:
        from itline.cmdb.impact import impact

        ids = [int(i) for i in impact([node.pk], "down").node_ids.tolist()] or [node.pk]
        return ids, Q(component_id__in=ids) | Q(service_id__in=ids)
    return [node.pk], Q(component_id=node.pk)


def alerts_panel(request: HttpRequest, node: Any) -> str:
    if not request.user.has_perm("operation.view_alert"):
        return ""
    ids, where = node_scope(node)
    firing = Alert.objects.filter(where, status=AlertStatus.FIRING)
    counts = dict(firing.values_list("severity").annotate(n=Count("id")).order_by())
    shown = list(
        firing.select_related("component", "service", "group")
        .annotate(rank=severity_rank())
        .order_by("-rank", "-changed_at", "-id")[:FIRING_SHOWN]
    )
    if len(ids) > 1:
        history_where = Q(component_id__in=ids) | Q(service_id__in=ids)
    else:
        history_where = Q(component_id=node.pk) | Q(service_id=node.pk)
    history = list(
        AlertTransition.objects.filter(history_where)
        .select_related("alert", "component")
        .order_by("-at", "-id")[:HISTORY_SHOWN]
    )
    total = sum(counts.values())
    param = "service" if node.kind == "service" else "component"
    return render_to_string(
        "operation/alerts/_node_panel.html",
        {
            "node": node,
            "total": total,
            "severities": [
                {"value": s.value, "label": s.label, "count": counts.get(s.value, 0)}
                for s in Severity
                if counts.get(s.value)
            ],
            "firing": shown,
            "more": total - len(shown),
            "history": history,
            "console_url": f"{reverse('alerts:console')}?{param}={node.reference}",
        },
        request=request,
    )


# --- maintenance (owner: M) ------------------------------------------------------------------

MAINTENANCE_DAYS = 30
MAINTENANCE_SHOWN = 6


def maintenance_panel(request: HttpRequest, node: Any) -> str:
    """Upcoming window occurrences that cover the node or something it runs on, its open
    (and overdue) work orders and its last completions; "" for users who may not see them."""
    from datetime import timedelta

    from django.utils import timezone

    from itline.cmdb.impact import impact
    from itline.operation import maintenance
    from itline.operation.models.maintenance import WorkOrder, WorkOrderStatus
    from itline.operation.services.maintenance import completion_history

    user = request.user
    if not (user.is_authenticated and user.has_perm("operation.view_maintenancewindow")):
        return ""
    now = timezone.now()
    down = impact([node.pk], "down")
    scope = {int(i) for i in down.node_ids.tolist()} | {node.pk}
    upcoming = []
    for occurrence in maintenance.windows_between(
        now, now + timedelta(days=MAINTENANCE_DAYS), scope
    )[:MAINTENANCE_SHOWN]:
        covers = node.pk in occurrence.node_ids
        via = ""
        if not covers:
            # the covered dependency nearest to the node names the reason
            hit = sorted(occurrence.node_ids & scope, key=lambda i: down.distance(i) or 0)
            via = _node_name(hit[0] if hit else None)
        upcoming.append(
            {
                "window": occurrence.window,
                "starts_at": occurrence.starts_at,
                "ends_at": occurrence.ends_at,
                "covers_node": covers,
                "via": via,
            }
        )
    open_orders = list(
        WorkOrder.objects.filter(
            nodes=node, status__in=[WorkOrderStatus.OPEN, WorkOrderStatus.IN_PROGRESS]
        )
        .select_related("function")
        .order_by("due_at", "id")[:MAINTENANCE_SHOWN]
    )
    return render_to_string(
        "operation/maintenance/_node_panel.html",
        {
            "node": node,
            "days": MAINTENANCE_DAYS,
            "upcoming": upcoming,
            "open_orders": open_orders,
            "completed": completion_history(node, limit=MAINTENANCE_SHOWN),
            "service_ref": node.reference if node.kind == "service" else "",
        },
        request=request,
    )


def _node_name(node_id: int | None) -> str:
    from itline.cmdb.models import Node

    if node_id is None:
        return ""
    return str(Node.objects.filter(pk=node_id).values_list("name", flat=True).first() or "")


OPEN_SHOWN = 10


def open_records_panel(request: HttpRequest, node: Any) -> str:
    """Open incidents and problems on the node (a component: its own; a service: its own and
    those of the components under it), most urgent first."""
    from itline.operation.choices import PROBLEM_OPEN
    from itline.operation.models import Incident, Problem

    if not request.user.has_perm("operation.view_incident"):
        return ""
    ids, _ = node_scope(node)
    where = Q(component_id__in=ids) | Q(service_id__in=ids)
    incidents = Incident.objects.filter(where, is_open=True).order_by("priority", "-created_at")
    problems = Problem.objects.filter(where, status__in=PROBLEM_OPEN).order_by("priority", "id")
    context = {
        "node": node,
        "incidents": list(incidents.select_related("assignee")[:OPEN_SHOWN]),
        "incident_count": incidents.count(),
        "problems": list(problems[:OPEN_SHOWN]),
        "problem_count": problems.count(),
        "incidents_url": reverse("operation:incident-list"),
    }
    return render_to_string("operation/_open_records_panel.html", context, request=request)
