"""Notification mails, sent over real SMTP (aiosmtpd on 127.0.0.1): who gets what, with the
reference in the subject and headers that thread replies back; preferences and the actor."""

import pytest

from itline.core.testing import make_person, make_user
from itline.operation import events, services
from itline.operation.choices import MessageKind
from itline.operation.mail.inbound import receive
from itline.operation.mail.testing import build_mail, smtp_sink
from itline.operation.models import Message, NotificationPreference, ServiceRequest
from itline.operation.testing import make_function, make_incident, make_request

DESK = {
    "DEFAULT_FROM_EMAIL": "itline service desk <desk@itline.test>",
    "MAIL_REPLY_ADDRESS": "desk@itline.test",
    "MAIL_DOMAIN": "itline.test",
    "MAIL_UNKNOWN_SENDERS": "accept",
    "SITE_URL": "https://itline.test",
}


@pytest.fixture(autouse=True)
def desk(settings, tmp_path):
    for name, value in DESK.items():
        setattr(settings, name, value)
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def inbox():
    with smtp_sink() as sink:
        yield sink


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Run a verb and what it announces after commit (the notification task included)."""

    def call(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return call


def sent_messages(record):
    return list(
        Message.objects.filter(object_id=str(record.pk), kind=MessageKind.EMAIL_OUT).order_by("id")
    )


@pytest.mark.django_db
def test_a_request_registered_by_the_desk_is_confirmed_to_the_requester_with_its_reference(
    inbox, run
):
    dana = make_user("dana", "service_desk_agent")
    rita = make_person("Rita Rossi", email="rita@example.com")
    req = run(services.create_request, by=dana, requester=rita, title="New laptop", channel="phone")
    [mail] = inbox.messages
    assert mail["To"] == "Rita Rossi <rita@example.com>"
    assert mail["Subject"] == f"[{req.reference}] New laptop"
    assert mail["Reply-To"] == "desk@itline.test"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Message-ID"].startswith(f"<itline.{req.reference}.")
    assert mail["Message-ID"].endswith("@itline.test>")
    text = inbox.text(mail)
    assert "registered it as " + req.reference in text
    assert f"https://itline.test/portal/requests/{req.reference}/" in text
    assert "https://itline.test/profile/notifications/" in text
    [stored] = sent_messages(req)
    assert stored.message_id == mail["Message-ID"]
    assert stored.to_addresses == ["rita@example.com"]
    assert stored.subject == mail["Subject"]


@pytest.mark.django_db
def test_nobody_is_mailed_about_their_own_action(inbox, run):
    rita = make_user("rita", "requester")
    run(services.create_request, by=rita, title="Printer jams")
    assert inbox.messages == []


@pytest.mark.django_db
def test_a_switched_off_preference_stops_the_mail_and_no_row_means_on(inbox, run):
    rita = make_person("Rita Rossi", email="rita@example.com")
    walt = make_person("Walt Wagner", email="walt@example.com")
    NotificationPreference.objects.create(person=rita, event="new", email=False)
    NotificationPreference.objects.create(person=walt, event="resolved", email=False)
    run(make_request, rita, "Printer jams")
    run(make_request, walt, "Screen flickers")
    assert [m["To"] for m in inbox.messages] == ["Walt Wagner <walt@example.com>"]


@pytest.mark.django_db
def test_assigning_an_incident_mails_the_assignee(inbox, run):
    tom = make_user("tom", "technician", name="Tom Tanaka")
    dana = make_user("dana", "service_desk_agent")
    ops = make_function("Operations", tom)
    incident = make_incident("Disk full on db-1")
    inbox.messages.clear()
    run(services.assign_incident, incident, by=dana, function=ops, assignee=tom.person)
    [mail] = inbox.messages
    assert mail["To"] == "Tom Tanaka <tom@example.com>"
    assert mail["Subject"] == f"[{incident.reference}] Assigned to you: Disk full on db-1"
    assert "Operations" in inbox.text(mail)


@pytest.mark.django_db
def test_assigning_to_a_function_mails_its_members_or_its_shared_mailbox(inbox, run):
    tom = make_user("tom", "technician")
    una = make_user("una", "technician")
    dana = make_user("dana", "service_desk_agent")
    ops = make_function("Operations", tom, una)
    incident = make_incident("Disk full on db-1")
    inbox.messages.clear()
    run(services.assign_incident, incident, by=dana, function=ops)
    assert sorted(m["To"] for m in inbox.messages) == [
        "Tom <tom@example.com>",
        "Una <una@example.com>",
    ]
    assert all("to Operations" in m["Subject"] for m in inbox.messages)

    network = make_function("Network", tom)
    network.email = "network-team@example.com"
    network.save()
    inbox.messages.clear()
    run(services.assign_incident, incident, by=dana, function=network)
    assert [m["To"] for m in inbox.messages] == ["Network <network-team@example.com>"]


@pytest.mark.django_db
def test_a_function_without_members_is_reached_through_its_lead(inbox, run):
    lena = make_person("Lena Lead", email="lena@example.com")
    dana = make_user("dana", "service_desk_agent")
    ops = make_function("Operations", lead=lena)
    incident = make_incident("Disk full")
    inbox.messages.clear()
    run(services.assign_incident, incident, by=dana, function=ops)
    assert [m["To"] for m in inbox.messages] == ["Lena Lead <lena@example.com>"]


@pytest.mark.django_db
def test_a_public_reply_of_an_agent_is_mailed_to_the_requester_but_an_internal_note_is_not(
    inbox, run
):
    dana = make_user("dana", "service_desk_agent", name="Dana Desmond")
    rita = make_person("Rita Rossi", email="rita@example.com")
    req = run(make_request, rita)
    inbox.messages.clear()
    run(
        services.add_message, req, by=dana, kind=MessageKind.NOTE, body="Looks like a driver issue."
    )
    assert inbox.to("rita@example.com") == []
    run(
        services.add_message,
        req,
        by=dana,
        kind=MessageKind.REPLY,
        body="Please restart the printer.",
    )
    [mail] = inbox.to("rita@example.com")
    assert mail["Subject"] == f"Re: [{req.reference}] Printer jams"
    text = inbox.text(mail)
    assert "Dana Desmond wrote:" in text
    assert "Please restart the printer." in text
    assert text.startswith("##- Please type your reply above this line -##")


@pytest.mark.django_db
def test_mails_on_a_request_opened_by_mail_answer_the_requesters_own_mail(inbox, run, settings):
    dana = make_user("dana", "service_desk_agent")
    make_person("Anna Bell", email="anna@example.com")
    receive(build_mail(message_id="<anna-1@mail.example.com>"))
    req = ServiceRequest.objects.get()
    run(services.add_message, req, by=dana, kind=MessageKind.REPLY, body="On it.")
    [mail] = inbox.to("anna@example.com")
    assert mail["In-Reply-To"] == "<anna-1@mail.example.com>"
    assert mail["References"] == "<anna-1@mail.example.com>"
    run(services.answer_request, req, by=dana, answer="Replaced the toner.")
    second = inbox.to("anna@example.com")[1]
    assert second["Subject"] == f"[{req.reference}] Resolved: Printer on floor 2 is jammed"
    assert "Replaced the toner." in inbox.text(second)
    assert second["References"].split()[0] == "<anna-1@mail.example.com>"


@pytest.mark.django_db
def test_a_status_change_tells_the_requester_but_an_internal_edit_does_not(inbox, run):
    dana = make_user("dana", "service_desk_agent")
    rita = make_person("Rita Rossi", email="rita@example.com")
    req = run(make_request, rita)
    inbox.messages.clear()
    run(services.update_request, req, by=dana, request_type="order")
    assert inbox.messages == []
    run(services.set_request_status, req, by=dana, status="waiting_for_requester")
    [mail] = inbox.messages
    assert "Waiting for requester" in mail["Subject"]
    assert "please reply" in inbox.text(mail)


@pytest.mark.django_db
def test_a_resolved_incident_is_reported_to_its_caller(inbox, run):
    tom = make_user("tom", "technician")
    carl = make_person("Carl Caller", email="carl@example.com")
    incident = run(make_incident, "VPN down", caller=carl)
    inbox.messages.clear()
    run(services.resolve_incident, incident, by=tom, resolution="Restarted the VPN gateway.")
    [mail] = inbox.to("carl@example.com")
    assert mail["Subject"] == f"[{incident.reference}] Resolved: VPN down"
    assert "Restarted the VPN gateway." in inbox.text(mail)


@pytest.mark.django_db
def test_an_sla_warning_and_breach_go_to_the_assignee_and_the_function_lead(inbox, run):
    tom = make_user("tom", "technician", name="Tom Tanaka")
    lena = make_person("Lena Lead", email="lena@example.com")
    carl = make_person("Carl Caller", email="carl@example.com")
    ops = make_function("Operations", tom, lead=lena)
    incident = run(
        make_incident, "VPN down", caller=carl, assigned_function=ops, assignee=tom.person
    )
    inbox.messages.clear()
    run(
        events.publish,
        incident,
        "incident.breach_warning",
        extra={"clock": "resolution", "percent": 75},
    )
    assert sorted(m["To"] for m in inbox.messages) == [
        "Lena Lead <lena@example.com>",
        "Tom Tanaka <tom@example.com>",
    ]
    assert all("SLA warning (resolution)" in m["Subject"] for m in inbox.messages)
    assert "75 % of the target used" in inbox.text(inbox.messages[0])
    NotificationPreference.objects.create(person=lena, event="breach", email=False)
    inbox.messages.clear()
    run(events.publish, incident, "incident.breach", extra={"clock": "resolution"})
    assert [m["To"] for m in inbox.messages] == ["Tom Tanaka <tom@example.com>"]
    assert "SLA breached" in inbox.messages[0]["Subject"]


@pytest.mark.django_db
def test_a_major_incident_update_is_mailed_to_the_stakeholders(inbox, run):
    tom = make_user("tom", "technician")
    carl = make_person("Carl Caller", email="carl@example.com")
    rita = make_person("Rita Rossi", email="rita@example.com")
    incident = run(make_incident, "Payroll down", caller=carl, major=True)
    req = make_request(rita, "Cannot open payroll")
    services.link_request(req, by=None, incident=incident)
    inbox.messages.clear()
    run(services.post_major_update, incident, by=tom, body="Vendor is on site; ETA 14:00.")
    assert sorted(m["To"] for m in inbox.messages) == [
        "Carl Caller <carl@example.com>",
        "Rita Rossi <rita@example.com>",
    ]
    assert "ETA 14:00" in inbox.text(inbox.messages[0])
    assert "Update on a major incident" in inbox.messages[0]["Subject"]


@pytest.mark.django_db
def test_the_caller_of_a_merged_duplicate_is_told_where_it_went(inbox, run):
    tom = make_user("tom", "technician")
    carl = make_person("Carl Caller", email="carl@example.com")
    survivor = make_incident("Mail down")
    duplicate = make_incident("Cannot send mail", caller=carl)
    run(services.merge_incident, duplicate, into=survivor, by=tom)
    [mail] = inbox.to("carl@example.com")
    assert f"Merged into {survivor.reference}" in mail["Subject"]


@pytest.mark.django_db
def test_a_mail_server_that_is_down_loses_no_change_and_stores_no_sent_mail(run, settings):
    from itline.operation.mail.testing import free_port

    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": free_port(), "timeout": 2},
        }
    }
    rita = make_person("Rita Rossi", email="rita@example.com")
    req = run(make_request, rita)
    assert ServiceRequest.objects.filter(pk=req.pk).exists()
    assert sent_messages(req) == []


# --- Mail in, mail out: real commits, as in production -------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_request_opened_by_mail_is_acknowledged_once_and_the_desk_is_not_spammed(inbox):
    anna = make_person("Anna Bell", email="anna@example.com")
    tom = make_user("tom", "technician")
    desk = make_function("Service Desk", tom)
    result = receive(build_mail())
    assert result.outcome == "created"
    [ack] = inbox.messages
    assert ack["To"] == "Anna Bell <anna@example.com>"
    assert ack["In-Reply-To"] == "<first-mail@mail.example.com>"
    assert ServiceRequest.objects.get().assigned_function == desk
    assert anna.pk


@pytest.mark.django_db(transaction=True)
def test_a_reply_by_mail_is_passed_to_the_assignee_and_not_echoed_to_its_sender(inbox):
    make_person("Anna Bell", email="anna@example.com")
    tom = make_user("tom", "technician", name="Tom Tanaka")
    desk = make_function("Service Desk", tom)
    receive(build_mail())
    req = ServiceRequest.objects.get()
    services.assign_request(req, by=None, function=desk, assignee=tom.person)
    inbox.messages.clear()
    result = receive(
        build_mail(
            subject=f"Re: [{req.reference}] Printer",
            body="It works again, thanks.",
            message_id="<anna-2@mail.example.com>",
        )
    )
    assert result.outcome == "threaded"
    [mail] = inbox.messages
    assert mail["To"] == "Tom Tanaka <tom@example.com>"
    assert "New message from Anna Bell" in mail["Subject"]
    assert "It works again, thanks." in inbox.text(mail)


@pytest.mark.django_db(transaction=True)
def test_a_reply_that_reopens_a_resolved_request_does_not_mail_its_sender(inbox):
    make_person("Anna Bell", email="anna@example.com")
    receive(build_mail())
    req = ServiceRequest.objects.get()
    services.answer_request(req, by=None, answer="Restart it.")
    inbox.messages.clear()
    receive(build_mail(subject=f"Re: [{req.reference}]", body="Still broken.", message_id="<a3@x>"))
    req.refresh_from_db()
    assert req.status == "in_progress"
    assert inbox.to("anna@example.com") == []


@pytest.mark.django_db(transaction=True)
def test_an_auto_reply_is_never_answered(inbox):
    make_person("Anna Bell", email="anna@example.com")
    tom = make_user("tom", "technician")
    desk = make_function("Service Desk", tom)
    receive(build_mail())
    req = ServiceRequest.objects.get()
    services.assign_request(req, by=None, function=desk, assignee=tom.person)
    inbox.messages.clear()
    result = receive(
        build_mail(
            subject=f"Automatic reply: [{req.reference}]",
            body="Out of office.",
            message_id="<ooo@x>",
            headers={"Auto-Submitted": "auto-replied"},
        )
    )
    assert result.outcome == "auto_reply"
    assert inbox.messages == []
