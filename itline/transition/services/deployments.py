"""Deployment and release verbs. Pipelines report deployments (``record_deployment``); each
one is tied to the change that covers it, or creates and closes a matching standard change,
or -- in a production environment -- is recorded as unplanned so a change manager sees it.

Matching, in this order:

1. the change the caller names (it must touch the node or a service that runs on it);
2. an approved, scheduled or implementing change whose affected items include the node or
   something that depends on it (``impact(node, "up")``), with the deployment's start inside
   its planned window (an implementing change covers from its actual start on);
3. an active standard change template whose ``deployment_match`` fits the environment and
   whose nodes (or component types) include the node: a standard change is created through
   the change verbs, implemented, and closed with the outcome the deployment status gives;
4. nothing: a production deployment is *unplanned* (``is_unplanned``), others are plain
   records (lower environments need no change).

A re-post with the same node, version, environment and pipeline URL is the same deployment:
it only moves the status (started -> succeeded/failed/rolled back; a finished deployment may
still be rolled back) and ``finished_at``. ``started`` again after a finish is a new attempt."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from itline.cmdb.models import Component, Node
from itline.core import journal
from itline.core.errors import DomainError, TransitionError
from itline.core.models import JournalEntry
from itline.core.services import create_record, require
from itline.operation import events
from itline.transition.choices import (
    ChangeOutcome,
    ChangeStatus,
    ChangeType,
    DeploymentStatus,
    ReleaseStatus,
)
from itline.transition.models import Change, ChangeTemplate, Deployment, Release

ADD_DEPLOYMENT = "transition.add_deployment"
FINISHED = frozenset(
    {DeploymentStatus.SUCCEEDED, DeploymentStatus.FAILED, DeploymentStatus.ROLLED_BACK}
)
DEPLOYMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    DeploymentStatus.STARTED: FINISHED,
    DeploymentStatus.SUCCEEDED: frozenset({DeploymentStatus.ROLLED_BACK}),
    DeploymentStatus.FAILED: frozenset({DeploymentStatus.ROLLED_BACK}),
    DeploymentStatus.ROLLED_BACK: frozenset(),
}
OUTCOME_OF = {
    DeploymentStatus.SUCCEEDED: ChangeOutcome.SUCCESSFUL,
    DeploymentStatus.FAILED: ChangeOutcome.FAILED,
    DeploymentStatus.ROLLED_BACK: ChangeOutcome.BACKED_OUT,
}
# Pipeline clocks drift a little; beyond this a start "in the future" is an error.
FUTURE_GRACE = timedelta(minutes=5)
# Changes in these states take deployments on their nodes inside their window.
COVERING = (ChangeStatus.APPROVED, ChangeStatus.SCHEDULED, ChangeStatus.IMPLEMENTING)
# Marks the standard changes a deployment created, so its later status closes them; a
# standard change someone raised by hand is never closed by a pipeline.
AUTO_REASON = "Recorded automatically from a pipeline deployment"
RELEASE_TRANSITIONS: dict[str, frozenset[str]] = {
    ReleaseStatus.PLANNED: frozenset(
        {ReleaseStatus.IN_PROGRESS, ReleaseStatus.RELEASED, ReleaseStatus.CANCELLED}
    ),
    ReleaseStatus.IN_PROGRESS: frozenset({ReleaseStatus.RELEASED, ReleaseStatus.CANCELLED}),
    ReleaseStatus.RELEASED: frozenset(),
    ReleaseStatus.CANCELLED: frozenset({ReleaseStatus.PLANNED}),
}


def production_environments() -> frozenset[str]:
    return frozenset(settings.DEPLOYMENT_PRODUCTION_ENVIRONMENTS)


def is_production(environment: str) -> bool:
    return environment.strip().lower() in production_environments()


def is_unplanned(deployment: Deployment) -> bool:
    """A production deployment no change covers: somebody changed production unannounced."""
    return deployment.change_id is None and is_production(deployment.environment)


def unplanned_q() -> Q:
    return Q(change__isnull=True, environment__in=sorted(production_environments()))


@dataclass
class Recorded:
    """What ``post_deployment`` did: ``matched`` is explicit, change, template, unplanned,
    none (a lower environment without a change) or existing (a re-post)."""

    deployment: Deployment
    created: bool
    matched: str


def record_deployment(
    *,
    by: Any,
    node: Node,
    version: str,
    environment: str,
    status: str,
    pipeline_url: str = "",
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
    commit: str = "",
    release: Release | None = None,
    change: Change | None = None,
) -> Deployment:
    return post_deployment(
        by=by,
        node=node,
        version=version,
        environment=environment,
        status=status,
        pipeline_url=pipeline_url,
        started_at=started_at,
        finished_at=finished_at,
        commit=commit,
        release=release,
        change=change,
    ).deployment


def post_deployment(
    *,
    by: Any,
    node: Node | None,
    version: str,
    environment: str,
    status: str,
    pipeline_url: str = "",
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
    commit: str = "",
    release: Release | None = None,
    change: Change | None = None,
) -> Recorded:
    """Record a pipeline's deployment (or a status update of one); see the module doc."""
    require(by, ADD_DEPLOYMENT)
    environment = (environment or "").strip().lower()
    version = (version or "").strip()
    pipeline_url = (pipeline_url or "").strip()
    errors: dict[str, str] = {}
    if node is None:
        errors["node"] = "Name the service or component that was deployed."
    if not version:
        errors["version"] = "Give the version that was deployed."
    if not environment:
        errors["environment"] = "Give the environment deployed to, e.g. production."
    if status not in DeploymentStatus.values:
        errors["status"] = f"Unknown status {status!r}; use one of: " + ", ".join(
            DeploymentStatus.values
        )
    now = timezone.now()
    started = started_at or now
    finished = finished_at
    if status == DeploymentStatus.STARTED and finished is not None:
        errors["finished_at"] = "A started deployment has not finished; leave finished_at out."
    if started > now + FUTURE_GRACE:
        errors["started_at"] = "The deployment cannot start in the future."
    if finished is None and status in FINISHED:
        finished = max(now, started)
    if finished is not None and finished < started:
        errors["finished_at"] = "The deployment cannot finish before it started."
    if errors:
        raise ValidationError(errors)
    assert node is not None
    with transaction.atomic():
        # Posts for one node serialise on its row, so a re-post never creates a twin.
        Node.objects.select_for_update().filter(pk=node.pk).values_list("pk").first()
        existing = (
            Deployment.objects.select_for_update()
            .filter(node=node, version=version, environment=environment, pipeline_url=pipeline_url)
            .order_by("-started_at", "-id")
            .first()
        )
        restart = (
            existing is not None
            and existing.status in FINISHED
            and status == DeploymentStatus.STARTED
        )
        if existing is not None and not restart:
            return Recorded(
                _move(existing, by=by, status=status, finished=finished), False, "existing"
            )
        return _create(
            by=by,
            node=node,
            version=version,
            environment=environment,
            status=status,
            pipeline_url=pipeline_url,
            started=started,
            finished=finished,
            commit=(commit or "").strip(),
            release=release,
            change=change,
        )


