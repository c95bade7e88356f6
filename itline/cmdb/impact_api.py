"""``GET /impact``: what is impacted if these nodes fail (``up``), or what they depend on
(``down``), with the path that explains each answer. Thin: the engine is
``itline.cmdb.impact``; this module resolves references and shapes the answer.

No ``from __future__ import annotations``: ninja reads the endpoint annotations."""

from typing import Any

import numpy as np
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from itline.cmdb import impact as engine
from itline.cmdb.models import Component, Node, Service
from itline.core.api import ERRORS
from itline.core.errors import DomainError

router = Router(tags=["Service structure"])

MAX_DEPTH = 100
MAX_NODES = 100
MAX_LIMIT = 10_000


class ImpactNodeOut(Schema):
    reference: str
    name: str
    kind: str = Field(..., description="service or component")
    type: str = Field(..., description="Component type, or the service kind")
    status: str = Field(..., description="Component status, or the service life-cycle state")
    distance: int = Field(..., description="Relations between it and the nearest start node")
    path: list[str] = Field(..., description="References from a start node to this node")
    path_text: str = Field(..., description='The same path as "A -> B -> C"')


class ImpactServiceOut(ImpactNodeOut):
    criticality: int


class CustomerOut(Schema):
    reference: str
    name: str


class ImpactOut(Schema):
    nodes: list[str] = Field(..., description="The start nodes")
    direction: str
    depth: int | None
    answered_by: str = Field(..., description="index (in-memory graph) or sql (fallback)")
    graph_version: int
    total: int = Field(..., description="Number of reached nodes, start nodes excluded")
    truncated: bool = Field(..., description="True when `impacted` was cut at `limit`")
    impacted: list[ImpactNodeOut] = Field(..., description="Nearest first")
    services: list[ImpactServiceOut] = Field(..., description="Every reached service")
    customers: list[CustomerOut] = Field(..., description="Customers of the impacted services (up)")
    cycles: list[list[str]] = Field(
        ..., description="Cycles met: strongly connected groups of reached nodes (references)"
    )


def _resolve(refs: list[str]) -> dict[str, int]:
    if not refs:
        raise DomainError("Name at least one node by its reference.", field="node")
    if len(refs) > MAX_NODES:
        raise DomainError(f"At most {MAX_NODES} nodes per query.", field="node")
    found = dict(Node.objects.filter(reference__in=refs).values_list("reference", "id"))
    missing = [r for r in refs if r not in found]
    if missing:
        raise DomainError(f"There is no service or component {missing[0]!r}.", field="node")
    return found


def _details(ids: list[int]) -> dict[int, dict[str, Any]]:
    """Reference, name, kind, type, status (and criticality) of each node, in three queries."""
    out: dict[int, dict[str, Any]] = {}
    if not ids:
        return out
    for row in Node.objects.filter(id__in=ids).values("id", "reference", "name", "kind"):
        out[row["id"]] = {**row, "type": "", "status": "", "criticality": 0}
    for pk, type_name, comp_status in Component.objects.filter(pk__in=ids).values_list(
        "pk", "component_type__name", "status"
    ):
        out[pk].update(type=type_name, status=comp_status)
    for pk, kind, lifecycle, criticality in Service.objects.filter(pk__in=ids).values_list(
        "pk", "service_kind", "lifecycle", "criticality"
    ):
        out[pk].update(type=kind, status=lifecycle, criticality=criticality)
    return out


@router.get(
    "/impact",
    response={200: ImpactOut, **ERRORS},
    summary="Impact analysis: what fails with these nodes, or what they depend on",
)
def impact_view(
    request: HttpRequest,
    node: list[str] = Query(..., description="Reference of a start node; repeat for several"),  # noqa: B008
    direction: str = Query("up", description="up: impacted if they fail; down: what they need"),
    depth: int | None = Query(None, description=f"Maximum distance (0-{MAX_DEPTH}); none: all"),
    limit: int = Query(1000, description=f"Maximum impacted nodes listed (1-{MAX_LIMIT})"),
) -> Any:
    if not request.user.has_perm("cmdb.view_component"):
        raise PermissionDenied("You are not allowed to see the service structure.")
    if direction not in engine.DIRECTIONS:
        raise DomainError("direction must be 'up' or 'down'.", field="direction")
    if depth is not None and not 0 <= depth <= MAX_DEPTH:
        raise DomainError(f"depth must be between 0 and {MAX_DEPTH}.", field="depth")
    if not 1 <= limit <= MAX_LIMIT:
        raise DomainError(f"limit must be between 1 and {MAX_LIMIT}.", field="limit")
    refs = list(dict.fromkeys(node))
    ids = _resolve(refs)
    result = engine.impact(ids.values(), direction=direction, depth=depth)

    impacted = result.distances > 0
    order = np.flatnonzero(impacted)
    order = order[np.lexsort((result.node_ids[order], result.distances[order]))]
    shown = result.node_ids[order[:limit]].tolist()
    services = result.service_ids.tolist()
    paths = {n: result.path(n) for n in dict.fromkeys(shown + services)}
    cycle_ids = [n for cycle in result.cycles for n in cycle]
    details = _details(list({n for path in paths.values() for n in path} | set(cycle_ids)))

    def out(n: int) -> dict[str, Any]:
        path = [details[p]["reference"] for p in paths[n]]
        return {
            **details[n],
            "distance": len(path) - 1,
            "path": path,
            "path_text": " -> ".join(path),
        }

    customers = result.customers() if direction == "up" else []
    return {
        "nodes": refs,
        "direction": direction,
        "depth": depth,
        "answered_by": result.answered_by,
        "graph_version": result.version,
        "total": int(impacted.sum()),
        "truncated": len(order) > limit,
        "impacted": [out(n) for n in shown],
        "services": sorted(
            (out(n) for n in services),
            key=lambda s: (s["distance"], -s["criticality"], s["reference"]),
        ),
        "customers": [{"reference": c.reference, "name": c.name} for c in customers],
        "cycles": [[details[n]["reference"] for n in cycle] for cycle in result.cycles],
    }
