"""Explanations: every correlation decision about an alert or an alert group is appended to
its ``decisions`` list as ``{"at": iso, "what": short, "why": sentence}``, so the alert page
can say why an alert was grouped, suppressed, or why an incident was (not) opened.

The list is bounded: the first entry (how the alert or group began) is kept, then the newest
ones. The same decision twice in a row is written once, so periodic re-evaluation (waiting
for a minimum duration, say) does not fill the list with repeats."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

MAX_DECISIONS = 50


def decide(obj: Any, what: str, why: str, *, at: datetime | None = None) -> bool:
    """Append a decision to ``obj.decisions`` (not saved); False when it repeats the last."""
    entries = list(obj.decisions or [])
    if entries and entries[-1].get("what") == what and entries[-1].get("why") == why:
        return False
    entries.append({"at": (at or timezone.now()).isoformat(), "what": what, "why": why})
    if len(entries) > MAX_DECISIONS:
        entries = entries[:1] + entries[-(MAX_DECISIONS - 1) :]
    obj.decisions = entries
    return True


def clock(moment: datetime) -> str:
    """A moment as people read it in an explanation: ``2026-03-01 14:05:09 UTC``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
