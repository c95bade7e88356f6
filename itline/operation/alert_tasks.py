"""Periodic correlation work, every minute: the sweep of alerts that a crash left pending
after their ingest commit, and the tick that opens incidents whose minimum duration has
passed, ends flapping after the quiet period (then resolves what waited for it), and
correlates alerts whose silence or maintenance window is over while they still fire.
``itline.operation.tasks`` imports this module so the scheduler finds it."""

from __future__ import annotations

from crontask import cron
from django.tasks import task


@cron("* * * * *")
@task
def correlate_alerts() -> dict[str, int]:
    from itline.operation.correlation import process_pending, tick

    swept = process_pending()
    stats = tick()
    stats["swept"] = swept
    return stats
