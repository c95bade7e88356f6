"""Periodic work of Operation. The scheduler imports this module; each area keeps its task
next to its code and is listed here so ``itline worker`` schedules it."""

from __future__ import annotations

from datetime import timedelta

from crontask import cron
from django.conf import settings
from django.tasks import task
from django.utils import timezone

from itline.operation.choices import IncidentStatus


@cron("17 * * * *")
@task
def close_resolved_incidents() -> int:
    """Close incidents resolved longer ago than the reopen period: nobody objected."""
    from itline.operation.models import Incident
    from itline.operation.services import close_incident

    limit = timezone.now() - timedelta(days=settings.INCIDENT_REOPEN_DAYS)
    closed = 0
    for incident in Incident.objects.filter(
        status=IncidentStatus.RESOLVED, resolved_at__lt=limit
    ).iterator(chunk_size=200):
        close_incident(incident, by=None)
        closed += 1
    return closed


# The tasks that live next to their code; imported so the scheduler registers them.
from itline.operation.alert_tasks import correlate_alerts  # noqa: E402,F401
from itline.operation.maintenance_tasks import (  # noqa: E402,F401
    run_maintenance_plans,
    send_overdue_mail,
)
from itline.operation.recurrence import detect_recurrence  # noqa: E402,F401
from itline.operation.sla_tasks import scan_sla_breaches  # noqa: E402,F401
