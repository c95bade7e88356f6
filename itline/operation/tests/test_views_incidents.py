"""The incident pages: register with the impact proposed from the structure, the record page
(actions only where the transition table allows them), each action through the page, the
timeline with replies and notes told apart, attachments, and optimistic concurrency: a stale
form is refused with its input kept."""

import datetime as dt
import html
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from itline.cmdb.testing import make_component, relate
from itline.core.testing import PASSWORD, make_person, make_user
from itline.operation import services
from itline.operation.choices import IncidentStatus, MessageKind
from itline.operation.models import Attachment, Incident, Message
from itline.operation.testing import make_function, make_incident, make_service
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
    tom = make_user("tom", "technician", name="Tom Tanaka")
    ana = make_user("ana", "technician", name="Ana Alves")
    ops = make_function("Operations", tom, ana)
    mail = make_service("Mail", criticality=4, owner_function=ops)
    client.login(username="tom", password=PASSWORD)
    return {"tom": tom, "ana": ana, "ops": ops, "mail": mail, "client": client}


def _url(inc, action=""):
    return f"/incidents/{inc.reference}/" + (f"{action}/" if action else "")


def test_the_record_page_shows_header_pills_properties_and_the_allowed_actions_only(world):
    caller = make_person("Carl Caller", email="carl@example.com")
    inc = make_incident("Mail bounces", service=world["mail"], by=world["tom"], caller=caller)
    page = world["client"].get(_url(inc))
    assert page.status_code == 200
    text = _text(page)
    assert inc.reference in text and "Mail bounces" in text
    assert "Assigned" in text  # routed to the owner function on creation
    assert "Operations" in text and "Carl Caller" in text
    body = page.content.decode()
    assert 'href="/structure/services/' in body  # the affected service as a chip to the structure
    for label in ("Assign to me", "Start work", "Resolve…", "On hold…", "Assign…"):
        assert label in text
    assert "Reopen…" not in text and "/close/" not in body
    # resolved: close and reopen appear, the working actions go
    services.resolve_incident(inc, by=world["tom"], resolution="Restarted the relay")
    text = _text(world["client"].get(_url(inc)))
    assert "Reopen…" in text and "Close" in text
    assert "Start work" not in text and "Resolve…" not in text and "On hold…" not in text


def test_assign_to_me_then_start_and_hold_and_resume(world):
    tom = world["tom"]
    inc = make_incident("Mail bounces", service=world["mail"], by=tom)
    client = world["client"]
    response = client.post(_url(inc, "assign-me"), {"version": inc.version}, follow=True)
    assert "is assigned to you" in _text(response)
    inc.refresh_from_db()
    assert inc.assignee == me(tom) and inc.assigned_function == world["ops"]

    client.post(_url(inc, "status"), {"status": "in_progress", "version": inc.version})
    inc.refresh_from_db()
    assert inc.status == IncidentStatus.IN_PROGRESS

    missing = client.post(_url(inc, "hold"), {"version": inc.version})
    assert missing.status_code == 422
    assert "This field is required" in _text(missing)
    client.post(
        _url(inc, "hold"),
        {"version": inc.version, "hold_reason": "waiting_for_customer", "note": "Asked for logs"},
    )
    inc.refresh_from_db()
    assert inc.status == IncidentStatus.ON_HOLD and inc.hold_reason == "waiting_for_customer"
    text = _text(client.get(_url(inc)))
    assert (
        "On hold: waiting for customer" in text
        and "Resume work" in text
        and "Asked for logs" in text
    )


def test_assigning_a_person_of_another_function_is_explained_next_to_the_field(world):
    outsider = make_user("olga", "technician", name="Olga Outsider")
    make_function("Facilities", outsider)
    inc = make_incident("Mail bounces", service=world["mail"], by=world["tom"])
    response = world["client"].post(
        _url(inc, "assign"),
        {
            "version": inc.version,
            "function": world["ops"].reference,
            "assignee": me(outsider).reference,
        },
    )
    assert response.status_code == 422
    assert "Olga Outsider is not a member of Operations." in _text(response)
    assert 'id="panel-assign" open' in response.content.decode()


