"""Pages of the service structure: service and component lists and records, their forms, the
relations between them, the dependency graph (page + JSON) and the "if this fails" impact view.
Thin: reads plus verbs; impact questions go to the engine in ``impact.py``."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from html import escape
from typing import Any

import numpy as np
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from itline.cmdb import impact as engine
from itline.cmdb import services
from itline.cmdb.api import components_for, services_for
from itline.cmdb.choices import ComponentStatus, Criticality, Lifecycle, NodeKind, ServiceKind
from itline.cmdb.filters import attribute_q
from itline.cmdb.forms import ComponentForm, RelationForm, ServiceForm
from itline.cmdb.models import Component, ComponentType, Node, Relation, RelationType, Service, Tag
from itline.core.listing import Column, Filter, ListSpec, render_list
from itline.core.panels import render_node_panels
from itline.core.record_views import form_page, require_agent, timeline
from itline.org.models import Customer, Function

GRAPH_MAX_NODES = 600
GRAPH_DEPTHS = (1, 2, 3, 4, 5, 6)
GRAPH_DEFAULT_DEPTH = 2
IMPACT_MAX_ROWS = 500
IMPACT_DEPTHS = (1, 2, 3, 4, 5, 6, 8, 10)
RELATIONS_SHOWN = 200

VIEW_STRUCTURE = "cmdb.view_component"


def _services(user: Any) -> Any:
    """The API's service queryset, with the customers' business units fetched too (a
    customer is shown by its unit's name)."""
    customers = Prefetch("customers", queryset=Customer.objects.select_related("business_unit"))
    return services_for(user).prefetch_related(None).prefetch_related(customers)


# --- lists ----------------------------------------------------------------------------------


def _owner_choices(kind: str) -> Any:
    def choices() -> list[tuple[str, str]]:
        return list(
            Function.objects.filter(nodes__kind=kind)
            .distinct()
            .order_by("name")
            .values_list("reference", "name")
        )

    return choices


def _customer_choices() -> list[tuple[str, str]]:
    return list(
        Customer.objects.order_by("business_unit__name").values_list(
            "reference", "business_unit__name"
        )
    )


def _type_choices() -> list[tuple[str, str]]:
    return list(ComponentType.objects.values_list("slug", "name"))


def _tag_choices() -> list[tuple[str, str]]:
    return [
        (t, t)
        for t in Tag.objects.filter(components__isnull=False)
        .distinct()
        .values_list("name", flat=True)
    ]


def _location_choices() -> list[tuple[str, str]]:
    locations = (
        Component.objects.exclude(location="")
        .order_by("location")
        .values_list("location", flat=True)
        .distinct()
    )
    return [(loc, loc) for loc in locations]


def _enum_attribute_choices() -> list[tuple[str, str]]:
    """key:value pairs offered by the attribute chip: the values the type schemas enumerate."""
    pairs: set[str] = set()
    for schema in ComponentType.objects.values_list("attribute_schema", flat=True):
        for key, spec in ((schema or {}).get("properties") or {}).items():
            for value in spec.get("enum", []) if isinstance(spec, dict) else []:
                pairs.add(f"{key}:{value}")
    return [(p, p.replace(":", ": ", 1)) for p in sorted(pairs)]


SERVICE_LIST = ListSpec(
    title="Services",
    template="cmdb/service_list.html",
    search_fields=("name", "reference", "description", "cost_centre"),
    columns=(
        Column("Reference", "reference"),
        Column("Name", "name"),
        Column("Kind", "service_kind"),
        Column("Life cycle"),
        Column("Criticality", "criticality"),
        Column("Owner function"),
        Column("Customers"),
        Column("Updated", "updated_at"),
    ),
    default_sort="name",
    filters=(
        Filter("kind", "Kind", ServiceKind.choices, "service_kind"),
        Filter("lifecycle", "Life cycle", Lifecycle.choices, "lifecycle"),
        Filter(
            "criticality",
            "Criticality",
            [(str(v), label) for v, label in reversed(Criticality.choices)],
            "criticality",
        ),
        Filter(
            "owner", "Owner function", _owner_choices(NodeKind.SERVICE), "owner_function__reference"
        ),
        Filter("customer", "Customer", _customer_choices, "customers__reference"),
    ),
    create_label="New service",
    empty_text="Services are what IT delivers: IT services that customers agree to, and the "
    "supporting services they are built from.",
)


@login_required
def service_list(request: HttpRequest) -> HttpResponse:
    require_agent(request, "cmdb.view_service")
    can_add = request.user.has_perm("cmdb.add_service")
    spec = replace(SERVICE_LIST, create_url=reverse("cmdb:service-create") if can_add else None)
    return render_list(request, spec, _services(request.user))


COMPONENT_LIST = ListSpec(
    title="Components",
    template="cmdb/component_list.html",
    search_fields=("name", "reference", "description", "location"),
    columns=(
        Column("Reference", "reference"),
        Column("Name", "name"),
        Column("Type"),
        Column("Status", "status"),
        Column("Owner function"),
        Column("Location", "location"),
        Column("Tags"),
        Column("Updated", "updated_at"),
    ),
    default_sort="name",
    filters=(
        Filter("type", "Type", _type_choices, "component_type__slug"),
        Filter("status", "Status", ComponentStatus.choices, "status"),
        Filter(
            "owner",
            "Owner function",
            _owner_choices(NodeKind.COMPONENT),
            "owner_function__reference",
        ),
        Filter("tag", "Tag", _tag_choices, "tags__name"),
        Filter("location", "Location", _location_choices, "location"),
    ),
    create_label="New component",
    empty_text="Components are the configuration items services run on: servers, virtual "
    "machines, databases, applications, network devices, storage and cloud resources.",
)


@login_required
def component_list(request: HttpRequest) -> HttpResponse:
    require_agent(request, "cmdb.view_component")
    can_add = request.user.has_perm("cmdb.add_component")
    spec = replace(COMPONENT_LIST, create_url=reverse("cmdb:component-create") if can_add else None)
    attr = request.GET.get("attr", "").strip()
    if attr:
        try:
            attribute_q(attr)
        except ValidationError:
            attr = ""
    choices = _enum_attribute_choices()
    if attr and attr not in {v for v, _ in choices}:
        choices.insert(0, (attr, attr.replace(":", ": ", 1)))
    # The attribute chip is built per request so a value typed into the URL (or followed from
    # a record's attribute table) shows as the active chip and survives the other filters.
    spec = replace(spec, filters=(*spec.filters, Filter("attr", "Attribute", choices, attribute_q)))
    return render_list(request, spec, components_for(request.user))


# --- record pages ---------------------------------------------------------------------------

STATUS_PILL = {
    "in_use": "green",
    "in_maintenance": "amber",
    "planned": "neutral",
    "retired": "neutral",
    "live": "green",
    "in_transition": "amber",
    "retiring": "amber",
    "proposed": "neutral",
    "approved": "neutral",
}


def _describe(node: Node) -> dict[str, Any]:
    """Type and status of a node whose service/component row was fetched with it."""
    if node.kind == NodeKind.SERVICE:
        service = node.service  # type: ignore[attr-defined]
        return {
            "node": node,
            "type": service.get_service_kind_display(),
            "status": service.lifecycle,
            "status_label": service.get_lifecycle_display(),
        }
    component = node.component  # type: ignore[attr-defined]
    return {
        "node": node,
        "type": component.component_type.name,
        "status": component.status,
        "status_label": component.get_status_display(),
    }


def _relation_groups(node: Node) -> dict[str, Any]:
    """Relations in both directions, grouped by how they read from this node."""
    related = ("relation_type", "{end}__component__component_type", "{end}__service")
    out_qs = (
        Relation.objects.filter(source=node)
        .select_related(*(r.format(end="target") for r in related))
        .order_by("relation_type__name", "target__name")
    )
    in_qs = (
        Relation.objects.filter(target=node)
        .select_related(*(r.format(end="source") for r in related))
        .order_by("relation_type__inverse_name", "source__name")
    )
    result: dict[str, Any] = {}
    for key, qs, end, label in (
        ("needs", out_qs, "target", "name"),
        ("needed_by", in_qs, "source", "inverse_name"),
    ):
        total = qs.count()
        groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for relation in qs[:RELATIONS_SHOWN]:
            heading = getattr(relation.relation_type, label)
            groups[heading].append({"relation": relation, **_describe(getattr(relation, end))})
        result[key] = {
            "groups": [{"label": k, "items": v} for k, v in groups.items()],
            "total": total,
            "hidden": max(0, total - RELATIONS_SHOWN),
        }
    return result


IMPACT_SERVICES_SHOWN = 8


def _impact_summary(node: Node) -> dict[str, Any]:
    result = engine.impact([node.pk], direction="up")
    service_ids = result.service_ids.tolist()
    return {
        "total": len(result.impacted_ids),
        "services": list(
            Service.objects.filter(pk__in=service_ids)
            .annotate(supporting=Q(service_kind=ServiceKind.SUPPORTING))
            .order_by("supporting", "-criticality", "name")
            .only("reference", "name", "criticality", "kind")[:IMPACT_SERVICES_SHOWN]
        ),
        "service_count": len(service_ids),
        "more_services": max(0, len(service_ids) - IMPACT_SERVICES_SHOWN),
        "customers": result.customers(),
        "cycles": len(result.cycles),
    }


def _record_context(request: HttpRequest, node: Node) -> dict[str, Any]:
    can_relate = request.user.has_perm("cmdb.add_relation")
    relations = _relation_groups(node)
    return {
        "sides": [
            {
                "key": "needs",
                "title": "What it needs",
                "data": relations["needs"],
                "empty": "It needs nothing recorded in the structure.",
            },
            {
                "key": "needed-by",
                "title": "What needs it",
                "data": relations["needed_by"],
                "empty": "Nothing recorded needs it.",
            },
        ],
        "relation_form": RelationForm(node=node, auto_id="rel_%s") if can_relate else None,
        "can_unrelate": request.user.has_perm("cmdb.delete_relation"),
        "impact": _impact_summary(node),
        "timeline": timeline(node),
        # Alerts, maintenance, changes: sections other apps add (settings.NODE_PANELS).
        "panels": render_node_panels(request, node),
        "graph_url": reverse("cmdb:graph") + "?" + urlencode({"node": node.reference}),
        "impact_url": reverse("cmdb:impact") + "?" + urlencode({"node": node.reference}),
    }


@login_required
def service_detail(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "cmdb.view_service")
    service = get_object_or_404(_services(request.user), reference=ref)
    return render(
        request,
        "cmdb/service_detail.html",
        {"service": service, "obj": service, **_record_context(request, service)},
    )


def _attribute_rows(component: Component) -> list[dict[str, Any]]:
    """The type's attributes in schema order (unset ones too), then any others."""
    schema = component.component_type.attribute_schema or {}
    props = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    attrs = component.attributes if isinstance(component.attributes, dict) else {}
    rows = []
    for key in [*props, *sorted(k for k in attrs if k not in props)]:
        value = attrs.get(key)
        simple = isinstance(value, str | int | float | bool) and not isinstance(value, bool)
        rows.append(
            {
                "key": key,
                "set": key in attrs,
                "value": value,
                "required": key in required,
                "filter_url": reverse("cmdb:component-list")
                + "?"
                + urlencode({"attr": f"{key}:{value}"})
                if simple and key in attrs
                else None,
            }
        )
    return rows


@login_required
def component_detail(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "cmdb.view_component")
    component = get_object_or_404(components_for(request.user), reference=ref)
    return render(
        request,
        "cmdb/component_detail.html",
        {
            "component": component,
            "obj": component,
            "attributes": _attribute_rows(component),
            **_record_context(request, component),
        },
    )


@login_required
def service_create(request: HttpRequest) -> HttpResponse:
    require_agent(request, "cmdb.add_service")
    return form_page(
        request,
        form_class=ServiceForm,
        instance=None,
        save=lambda data: services.create_service(by=request.user, **data),
        title="New service",
        cancel_url=reverse("cmdb:service-list"),
        success_message="Service {obj} created.",
    )


@login_required
def service_edit(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "cmdb.change_service")
    service = get_object_or_404(Service, reference=ref)
    return form_page(
        request,
        form_class=ServiceForm,
        # The form validates on its own copy; the verb diffs the untouched one for the journal.
        instance=Service.objects.get(pk=service.pk),
        save=lambda data: services.update_service(service, by=request.user, **data),
        title=f"Edit {service}",
        cancel_url=service.get_absolute_url(),
        success_message="Service {obj} saved.",
    )


@login_required
def component_create(request: HttpRequest) -> HttpResponse:
    require_agent(request, "cmdb.add_component")
    return form_page(
        request,
        form_class=ComponentForm,
        instance=None,
        save=lambda data: services.create_component(by=request.user, **data),
        title="New component",
        cancel_url=reverse("cmdb:component-list"),
        success_message="Component {obj} created.",
    )


@login_required
def component_edit(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "cmdb.change_component")
    component = get_object_or_404(Component, reference=ref)
    return form_page(
        request,
        form_class=ComponentForm,
        instance=Component.objects.get(pk=component.pk),
        save=lambda data: services.update_component(component, by=request.user, **data),
        title=f"Edit {component}",
        cancel_url=component.get_absolute_url(),
        success_message="Component {obj} saved.",
    )


def _report(request: HttpRequest, action: Any, success: str) -> None:
    """Run ``action``; its validation or permission error becomes an error message."""
    try:
        action()
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, success)