def _create(
    *,
    by: Any,
    node: Node,
    version: str,
    environment: str,
    status: str,
    pipeline_url: str,
    started: datetime,
    finished: datetime | None,
    commit: str,
    release: Release | None,
    change: Change | None,
) -> Recorded:
    template = None
    refusal = ""
    if change is not None:
        check_covers(change, node)
        matched = "explicit"
    else:
        change = covering_change(node, started)
        matched = "change" if change is not None else ""
    if change is None:
        template = matching_template(node, environment)
        if template is not None:
            try:
                with transaction.atomic():
                    change = _standard_change(template, node, version, environment, started, by=by)
                matched = "template"
            except (DomainError, ValidationError, PermissionDenied) as refused:
                # The deployment happened; record it even when its standard change may not
                # be raised (a freeze window, outside the template's limits), and say why.
                refusal = f"; standard change from {template} refused: {_text(refused)}"
                template = None
        if change is None:
            matched = "unplanned" if is_production(environment) else "none"
    if release is None and change is not None and change.release_id:
        release = change.release
    deployment = Deployment(
        node=node,
        version=version,
        environment=environment,
        pipeline_url=pipeline_url,
        status=status,
        started_at=started,
        finished_at=finished,
        commit=commit,
        release=release,
        change=change,
    )
    notes = {
        "explicit": f"under {change.reference}" if change else "",
        "change": f"covered by {change.reference}" if change else "",
        "template": f"standard change {change.reference} from template {template}"
        if change and template
        else "",
        "unplanned": "unplanned: no change covers this production deployment",
        "none": "",
    }
    create_record(deployment, by=by, message=(notes[matched] + refusal).lstrip("; "))
    if change is not None:
        journal.record(
            change,
            by=by,
            verb=JournalEntry.Verb.UPDATED,
            message=f"deployment {deployment.reference} of {version} to {environment}: {status}",
        )
        if template is not None and status in FINISHED:
            _finish_standard_change(change, deployment, by=by)
    events.publish(deployment, "deployment.recorded", by=by, extra={"matched": matched})
    if matched == "unplanned":
        events.publish(deployment, "deployment.unplanned", by=by)
    return Recorded(deployment, True, matched)


