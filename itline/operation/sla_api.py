"""API of SLA clocks: an incident's clocks with the explanation (running and paused periods and
the business minutes counted in each), and the recompute action.

No ``from __future__ import annotations``: ninja reads the annotations at import time."""

from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema

from itline.core.api import ERRORS
from itline.operation import sla
from itline.operation.models import Incident
from itline.org.roles import is_agent

router = Router(tags=["SLA clocks"])


class PeriodOut(Schema):
    state: str = Field(..., description="running (counted) or paused (not counted)")
    start: datetime
    end: datetime | None = Field(None, description="null: still going")
    business_minutes: float = Field(..., description="Business minutes in the period")
    counted: bool
    status: str
    hold_reason: str
    priority: int


class ClockOut(Schema):
    kind: str
    state: str = Field(..., description="running, paused or stopped")
    priority: int
    target_minutes: int
    warning_percent: int
    elapsed_minutes: float
    remaining_minutes: float = Field(..., description="Negative once the target is passed")
    breached: bool
    started_at: datetime
    stopped_at: datetime | None
    warn_at: datetime | None = Field(None, description="When the warning share is reached")
    due_at: datetime | None = Field(None, description="When the target is reached")
    warned_at: datetime | None = Field(None, description="When the warning was notified")
    breached_at: datetime | None = Field(None, description="When the breach was recorded")
    periods: list[PeriodOut]


class AgreementRef(Schema):
    reference: str
    name: str
    calendar: str | None = Field(None, description="Calendar reference; null: 24x7")
    calendar_name: str | None
    pause_states: list[str]


class SlaOut(Schema):
    incident: str
    computed_at: datetime
    agreement: AgreementRef | None = Field(None, description="null: no agreement, no clocks")
    clocks: list[ClockOut]


def _incident(request: HttpRequest, ref: str, perm: str) -> Incident:
    if not is_agent(request.user) or not request.user.has_perm(perm):
        raise PermissionDenied("Only service desk agents with access to incidents may do this.")
    return get_object_or_404(Incident, reference=ref)


def _body(explanation: sla.Explanation) -> dict[str, Any]:
    terms = explanation.terms
    clocks = []
    for clock in explanation.clocks:
        warned, breached = explanation.markers.get(clock.kind, (None, None))
        clocks.append(
            {
                "kind": clock.kind,
                "state": clock.state,
                "priority": clock.priority,
                "target_minutes": clock.target_minutes,
                "warning_percent": clock.warning_percent,
                "elapsed_minutes": round(clock.elapsed_minutes, 3),
                "remaining_minutes": round(clock.remaining_minutes, 3),
                "breached": clock.breached,
                "started_at": clock.started_at,
                "stopped_at": clock.stopped_at,
                "warn_at": clock.warn_at,
                "due_at": clock.due_at,
                "warned_at": warned,
                "breached_at": breached,
                "periods": [
                    {
                        "state": p.state,
                        "start": p.start,
                        "end": p.end,
                        "business_minutes": round(p.business_minutes, 3),
                        "counted": p.counted,
                        "status": p.status,
                        "hold_reason": p.hold_reason,
                        "priority": p.priority,
                    }
                    for p in clock.periods
                ],
            }
        )
    return {
        "incident": explanation.incident_reference,
        "computed_at": explanation.computed_at,
        "agreement": None
        if terms is None
        else {
            "reference": terms.reference,
            "name": terms.name,
            "calendar": terms.calendar_reference,
            "calendar_name": terms.calendar_name,
            "pause_states": sorted(terms.policy.pause_states),
        },
        "clocks": clocks,
    }


@router.get(
    "/incidents/{ref}/sla",
    response={200: SlaOut, **ERRORS},
    summary="SLA clocks of an incident, explained",
    operation_id="incident_sla",
)
def incident_sla(request: HttpRequest, ref: str) -> Any:
    """The response and resolution clocks computed now from the incident's journal and its
    agreement, each with its running and paused periods and the business minutes counted in
    them. Nothing is written (``warned_at``/``breached_at`` are the stored markers)."""
    incident = _incident(request, ref, "operation.view_incident")
    return _body(sla.explain(incident))


@router.post(
    "/incidents/{ref}/sla/recompute",
    response={200: SlaOut, **ERRORS},
    summary="Recompute the stored SLA clocks of an incident",
    operation_id="incident_sla_recompute",
)
def incident_sla_recompute(request: HttpRequest, ref: str) -> Any:
    """Recompute and store the clocks from the journal with the agreement, calendar and
    holidays as they are now (after an edit of any of them); returns the new clocks."""
    incident = _incident(request, ref, "operation.change_incident")
    with transaction.atomic():
        sla.refresh(incident)
    return _body(sla.explain(incident))
