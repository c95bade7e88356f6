"""Incoming e-mail, processed as the listener and the IMAP poller do (inbound.receive): new
requests, threading, idempotence, auto-replies, loops, unknown senders and broken mail."""

import pytest

from itline.core.testing import make_person
from itline.operation import services
from itline.operation.choices import Channel, IncidentStatus, MessageKind, RequestStatus
from itline.operation.mail.inbound import receive
from itline.operation.mail.testing import build_mail
from itline.operation.models import Attachment, InboundMail, Message, ServiceRequest
from itline.operation.testing import make_incident, make_request
from itline.org.models import Person

pytestmark = pytest.mark.django_db

DESK = {
    "DEFAULT_FROM_EMAIL": "itline service desk <desk@itline.test>",
    "MAIL_REPLY_ADDRESS": "desk@itline.test",
    "MAIL_DOMAIN": "itline.test",
    "MAIL_UNKNOWN_SENDERS": "accept",
    "ATTACHMENT_MAX_BYTES": 64 * 1024,
}


@pytest.fixture(autouse=True)
def desk(settings, tmp_path):
    for name, value in DESK.items():
        setattr(settings, name, value)
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.VAR_DIR = tmp_path


@pytest.fixture
def anna():
    return make_person("Anna Bell", email="anna@example.com")


def messages_on(record):
    return list(
        Message.objects.filter(object_id=str(record.pk), kind=MessageKind.EMAIL_IN).order_by("id")
    )


def test_a_new_mail_from_a_known_person_opens_an_email_request_with_the_mail_on_its_timeline(anna):
    result = receive(build_mail(), mail_from="anna@example.com", rcpt_to=["desk@itline.test"])
    assert result.outcome == InboundMail.Outcome.CREATED
    assert result.smtp_reply.startswith("250")
    req = ServiceRequest.objects.get()
    assert result.reference == req.reference
    assert req.requester == anna
    assert req.channel == Channel.EMAIL
    assert req.title == "Printer on floor 2 is jammed"
    assert "error E42" in req.description
    [message] = messages_on(req)
    assert message.author == anna
    assert message.message_id == "<first-mail@mail.example.com>"
    assert message.from_address == "anna@example.com"
    log = InboundMail.objects.get()
    assert (log.outcome, log.record_reference) == ("created", req.reference)
    assert log.rcpt_to == ["desk@itline.test"]


def test_a_reply_with_the_reference_in_the_subject_is_added_to_that_request(anna):
    req = make_request(anna, "VPN drops every hour")
    result = receive(
        build_mail(
            subject=f"Re: [{req.reference}] VPN drops every hour",
            body="It happened again at 10:02.",
            message_id="<reply-1@mail.example.com>",
        )
    )
    assert (result.outcome, result.reference) == ("threaded", req.reference)
    assert ServiceRequest.objects.count() == 1
    [message] = messages_on(req)
    assert message.body == "It happened again at 10:02."


def test_a_short_reference_in_the_subject_finds_the_record_too(anna):
    req = make_request(anna)
    number = int(req.reference.split("-")[1])
    result = receive(build_mail(subject=f"Re: [req-{number}] printer", message_id="<r@x>"))
    assert result.reference == req.reference


def test_a_reply_is_threaded_by_in_reply_to_even_without_a_reference_in_the_subject(anna):
    receive(build_mail())
    req = ServiceRequest.objects.get()
    result = receive(
        build_mail(
            subject="Re: the printer",
            body="Now it prints blank pages.",
            message_id="<second@mail.example.com>",
            in_reply_to="<first-mail@mail.example.com>",
        )
    )
    assert (result.outcome, result.reference) == ("threaded", req.reference)
    assert [m.message_id for m in messages_on(req)] == [
        "<first-mail@mail.example.com>",
        "<second@mail.example.com>",
    ]


