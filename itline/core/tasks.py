"""Background tasks of the framework: the worker heartbeat that ``/metrics`` reports."""

from __future__ import annotations

import socket

from crontask import cron
from django.tasks import task
from django.utils import timezone

from itline.core import webhook_tasks  # noqa: F401  (the scheduler finds the webhook sweep here)
from itline.core.models import WorkerHeartbeat


@cron("* * * * *")
@task
def heartbeat() -> None:
    """Proves the scheduler enqueues and a worker runs tasks: its age is a metric."""
    WorkerHeartbeat.objects.update_or_create(
        name=socket.gethostname()[:100], defaults={"beat_at": timezone.now()}
    )
