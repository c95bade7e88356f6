"""The service desk API: incidents and requests through HTTP, as a client sees them."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from itline.cmdb.testing import make_component
from itline.core.testing import bearer, make_user
from itline.operation.models import Incident
from itline.operation.testing import make_function, make_incident, make_service

pytestmark = pytest.mark.django_db


def _post(client, url, data, headers):
    return client.post(url, data, content_type="application/json", headers=headers)


@pytest.fixture
def tom():
    return make_user("tom", "technician")


@pytest.fixture
def tom_h(tom):
    return bearer(tom)


def test_an_incident_is_created_worked_and_resolved_over_the_api(client, tom, tom_h):
    ops = make_function("Operations", tom)
    db = make_component("db-1")
    db.owner_function = ops
    db.save()
    created = _post(
        client, "/api/v1/incidents", {"title": "DB slow", "component": db.reference}, tom_h
    )
    assert created.status_code == 201, created.content
    body = created.json()
    ref = body["reference"]
    assert (body["assigned_function"], body["status"]) == (ops.reference, "assigned")
    ack = _post(client, f"/api/v1/incidents/{ref}/acknowledge", {}, tom_h)
    assert ack.status_code == 200, ack.content
    assert (ack.json()["status"], ack.json()["assignee"]) == ("in_progress", tom.person.reference)
    note = _post(
        client, f"/api/v1/incidents/{ref}/messages", {"kind": "note", "body": "Looking"}, tom_h
    )
    assert note.status_code == 201
    resolved = _post(
        client,
        f"/api/v1/incidents/{ref}/resolve",
        {"resolution": "Index rebuilt", "category": "configuration"},
        tom_h,
    )
    assert resolved.json()["status"] == "resolved"
    history = client.get(f"/api/v1/incidents/{ref}/journal", headers=tom_h).json()
    assert [h["verb"] for h in history][:1] == ["created"]
    assert "state_changed" in [h["verb"] for h in history]


def test_an_illegal_move_is_409_listing_the_allowed_ones(client, tom, tom_h):
    incident = make_incident(by=tom)
    _post(client, f"/api/v1/incidents/{incident.reference}/resolve", {"resolution": "ok"}, tom_h)
    _post(client, f"/api/v1/incidents/{incident.reference}/close", {}, tom_h)
    answer = _post(
        client,
        f"/api/v1/incidents/{incident.reference}/transition",
        {"status": "on_hold", "hold_reason": "waiting_for_customer"},
        tom_h,
    )
    assert answer.status_code == 409
    assert "final" in answer.json()["detail"]


def test_a_stale_version_is_409_and_the_other_change_stays(client, tom, tom_h):
    incident = make_incident(by=tom)
    version = incident.version
    first = client.patch(
        f"/api/v1/incidents/{incident.reference}",
        {"title": "Renamed", "version": version},
        content_type="application/json",
        headers=tom_h,
    )
    assert first.status_code == 200
    second = client.patch(
        f"/api/v1/incidents/{incident.reference}",
        {"description": "Mine", "version": version},
        content_type="application/json",
        headers=tom_h,
    )
    assert second.status_code == 409
    assert second.json()["errors"][0]["field"] == "version"
    incident.refresh_from_db()
    assert (incident.title, incident.description) == ("Renamed", "")


def test_an_incident_without_service_or_component_is_422_naming_the_field(client, tom_h):
    answer = _post(client, "/api/v1/incidents", {"title": "Nothing"}, tom_h)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "service"


def test_a_requester_sees_only_their_own_requests_and_no_internal_notes(client, tom, tom_h):
    rita = make_user("rita", "requester")
    rita_h = bearer(rita)
    mine = _post(
        client, "/api/v1/requests", {"title": "VPN fails", "request_type": "fault_report"}, rita_h
    )
    assert mine.status_code == 201, mine.content
    ref = mine.json()["reference"]
    other = make_user("otto", "requester")
    theirs = _post(client, "/api/v1/requests", {"title": "Otto's"}, bearer(other)).json()[
        "reference"
    ]
    listed = client.get("/api/v1/requests", headers=rita_h).json()["items"]
    assert [r["reference"] for r in listed] == [ref]
    assert client.get(f"/api/v1/requests/{theirs}", headers=rita_h).status_code == 404
    _post(client, f"/api/v1/requests/{ref}/messages", {"kind": "note", "body": "internal"}, tom_h)
    _post(client, f"/api/v1/requests/{ref}/messages", {"kind": "reply", "body": "Try again"}, tom_h)
    seen = client.get(f"/api/v1/requests/{ref}/messages", headers=rita_h).json()
    assert [m["body"] for m in seen] == ["Try again"]
    refused = _post(
        client, f"/api/v1/requests/{ref}/messages", {"kind": "note", "body": "x"}, rita_h
    )
    assert refused.status_code == 403


def test_a_fault_report_becomes_an_incident_and_an_attachment_is_stored(client, tom, tom_h):
    svc = make_service("Mail", catalogue_visible=True)
    rita = make_user("rita", "requester")
    ref = _post(
        client,
        "/api/v1/requests",
        {"title": "No mail", "request_type": "fault_report", "service": svc.reference},
        bearer(rita),
    ).json()["reference"]
    upload = client.post(
        f"/api/v1/requests/{ref}/attachments",
        {"file": _file("error.txt", b"550 mailbox full")},
        headers=bearer(rita),
    )
    assert upload.status_code == 201, upload.content
    assert upload.json()["size"] == 16
    converted = _post(client, f"/api/v1/requests/{ref}/incident", {"urgency": 1}, tom_h)
    assert converted.status_code == 201, converted.content
    inc = converted.json()
    assert (inc["service"], inc["caller"]) == (svc.reference, rita.person.reference)
    req = client.get(f"/api/v1/requests/{ref}", headers=tom_h).json()
    assert (req["incident"], req["outcome"], req["status"]) == (
        inc["reference"],
        "incident",
        "in_progress",
    )


def test_an_oversized_attachment_is_refused_naming_the_limit(client, tom, tom_h, settings):
    settings.ATTACHMENT_MAX_BYTES = 10
    incident = make_incident(by=tom)
    answer = client.post(
        f"/api/v1/incidents/{incident.reference}/attachments",
        {"file": _file("big.bin", b"x" * 11)},
        headers=tom_h,
    )
    assert answer.status_code == 422
    assert "limit is 10 bytes" in answer.json()["errors"][0]["message"]


def test_the_priority_matrix_round_trips_and_rejects_an_incomplete_one(client):
    admin_h = bearer(make_user("admin", "administrator"))
    matrix = client.get("/api/v1/priority-matrix", headers=admin_h).json()
    assert len(matrix) == 9
    matrix[-1]["priority"] = 3
    put = client.put(
        "/api/v1/priority-matrix", matrix, content_type="application/json", headers=admin_h
    )
    assert put.status_code == 200
    assert put.json()[-1]["priority"] == 3
    bad = client.put(
        "/api/v1/priority-matrix", matrix[:3], content_type="application/json", headers=admin_h
    )
    assert bad.status_code == 422


@pytest.mark.parametrize("path", ["/api/v1/incidents", "/api/v1/requests"])
def test_list_query_count_does_not_grow_with_the_page_size(client, tom, tom_h, path):
    rita = make_user("rita", "requester")
    svc = make_service("Mail", catalogue_visible=True)
    for i in range(12):
        make_incident(f"i{i}", service=svc, by=tom, caller=rita.person)
        _post(client, "/api/v1/requests", {"title": f"r{i}"}, bearer(rita))
    client.get(f"{path}?limit=1", headers=tom_h)  # token bookkeeping happens once
    counts = []
    for limit in (2, 12):
        with CaptureQueriesContext(connection) as ctx:
            answer = client.get(f"{path}?limit={limit}", headers=tom_h)
        assert len(answer.json()["items"]) == limit
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


def test_improvement_proposals_go_to_the_register(client, tom_h):
    rita = make_user("rita", "requester")
    ref = _post(
        client,
        "/api/v1/requests",
        {"title": "Dark mode", "request_type": "improvement_proposal"},
        bearer(rita),
    ).json()["reference"]
    passed = _post(client, f"/api/v1/requests/{ref}/improvement", {}, tom_h)
    assert passed.status_code == 201, passed.content
    imp = passed.json()
    assert (imp["source_reference"], imp["proposed_by"]) == (ref, rita.person.reference)
    req = client.get(f"/api/v1/requests/{ref}", headers=tom_h).json()
    assert (req["status"], req["improvement_reference"]) == ("resolved", imp["reference"])
    assert Incident.objects.count() == 0


def _file(name, content):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content, content_type="application/octet-stream")
