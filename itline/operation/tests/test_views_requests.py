"""Service request pages for agents: phone intake with requester lookup, the list filters, and
the classify actions (answer, fulfil, turn into an incident, link, improvement register),
assignment, close and reopen, all through the page."""

import html
import re

import pytest

from itline.core.testing import PASSWORD, make_person, make_user
from itline.delivery.models import Improvement
from itline.operation import services
from itline.operation.choices import RequestOutcome, RequestStatus
from itline.operation.models import Incident, ServiceRequest
from itline.operation.testing import make_function, make_incident, make_request, make_service
from itline.org.models import Person, person_of

pytestmark = pytest.mark.django_db


def me(user) -> Person:
    person = person_of(user)
    assert person is not None
    return person


def _text(page):
    if not isinstance(page, str):
        page = page.content.decode()
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", page).split()))


@pytest.fixture
def world(client):
    dana = make_user("dana", "service_desk_agent", name="Dana Desmond")
    desk = make_function("Service Desk", dana)
    mail = make_service("Mail", criticality=3, owner_function=desk)
    rita = make_person("Rita Rossi", email="rita@example.com")
    client.login(username="dana", password=PASSWORD)
    return {"dana": dana, "desk": desk, "mail": mail, "rita": rita, "client": client}


def _url(req, action=""):
    return f"/requests/{req.reference}/" + (f"{action}/" if action else "")


def test_phone_intake_registers_a_request_for_the_caller_looked_up_by_email(world):
    client = world["client"]
    assert client.get("/requests/new/").status_code == 200
    response = client.post(
        "/requests/new/",
        {
            "requester": "nobody@example.com",
            "title": "Printer",
            "request_type": "question",
            "channel": "phone",
        },
    )
    assert response.status_code == 422 and "There is no person “nobody@example.com”" in _text(
        response
    )
    response = client.post(
        "/requests/new/",
        {
            "requester": "rita@example.com",
            "title": "Cannot print labels",
            "description": "Since this morning",
            "request_type": "fault_report",
            "channel": "phone",
            "service": "Mail",
        },
        follow=True,
    )
    req = ServiceRequest.objects.get()
    assert response.redirect_chain[-1][0] == f"/requests/{req.reference}/"
    assert (
        req.requester == world["rita"] and req.channel == "phone" and req.service == world["mail"]
    )
    assert f"Request {req.reference} registered for Rita Rossi." in _text(response)


def test_the_request_list_filters_by_type_channel_status_and_requester(world):
    a = make_request(world["rita"], "Printer jams", request_type="fault_report", channel="email")
    b = make_request(world["rita"], "New laptop", request_type="order")
    other = make_request(make_person("Otto"), "Password")
    get = world["client"].get

    def refs(url):
        return re.findall(r'<tr data-href="/requests/(REQ-\d+)/"', get(url).content.decode())

    assert set(refs("/requests/")) == {a.reference, b.reference, other.reference}
    assert refs("/requests/?type=order") == [b.reference]
    assert refs("/requests/?channel=email") == [a.reference]
    assert set(refs(f"/requests/?requester={world['rita'].reference}")) == {
        a.reference,
        b.reference,
    }
    services.answer_request(b, by=world["dana"], answer="Ordered")
    assert b.reference not in refs("/requests/")
    assert refs("/requests/?status=resolved") == [b.reference]


def test_answering_resolves_the_request_with_the_answer(world):
    req = make_request(world["rita"], "How do I share a calendar?")
    client = world["client"]
    page = client.get(_url(req))
    assert page.status_code == 200
    assert "Answer or fulfil…" in _text(page) and "Turn into incident…" in _text(page)
    response = client.post(_url(req, "answer"), {"version": req.version, "outcome": "answered"})
    assert response.status_code == 422 and "This field is required" in _text(response)
    client.post(
        _url(req, "answer"),
        {"version": req.version, "outcome": "fulfilled", "answer": "Done for you."},
    )
    req.refresh_from_db()
    assert req.status == RequestStatus.RESOLVED and req.outcome == RequestOutcome.FULFILLED
    assert req.answer == "Done for you."


def test_turning_a_fault_into_an_incident_prefills_the_form_and_links_both(world):
    req = make_request(
        world["rita"], "Mail bounces", request_type="fault_report", service=world["mail"]
    )
    client = world["client"]
    form = client.get(_url(req, "convert"))
    body = form.content.decode()
    assert 'value="Mail bounces"' in body and f'value="{world["mail"].reference} Mail"' in body
    assert "Proposed impact" in _text(form)
    response = client.post(
        _url(req, "convert"),
        {
            "title": "Mail bounces for warehousing",
            "service": world["mail"].reference,
            "urgency": "1",
        },
        follow=True,
    )
    req.refresh_from_db()
    inc = req.incident
    assert (
        inc is not None
        and inc.caller == world["rita"]
        and inc.title == "Mail bounces for warehousing"
    )
    assert response.redirect_chain[-1][0] == f"/incidents/{inc.reference}/"
    assert req.reference in _text(response)  # the incident lists the request it came from
    # a second conversion is refused; the button is gone
    assert "Turn into incident…" not in _text(client.get(_url(req)))
    again = client.post(
        _url(req, "convert"), {"title": "x", "service": world["mail"].reference, "urgency": "2"}
    )
    assert again.status_code == 422 and "already has an incident" in _text(again)