@login_required
@require_POST
def relation_add(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "cmdb.add_relation")
    node = get_object_or_404(Node, reference=ref)
    form = RelationForm(request.POST)
    if not form.is_valid():
        problems = [str(e) for errors in form.errors.values() for e in errors]
        messages.error(request, "Relation not added. " + " ".join(problems))
        return redirect(node.get_absolute_url())
    other: Node = form.cleaned_data["other"]
    rtype: RelationType = form.cleaned_data["relation_type"]
    source, target = (node, other) if form.cleaned_data["direction"] == "out" else (other, node)
    _report(
        request,
        lambda: services.relate(source, target, rtype, by=request.user),
        f"Added: {source} {rtype.name} {target}.",
    )
    return redirect(node.get_absolute_url())


@login_required
@require_POST
def relation_remove(request: HttpRequest, relation_id: int) -> HttpResponse:
    require_agent(request, "cmdb.delete_relation")
    relation = get_object_or_404(
        Relation.objects.select_related("source", "target", "relation_type"), pk=relation_id
    )
    back = relation.source
    if request.POST.get("from") == relation.target.reference:
        back = relation.target
    text = f"{relation.source} {relation.relation_type.name} {relation.target}"
    _report(request, lambda: services.unrelate(relation, by=request.user), f"Removed: {text}.")
    return redirect(back.get_absolute_url())