def test_resolving_needs_a_resolution_and_then_resolves(world):
    inc = make_incident("Mail bounces", service=world["mail"], by=world["tom"])
    client = world["client"]
    response = client.post(_url(inc, "resolve"), {"version": inc.version, "category": "fixed"})
    assert response.status_code == 422
    assert "How was it resolved?: This field is required." in _text(response)
    response = client.post(
        _url(inc, "resolve"),
        {"version": inc.version, "category": "workaround", "resolution": "Restarted the relay"},
        follow=True,
    )
    assert f"{inc.reference} is resolved." in _text(response)
    inc.refresh_from_db()
    assert inc.status == IncidentStatus.RESOLVED and inc.resolution_category == "workaround"


def test_resolving_a_closed_incident_is_refused_with_the_allowed_moves(world):
    inc = make_incident("Mail bounces", service=world["mail"], by=world["tom"])
    services.resolve_incident(inc, by=world["tom"], resolution="Done")
    services.close_incident(inc, by=world["tom"])
    response = world["client"].post(
        _url(inc, "resolve"), {"version": inc.version, "category": "fixed", "resolution": "Again"}
    )
    assert response.status_code == 409
    assert "It is final." in _text(response)


def test_a_stale_form_is_refused_shows_the_other_change_and_keeps_the_input(world):
    tom, ana = world["tom"], world["ana"]
    inc = make_incident("Mail bounces", service=world["mail"], by=tom)
    seen = inc.version
    # Ana changes the incident after Tom opened it.
    services.assign_incident(inc, by=ana, assignee=me(ana), function=world["ops"])
    response = world["client"].post(
        _url(inc, "resolve"),
        {"version": seen, "category": "fixed", "resolution": "My careful write-up"},
    )
    assert response.status_code == 409
    text = _text(response)
    assert "changed by someone else" in text
    assert "Ana Alves" in text  # their change is visible
    body = response.content.decode()
    assert "My careful write-up" in body  # nothing lost
    inc.refresh_from_db()
    assert inc.status != IncidentStatus.RESOLVED
    # the kept form now carries the current version: submitting again applies it
    current = re.search(
        r'<input type="hidden" name="version" value="(\d+)" id="resolve_version"', body
    )
    assert current is not None and current.group(1) == str(inc.version)
    world["client"].post(
        _url(inc, "resolve"),
        {"version": inc.version, "category": "fixed", "resolution": "My careful write-up"},
    )
    inc.refresh_from_db()
    assert inc.status == IncidentStatus.RESOLVED


def test_editing_with_a_stale_version_keeps_the_input_and_shows_the_current_record(world):
    tom, ana = world["tom"], world["ana"]
    inc = make_incident("Mail bounces", service=world["mail"], by=tom)
    form = world["client"].get(_url(inc, "edit"))
    assert form.status_code == 200
    seen = inc.version
    services.update_incident(inc, by=ana, title="Mail bounces for everyone")
    response = world["client"].post(
        _url(inc, "edit"),
        {
            "version": seen,
            "title": "My better title",
            "service": world["mail"].reference,
            "impact": "2",
            "urgency": "1",
        },
    )
    assert response.status_code == 409
    text = _text(response)
    assert "Someone else changed" in text and "Mail bounces for everyone" in text
    assert 'value="My better title"' in response.content.decode()
    inc.refresh_from_db()
    assert inc.title == "Mail bounces for everyone"


def test_reopen_only_within_the_period_and_with_a_reason(world, settings):
    settings.INCIDENT_REOPEN_DAYS = 5
    inc = make_incident("Mail bounces", service=world["mail"], by=world["tom"])
    services.resolve_incident(inc, by=world["tom"], resolution="Done")
    client = world["client"]
    assert client.post(_url(inc, "reopen"), {"version": inc.version}).status_code == 422
    client.post(_url(inc, "reopen"), {"version": inc.version, "reason": "Still bouncing"})
    inc.refresh_from_db()
    assert inc.status == IncidentStatus.IN_PROGRESS
    services.resolve_incident(inc, by=world["tom"], resolution="Done again")
    Incident.objects.filter(pk=inc.pk).update(resolved_at=timezone.now() - dt.timedelta(days=6))
    text = _text(client.get(_url(inc)))
    assert "Reopen…" not in text
    response = client.post(_url(inc, "reopen"), {"version": inc.version, "reason": "Again"})
    assert response.status_code == 409 and "open a new incident instead" in _text(response)


