"""The requester portal: submit, follow, reply, add files, close. Requester pages only; who
may see what is in test_portal_visibility.py, the whole fault walk in test_portal_flow.py."""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from itline.core.testing import make_user
from itline.operation import services as ops
from itline.operation.choices import MessageKind, RequestOutcome, RequestStatus
from itline.operation.models import Attachment, Message, ServiceRequest
from itline.operation.tests.portal_world import build_world, signed_in


@pytest.fixture
def world(db, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return build_world()


@pytest.fixture
def rita(world) -> Client:
    return signed_in(world.rita)


def file(
    name: str = "screenshot.png", content: bytes = b"\x89PNG fake image"
) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="image/png")


def submit(client: Client, world, **overrides) -> ServiceRequest:
    data = {
        "request_type": "fault_report",
        "service": str(world.wms.pk),
        "title": "Label printer in hall 3 prints blank labels",
        "description": "Since this morning, every label comes out blank.",
        **overrides,
    }
    response = client.post("/portal/requests/new/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    return ServiceRequest.objects.get(title=data["title"])


def text(response) -> str:
    return response.content.decode()


# --- submitting ------------------------------------------------------------------------------


def test_the_form_offers_catalogue_services_with_the_requesters_customers_services_first(
    world, rita
):
    page = text(rita.get("/portal/requests/new/"))
    assert '<optgroup label="Services of Warehousing">' in page
    assert page.index("Warehouse Management") < page.index("Other services") < page.index("E-mail")
    assert "Database Hosting" not in page  # not in the catalogue


def test_the_form_preselects_the_type_asked_for_in_the_link(world, rita):
    page = text(rita.get("/portal/requests/new/?type=question"))
    assert re.search(r'<input type="radio" name="request_type" value="question"[^>]*checked', page)


def test_a_requester_submits_a_fault_report_with_a_file(world, rita):
    response = rita.post(
        "/portal/requests/new/",
        {
            "request_type": "fault_report",
            "service": str(world.wms.pk),
            "title": "  Label printer   prints blank labels ",
            "description": "Every label comes out blank.",
            "attachments": [file(), file("log.txt", b"printer log")],
        },
    )
    req = ServiceRequest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/portal/requests/{req.reference}/"
    assert (req.request_type, req.channel, req.service, req.requester) == (
        "fault_report",
        "portal",
        world.wms,
        world.rita.person,
    )
    assert req.title == "Label printer prints blank labels"
    assert sorted(a.filename for a in ops.attachments_for(req)) == ["log.txt", "screenshot.png"]
    page = text(rita.get(response["Location"]))
    assert "Label printer prints blank labels" in page
    assert "Received" in page
    assert "We have received your request" in page
    assert "screenshot.png" in page
    assert f"Your request {req.reference} has been received" in page


def test_a_file_over_the_limit_is_refused_naming_the_file_and_the_limit_and_nothing_is_saved(
    world, rita, settings
):
    settings.ATTACHMENT_MAX_BYTES = 100
    response = rita.post(
        "/portal/requests/new/",
        {
            "request_type": "question",
            "title": "Can I get a bigger screen?",
            "attachments": [file("huge.pdf", b"x" * 101)],
        },
    )
    assert response.status_code == 422
    page = text(response)
    assert "“huge.pdf” is 101\xa0bytes; files may be at most 100\xa0bytes." in page
    assert "Please correct the following" in page
    assert not ServiceRequest.objects.exists()
    assert not Attachment.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("title", "   ", "This field is required."),
        ("title", "x" * 201, "at most 200 characters"),
        ("request_type", "ransom_note", "Select a valid choice"),
        ("service", "not-a-number", "Select a valid choice"),
    ],
)
def test_bad_input_is_refused_next_to_the_field(world, rita, field, value, message):
    data = {"request_type": "question", "title": "Printer", field: value}
    response = rita.post("/portal/requests/new/", data)
    assert response.status_code == 422
    assert f'id="id_{field}_error"' in text(response)
    assert message in text(response)
    assert not ServiceRequest.objects.exists()


def test_a_service_outside_the_catalogue_is_refused(world, rita):
    response = rita.post(
        "/portal/requests/new/",
        {"request_type": "order", "title": "More disk", "service": str(world.hidden.pk)},
    )
    assert response.status_code == 422
    assert "Select a valid choice" in text(response)
    assert not ServiceRequest.objects.exists()


def test_a_login_without_a_person_is_told_so_clearly(db):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user(username="ghost", password="x-long-enough-1")
    client = Client()
    client.login(username="ghost", password="x-long-enough-1")
    response = client.get("/portal/requests/new/")
    assert response.status_code == 403
    assert "not linked to a person" in text(response)