# --- finding nodes by what people type --------------------------------------------------------


def find_node(text: str) -> tuple[Node | None, list[Node]]:
    """A node by reference or exact name; otherwise up to 10 near matches to choose from."""
    text = text.strip()
    if not text:
        return None, []
    node = Node.objects.filter(reference__iexact=text).first()
    if node is not None:
        return node, []
    exact = list(Node.objects.filter(name__iexact=text)[:10])
    if len(exact) == 1:
        return exact[0], []
    if exact:
        return None, exact
    return None, list(Node.objects.filter(name__icontains=text).order_by("name")[:10])


# --- node details in bulk (graph and impact) -------------------------------------------------

NODE_FIELDS = (
    "id",
    "reference",
    "name",
    "kind",
    "component__component_type__slug",
    "component__component_type__name",
    "component__status",
    "service__service_kind",
    "service__lifecycle",
    "service__criticality",
)
SERVICE_KINDS = dict(ServiceKind.choices)
LIFECYCLES = dict(Lifecycle.choices)
STATUSES = dict(ComponentStatus.choices)
CRITICALITIES = dict(Criticality.choices)


def node_details(ids: list[int]) -> dict[int, dict[str, Any]]:
    """Reference, name, kind, type and status of many nodes in one query."""
    out: dict[int, dict[str, Any]] = {}
    for row in Node.objects.filter(id__in=ids).values(*NODE_FIELDS):
        if row["kind"] == NodeKind.SERVICE:
            kind = row["service__service_kind"]
            detail = {
                "type": kind,
                "type_label": SERVICE_KINDS.get(kind, kind),
                "status": row["service__lifecycle"],
                "status_label": LIFECYCLES.get(row["service__lifecycle"], ""),
                "criticality": row["service__criticality"],
                "criticality_label": CRITICALITIES.get(row["service__criticality"], ""),
                "url": reverse("cmdb:service-detail", args=[row["reference"]]),
            }
        else:
            detail = {
                "type": row["component__component_type__slug"],
                "type_label": row["component__component_type__name"],
                "status": row["component__status"],
                "status_label": STATUSES.get(row["component__status"], ""),
                "criticality": None,
                "criticality_label": "",
                "url": reverse("cmdb:component-detail", args=[row["reference"]]),
            }
        out[row["id"]] = {
            "id": row["id"],
            "reference": row["reference"],
            "name": row["name"],
            "kind": row["kind"],
            "pill": STATUS_PILL.get(detail["status"], "neutral"),
            **detail,
        }
    return out