def test_the_references_header_threads_when_in_reply_to_names_an_unknown_mail(anna):
    receive(build_mail())
    req = ServiceRequest.objects.get()
    result = receive(
        build_mail(
            subject="Fwd: the printer",
            message_id="<third@mail.example.com>",
            in_reply_to="<something-we-never-saw@elsewhere>",
            references="<first-mail@mail.example.com> <something-we-never-saw@elsewhere>",
        )
    )
    assert result.reference == req.reference


def test_our_own_message_id_in_a_reply_names_the_record_even_if_that_mail_was_not_stored(anna):
    incident = make_incident("Payroll batch failed", caller=anna)
    result = receive(
        build_mail(
            subject="Re: your update",
            message_id="<reply-to-ours@mail.example.com>",
            in_reply_to=f"<itline.{incident.reference}.abc123@itline.test>",
        )
    )
    assert result.reference == incident.reference
    assert messages_on(incident)[0].body.startswith("The printer")


def test_the_quoted_history_below_our_reply_marker_is_not_stored_again(anna):
    req = make_request(anna)
    body = (
        "Thanks, that worked.\n\nOn Tue, 3 Mar 2026, itline wrote:\n"
        "> ##- Please type your reply above this line -##\n> Hello Anna,\n> We have ...\n"
    )
    receive(build_mail(subject=f"Re: [{req.reference}]", body=body, message_id="<q@x>"))
    assert messages_on(req)[0].body == "Thanks, that worked."


def test_a_reply_to_a_resolved_request_reopens_it(anna):
    req = make_request(anna)
    services.answer_request(req, by=None, answer="Restart the printer.")
    result = receive(
        build_mail(subject=f"Re: [{req.reference}]", body="Did not help.", message_id="<n@x>")
    )
    req.refresh_from_db()
    assert req.status == RequestStatus.IN_PROGRESS
    assert "reopened" in result.detail


def test_a_reply_to_a_closed_request_opens_a_follow_up_request_that_names_it(anna):
    old = make_request(anna)
    services.close_request(old, by=None)
    result = receive(build_mail(subject=f"Re: [{old.reference}] printer", message_id="<f@x>"))
    assert result.outcome == "created"
    new = ServiceRequest.objects.get(reference=result.reference)
    assert new.pk != old.pk
    assert new.description.startswith(f"Follow-up to {old.reference}")
    old.refresh_from_db()
    assert old.status == RequestStatus.CLOSED


def test_a_reply_to_a_merged_incident_goes_to_the_surviving_incident(anna):
    survivor = make_incident("Mail down", caller=anna)
    duplicate = make_incident("Cannot send mail", caller=anna)
    services.merge_incident(duplicate, into=survivor, by=None)
    result = receive(build_mail(subject=f"Re: [{duplicate.reference}]", message_id="<m@x>"))
    assert result.reference == survivor.reference
    survivor.refresh_from_db()
    assert survivor.status != IncidentStatus.CLOSED


def test_a_redelivered_mail_adds_nothing(anna):
    raw = build_mail(attachments=[("log.txt", b"line 1\n", "text/plain")])
    first = receive(raw)
    again = receive(raw)
    assert first.outcome == "created"
    assert again.outcome == "duplicate"
    assert again.smtp_reply.startswith("250")
    assert again.reference == first.reference
    assert ServiceRequest.objects.count() == 1
    assert Message.objects.filter(kind=MessageKind.EMAIL_IN).count() == 1
    assert Attachment.objects.count() == 1
    assert InboundMail.objects.count() == 1


def test_a_mail_without_a_message_id_is_recognised_when_the_same_bytes_come_again(anna):
    raw = build_mail(message_id=None)
    assert receive(raw).outcome == "created"
    assert receive(raw).outcome == "duplicate"
    assert ServiceRequest.objects.count() == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"X-Autoreply": "yes"},
        {"Precedence": "bulk"},
        {"Precedence": "junk"},
        {"X-Auto-Response-Suppress": "All"},
        {"Return-Path": "<>"},
    ],
)
def test_an_auto_reply_opens_no_request_and_is_only_logged(anna, headers):
    result = receive(build_mail(subject="Out of office", headers=headers))
    assert result.outcome == "auto_reply"
    assert result.smtp_reply.startswith("250")
    assert not ServiceRequest.objects.exists()
    assert InboundMail.objects.get().outcome == "auto_reply"