def _text(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(getattr(error, "message", None) or error)


def _move(deployment: Deployment, *, by: Any, status: str, finished: datetime | None) -> Deployment:
    """A re-post: the same status again changes nothing; otherwise the move must be legal."""
    if status == deployment.status:
        return deployment
    allowed = DEPLOYMENT_TRANSITIONS.get(deployment.status, frozenset())
    if status not in allowed:
        raise TransitionError(
            f"{deployment.reference} is {deployment.get_status_display()}; it cannot move "
            f"to {DeploymentStatus(status).label}."
            + (f" Allowed: {', '.join(sorted(allowed))}." if allowed else " It is final."),
            allowed=sorted(allowed),
        )
    before = journal.snapshot(deployment)
    deployment.status = status
    if finished is not None:
        deployment.finished_at = max(finished, deployment.started_at)
    deployment.updated_by = by if getattr(by, "pk", None) else None
    deployment.full_clean()
    deployment.save()
    changes = journal.diff(before, journal.snapshot(deployment))
    journal.record(deployment, by=by, verb=JournalEntry.Verb.STATE_CHANGED, changes=changes)
    if deployment.change_id is not None:
        change = Change.objects.get(pk=deployment.change_id)
        journal.record(
            change,
            by=by,
            verb=JournalEntry.Verb.UPDATED,
            message=f"deployment {deployment.reference} of {deployment.version} to "
            f"{deployment.environment}: {status}",
        )
        if (
            status in FINISHED
            and change.status == ChangeStatus.IMPLEMENTING
            and change.change_type == ChangeType.STANDARD
            and change.reason.startswith(AUTO_REASON)
        ):
            _finish_standard_change(change, deployment, by=by)
    events.publish(deployment, "deployment.updated", by=by, changes=changes)
    return deployment


# --- matching -------------------------------------------------------------------------------


def _dependants(node: Node) -> dict[int, int]:
    """The node and everything that depends on it ({id: distance}): a change on any of them
    covers a deployment of the node (a change to the Webshop covers its application)."""
    from itline.cmdb.impact import impact

    result = impact([node.pk], "up")
    ids = result.node_ids.tolist()
    distances = result.distances.tolist()
    found = dict(zip(ids, distances, strict=True))
    found[node.pk] = 0
    return found


def covering_change(node: Node, at: datetime) -> Change | None:
    """The change that covers deploying ``node`` at ``at``: implementing before approved or
    scheduled, then the one naming the node most directly, then the earliest window."""
    reach = _dependants(node)
    in_window = Q(
        status__in=(ChangeStatus.APPROVED, ChangeStatus.SCHEDULED),
        planned_start__lte=at,
        planned_end__gte=at,
    )
    running = Q(status=ChangeStatus.IMPLEMENTING) & (
        Q(actual_start__lte=at) | Q(actual_start__isnull=True, planned_start__lte=at)
    )
    candidates = list(
        Change.objects.filter(in_window | running, nodes__in=list(reach))
        .distinct()
        .prefetch_related("nodes")
    )
    if not candidates:
        return None

    def rank(change: Change) -> tuple[int, int, datetime, int]:
        nearest = min(reach[n.pk] for n in change.nodes.all() if n.pk in reach)
        implementing = 0 if change.status == ChangeStatus.IMPLEMENTING else 1
        start = change.actual_start or change.planned_start or at
        return implementing, nearest, start, change.pk

    return min(candidates, key=rank)


def check_covers(change: Change, node: Node) -> None:
    """A change a pipeline names must be live and touch the node (or what runs on it)."""
    live = (*COVERING, ChangeStatus.IMPLEMENTED)
    if change.status not in live:
        raise ValidationError(
            {
                "change": f"{change.reference} is {change.get_status_display()}; deployments "
                "belong to approved, scheduled, implementing or implemented changes."
            }
        )
    if not change.nodes.filter(pk__in=list(_dependants(node))).exists():
        raise ValidationError(
            {"change": f"{change.reference} does not touch {node.name} or anything running on it."}
        )


def matching_template(node: Node, environment: str) -> ChangeTemplate | None:
    """The active standard change template a deployment of ``node`` to ``environment`` fits:
    its ``deployment_match`` names the environment (or lists no environments) and its nodes
    include the node, or (no nodes listed) its component types include the node's type. A
    template that lists neither matches nothing: a catch-all would hide unplanned changes.
    Node-listed templates win over type-matched ones; then the name decides."""
    component_type = (
        Component.objects.filter(pk=node.pk).values_list("component_type_id", flat=True).first()
    )
    found: list[tuple[int, str, ChangeTemplate]] = []
    for template in ChangeTemplate.objects.filter(active=True).prefetch_related(
        "nodes", "component_types"
    ):
        match = template.deployment_match or {}
        if not isinstance(match, dict) or not match:
            continue
        environments = [str(e).strip().lower() for e in match.get("environments") or []]
        if environments and environment not in environments:
            continue
        node_ids = {n.pk for n in template.nodes.all()}
        type_ids = {t.pk for t in template.component_types.all()}
        if node.pk in node_ids:
            found.append((0, template.name, template))
        elif not node_ids and component_type is not None and component_type in type_ids:
            found.append((1, template.name, template))
    return min(found, key=lambda f: (f[0], f[1]))[2] if found else None


def _standard_change(
    template: ChangeTemplate,
    node: Node,
    version: str,
    environment: str,
    started: datetime,
    *,
    by: Any,
) -> Change:
    """Create the standard change a matching deployment stands for, pre-approved through
    the template, and start it. Its planned window opens now (a window in the past is
    refused) for the template's maximum duration; its actual start is the deployment's."""
    from itline.transition import services as changes

    opens = max(started, timezone.now()).replace(microsecond=0)
    # A pipeline login that may record deployments but not raise changes still gets its
    # pre-approved change: the system raises it on the template's authority.
    creator = by if by is None or by.has_perm("transition.add_change") else None
    change = changes.create_change(
        by=creator,
        title=f"{template.name}: {node.name} {version} to {environment}"[:200],
        change_type=ChangeType.STANDARD,
        template=template,
        nodes=[node],
        planned_start=opens,
        planned_end=opens + timedelta(minutes=template.max_duration_minutes),
        reason=f"{AUTO_REASON} of {version} to {environment}.",
    )
    actor = _actor(by, change)
    # The template's readiness checklist is what its pre-approval rests on.
    for entry in list(change.readiness):
        if not entry.get("done"):
            change = changes.tick_readiness(change, by=actor, key=entry["key"], done=True)
    change = changes.submit_change(change, by=actor)
    change = changes.start_implementation(change, by=actor)
    _set_actual(change, "actual_start", started, by=by)
    return change


def _actor(by: Any, change: Change) -> Any:
    """Who moves an automatic standard change: the pipeline's user when the change verbs
    let them (a change manager, or a login with a person who raised it), else the system
    on the template's pre-approval."""
    from itline.transition.services.changes import MANAGE, is_participant

    if by is None or by.has_perm(MANAGE) or is_participant(by, change):
        return by
    return None


def _finish_standard_change(change: Change, deployment: Deployment, *, by: Any) -> Change:
    """implemented -> reviewed -> closed with the outcome of the deployment: the review of
    an automatic standard change is completed by the system from its draft."""
    from itline.transition import services as changes
    from itline.transition.models import ChangeReview
    from itline.transition.services.reviews import complete_review

    outcome = OUTCOME_OF[DeploymentStatus(deployment.status)]
    by = _actor(by, change)
    change = changes.complete_implementation(change, by=by, outcome=outcome)
    if deployment.finished_at is not None:
        _set_actual(change, "actual_end", deployment.finished_at, by=by)
    change.refresh_from_db()
    if change.status == ChangeStatus.IMPLEMENTED:
        change = changes.start_review(change, by=by)
    review = ChangeReview.objects.filter(change=change).first()
    if review is not None and review.status != "completed":
        complete_review(
            review,
            by=None,
            summary=(review.draft or {}).get("summary")
            or f"Closed from deployment {deployment.reference}.",
            lessons="",
        )
    change.refresh_from_db()
    if change.status == ChangeStatus.IN_REVIEW:
        change = changes.close_change(change, by=by, outcome=outcome)
    return change


def _set_actual(change: Change, name: str, value: datetime, *, by: Any) -> None:
    """The pipeline knows when the work really started/ended better than the moment its
    post arrived; correct the change's actual time, journaled."""
    current = getattr(change, name)
    if current == value:
        return
    Change.objects.filter(pk=change.pk).update(**{name: value})
    setattr(change, name, value)
    journal.record(
        change,
        by=by,
        verb=JournalEntry.Verb.UPDATED,
        changes={name: [current.isoformat() if current else None, value.isoformat()]},
        message="time from the deployment record",
    )


# --- releases -------------------------------------------------------------------------------


def create_release(
    *, by: Any, name: str, version: str, changes: list[Change] | None = None, **fields: Any
) -> Release:
    require(by, "transition.add_release")
    with transaction.atomic():
        release = Release(name=name, version=version, **fields)
        if release.status == ReleaseStatus.RELEASED and release.released_at is None:
            release.released_at = timezone.now()
        create_record(release, by=by)
        if changes:
            _set_changes(release, changes, by=by)
    return release


def update_release(
    release: Release, *, by: Any, changes: list[Change] | None = None, **fields: Any
) -> Release:
    """Edit the release; a status move follows the release transition table and releasing
    stamps ``released_at``. ``changes`` (when given) replaces the changes in the release."""
    require(by, "transition.change_release")
    with transaction.atomic():
        current = Release.objects.select_for_update().get(pk=release.pk)
        target = fields.get("status")
        if target is not None and target != current.status:
            allowed = RELEASE_TRANSITIONS.get(current.status, frozenset())
            if target not in allowed:
                raise TransitionError(
                    f"{current.reference} is {current.get_status_display()}; it cannot move to "
                    f"{ReleaseStatus(target).label}."
                    + (f" Allowed: {', '.join(sorted(allowed))}." if allowed else " It is final."),
                    allowed=sorted(allowed),
                )
            if target == ReleaseStatus.RELEASED and not fields.get("released_at"):
                fields["released_at"] = timezone.now()
        before = journal.snapshot(current)
        for name, value in fields.items():
            setattr(current, name, value)
        current.full_clean()
        diff = journal.diff(before, journal.snapshot(current))
        if diff:
            current.updated_by = by if getattr(by, "pk", None) else None
            current.save()
            verb = (
                JournalEntry.Verb.STATE_CHANGED if "status" in diff else JournalEntry.Verb.UPDATED
            )
            journal.record(current, by=by, verb=verb, changes=diff)
        if changes is not None:
            _set_changes(current, changes, by=by)
    for f in Release._meta.concrete_fields:
        setattr(release, f.attname, getattr(current, f.attname))
    return release


def _set_changes(release: Release, changes: list[Change], *, by: Any) -> None:
    wanted = {c.pk for c in changes}
    had = set(release.changes.values_list("pk", flat=True))
    for change in Change.objects.filter(pk__in=wanted ^ had).select_for_update():
        new = release if change.pk in wanted else None
        before = journal.snapshot(change)
        change.release = new
        Change.objects.filter(pk=change.pk).update(release=new, version=F("version") + 1)
        journal.record(
            change,
            by=by,
            verb=JournalEntry.Verb.UPDATED,
            changes=journal.diff(before, journal.snapshot(change)),
        )
    added = sorted(c.reference for c in changes if c.pk not in had)
    removed = sorted(Change.objects.filter(pk__in=had - wanted).values_list("reference", flat=True))
    if added or removed:
        parts = ([f"added {', '.join(added)}"] if added else []) + (
            [f"removed {', '.join(removed)}"] if removed else []
        )
        journal.record(release, by=by, verb=JournalEntry.Verb.UPDATED, message="; ".join(parts))
