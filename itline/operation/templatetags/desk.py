"""Small display helpers of the service desk pages: pill tones, compact ages, SLA badges."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template
from django.utils import timezone

register = template.Library()

STATUS_TONE = {
    "new": "blue",
    "assigned": "blue",
    "in_progress": "amber",
    "on_hold": "neutral",
    "waiting_for_requester": "neutral",
    "resolved": "green",
    "closed": "neutral",
}
PRIORITY_TONE = {1: "red", 2: "amber", 3: "blue", 4: "neutral"}


@register.filter
def status_tone(status: str) -> str:
    return STATUS_TONE.get(str(status), "neutral")


@register.filter
def priority_tone(priority: int) -> str:
    return PRIORITY_TONE.get(int(priority or 4), "neutral")


def compact_duration(seconds: float) -> str:
    """3d 4h, 5h 20m, 12m: two units at most, so a table column stays narrow."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h" if hours and days < 10 else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    return f"{minutes}m"


@register.filter
def age(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    return compact_duration((timezone.now() - value).total_seconds())


@register.filter
def minutes(value: float | int | None) -> str:
    if value is None:
        return "—"
    return compact_duration(float(value) * 60)


@register.filter
def sla(record: Any) -> dict[str, str] | None:
    """The SLA badge of an incident from its (prefetched) clocks."""
    from itline.operation.views.common import sla_badge

    clocks = getattr(record, "clocks", None)
    return sla_badge(clocks.all()) if clocks is not None else None


RECORD_URLS: dict[str, tuple[str, ...]] = {
    "incident": ("operation:incident-detail",),
    "servicerequest": ("operation:request-detail",),
    "problem": ("problems:problem-detail", "operation:problem-detail"),
    "knownerror": ("problems:known-error-detail", "operation:known-error-detail"),
    "improvement": ("delivery:improvement-detail",),
}


@register.filter
def record_url(obj: Any) -> str:
    """The page of a record, or "" while that page does not exist yet (the link is then
    plain text rather than a 404)."""
    from django.urls import NoReverseMatch, reverse

    if obj is None:
        return ""
    getter = getattr(obj, "get_absolute_url", None)
    if getter is not None:
        try:
            return str(getter())
        except NoReverseMatch:
            pass
    for name in RECORD_URLS.get(obj._meta.model_name, ()):
        try:
            return reverse(name, args=[obj.reference])
        except NoReverseMatch:
            continue
    return ""


@register.filter
def improvement_url(reference: str) -> str:
    from django.urls import NoReverseMatch, reverse

    if not reference:
        return ""
    try:
        return reverse("delivery:improvement-detail", args=[reference])
    except NoReverseMatch:
        return ""


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    try:
        return mapping.get(key, "")
    except AttributeError:
        return ""