def test_merging_a_duplicate_closes_it_and_points_to_the_survivor(world):
    tom = world["tom"]
    survivor = make_incident("Mail is down", service=world["mail"], by=tom)
    duplicate = make_incident("No mail", service=world["mail"], by=tom)
    client = world["client"]
    response = client.post(_url(duplicate, "merge"), {"into": "INC-999999"})
    assert response.status_code == 422 and "There is no incident" in _text(response)
    assert client.post(_url(duplicate, "merge"), {"into": duplicate.reference}).status_code == 422
    client.post(_url(duplicate, "merge"), {"into": f"{survivor.reference} Mail is down"})
    duplicate.refresh_from_db()
    assert duplicate.merged_into == survivor and duplicate.status == IncidentStatus.CLOSED
    text = _text(client.get(_url(survivor)))
    assert duplicate.reference in text and "Duplicate" in text


def test_a_major_incident_gets_stakeholder_updates_on_its_timeline(world):
    inc = make_incident("Mail is down", service=world["mail"], by=world["tom"])
    client = world["client"]
    assert "Major incident communication" not in _text(client.get(_url(inc)))
    client.post(_url(inc, "major"), {"version": inc.version, "major": "1"})
    inc.refresh_from_db()
    assert inc.major
    assert client.post(_url(inc, "major-update"), {"body": " "}).status_code == 422
    client.post(_url(inc, "major-update"), {"body": "Fix expected at 14:00."})
    page = client.get(_url(inc)).content.decode()
    assert "msg-update" in page and "Fix expected at 14:00." in page
    assert Message.objects.filter(kind=MessageKind.UPDATE).count() == 1


