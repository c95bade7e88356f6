"""The deployment gate: may a pipeline deploy to this node now?

Allowed when, at ``at``:

1. a change covers the node: it is approved, scheduled or implementing, it names the node or
   something that depends on it (a change to the Webshop covers deploying its application --
   the same rule the deployment records follow, ``services/deployments.py``), and ``at`` lies
   in its planned window widened by ``CHANGE_GATE_GRACE_MINUTES`` on both sides (an
   implementing change covers from its actual start until it is implemented, even when it
   overruns its window); or, with no such change, an active standard change template covers
   deployments of the node to the given ``environment`` (recording the deployment then creates
   the standard change);
2. no freeze window is in force on the node or on the change's nodes (emergency changes
   excepted);
3. the change has no other blocking collision at that moment.

The answer always says why, in sentences a pipeline log can show: what covers the node, or
what is missing (a change that is not approved yet, a window later today), and which freeze
forbids it until when."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from django.conf import settings

from itline.transition.choices import ChangeStatus, ChangeType
from itline.transition.models import Change

COVERING = (ChangeStatus.APPROVED, ChangeStatus.SCHEDULED, ChangeStatus.IMPLEMENTING)
# Changes near ``at`` that do not cover it are named, so the pipeline's log says what is missing.
NEAR_BEFORE = timedelta(days=1)
NEAR_AFTER = timedelta(days=7)
MAX_NEAR = 3


@dataclass
class GateAnswer:
    allowed: bool
    reasons: list[str] = field(default_factory=list)
    change: Change | None = None
    template: Any = None  # the standard change template that lets it through, if any


def grace() -> timedelta:
    return timedelta(minutes=int(getattr(settings, "CHANGE_GATE_GRACE_MINUTES", 15)))


def _span(change: Change) -> str:
    from itline.transition.freeze import describe_span

    if change.planned_start and change.planned_end:
        return describe_span(change.planned_start, change.planned_end)
    return "no planned window"


def _label(change: Change) -> str:
    return f"{change.reference} “{change.title}”"


def _candidates(node_ids: np.ndarray, distance: dict[int, int], at: datetime) -> list[Change]:
    """Covering changes, best first: implementing, then the one naming the node most
    directly, then the earliest window."""
    from itline.transition.collisions import calendar_rows

    margin = grace()
    in_window = {
        change_id
        for change_id, _ in calendar_rows(
            node_ids, at - margin, at + margin + timedelta(microseconds=1)
        )
    }
    through = Change.nodes.through.objects
    # Implementing changes are few at any moment; they cover until implemented.
    running = through.filter(change__status=ChangeStatus.IMPLEMENTING).values_list(
        "change_id", "node_id"
    )
    nearest: dict[int, int] = {}
    for change_id, node_id in running:
        if node_id in distance:
            nearest[change_id] = min(nearest.get(change_id, 99), distance[node_id])
    ids = in_window | set(nearest)
    if not ids:
        return []
    changes = list(Change.objects.filter(pk__in=ids, status__in=COVERING))
    for change_id, node_id in through.filter(change_id__in=in_window).values_list(
        "change_id", "node_id"
    ):
        if node_id in distance:
            nearest[change_id] = min(nearest.get(change_id, 99), distance[node_id])
    covering = []
    for change in changes:
        if change.status == ChangeStatus.IMPLEMENTING:
            begins = change.actual_start or change.planned_start
            if begins is not None and begins - margin > at:
                continue
        covering.append(change)
    covering.sort(
        key=lambda c: (
            c.status != ChangeStatus.IMPLEMENTING,
            nearest.get(c.pk, 99),
            c.planned_start or at,
            c.pk,
        )
    )
    return covering


def _near_misses(node_ids: np.ndarray, at: datetime, skip: set[int]) -> list[str]:
    """Sentences about changes on these nodes near ``at`` that do not let it through."""
    from itline.transition.collisions import calendar_rows

    ids = [c for c, _ in calendar_rows(node_ids, at - NEAR_BEFORE, at + NEAR_AFTER)]
    ids = [c for c in dict.fromkeys(ids) if c not in skip]
    if not ids:
        return []
    found = []
    for change in Change.objects.filter(pk__in=ids).order_by("planned_start", "pk")[:MAX_NEAR]:
        if change.status in COVERING:
            found.append(
                f"{_label(change)} is {change.get_status_display().lower()} for {_span(change)}, "
                "not now."
            )
        else:
            found.append(
                f"{_label(change)} ({_span(change)}) is {change.get_status_display().lower()}, "
                "not approved."
            )
    return found


def _blocking(change: Change, node_id: int, at: datetime) -> list[str]:
    """Blocking collisions of ``change`` at the moment ``at`` (freezes on its nodes or on the
    deployed node; emergencies are never blocked)."""
    from itline.transition.collisions import check

    nodes = {*change.nodes.values_list("pk", flat=True), node_id}
    found = check(
        nodes=sorted(nodes),
        start=at,
        end=at + timedelta(seconds=1),
        exclude_change_id=change.pk,
        change_type=change.change_type,
    )
    return [c["message"] for c in found if c.get("blocking")]


def _freezes_now(node: Any, at: datetime, change_type: str | None) -> list[str]:
    from itline.transition.freeze import describe_span, freezes_between

    found = []
    for occurrence in freezes_between(at, at + timedelta(microseconds=1), [node.pk]):
        window = occurrence.window
        found.append(
            f"Freeze window {window.reference} “{window.title}” is in force on {node.name} "
            f"({describe_span(occurrence.starts_at, occurrence.ends_at)})"
            + (
                "; this emergency change may proceed."
                if change_type == ChangeType.EMERGENCY
                else "; only emergency changes may deploy."
            )
        )
    return found


def gate(node: Any, at: datetime, *, environment: str = "") -> GateAnswer:
    """May a deployment to ``node`` (a component or service) proceed at ``at``? Pure read."""
    from itline.cmdb.impact import impact

    up = impact([node.pk], "up")
    distance = dict(zip(up.node_ids.tolist(), up.distances.tolist(), strict=True))
    distance[node.pk] = 0
    node_ids = np.array(sorted(distance), dtype=np.int64)

    candidates = _candidates(node_ids, distance, at)
    refused: list[str] = []
    for change in candidates:
        blocking = _blocking(change, node.pk, at)
        if blocking:
            refused.append(f"{_label(change)} covers {node.name}, but: " + " ".join(blocking))
            continue
        how = (
            "is being implemented"
            if change.status == ChangeStatus.IMPLEMENTING
            else (f"is {change.get_status_display().lower()} for {_span(change)}")
        )
        reasons = [f"{_label(change)} {how} and covers {node.name}."]
        if change.change_type == ChangeType.EMERGENCY:
            reasons += _freezes_now(node, at, change.change_type)
        return GateAnswer(True, reasons, change)

    if candidates:
        return GateAnswer(False, refused, candidates[0])

    frozen = _freezes_now(node, at, None)
    template = None
    if environment:
        from itline.transition.services.deployments import matching_template

        template = matching_template(node, environment.strip().lower())
    if template is not None and not frozen:
        return GateAnswer(
            True,
            [
                f"No change covers {node.name} now, but the standard change template "
                f"{template.reference} “{template.name}” covers deployments of it to "
                f"{environment}: recording the deployment creates that standard change."
            ],
            None,
            template,
        )
    reasons = [f"No approved, scheduled or implementing change covers {node.name} now."]
    if template is not None:
        reasons.append(
            f"The standard change template {template.reference} “{template.name}” would cover "
            "it, but standard changes are frozen too."
        )
    reasons += frozen
    reasons += _near_misses(node_ids, at, set())
    if not environment and not frozen:
        reasons.append(
            "Pass environment= to let a standard change template cover routine deployments."
        )
    return GateAnswer(False, reasons, None)