# --- the dependency graph ------------------------------------------------------------------


def _int(value: str | None, default: int, allowed: tuple[int, ...]) -> int:
    try:
        number = int(value or default)
    except ValueError:
        return default
    return number if number in allowed else default


def neighbourhood(
    centre: int, depth: int, cap: int = GRAPH_MAX_NODES
) -> tuple[dict[int, int], dict[int, int | None], bool]:
    """Nodes within ``depth`` relations of ``centre``, whatever the relations' direction:
    ``{id: distance}``, ``{id: the node it was first reached from}`` and whether the ``cap``
    cut it short. One query per level; each level is taken in id order so a cut is stable."""
    distance: dict[int, int] = {centre: 0}
    parent: dict[int, int | None] = {centre: None}
    frontier = [centre]
    capped = False
    for level in range(1, depth + 1):
        here = set(frontier)
        fresh: dict[int, int] = {}
        rows = (
            Relation.objects.filter(Q(source_id__in=frontier) | Q(target_id__in=frontier))
            .order_by()
            .values_list("source_id", "target_id")
        )
        for a, b in sorted(rows):
            for near, far in ((a, b), (b, a)):
                if near in here and far not in distance and near < fresh.get(far, far + near + 1):
                    fresh[far] = near
        if not fresh:
            break
        room = cap - len(distance)
        taken = sorted(fresh)
        if len(taken) > room:
            taken, capped = taken[:room], True
        for n in taken:
            distance[n] = level
            parent[n] = fresh[n]
        frontier = taken
        if capped:
            break
    return distance, parent, capped


