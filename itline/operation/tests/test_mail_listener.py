"""`itline mail` end to end: real processes, real SMTP. A mail sent with smtplib opens a
request, the acknowledgement goes out over SMTP, and a reply to it is threaded by its headers."""

import email.policy
import io
import os
import smtplib
import socket
import subprocess
import sys
import time
from email.message import EmailMessage

import pytest

from itline.core.testing import make_person
from itline.operation.choices import MessageKind
from itline.operation.mail import smtp
from itline.operation.mail.testing import build_mail, database_url, free_port, smtp_sink
from itline.operation.models import InboundMail, Message, ServiceRequest

DESK_ENV = {
    "DEFAULT_FROM_EMAIL": "itline service desk <desk@itline.test>",
    "MAIL_REPLY_ADDRESS": "desk@itline.test",
    "MAIL_DOMAIN": "itline.test",
}


def wait_for(predicate, *, proc=None, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError("itline mail exited:\n" + proc.stdout.read())
        time.sleep(0.1)
    raise AssertionError("timed out")


def can_connect(port):
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=2) as client:
            return client.noop()[0] == 250
    except OSError:
        return False


def send(port, raw: bytes, sender="anna@example.com"):
    """Send ``raw`` and return the server's answer to DATA (code, text)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo("client.example.com")
        client.mail(sender)
        client.rcpt("desk@itline.test")
        code, text = client.data(raw)
        return code, text.decode()


@pytest.mark.django_db(transaction=True)
def test_a_mail_sent_to_itline_mail_opens_a_request_and_the_reply_is_threaded(tmp_path):
    anna = make_person("Anna Bell", email="anna@example.com")
    port = free_port()
    with smtp_sink() as outbox:
        env = {
            **os.environ,
            **DESK_ENV,
            "DATABASE_URL": database_url(),
            "ITLINE_VAR_DIR": str(tmp_path),
            "MEDIA_ROOT": str(tmp_path / "media"),
            "EMAIL_URL": f"smtp://127.0.0.1:{outbox.port}",
            "SECRET_KEY": "test-" + "k" * 50,
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "itline", "mail", "--listen", f"127.0.0.1:{port}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            wait_for(lambda: can_connect(port), proc=proc)
            code, text = send(
                port,
                build_mail(
                    subject="Printer on floor 2 is jammed",
                    attachments=[("error.png", b"\x89PNG fake", "image/png")],
                ),
            )
            assert code == 250, text
            req = ServiceRequest.objects.get()
            assert f"Opened {req.reference}" in text
            assert (req.requester, req.channel) == (anna, "email")

            ack = wait_for(lambda: outbox.to("anna@example.com"), proc=proc)[0]
            assert ack["Subject"] == f"[{req.reference}] Printer on floor 2 is jammed"

            # The requester answers from their mail program: Re: and the In-Reply-To header.
            reply = EmailMessage()
            reply["From"] = "Anna Bell <anna@example.com>"
            reply["To"] = ack["Reply-To"]
            reply["Subject"] = "Re: that printer"  # no reference: the headers must do it
            reply["Message-ID"] = "<anna-reply@mail.example.com>"
            reply["In-Reply-To"] = ack["Message-ID"]
            reply["References"] = f"{ack['References']} {ack['Message-ID']}"
            reply.set_content(
                "It prints again after the restart.\n\n> "
                + "\n> ".join(outbox.text(ack).splitlines())
            )
            code, text = send(port, reply.as_bytes(policy=email.policy.SMTP))
            assert code == 250, text
            assert f"Added to {req.reference}" in text
            mails_in = Message.objects.filter(
                object_id=str(req.pk), kind=MessageKind.EMAIL_IN
            ).order_by("id")
            assert [m.body for m in mails_in][1] == "It prints again after the restart."
            assert ServiceRequest.objects.count() == 1
            assert list(InboundMail.objects.order_by("id").values_list("outcome", flat=True)) == [
                "created",
                "threaded",
            ]

            # The sending server retries the same mail: nothing is added.
            code, text = send(port, reply.as_bytes(policy=email.policy.SMTP))
            assert code == 250 and "Already received" in text
            assert mails_in.count() == 2
        finally:
            proc.terminate()
            out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0, out
        assert "listening for SMTP on 127.0.0.1" in out


@pytest.fixture
def listener(settings, tmp_path):
    """The listener of `itline mail`, in this process, on a free port."""
    settings.DEFAULT_FROM_EMAIL = DESK_ENV["DEFAULT_FROM_EMAIL"]
    settings.MAIL_REPLY_ADDRESS = DESK_ENV["MAIL_REPLY_ADDRESS"]
    settings.MAIL_DOMAIN = DESK_ENV["MAIL_DOMAIN"]
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.VAR_DIR = tmp_path
    port = free_port()
    controller = smtp.make_controller("127.0.0.1", port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()
        controller.handler.close()


@pytest.mark.django_db(transaction=True)
def test_an_unknown_sender_gets_a_550_bounce_when_unknown_senders_are_refused(listener, settings):
    settings.MAIL_UNKNOWN_SENDERS = "reject"
    code, text = send(listener, build_mail(sender="stranger@spam.example"), "stranger@spam.example")
    assert code == 550
    assert "<stranger@spam.example> is not known to the service desk" in text
    assert not ServiceRequest.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_storage_failure_answers_451_so_the_sender_retries(listener, settings, tmp_path):
    (tmp_path / "blocker").write_text("")
    settings.MEDIA_ROOT = tmp_path / "blocker" / "media"
    make_person("Anna Bell", email="anna@example.com")
    raw = build_mail(attachments=[("a.txt", b"a", "text/plain")])
    code, text = send(listener, raw)
    assert code == 451
    assert "try again later" in text
    assert InboundMail.objects.get().outcome == "failed"
    settings.MEDIA_ROOT = tmp_path / "media"
    code, text = send(listener, raw)
    assert code == 250
    assert InboundMail.objects.get().outcome == "created"


@pytest.mark.django_db(transaction=True)
def test_a_mail_over_the_size_limit_is_refused_with_552_and_the_listener_keeps_serving(
    settings, tmp_path
):
    settings.MAIL_MAX_BYTES = 100_000
    settings.MEDIA_ROOT = tmp_path / "media"
    make_person("Anna Bell", email="anna@example.com")
    port = free_port()
    controller = smtp.make_controller("127.0.0.1", port)
    controller.start()
    try:
        big = build_mail(attachments=[("big.bin", b"x" * 200_000, "application/octet-stream")])
        code, _text = send(port, big)
        assert code == 552
        assert not ServiceRequest.objects.exists()
        assert send(port, build_mail())[0] == 250
        assert ServiceRequest.objects.count() == 1
    finally:
        controller.stop()
        controller.handler.close()


def test_the_listen_address_must_be_host_and_port():
    assert smtp.parse_listen("127.0.0.1:2525") == ("127.0.0.1", 2525)
    assert smtp.parse_listen("[::1]:25") == ("::1", 25)
    for bad in ("localhost", "127.0.0.1:http", "127.0.0.1:70000"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            smtp.parse_listen(bad)


def test_a_port_in_use_stops_itline_mail_at_once_with_a_clear_error():
    from django.core.management import CommandError, call_command

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(CommandError, match=f"cannot listen on 127.0.0.1:{port}"):
            call_command("mail", "--listen", f"127.0.0.1:{port}", stdout=io.StringIO())
        assert time.monotonic() - started < 2