# --- my requests ------------------------------------------------------------------------------


def test_an_empty_list_explains_itself_and_offers_to_submit_a_request(world, rita):
    page = text(rita.get("/portal/requests/"))
    assert "You have no requests yet" in page
    assert 'href="/portal/requests/new/">Submit a request</a>' in page


def test_my_requests_lists_my_requests_and_the_incidents_i_called_in(world, rita):
    mine = ops.create_request(by=world.rita, title="VPN drops every hour")
    phoned = ops.create_incident(
        by=world.dana,
        title="Scanner in hall 2 is dead",
        service=world.wms,
        caller=world.rita.person,
    )
    ops.create_request(by=world.walt, title="Walt's own question")
    page = text(rita.get("/portal/requests/"))
    assert mine.reference in page and "VPN drops every hour" in page
    assert phoned.reference in page and "Scanner in hall 2 is dead" in page
    assert "Walt" not in page
    assert "<strong>2</strong> records" in page


def test_a_request_turned_into_an_incident_is_one_row_showing_both(world, rita):
    req = ops.create_request(by=world.rita, title="Printer broken", request_type="fault_report")
    inc = ops.convert_request_to_incident(req, by=world.dana, service=world.wms)
    page = text(rita.get("/portal/requests/"))
    assert page.count(f"/portal/requests/{req.reference}/") == 1
    assert f"/portal/incidents/{inc.reference}/" not in page
    assert f'Handled as fault <span class="ref">{inc.reference}</span>' in page


def test_my_requests_can_be_searched_and_filtered_by_state(world, rita):
    printer = ops.create_request(by=world.rita, title="Printer jams")
    vpn = ops.create_request(by=world.rita, title="VPN slow")
    ops.answer_request(vpn, by=world.dana, answer="Restart the client.")

    found = text(rita.get("/portal/requests/?q=printer"))
    assert printer.reference in found and vpn.reference not in found
    found = text(rita.get(f"/portal/requests/?q={vpn.reference.lower()}"))
    assert vpn.reference in found and printer.reference not in found
    resolved = text(rita.get("/portal/requests/?state=resolved"))
    assert vpn.reference in resolved and printer.reference not in resolved
    nothing = text(rita.get("/portal/requests/?q=teleporter"))
    assert "Nothing matches" in nothing


def test_an_unknown_filter_or_a_broken_page_link_shows_the_list_with_a_note(world, rita):
    ops.create_request(by=world.rita, title="Printer jams")
    response = rita.get("/portal/requests/?state=exploded&cursor=%%%not-base64")
    assert response.status_code == 200
    assert "Unknown status filter" in text(response)
    assert "no longer valid" in text(response)
    assert "Printer jams" in text(response)


def test_paging_walks_every_record_newest_first_exactly_once(
    world, rita, django_assert_max_num_queries
):
    made = [ops.create_request(by=world.rita, title=f"Request {i}").reference for i in range(23)]
    made += [
        ops.create_incident(
            by=world.dana, title=f"Phoned {i}", service=world.wms, caller=world.rita.person
        ).reference
        for i in range(22)
    ]
    seen: list[str] = []
    url = "/portal/requests/"
    pages = 0
    while url:
        with django_assert_max_num_queries(12):
            page = text(rita.get(url))
        seen += re.findall(r'<span class="ref">((?:REQ|INC)-\d+)</span> ·', page)
        nxt = re.search(r'<a href="(\?[^"]+)" rel="next">', page)
        url = "/portal/requests/" + nxt.group(1).replace("&amp;", "&") if nxt else ""
        pages += 1
    assert pages == 3
    assert len(seen) == len(set(seen)) == 45
    assert set(seen) == set(made)
    # newest first: the last incident was created last
    assert seen[0] == made[-1]


# --- a record and its conversation ---------------------------------------------------------------


def test_the_conversation_shows_public_replies_and_never_internal_notes(world, rita):
    req = ops.create_request(by=world.rita, title="Printer jams")
    ops.add_message(req, by=world.dana, kind=MessageKind.REPLY, body="We are on it.")
    note = ops.add_message(
        req, by=world.dana, kind=MessageKind.NOTE, body="Internal: third time this week."
    )
    ops.add_attachment(req, by=world.dana, filename="internal.txt", content=b"x", message=note)
    page = text(rita.get(f"/portal/requests/{req.reference}/"))
    assert "We are on it." in page
    assert "Dana Desmond, service desk" in page
    assert "third time this week" not in page
    assert "internal.txt" not in page