def graph_data(centre: Node, depth: int, *, with_impact: bool = True) -> dict[str, Any]:
    """Nodes and relations around ``centre`` for the graph page and its JSON endpoint, with the
    nodes and relations that fail with it (from the impact engine) marked."""
    distance, parent, capped = neighbourhood(centre.pk, depth)
    ids = list(distance)
    details = node_details(ids)
    types = {t.pk: t for t in RelationType.objects.all()}
    edges = list(
        Relation.objects.filter(source_id__in=ids, target_id__in=ids)
        .order_by("id")
        .values_list("id", "source_id", "target_id", "relation_type_id")
    )
    impacted: dict[int, tuple[int, int]] = {}  # id -> (impact distance, predecessor)
    summary: dict[str, Any] = {}
    if with_impact:
        result = engine.impact([centre.pk], direction="up")
        order = np.argsort(result.node_ids, kind="stable")
        sorted_ids = result.node_ids[order]
        shown = np.array(ids, dtype=np.int64)
        k = np.minimum(np.searchsorted(sorted_ids, shown), max(len(sorted_ids) - 1, 0))
        found = sorted_ids[k] == shown if len(sorted_ids) else np.zeros(len(shown), dtype=bool)
        for n, pos in zip(shown[found].tolist(), order[k[found]].tolist(), strict=True):
            impacted[n] = (int(result.distances[pos]), int(result.predecessors[pos]))
        total = len(result.impacted_ids)
        summary = {
            "total": total,
            "shown": sum(1 for d, _ in impacted.values() if d > 0),
            "services": len(result.service_ids),
            "customers": [c.name for c in result.customers()],
            "cycles": len(result.cycles),
            "url": reverse("cmdb:impact") + "?" + urlencode({"node": centre.reference}),
        }
    nodes = []
    for n in sorted(ids, key=lambda i: (distance[i], details[i]["name"].lower())):
        d = details[n]
        hit = impacted.get(n)
        nodes.append(
            {
                "id": d["reference"],
                "name": d["name"],
                "kind": d["kind"],
                "type": d["type"],
                "type_label": d["type_label"],
                "status": d["status"],
                "status_label": d["status_label"],
                "pill": d["pill"],
                "distance": distance[n],
                "parent": details[p]["reference"] if (p := parent[n]) is not None else None,
                "parent_name": details[p]["name"] if p is not None else None,
                "url": d["url"],
                "impacted": bool(hit and hit[0] > 0),
            }
        )
    edge_rows = []
    for pk, source, target, type_id in edges:
        rtype = types[type_id]
        # An impact path step "target fails -> source impacted" along a propagating type.
        on_path = (
            rtype.propagates_impact and source in impacted and impacted[source][1] == target
        ) and impacted[source][0] > 0
        edge_rows.append(
            {
                "id": f"r{pk}",
                "source": details[source]["reference"],
                "target": details[target]["reference"],
                "type": rtype.slug,
                "label": rtype.name,
                "propagates": rtype.propagates_impact,
                "impact": bool(on_path),
            }
        )
    return {
        "centre": {
            "id": centre.reference,
            "name": centre.name,
            "url": centre.get_absolute_url(),
        },
        "depth": depth,
        "cap": GRAPH_MAX_NODES,
        "capped": capped,
        "nodes": nodes,
        "edges": edge_rows,
        "impact": summary,
    }


