"""The periodic SLA breach scan. ``itline.operation.tasks`` imports this module so the
scheduler (``itline worker``) finds it."""

from __future__ import annotations

from crontask import cron
from django.tasks import task


@cron("* * * * *")
@task
def scan_sla_breaches() -> dict[str, int]:
    """Every minute: clocks that reached their warning threshold or passed their target
    since the last scan are marked, journaled and notified (once per threshold)."""
    from itline.operation.sla import scan

    result = scan()
    return {"warned": result.warned, "breached": result.breached}