def test_replies_and_notes_are_told_apart_and_files_are_attached(world, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    inc = make_incident("Mail is down", service=world["mail"], by=world["tom"])
    client = world["client"]
    client.post(_url(inc, "messages"), {"kind": "note", "body": "Checked the queue: 40k deferred"})
    client.post(
        _url(inc, "messages"),
        {
            "kind": "reply",
            "body": "We are on it.",
            "attachments": [
                SimpleUploadedFile("queue.txt", b"deferred: 40000", content_type="text/plain"),
                SimpleUploadedFile("graph.png", b"\x89PNG...", content_type="image/png"),
            ],
        },
    )
    page = client.get(_url(inc)).content.decode()
    assert re.search(r"msg-note.*Checked the queue", page, re.S)
    assert re.search(r"msg-reply.*We are on it\.", page, re.S)
    assert "Internal note" in page and "Public reply" in page
    files = Attachment.objects.filter(object_id=str(inc.pk))
    assert sorted(f.filename for f in files) == ["graph.png", "queue.txt"]
    att = files.get(filename="queue.txt")
    assert att.message is not None and att.message.body == "We are on it."
    download = client.get(f"/desk/files/{att.pk}/")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"deferred: 40000"
    assert "attachment" in download["Content-Disposition"]


def test_an_empty_comment_or_a_too_big_file_writes_nothing(world, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.ATTACHMENT_MAX_BYTES = 10
    inc = make_incident("Mail is down", service=world["mail"], by=world["tom"])
    client = world["client"]
    response = client.post(_url(inc, "messages"), {"kind": "note", "body": "  "})
    assert response.status_code == 422 and "Write something or attach a file." in _text(response)
    response = client.post(
        _url(inc, "messages"),
        {
            "kind": "reply",
            "body": "See the log",
            "attachments": SimpleUploadedFile("big.log", b"x" * 11),
        },
    )
    assert response.status_code == 422
    assert "the limit is 10 bytes" in _text(response)
    assert "See the log" in response.content.decode()  # the text is kept
    assert not Message.objects.exists() and not Attachment.objects.exists()


def test_the_composer_answers_htmx_with_the_page_it_swaps_from(world):
    inc = make_incident("Mail is down", service=world["mail"], by=world["tom"])
    response = world["client"].post(
        _url(inc, "messages"), {"kind": "note", "body": ""}, HTTP_HX_REQUEST="true"
    )
    # HTMX only swaps 2xx answers: the form with its error comes back as a 200
    assert response.status_code == 200 and 'id="activity"' in response.content.decode()


def test_impact_and_urgency_are_edited_in_place_and_give_the_priority(world):
    inc = make_incident("Mail is down", service=world["mail"], by=world["tom"], impact=3, urgency=3)
    world["client"].post(
        _url(inc, "priority"), {"version": inc.version, "impact": "1", "urgency": "1"}
    )
    inc.refresh_from_db()
    assert inc.priority == 1
    response = world["client"].post(
        _url(inc, "priority"), {"version": inc.version, "impact": "7", "urgency": "1"}
    )
    assert response.status_code == 422


def test_a_new_incident_needs_a_service_or_component_and_gets_the_proposed_impact(world):
    tom = world["tom"]
    db = make_component("mail-db")
    relate(world["mail"], db)
    client = world["client"]
    assert client.get("/incidents/new/").status_code == 200
    response = client.post(
        "/incidents/new/", {"title": "Nothing works", "urgency": "2", "channel": "phone"}
    )
    assert response.status_code == 422
    assert "Name the affected service or component" in _text(response)
    response = client.post(
        "/incidents/new/",
        {"title": "DB slow", "component": "no-such-thing", "urgency": "2", "channel": "phone"},
    )
    assert "There is no component “no-such-thing”" in _text(response)
    proposal = client.get(f"/incidents/new/impact/?component={db.reference}&urgency=1")
    assert "Proposed impact: High" in _text(proposal) and "Mail" in _text(proposal)
    response = client.post(
        "/incidents/new/",
        {
            "title": "DB slow",
            "component": f"{db.reference} mail-db",
            "urgency": "2",
            "channel": "phone",
            "caller": "Tom Tanaka",
        },
        follow=True,
    )
    inc = Incident.objects.get(title="DB slow")
    assert response.redirect_chain[-1][0] == f"/incidents/{inc.reference}/"
    assert inc.impact == 1 and inc.caller == me(tom) and inc.channel == "phone"


def test_raising_a_problem_links_it(world):
    inc = make_incident("Mail is down", service=world["mail"], by=world["tom"])
    response = world["client"].post(_url(inc, "raise-problem"), follow=True)
    inc.refresh_from_db()
    assert inc.problem is not None
    assert f"Problem {inc.problem.reference} raised" in _text(response)
    again = world["client"].post(_url(inc, "raise-problem"), follow=True)
    assert "already linked to a problem" in _text(again)


def test_known_errors_can_be_applied_from_the_page(world):
    ke = services.create_known_error(
        by=world["tom"],
        title="Relay rejects large mail",
        workaround="Send under 10 MB",
        service=world["mail"],
    )
    inc = make_incident("Large mail bounces at the relay", service=world["mail"], by=world["tom"])
    page = _text(world["client"].get(_url(inc)))
    assert ke.reference in page  # suggested
    world["client"].post(_url(inc, "known-error"), {"known_error": ke.reference})
    inc.refresh_from_db()
    assert inc.known_error == ke and "Send under 10 MB" in inc.workaround


def test_bad_addresses_and_methods_answer_4xx_not_500(world):
    client = world["client"]
    assert client.get("/incidents/INC-999999/").status_code == 404
    assert client.get("/incidents/INC-000001/assign/").status_code == 405
    inc = make_incident("Mail is down", service=world["mail"], by=world["tom"])
    assert client.post(_url(inc, "status"), {"status": "resolved"}, follow=True).status_code == 200
    assert client.post(_url(inc, "resolve"), {"version": "abc"}).status_code == 422
    assert client.get("/desk/files/999/").status_code == 404


def test_requesters_cannot_open_agent_incident_pages(world, client):
    inc = make_incident("Mail is down", service=world["mail"], by=world["tom"])
    make_user("rita", "requester")
    client.logout()
    client.login(username="rita", password=PASSWORD)
    assert client.get(_url(inc)).status_code == 403
    assert (
        client.post(_url(inc, "resolve"), {"resolution": "x", "category": "fixed"}).status_code
        == 403
    )