def test_a_reply_is_the_requesters_public_message_with_its_files(world, rita):
    req = ops.create_request(by=world.rita, title="Printer jams")
    response = rita.post(
        f"/portal/requests/{req.reference}/reply/",
        {"reply-body": "It happens on printer P-07 only.", "reply-attachments": [file()]},
    )
    assert response.status_code == 302
    assert response["Location"] == f"/portal/requests/{req.reference}/#conversation"
    message = Message.objects.get()
    assert (message.kind, message.author, message.body) == (
        MessageKind.REPLY,
        world.rita.person,
        "It happens on printer P-07 only.",
    )
    assert [a.filename for a in message.attachments.all()] == ["screenshot.png"]
    page = text(rita.get(f"/portal/requests/{req.reference}/"))
    assert "It happens on printer P-07 only." in page
    assert "<strong>You</strong>" in page


def test_an_empty_reply_is_refused_next_to_the_field(world, rita):
    req = ops.create_request(by=world.rita, title="Printer jams")
    response = rita.post(f"/portal/requests/{req.reference}/reply/", {"reply-body": "   "})
    assert response.status_code == 422
    assert 'id="id_reply-body_error"' in text(response)
    assert not Message.objects.exists()


def test_replying_on_a_resolved_request_reopens_it(world, rita):
    req = ops.create_request(by=world.rita, title="VPN slow")
    ops.answer_request(req, by=world.dana, answer="Restart the client.")
    page = text(rita.get(f"/portal/requests/{req.reference}/"))
    assert "Reply and reopen" in page
    assert "Restart the client." in page
    response = rita.post(
        f"/portal/requests/{req.reference}/reply/", {"reply-body": "Still slow after a restart."}
    )
    assert response.status_code == 302
    req.refresh_from_db()
    assert req.status == RequestStatus.IN_PROGRESS
    assert Message.objects.get().body == "Still slow after a restart."
    assert "the request is open again" in text(rita.get(response["Location"]))


def test_a_reply_while_the_desk_waits_for_me_hands_the_request_back_to_the_desk(world, rita):
    req = ops.create_request(by=world.rita, title="Order a headset")
    ops.set_request_status(req, by=world.dana, status=RequestStatus.WAITING_FOR_REQUESTER)
    assert "Please reply below" in text(rita.get(f"/portal/requests/{req.reference}/"))
    rita.post(f"/portal/requests/{req.reference}/reply/", {"reply-body": "Wireless, please."})
    req.refresh_from_db()
    assert req.status == RequestStatus.IN_PROGRESS
    assert "Please reply below" not in text(rita.get(f"/portal/requests/{req.reference}/"))


def test_files_can_be_added_later_and_download_as_attachments(world, rita):
    req = ops.create_request(by=world.rita, title="Printer jams")
    response = rita.post(
        f"/portal/requests/{req.reference}/files/",
        {"files-attachments": [file("page.html", b"<script>alert(1)</script>")]},
    )
    assert response.status_code == 302
    att = Attachment.objects.get()
    assert att.message is None
    download = rita.get(f"/portal/files/{att.pk}/")
    assert download.status_code == 200
    assert download["Content-Type"] == "application/octet-stream"
    assert download["Content-Disposition"].startswith("attachment;")
    assert b"".join(download.streaming_content) == b"<script>alert(1)</script>"


def test_adding_no_file_is_refused(world, rita):
    req = ops.create_request(by=world.rita, title="Printer jams")
    response = rita.post(f"/portal/requests/{req.reference}/files/", {})
    assert response.status_code == 422
    assert "Choose at least one file." in text(response)


def test_closing_asks_for_confirmation_first(world, rita):
    req = ops.create_request(by=world.rita, title="Printer jams")
    page = text(rita.get(f"/portal/requests/{req.reference}/close/"))
    assert "Withdraw and close" in page
    req.refresh_from_db()
    assert req.status == RequestStatus.NEW
    response = rita.post(f"/portal/requests/{req.reference}/close/")
    assert response.status_code == 302
    req.refresh_from_db()
    assert (req.status, req.outcome) == (RequestStatus.CLOSED, RequestOutcome.WITHDRAWN)


def test_closing_a_resolved_request_confirms_it(world, rita):
    req = ops.create_request(by=world.rita, title="VPN slow")
    ops.answer_request(req, by=world.dana, answer="Restart the client.")
    assert "Yes, close the request" in text(rita.get(f"/portal/requests/{req.reference}/close/"))
    rita.post(f"/portal/requests/{req.reference}/close/")
    req.refresh_from_db()
    assert (req.status, req.outcome) == (RequestStatus.CLOSED, RequestOutcome.ANSWERED)
    page = text(rita.get(f"/portal/requests/{req.reference}/"))
    assert "This request is closed" in page
    assert "Close request" not in page
    assert 'name="reply-body"' not in page


