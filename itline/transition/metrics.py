"""Change metrics and the four DORA figures, for a period and optionally some services.

Definitions (docs/deployments.md says the same for users):

- **Implemented changes**: changes implemented, in review or closed whose implementation
  ended (``actual_end``) in [start, end).
- **Failed change**: outcome failed or backed out, or at least one incident confirmed as
  caused by it. **Change success rate** = (implemented - failed) / implemented; "successful
  with issues" counts as a success.
- **Emergency ratio** = emergency changes / implemented changes.
- **Lead time** (change process): from creation, and from submission, to the end of the
  implementation; mean and median hours.
- **Deployment frequency** (DORA): succeeded deployments to a production environment
  (``DEPLOYMENT_PRODUCTION_ENVIRONMENTS``) started in the period, per day and per week, and
  the number of days with at least one.
- **Lead time for changes** (DORA): per succeeded production deployment in the period, from
  the first deployment of the same commit to a non-production environment (else of the same
  node and version; else the submission of the change it belongs to) to the end of the
  production deployment. Deployments with none of these are left out (``count`` says how
  many were measured, ``basis`` by what).
- **Change failure rate** (DORA) = failed changes / implemented changes (as above), so a
  change that caused a confirmed incident counts even when its outcome said successful.
- **Time to restore service** (DORA): for incidents confirmed as caused by a change and
  opened in the period: resolved - opened; unresolved ones are counted apart.

``service_ids`` narrows everything to the services and what they run on
(``impact(services, "down")``): changes touching any of those, deployments of them."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Min

from itline.transition.choices import (
    FAILED_OUTCOMES,
    ChangeStatus,
    ChangeType,
    DeploymentStatus,
    LinkStatus,
)
from itline.transition.models import Change, ChangeIncidentLink, Deployment

IMPLEMENTED = (ChangeStatus.IMPLEMENTED, ChangeStatus.IN_REVIEW, ChangeStatus.CLOSED)


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def _summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"mean": None, "median": None, "count": 0}
    return {
        "mean": round(statistics.fmean(values), 2),
        "median": round(statistics.median(values), 2),
        "count": len(values),
    }


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def scope_nodes(service_ids: list[int] | None) -> set[int] | None:
    """The services and everything they run on; None means everything."""
    if not service_ids:
        return None
    from itline.cmdb.impact import impact

    return set(service_ids) | set(impact(service_ids, "down").node_ids.tolist())


def change_metrics(
    start: datetime, end: datetime, service_ids: list[int] | None = None
) -> dict[str, Any]:
    """The figures of the module doc for [start, end)."""
    if end <= start:
        raise ValueError("end must be after start")
    scope = scope_nodes(service_ids)
    production = sorted(settings.DEPLOYMENT_PRODUCTION_ENVIRONMENTS)

    changes = Change.objects.filter(
        status__in=IMPLEMENTED, actual_end__gte=start, actual_end__lt=end
    )
    if scope is not None:
        changes = changes.filter(nodes__in=scope).distinct()
    rows = list(
        changes.values("pk", "change_type", "outcome", "created_at", "submitted_at", "actual_end")
    )
    ids = [r["pk"] for r in rows]
    caused = set(
        ChangeIncidentLink.objects.filter(
            change_id__in=ids, status=LinkStatus.CONFIRMED
        ).values_list("change_id", flat=True)
    )
    by_type = {t: 0 for t in ChangeType.values}
    by_outcome: dict[str, int] = {}
    failed = failed_outcome = failed_incident_only = 0
    from_created: list[float] = []
    from_submitted: list[float] = []
    for r in rows:
        by_type[r["change_type"]] = by_type.get(r["change_type"], 0) + 1
        outcome = r["outcome"] or "unknown"
        by_outcome[outcome] = by_outcome.get(outcome, 0) + 1
        bad_outcome = r["outcome"] in FAILED_OUTCOMES
        if bad_outcome or r["pk"] in caused:
            failed += 1
        failed_outcome += bad_outcome
        failed_incident_only += (not bad_outcome) and r["pk"] in caused
        ended = r["actual_end"]
        assert ended is not None  # filtered on its range above
        from_created.append(_hours(ended - r["created_at"]))
        if r["submitted_at"] is not None:
            from_submitted.append(_hours(ended - r["submitted_at"]))
    total = len(rows)

    deployments = Deployment.objects.filter(
        environment__in=production, started_at__gte=start, started_at__lt=end
    )
    if scope is not None:
        deployments = deployments.filter(node_id__in=scope)
    prod: list[dict[str, Any]] = [
        dict(row)
        for row in deployments.values(
            "pk",
            "node_id",
            "version",
            "commit",
            "status",
            "started_at",
            "finished_at",
            "change_id",
            "change__submitted_at",
        )
    ]
    succeeded = [d for d in prod if d["status"] == DeploymentStatus.SUCCEEDED]
    days = (end - start).total_seconds() / 86400
    lead = _lead_times(succeeded, production)

    restores: list[float] = []
    unresolved = 0
    links = ChangeIncidentLink.objects.filter(
        status=LinkStatus.CONFIRMED,
        incident__created_at__gte=start,
        incident__created_at__lt=end,
    )
    if scope is not None:
        links = links.filter(change__nodes__in=scope)
    seen: set[int] = set()
    for link in links.values("incident_id", "incident__created_at", "incident__resolved_at"):
        if link["incident_id"] in seen:
            continue
        seen.add(link["incident_id"])
        if link["incident__resolved_at"] is None:
            unresolved += 1
        else:
            restores.append(_hours(link["incident__resolved_at"] - link["incident__created_at"]))

    return {
        "period": {"start": start, "end": end, "days": round(days, 2)},
        "changes": {
            "implemented": total,
            "by_type": by_type,
            "by_outcome": by_outcome,
            "failed": failed,
            "failed_by_outcome": failed_outcome,
            "failed_by_caused_incident_only": failed_incident_only,
            "success_rate": _ratio(total - failed, total),
            "emergency_ratio": _ratio(by_type.get(ChangeType.EMERGENCY, 0), total),
            "lead_time_hours": {
                "from_created": _summary(from_created),
                "from_submitted": _summary(from_submitted),
            },
        },
        "deployments": {
            "production": len(prod),
            "succeeded": len(succeeded),
            "failed": sum(
                d["status"] in (DeploymentStatus.FAILED, DeploymentStatus.ROLLED_BACK) for d in prod
            ),
            "unplanned": sum(d["change_id"] is None for d in prod),
        },
        "dora": {
            "deployment_frequency": {
                "deployments": len(succeeded),
                "per_day": round(len(succeeded) / days, 4) if days else None,
                "per_week": round(len(succeeded) / days * 7, 4) if days else None,
                "days_with_deployments": len({d["started_at"].date() for d in succeeded}),
            },
            "lead_time_for_changes_hours": lead,
            "change_failure_rate": _ratio(failed, total),
            "time_to_restore_hours": {**_summary(restores), "unresolved": unresolved},
        },
    }


def _lead_times(succeeded: list[dict[str, Any]], production: list[str]) -> dict[str, Any]:
    """DORA lead time for changes (module doc): two grouped queries for the first
    non-production deployment of each commit and of each (node, version)."""
    commits = {d["commit"] for d in succeeded if d["commit"]}
    pairs = {(d["node_id"], d["version"]) for d in succeeded}
    lower = Deployment.objects.exclude(environment__in=production)
    first_commit = (
        dict(
            lower.filter(commit__in=commits)
            .values("commit")
            .annotate(first=Min("started_at"))
            .values_list("commit", "first")
        )
        if commits
        else {}
    )
    first_version: dict[tuple[int, str], datetime] = {}
    if pairs:
        for node_id, version, first in (
            lower.filter(node_id__in={p[0] for p in pairs}, version__in={p[1] for p in pairs})
            .values("node_id", "version")
            .annotate(first=Min("started_at"))
            .values_list("node_id", "version", "first")
        ):
            first_version[(node_id, version)] = first
    values: list[float] = []
    basis = {"commit": 0, "version": 0, "change": 0}
    for d in succeeded:
        done = d["finished_at"] or d["started_at"]
        options = (
            ("commit", first_commit.get(d["commit"]) if d["commit"] else None),
            ("version", first_version.get((d["node_id"], d["version"]))),
            ("change", d["change__submitted_at"]),
        )
        for name, began in options:
            if began is not None and began <= done:
                values.append(_hours(done - began))
                basis[name] += 1
                break
    return {**_summary(values), "basis": basis}