def test_linking_to_an_open_incident_or_a_known_error(world):
    dana = world["dana"]
    inc = make_incident("Mail is down", service=world["mail"], by=None)
    req = make_request(
        world["rita"], "No mail since 9", request_type="fault_report", service=world["mail"]
    )
    client = world["client"]
    response = client.post(_url(req, "link"), {})
    assert response.status_code == 422 and "Name either an incident or a known error" in _text(
        response
    )
    client.post(_url(req, "link"), {"incident": inc.reference})
    req.refresh_from_db()
    assert req.incident == inc and req.outcome == RequestOutcome.LINKED_INCIDENT

    ke = services.create_known_error(
        by=None, title="Outlook cache full", workaround="Clear the cache"
    )
    other = make_request(world["rita"], "Outlook slow")
    client.post(_url(other, "link"), {"known_error": f"{ke.reference} Outlook cache full"})
    other.refresh_from_db()
    assert other.known_error == ke and other.status == RequestStatus.RESOLVED
    assert "Clear the cache" in other.answer
    assert dana is not None


def test_an_improvement_proposal_goes_to_the_register(world):
    dana = world["dana"]
    from django.contrib.auth.models import Permission

    dana.user_permissions.add(Permission.objects.get(codename="add_improvement"))
    req = make_request(world["rita"], "Dark mode please", request_type="improvement_proposal")
    client = world["client"]
    client.login(username="dana", password=PASSWORD)
    assert "Pass it to the improvement register" in _text(client.get(_url(req)))
    client.post(_url(req, "improvement"), {"version": req.version})
    req.refresh_from_db()
    improvement = Improvement.objects.get()
    assert (
        req.outcome == RequestOutcome.IMPROVEMENT
        and req.improvement_reference == improvement.reference
    )


def test_assign_to_me_status_close_and_reopen(world):
    req = make_request(world["rita"], "Printer")
    client = world["client"]
    client.post(_url(req, "assign-me"), {"version": req.version})
    req.refresh_from_db()
    assert req.assignee == me(world["dana"])
    client.post(_url(req, "status"), {"version": req.version, "status": "waiting_for_requester"})
    req.refresh_from_db()
    assert req.status == RequestStatus.WAITING_FOR_REQUESTER
    services.answer_request(req, by=world["dana"], answer="Replaced the toner")
    client.post(_url(req, "reopen"), {"version": req.version})
    req.refresh_from_db()
    assert req.status == RequestStatus.IN_PROGRESS
    client.post(_url(req, "close"), {"version": req.version})
    req.refresh_from_db()
    assert req.status == RequestStatus.CLOSED
    text = _text(client.get(_url(req)))
    assert "Answer or fulfil…" not in text and "Assign to me" not in text


def test_a_stale_answer_is_refused_and_kept(world):
    req = make_request(world["rita"], "Printer")
    seen = req.version
    services.update_request(req, by=world["dana"], title="Printer on floor 2")
    response = world["client"].post(
        _url(req, "answer"), {"version": seen, "outcome": "answered", "answer": "Try tray 2"}
    )
    assert response.status_code == 409
    assert "Try tray 2" in response.content.decode() and "Printer on floor 2" in _text(response)


def test_notes_and_replies_on_a_request(world):
    req = make_request(world["rita"], "Printer")
    client = world["client"]
    client.post(_url(req, "messages"), {"kind": "reply", "body": "Which printer?"})
    client.post(_url(req, "messages"), {"kind": "note", "body": "Probably the label printer"})
    page = client.get(_url(req)).content.decode()
    assert re.search(r"msg-reply.*Which printer\?", page, re.S)
    assert re.search(r"msg-note.*Probably the label printer", page, re.S)


def test_requesters_cannot_open_agent_request_pages(world, client):
    req = make_request(world["rita"], "Printer")
    make_user("rosa", "requester")
    client.logout()
    client.login(username="rosa", password=PASSWORD)
    assert client.get(_url(req)).status_code == 403
    assert client.get("/requests/new/").status_code == 403
    assert Incident.objects.count() == 0


def test_the_request_queue_query_count_does_not_grow_with_the_page_size(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    dana = world["dana"]

    def add(n):
        for i in range(n):
            req = make_request(make_person(f"Caller {ServiceRequest.objects.count()}"), f"Ask {i}")
            services.assign_request(req, by=dana, assignee=me(dana))

    def count():
        with CaptureQueriesContext(connection) as ctx:
            response = world["client"].get("/requests/")
        assert response.status_code == 200
        rows = re.findall(r'<tr data-href="/requests/', response.content.decode())
        return len(ctx.captured_queries), len(rows)

    add(5)
    small, rows_small = count()
    add(45)
    large, rows_large = count()
    assert (rows_small, rows_large) == (5, 50)
    assert small == large


def test_requests_are_bulk_assigned_with_errors_per_row(world):
    a = make_request(world["rita"], "One")
    b = make_request(world["rita"], "Two")
    services.answer_request(b, by=world["dana"], answer="Done")
    services.close_request(b, by=world["dana"])
    response = world["client"].post(
        "/requests/bulk-assign/",
        {"refs": [a.reference, b.reference], "assignee": "me"},
        follow=True,
    )
    text = _text(response)
    assert f"Assigned 1 of 2 to Dana Desmond: {a.reference}" in text
    assert f"{b.reference}: " in text and "cannot be assigned" in text
    a.refresh_from_db()
    assert a.assignee == me(world["dana"])
