"""Webhook bodies of operation records are their API shape."""

import pytest

from itline.core import webhooks
from itline.core.testing import make_user
from itline.operation.testing import make_incident

pytestmark = pytest.mark.django_db


def test_an_incident_payload_is_its_api_representation():
    tom = make_user("tom", "technician")
    incident = make_incident("Mail down", by=tom)
    payload = webhooks.payload_for(incident)
    assert payload["reference"] == incident.reference
    assert payload["status"] == "assigned" or payload["status"] == "new"
    assert payload["version"] == incident.version
    assert payload["component"] == incident.component.reference
