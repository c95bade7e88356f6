"""Template helpers of the alert pages: colours of severities and states, short durations."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django import template
from django.utils import timezone

register = template.Library()

SEVERITY_TONE = {"critical": "red", "error": "red", "warning": "amber", "info": ""}


@register.filter
def severity_tone(severity: str) -> str:
    return f"sev-{severity} {SEVERITY_TONE.get(severity, '')}".strip()


@register.filter
def alert_status_tone(status: str) -> str:
    return "red" if status == "firing" else "green"


@register.filter
def short_duration(value: Any) -> str:
    """``3d 4h``, ``2h 5m``, ``45s``: how long something lasted (a timedelta) or has been
    going on (a datetime in the past)."""
    if isinstance(value, datetime):
        value = timezone.now() - value
    if not isinstance(value, timedelta):
        return ""
    seconds = max(0, int(value.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m"
    return f"{seconds}s"


@register.filter
def iso_time(value: Any) -> str:
    """An ISO timestamp from a JSON decision row, in local time: ``2026-03-01 14:05``."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return value
    if timezone.is_aware(at):
        at = timezone.localtime(at)
    return f"{at:%Y-%m-%d %H:%M}"