def test_a_bounce_with_an_empty_envelope_sender_is_an_auto_reply(anna):
    result = receive(build_mail(subject="Undeliverable"), mail_from="")
    assert result.outcome == "auto_reply"
    assert not ServiceRequest.objects.exists()


def test_an_auto_reply_to_a_request_is_recorded_on_it_but_changes_nothing(anna):
    req = make_request(anna)
    services.answer_request(req, by=None, answer="Done.")
    result = receive(
        build_mail(
            subject=f"Automatic reply: [{req.reference}] Resolved",
            body="I am out of the office until Monday.",
            headers={"Auto-Submitted": "auto-replied"},
            message_id="<ooo@x>",
        )
    )
    assert (result.outcome, result.reference) == ("auto_reply", req.reference)
    req.refresh_from_db()
    assert req.status == RequestStatus.RESOLVED  # an out-of-office does not reopen it
    assert messages_on(req)[0].body.startswith("I am out of the office")


@pytest.mark.parametrize(
    ("sender", "headers", "message_id", "why"),
    [
        ("itline service desk <desk@itline.test>", {}, "<x1@x>", "our own address"),
        ("Anna <anna@example.com>", {"X-Itline-Loop": "itline.test"}, "<x2@x>", "X-Itline-Loop"),
        ("Anna <anna@example.com>", {}, "<itline.REQ-000001.ab12@itline.test>", "Message-ID"),
    ],
)
def test_our_own_mail_coming_back_is_a_loop_that_is_logged_and_dropped(
    anna, sender, headers, message_id, why
):
    result = receive(build_mail(sender=sender, headers=headers, message_id=message_id))
    assert result.outcome == "loop"
    assert why in result.detail
    assert not ServiceRequest.objects.exists()
    assert InboundMail.objects.get().outcome == "loop"


def test_a_mail_that_passed_too_many_servers_is_a_loop(anna, settings):
    settings.MAIL_MAX_RECEIVED = 5
    hops = "".join(
        f"Received: from relay{i}.example.com by x; Mon, 1 Jan 2026\r\n" for i in range(6)
    )
    result = receive(hops.encode() + build_mail())
    assert result.outcome == "loop"
    assert "6 mail servers" in result.detail


def test_an_unknown_sender_is_created_as_a_new_contact_when_the_rule_is_accept():
    result = receive(build_mail(sender='"Zoë Zander" <zoe@partner.example>'))
    assert result.outcome == "created"
    person = Person.objects.get(email="zoe@partner.example")
    assert person.name == "Zoë Zander"
    assert ServiceRequest.objects.get().requester == person


def test_an_unknown_sender_is_refused_with_a_clear_550_when_the_rule_is_reject(settings):
    settings.MAIL_UNKNOWN_SENDERS = "reject"
    result = receive(build_mail(sender="stranger@spam.example"))
    assert result.outcome == "rejected"
    assert result.smtp_reply.startswith("550 5.7.1 <stranger@spam.example> is not known")
    assert "portal" in result.smtp_reply
    assert not Person.objects.exists()
    assert not ServiceRequest.objects.exists()
    assert InboundMail.objects.get().outcome == "rejected"


def test_a_known_sender_is_taken_in_even_when_unknown_senders_are_refused(anna, settings):
    settings.MAIL_UNKNOWN_SENDERS = "reject"
    assert receive(build_mail(sender="ANNA@Example.com")).outcome == "created"
    assert ServiceRequest.objects.get().requester == anna


