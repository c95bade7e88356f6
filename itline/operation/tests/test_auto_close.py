from datetime import timedelta

import pytest
from django.utils import timezone

from itline.core.testing import make_user
from itline.operation import services
from itline.operation.models import Incident
from itline.operation.tasks import close_resolved_incidents
from itline.operation.testing import make_incident

pytestmark = pytest.mark.django_db


def test_incidents_resolved_longer_than_the_reopen_period_are_closed(settings):
    settings.INCIDENT_REOPEN_DAYS = 3
    tom = make_user("tom", "technician")
    old = make_incident("old", by=tom)
    fresh = make_incident("fresh", by=tom)
    for incident in (old, fresh):
        services.resolve_incident(incident, by=tom, resolution="done")
    Incident.objects.filter(pk=old.pk).update(resolved_at=timezone.now() - timedelta(days=4))
    assert close_resolved_incidents.call() == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert (old.status, fresh.status) == ("closed", "resolved")
