"""Display helpers of the maintenance pages."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from itline.core.rrule import describe

register = template.Library()

WORK_ORDER_TONE = {"open": "", "in_progress": "amber", "done": "green", "cancelled": ""}


@register.filter
def recurrence(rrule: str) -> str:
    return describe(rrule)


@register.filter
def work_order_tone(work_order: Any) -> str:
    return WORK_ORDER_TONE.get(str(work_order.status), "")


@register.filter
def window_when(window: Any) -> str:
    """``Sun 2026-05-03 02:00-04:00 (Europe/Amsterdam)``: the first occurrence in the window's
    own wall clock, which is what its rule repeats."""
    import zoneinfo

    zone = zoneinfo.ZoneInfo(window.time_zone)
    start = window.starts_at.astimezone(zone)
    end = window.ends_at.astimezone(zone)
    same_day = start.date() == end.date()
    text = (
        f"{start:%a %Y-%m-%d %H:%M}–{end:%H:%M}"  # noqa: RUF001
        if same_day
        else (f"{start:%a %Y-%m-%d %H:%M} – {end:%a %Y-%m-%d %H:%M}")  # noqa: RUF001
    )
    if window.time_zone != timezone.get_current_timezone_name():
        text += f" ({window.time_zone})"
    return text
