"""Template tags of the SLA clock partials: ``{% sla_panel incident as panel %}`` gives the
incident's clocks computed now (time left in business time) with their explanation."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse

register = template.Library()

KIND_LABELS = {"response": "Response", "resolution": "Resolution"}
STATUS_LABELS = {
    "new": "new",
    "assigned": "assigned",
    "in_progress": "in progress",
    "on_hold": "on hold",
    "resolved": "resolved",
    "closed": "closed",
}
HOLD_LABELS = {
    "waiting_for_customer": "waiting for customer",
    "waiting_for_supplier": "waiting for supplier",
    "waiting_for_change": "waiting for change",
}


def business(minutes: float) -> str:
    """Business time as ``3h 20m`` (hours, not days: a business day has no fixed length)."""
    whole = round(abs(minutes))
    hours, rest = divmod(whole, 60)
    if hours and rest:
        return f"{hours}h {rest}m"
    if hours:
        return f"{hours}h"
    return f"{rest}m"


register.filter("business_time", business)


def _headline(clock: Any) -> tuple[str, str]:
    """(tone, words) of a clock, e.g. ("amber", "1h 5m left")."""
    left = clock.remaining_minutes
    if clock.state == "stopped":
        if clock.breached:
            return "red", f"missed by {business(-left)}"
        return "green", f"met, {business(left)} to spare"
    if clock.breached:
        return "red", f"{business(-left)} over"
    tone = "amber" if clock.warned else "green"
    if clock.state == "paused":
        return ("amber" if clock.warned else "neutral"), f"paused, {business(left)} left"
    return tone, f"{business(left)} left"


def _period(period: Any) -> dict[str, Any]:
    hold = HOLD_LABELS.get(period.hold_reason, period.hold_reason)
    status = STATUS_LABELS.get(period.status, period.status)
    return {
        "state": period.state,
        "counted": period.counted,
        "start": period.start,
        "end": period.end,
        "minutes": period.business_minutes,
        "duration": business(period.business_minutes),
        "status": f"{status} ({hold})" if hold else status,
        "priority": period.priority,
    }


@register.simple_tag
def sla_panel(incident: Any, now: datetime | None = None) -> dict[str, Any]:
    """The clocks of ``incident`` as the SLA partials show them."""
    from itline.operation import sla

    explanation = sla.explain(incident, now=now)
    terms = explanation.terms
    clocks = []
    for clock in explanation.clocks:
        tone, words = _headline(clock)
        warned, breached = explanation.markers.get(clock.kind, (None, None))
        clocks.append(
            {
                "kind": clock.kind,
                "label": KIND_LABELS.get(clock.kind, clock.kind),
                "state": clock.state,
                "tone": tone,
                "headline": words,
                "priority": clock.priority,
                "target": business(clock.target_minutes),
                "elapsed": business(clock.elapsed_minutes),
                "percent": max(
                    0, min(100, round(100 * clock.elapsed_minutes / clock.target_minutes))
                ),
                "warning_percent": clock.warning_percent,
                "warn_at": clock.warn_at,
                "due_at": clock.due_at,
                "stopped_at": clock.stopped_at,
                "warned_at": warned,
                "breached_at": breached,
                "periods": [_period(p) for p in clock.periods],
            }
        )
    agreement_url = None
    if terms is not None:
        try:
            agreement_url = reverse("relations:agreement-detail", args=[terms.reference])
        except NoReverseMatch:
            agreement_url = None
    try:
        refresh_url = reverse("operation:incident-sla", args=[incident.reference])
    except NoReverseMatch:
        refresh_url = None
    return {
        "terms": terms,
        "agreement_url": agreement_url,
        "refresh_url": refresh_url,
        "clocks": clocks,
        "computed_at": explanation.computed_at,
    }