def _graph_params(request: HttpRequest) -> tuple[str, int, bool]:
    return (
        request.GET.get("node", "").strip(),
        _int(request.GET.get("depth"), GRAPH_DEFAULT_DEPTH, GRAPH_DEPTHS),
        request.GET.get("impact") in ("1", "on", "true", "yes"),
    )


@login_required
def graph(request: HttpRequest) -> HttpResponse:
    require_agent(request, VIEW_STRUCTURE)
    text, depth, show_impact = _graph_params(request)
    centre, candidates = find_node(text)
    if centre is not None and text != centre.reference:
        # Typed a name: continue at the canonical address, so reload and back agree.
        query = {"node": centre.reference, "depth": str(depth)}
        if show_impact:
            query["impact"] = "1"
        return redirect(reverse("cmdb:graph") + "?" + urlencode(query))
    context: dict[str, Any] = {
        "text": text,
        "depth": depth,
        "depths": GRAPH_DEPTHS,
        "show_impact": show_impact,
        "centre": centre,
        "candidates": candidates,
        "start_with": Service.objects.filter(service_kind=ServiceKind.IT_SERVICE).order_by(
            "-criticality", "name"
        )[:12],
    }
    status = 200
    if centre is not None:
        data = graph_data(centre, depth)
        legend = {(n["kind"], n["type"]): n["type_label"] for n in data["nodes"]}
        context["data"] = data
        context["legend"] = [
            {"kind": kind, "type": type_, "label": label}
            for (kind, type_), label in sorted(
                legend.items(), key=lambda i: (i[0][0] != NodeKind.SERVICE, i[1])
            )
        ]
    elif text:
        status = 404 if not candidates else 200
    return render(request, "cmdb/graph.html", context, status=status)


@login_required
def graph_json(request: HttpRequest) -> JsonResponse:
    """The graph page's data: ``?node=REF&depth=N`` -> nodes, relations and impact marks."""
    require_agent(request, VIEW_STRUCTURE)
    text, depth, _ = _graph_params(request)
    centre = Node.objects.filter(reference=text).first() if text else None
    if centre is None:
        return JsonResponse(
            {
                "errors": [
                    {"field": "node", "message": f"There is no service or component {text!r}."}
                ]
            },
            status=404,
        )
    return JsonResponse(graph_data(centre, depth))


# --- the impact view -------------------------------------------------------------------------


