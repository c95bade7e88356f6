"""The fault walk over HTTP, without a browser: a requester reports a fault in the portal, the
service desk turns it into an incident, a technician resolves it, the requester sees it
resolved and closes the request. The same story as tests/browser/test_fault_walk.py."""

from __future__ import annotations

import json

from django.core.files.uploadedfile import SimpleUploadedFile

from itline.core.testing import bearer
from itline.operation.choices import IncidentStatus, RequestOutcome, RequestStatus
from itline.operation.models import Incident, ServiceRequest
from itline.operation.tests.portal_world import build_world, signed_in


def post_json(client, url, payload, user):
    return client.post(
        url, json.dumps(payload), content_type="application/json", headers=bearer(user)
    )


def test_a_fault_goes_from_the_portal_to_resolution_and_is_closed_by_the_requester(
    db, client, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    world = build_world()
    rita = signed_in(world.rita)

    # 1. Rita reports the fault in the portal, with a photo.
    form = rita.get("/portal/requests/new/?type=fault_report")
    assert form.status_code == 200
    response = rita.post(
        "/portal/requests/new/",
        {
            "request_type": "fault_report",
            "service": str(world.wms.pk),
            "title": "Handheld scanners cannot log in to the WMS",
            "description": "All scanners in hall 3 show 'session refused' since 7:00.",
            "attachments": [SimpleUploadedFile("scanner.jpg", b"\xff\xd8 photo", "image/jpeg")],
        },
    )
    assert response.status_code == 302
    req = ServiceRequest.objects.get()
    detail = f"/portal/requests/{req.reference}/"
    assert response["Location"] == detail
    assert "Received" in rita.get(detail).content.decode()

    # 2. The service desk turns the fault report into an incident.
    converted = post_json(
        client,
        f"/api/v1/requests/{req.reference}/incident",
        {"service": world.wms.reference, "urgency": 1},
        world.dana,
    )
    assert converted.status_code == 201, converted.content
    incident = Incident.objects.get(reference=converted.json()["reference"])
    assert incident.caller == world.rita.person
    page = rita.get(detail).content.decode()
    assert "In progress" in page
    assert f'fault <a class="ref" href="/portal/incidents/{incident.reference}/">' in page

    # Rita adds a detail while the technicians work; the technician sees it on the incident.
    rita.post(
        f"/portal/incidents/{incident.reference}/reply/",
        {"reply-body": "Scanners in hall 2 work fine."},
    )

    # 3. The technician resolves the incident.
    resolved = post_json(
        client,
        f"/api/v1/incidents/{incident.reference}/resolve",
        {"resolution": "Renewed the expired certificate of the scanner gateway."},
        world.tom,
    )
    assert resolved.status_code == 200, resolved.content

    # 4. Rita sees her request resolved, with the fix in plain words, and closes it.
    page = rita.get(detail).content.decode()
    assert "Resolved" in page
    assert "Renewed the expired certificate" in page
    assert "Yes, it is solved: close the request" in page
    incident_page = rita.get(f"/portal/incidents/{incident.reference}/").content.decode()
    assert "Fixed" in incident_page
    assert "Scanners in hall 2 work fine." in incident_page
    assert "Close " in rita.get(f"{detail}close/").content.decode()
    closed = rita.post(f"{detail}close/")
    assert closed.status_code == 302
    req.refresh_from_db()
    incident.refresh_from_db()
    assert (req.status, req.outcome) == (RequestStatus.CLOSED, RequestOutcome.INCIDENT)
    assert incident.status == IncidentStatus.CLOSED  # her confirmation closes the incident
    page = rita.get(detail).content.decode()
    assert "This request is closed" in page
    listing = rita.get("/portal/requests/?state=closed").content.decode()
    assert req.reference in listing