def test_a_closed_request_takes_no_replies_or_files(world, rita):
    req = ops.create_request(by=world.rita, title="Printer jams")
    ops.close_request(req, by=world.rita)
    reply = rita.post(f"/portal/requests/{req.reference}/reply/", {"reply-body": "Hello?"})
    assert reply.status_code == 409
    assert "is closed and takes no more replies" in text(reply)
    files = rita.post(f"/portal/requests/{req.reference}/files/", {"files-attachments": [file()]})
    assert files.status_code == 409
    assert not Message.objects.exists() and not Attachment.objects.exists()
    again = rita.post(f"/portal/requests/{req.reference}/close/")
    assert again.status_code == 302  # already closed: said so, nothing changes


def test_the_write_endpoints_refuse_get(world, rita):
    req = ops.create_request(by=world.rita, title="Printer jams")
    assert rita.get(f"/portal/requests/{req.reference}/reply/").status_code == 405
    assert rita.get(f"/portal/requests/{req.reference}/files/").status_code == 405


def test_the_incident_page_shows_plain_status_and_the_fix(world, rita):
    inc = ops.create_incident(
        by=world.dana, title="Scanner dead", service=world.wms, caller=world.rita.person
    )
    assert inc.status == "assigned"  # routed to the owner function of the service
    page = text(rita.get(f"/portal/incidents/{inc.reference}/"))
    assert "A support team has taken the fault on" in page
    ops.transition_incident(inc, by=world.tom, status="on_hold", hold_reason="waiting_for_customer")
    page = text(rita.get(f"/portal/incidents/{inc.reference}/"))
    assert "Waiting for you" in page and "Please reply below" in page
    ops.resolve_incident(inc, by=world.tom, resolution="Replaced the scanner cable.")
    page = text(rita.get(f"/portal/incidents/{inc.reference}/"))
    assert "Fixed" in page and "Replaced the scanner cable." in page
    reply = rita.post(f"/portal/incidents/{inc.reference}/reply/", {"reply-body": "Thanks!"})
    assert reply.status_code == 302
    assert Message.objects.get().body == "Thanks!"


# --- portal home --------------------------------------------------------------------------------


def test_the_portal_home_shows_open_requests_and_how_my_services_are_doing(world, rita):
    req = ops.create_request(by=world.rita, title="Printer jams")
    page = text(rita.get("/"))
    assert "IT service portal" in page
    assert req.reference in page
    assert "Warehouse Management" in page and "No known disruption" in page
    ops.create_incident(by=world.dana, title="WMS down", service=world.wms, impact=1, urgency=1)
    page = text(rita.get("/"))
    assert "Disruption" in page
    assert "WMS down" not in page  # someone else's incident: only the service's state shows


def test_the_portal_home_for_someone_without_requests_offers_to_submit_one(db):
    make_user("newbie", "requester")
    client = Client()
    client.login(username="newbie", password="correct horse battery staple")
    page = text(client.get("/"))
    assert "Nothing open." in page
    assert "/portal/requests/new/?type=fault_report" in page


def test_a_retired_service_is_neither_offered_nor_accepted(world, rita):
    from itline.cmdb import services as cmdb

    cmdb.update_service(world.email, by=None, lifecycle="retired")
    assert "E-mail" not in text(rita.get("/portal/requests/new/"))
    response = rita.post(
        "/portal/requests/new/",
        {"request_type": "question", "title": "Mail quota", "service": str(world.email.pk)},
    )
    assert response.status_code == 422
    assert not ServiceRequest.objects.exists()


def test_a_file_just_over_the_limit_names_exact_sizes(world, rita, settings):
    settings.ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
    response = rita.post(
        "/portal/requests/new/",
        {
            "request_type": "question",
            "title": "Big scan",
            "attachments": [file("scan.tif", b"x" * (10 * 1024 * 1024 + 1))],
        },
    )
    assert response.status_code == 422
    assert "“scan.tif” is 10,485,761 bytes; files may be at most 10,485,760 bytes." in text(
        response
    )


def test_a_link_may_preselect_the_service(world, rita):
    page = text(rita.get(f"/portal/requests/new/?service={world.email.reference.lower()}"))
    assert re.search(rf'<option value="{world.email.pk}" selected>E-mail</option>', page)