@login_required
def impact_view(request: HttpRequest) -> HttpResponse:
    require_agent(request, VIEW_STRUCTURE)
    direction = request.GET.get("direction", "up")
    if direction not in engine.DIRECTIONS:
        direction = "up"
    depth_text = request.GET.get("depth", "")
    depth = _int(depth_text, 0, IMPACT_DEPTHS) or None
    starts: list[Node] = []
    problems: list[str] = []
    choices: list[tuple[str, list[Node]]] = []
    for text in dict.fromkeys(t.strip() for t in request.GET.getlist("node") if t.strip()):
        node, candidates = find_node(text)
        if node is not None:
            if node not in starts:
                starts.append(node)
        elif candidates:
            choices.append((text, candidates))
        else:
            problems.append(f"There is no service or component “{text}”.")
    context: dict[str, Any] = {
        "starts": starts,
        "direction": direction,
        "depth": depth,
        "depths": IMPACT_DEPTHS,
        "problems": problems,
        "choices": choices,
        "keep": [n.reference for n in starts],
    }
    if starts:
        context.update(_impact_answer(starts, direction, depth))
        types = list(RelationType.objects.values_list("name", "propagates_impact"))
        context["propagating"] = [name for name, passes in types if passes]
        context["not_propagating"] = [name for name, passes in types if not passes]
        for node in starts:
            others = [n.reference for n in starts if n != node]
            query = [("node", r) for r in others] + [("direction", direction)]
            if depth:
                query.append(("depth", str(depth)))
            node.remove_url = "?" + urlencode(query)  # type: ignore[attr-defined]
        graph_query = {"node": starts[0].reference}
        if direction == "up":
            graph_query["impact"] = "1"
        context["graph_url"] = reverse("cmdb:graph") + "?" + urlencode(graph_query)
    status = 404 if problems and not starts and not choices else 200
    return render(request, "cmdb/impact.html", context, status=status)


def path_html(path: list[dict[str, Any]]) -> str:
    """A -> B -> C as a list of links. Built here rather than by an included template: the
    impact view shows hundreds of paths, and plain escaping is ten times faster."""
    steps = "".join(
        f'<li{" class=start" if i == 0 else ""}><a href="{escape(s["url"])}" '
        f'title="{escape(s["type_label"])} {escape(s["reference"])}">{escape(s["name"])}</a></li>'
        for i, s in enumerate(path)
    )
    return mark_safe(f'<ol class="path">{steps}</ol>')  # every value is escaped above


def _impact_answer(starts: list[Node], direction: str, depth: int | None) -> dict[str, Any]:
    """Impacted services (all) and nodes (nearest first, capped), each with its explaining
    path, and the customers of the impacted services."""
    result = engine.impact([n.pk for n in starts], direction=direction, depth=depth)
    reached = np.flatnonzero(result.distances > 0)
    nearest = reached[np.lexsort((result.node_ids[reached], result.distances[reached]))]
    shown_ids = result.node_ids[nearest[:IMPACT_MAX_ROWS]].tolist()
    service_ids = result.service_ids.tolist()
    paths = {n: result.path(n) for n in dict.fromkeys(service_ids + shown_ids)}
    details = node_details(list({n for path in paths.values() for n in path}))
    cycles = [cycle[:12] for cycle in result.cycles[:5]]  # a taste; the API has them all
    cycle_ids = {n for cycle in cycles for n in cycle}
    details.update(node_details(list(cycle_ids - set(details))))

    def row(n: int) -> dict[str, Any]:
        path = [details[p] for p in paths[n]]
        return {**details[n], "distance": len(path) - 1, "path": path_html(path)}

    service_rows = sorted(
        (row(n) for n in service_ids),
        key=lambda r: (
            r["type"] != ServiceKind.IT_SERVICE,
            -(r["criticality"] or 0),
            r["distance"],
            r["name"].lower(),
        ),
    )
    node_rows = sorted(
        (row(n) for n in shown_ids),
        key=lambda r: (r["distance"], r["kind"] != NodeKind.SERVICE, r["type_label"], r["name"]),
    )
    return {
        "total": len(reached),
        # What it needs that is not in normal operation: the first suspects of a failure.
        "suspects": [r for r in node_rows if r["status"] not in ("in_use", "live")]
        if direction == "down"
        else [],
        "service_rows": service_rows,
        "it_service_count": sum(1 for r in service_rows if r["type"] == ServiceKind.IT_SERVICE),
        "node_rows": node_rows,
        "components_total": len(reached) - len(service_ids),
        "capped": len(reached) > IMPACT_MAX_ROWS,
        "max_rows": IMPACT_MAX_ROWS,
        "customers": result.customers() if direction == "up" else [],
        "cycles": [[details[n] for n in cycle] for cycle in cycles],
        "cycle_count": len(result.cycles),
        "answered_by": result.answered_by,
    }
