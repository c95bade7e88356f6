"""In the portal a person sees only their own records. Another person's reference answers
exactly like one that does not exist (404), so guessing references reveals nothing."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from itline.operation import services as ops
from itline.operation.choices import MessageKind, RequestStatus
from itline.operation.models import Attachment, Message
from itline.operation.tests.portal_world import build_world, signed_in


@pytest.fixture
def world(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return build_world()


@pytest.fixture
def ritas(world):
    """Rita's request (turned into an incident) and an incident she phoned in."""
    req = ops.create_request(by=world.rita, title="Rita's printer", request_type="fault_report")
    inc = ops.convert_request_to_incident(req, by=world.dana, service=world.wms)
    phoned = ops.create_incident(
        by=world.dana, title="Rita's scanner", service=world.wms, caller=world.rita.person
    )
    return req, inc, phoned


def test_anonymous_visitors_are_sent_to_sign_in(world, client):
    response = client.get("/portal/requests/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


@pytest.mark.parametrize(
    "path",
    ["/portal/requests/{req}/", "/portal/requests/{req}/close/"],
)
def test_another_persons_request_is_not_found_like_a_missing_one(world, ritas, path):
    req, _, _ = ritas
    walt = signed_in(world.walt)
    theirs = walt.get(path.format(req=req.reference))
    missing = walt.get(path.format(req="REQ-999999"))
    assert theirs.status_code == missing.status_code == 404
    assert req.title not in theirs.content.decode()


@pytest.mark.parametrize("action", ["reply", "files", "close"])
def test_another_person_cannot_write_on_a_request_and_learns_nothing(world, ritas, action):
    req, _, _ = ritas
    walt = signed_in(world.walt)
    data = {
        "reply-body": "I was here",
        "files-attachments": [SimpleUploadedFile("x.txt", b"x")],
    }
    response = walt.post(f"/portal/requests/{req.reference}/{action}/", data)
    assert response.status_code == 404
    req.refresh_from_db()
    assert req.status != RequestStatus.CLOSED
    assert not Message.objects.exists()
    assert not Attachment.objects.exists()


@pytest.mark.parametrize("which", [1, 2])
def test_another_persons_incidents_are_not_found(world, ritas, which):
    inc = ritas[which]
    walt = signed_in(world.walt)
    assert walt.get(f"/portal/incidents/{inc.reference}/").status_code == 404
    response = walt.post(f"/portal/incidents/{inc.reference}/reply/", {"reply-body": "Hi"})
    assert response.status_code == 404
    assert not Message.objects.exists()


def test_another_persons_records_never_appear_in_my_list_or_search(world, ritas):
    req, inc, phoned = ritas
    walt = signed_in(world.walt)
    for url in ("/portal/requests/", f"/portal/requests/?q={req.reference}", "/"):
        page = walt.get(url).content.decode()
        for ref in (req.reference, inc.reference, phoned.reference):
            assert f">{ref}<" not in page  # the search box may echo the query, rows may not
            assert f"/{ref}/" not in page
        assert "Rita's" not in page
        assert "You have no requests yet" in page or "Nothing matches" in page or url == "/"


def test_another_persons_files_are_not_found(world, ritas):
    req, _, _ = ritas
    att = ops.add_attachment(req, by=world.rita, filename="private.pdf", content=b"secret")
    assert signed_in(world.walt).get(f"/portal/files/{att.pk}/").status_code == 404
    assert signed_in(world.rita).get(f"/portal/files/{att.pk}/").status_code == 200


def test_files_of_internal_notes_are_not_found_even_for_the_requester(world, ritas):
    req, _, _ = ritas
    note = ops.add_message(req, by=world.dana, kind=MessageKind.NOTE, body="internal")
    att = ops.add_attachment(
        req, by=world.dana, filename="diagnosis.txt", content=b"internal", message=note
    )
    assert signed_in(world.rita).get(f"/portal/files/{att.pk}/").status_code == 404


def test_an_agent_in_the_portal_sees_only_their_own_requests_too(world, ritas):
    req, _, _ = ritas
    dana = signed_in(world.dana)
    assert dana.get(f"/portal/requests/{req.reference}/").status_code == 404
    assert req.reference not in dana.get("/portal/requests/").content.decode()


def test_the_incident_my_request_was_linked_to_is_visible_but_only_in_public(world):
    incident = ops.create_incident(
        by=world.dana, title="WMS slow for everyone", service=world.wms, caller=world.walt.person
    )
    ops.add_message(incident, by=world.dana, kind=MessageKind.NOTE, body="Walt called twice")
    req = ops.create_request(by=world.rita, title="WMS is slow", request_type="fault_report")
    ops.link_request(req, by=world.dana, incident=incident)
    rita = signed_in(world.rita)
    page = rita.get(f"/portal/incidents/{incident.reference}/").content.decode()
    assert "WMS slow for everyone" in page
    assert "Walt called twice" not in page
    # Rita is not the caller: she replies on her own request, not on Walt's incident.
    assert 'name="reply-body"' not in page
    assert f"reply on your request {req.reference}" in page
    refused = rita.post(f"/portal/incidents/{incident.reference}/reply/", {"reply-body": "Me too"})
    assert refused.status_code == 403
    assert not Message.objects.filter(kind=MessageKind.REPLY).exists()


def test_references_are_case_insensitive_for_the_owner(world, ritas):
    req, _, _ = ritas
    rita = signed_in(world.rita)
    assert rita.get(f"/portal/requests/{req.reference.lower()}/").status_code == 200


def test_only_the_mails_sent_to_the_requester_are_shown_to_them(world, ritas):
    req, _, _ = ritas
    ops.add_message(
        req,
        by=None,
        kind=MessageKind.EMAIL_OUT,
        subject=f"[{req.reference}] Assigned to you",
        body="Note from Dana: third time this week.",
        to_addresses=["tom@example.com"],
    )
    ops.add_message(
        req,
        by=None,
        kind=MessageKind.EMAIL_OUT,
        subject=f"[{req.reference}] We are working on it",
        body="Your request is in progress.",
        to_addresses=["RITA@example.com"],
    )
    page = signed_in(world.rita).get(f"/portal/requests/{req.reference}/").content.decode()
    assert "We are working on it" in page and "E-mail sent to you" in page
    assert "Assigned to you" not in page and "third time this week" not in page


def test_files_an_agent_added_without_a_public_message_stay_internal(world, ritas):
    req, _, _ = ritas
    internal = ops.add_attachment(req, by=world.dana, filename="dump.log", content=b"secrets")
    reply = ops.add_message(req, by=world.dana, kind=MessageKind.REPLY, body="See the guide.")
    shared = ops.add_attachment(
        req, by=world.dana, filename="guide.pdf", content=b"%PDF", message=reply
    )
    rita = signed_in(world.rita)
    page = rita.get(f"/portal/requests/{req.reference}/").content.decode()
    assert "guide.pdf" in page and "dump.log" not in page
    assert rita.get(f"/portal/files/{internal.pk}/").status_code == 404
    assert rita.get(f"/portal/files/{shared.pk}/").status_code == 200


def test_the_portal_address_leads_to_the_portal_home(client):
    response = client.get("/portal/")
    assert response.status_code == 302
    assert response["Location"] == "/"