def test_text_in_an_unknown_charset_and_bad_bytes_is_stored_readably_with_a_note(anna):
    raw = (
        b"From: Anna Bell <anna@example.com>\r\n"
        b"Subject: =?x-klingon?Q?Drucker?= kaputt \xe9\r\n"
        b"Message-ID: <charset@x>\r\n"
        b"Content-Type: text/plain; charset=x-klingon\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        b"Der Drucker druckt nicht. Caf\xe9 \x00\xff\r\n"
    )
    result = receive(raw)
    assert result.outcome == "created"
    req = ServiceRequest.objects.get()
    assert req.title == "Drucker kaputt é"
    body = messages_on(req)[0].body
    assert "Der Drucker druckt nicht. Café" in body
    assert "\x00" not in body
    assert "unknown character set 'x-klingon'" in body


def test_a_mail_with_hardly_any_headers_still_opens_a_request(anna):
    raw = b"From: anna@example.com\r\n\r\nMy screen is black.\r\n"
    result = receive(raw)
    assert result.outcome == "created"
    req = ServiceRequest.objects.get()
    assert req.title == "My screen is black."
    assert "no Message-ID" in messages_on(req)[0].body


def test_a_mail_without_any_sender_is_refused():
    result = receive(b"Subject: who am I\r\n\r\nhello\r\n")
    assert result.outcome == "rejected"
    assert result.smtp_reply.startswith("550")


def test_an_attachment_over_the_limit_is_dropped_with_a_note_and_the_rest_is_kept(anna):
    raw = build_mail(
        attachments=[
            ("photo.jpg", b"\xff\xd8" + b"x" * (70 * 1024), "image/jpeg"),
            ("error.txt", b"E42 paper jam\n", "text/plain"),
        ]
    )
    result = receive(raw)
    assert result.outcome == "created"
    req = ServiceRequest.objects.get()
    [kept] = Attachment.objects.all()
    assert kept.filename == "error.txt"
    assert kept.object_id == str(req.pk)
    assert kept.message == messages_on(req)[0]
    assert kept.file.read() == b"E42 paper jam\n"
    body = messages_on(req)[0].body
    assert "Attachment 'photo.jpg' (70.0 KiB) was dropped" in body
    assert "error E42" in body


def test_an_html_only_mail_is_stored_as_text(anna):
    raw = (
        b"From: anna@example.com\r\nSubject: html\r\nMessage-ID: <h@x>\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n"
        b"<html><style>p{color:red}</style><body><p>The <b>screen</b> flickers.</p>"
        b"<ul><li>since Monday</li></ul><script>alert(1)</script></body></html>\r\n"
    )
    receive(raw)
    body = messages_on(ServiceRequest.objects.get())[0].body
    assert "The screen flickers." in body
    assert "since Monday" in body
    assert "<" not in body and "color:red" not in body and "alert" not in body


def test_a_processing_failure_answers_451_keeps_the_mail_and_a_redelivery_succeeds(
    anna, settings, tmp_path
):
    # A real storage failure: the media folder sits below a plain file, so no file can be written.
    (tmp_path / "blocker").write_text("not a folder")
    settings.MEDIA_ROOT = tmp_path / "blocker" / "media"
    raw = build_mail(attachments=[("log.txt", b"line 1\n", "text/plain")])
    failed = receive(raw)
    assert failed.outcome == "failed"
    assert failed.smtp_reply.startswith("451 4.3.0")
    assert not ServiceRequest.objects.exists()  # nothing half-written
    log = InboundMail.objects.get()
    assert log.outcome == "failed"
    assert "Error" in log.detail
    assert next(iter((tmp_path / "mail" / "failed").glob("*.eml"))).read_bytes() == raw

    settings.MEDIA_ROOT = tmp_path / "media"
    again = receive(raw)
    assert again.outcome == "created"
    log.refresh_from_db()
    assert (log.outcome, log.record_reference) == ("created", again.reference)
    assert Attachment.objects.count() == 1
