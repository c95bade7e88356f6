"""Password reset over real SMTP: aiosmtpd listens on 127.0.0.1, Django's SMTP backend sends."""

import email
import io
import re
import socket

import pytest
from aiosmtpd.controller import Controller
from django.test import override_settings

from itline.core.testing import make_user


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mailer = {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": port, "timeout": 5},
        }
        with override_settings(MAILERS={"default": mailer}):
            yield inbox
    finally:
        controller.stop()


@pytest.mark.django_db
def test_a_password_reset_mail_is_sent_over_smtp_and_its_link_sets_a_new_password(
    client, smtp_server
):
    make_user("tom", "technician")
    response = client.post("/password/reset/", {"email": "tom@example.com"})
    assert response.status_code == 302
    [message] = smtp_server.messages
    assert message["To"] == "tom@example.com"
    assert "Reset your itline password" in message["Subject"]
    body = message.get_payload(decode=True).decode()
    link = re.search(r"http://[^/\s]+(/password/reset/\S+/)", body).group(1)
    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    set_url = form_page.redirect_chain[-1][0]
    done = client.post(
        set_url,
        {"new_password1": "a new long passphrase 42", "new_password2": "a new long passphrase 42"},
    )
    assert done.status_code == 302
    assert client.login(username="tom", password="a new long passphrase 42")


@pytest.mark.django_db
def test_an_unknown_address_sends_nothing_and_reveals_nothing(client, smtp_server):
    response = client.post("/password/reset/", {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert smtp_server.messages == []


@pytest.mark.django_db
def test_a_bad_address_is_reported_next_to_the_field(client, smtp_server):
    response = client.post("/password/reset/", {"email": "not an address"})
    assert response.status_code == 200
    assert b"Enter a valid email address" in response.content


@pytest.mark.django_db
def test_a_login_created_without_a_password_sets_its_first_one_through_the_reset_mail(
    client, smtp_server
):
    from django.core.management import call_command

    call_command(
        "createuser",
        "newbie",
        "--email",
        "newbie@example.com",
        "--role",
        "requester",
        stdout=io.StringIO(),
    )
    client.post("/password/reset/", {"email": "newbie@example.com"})
    [message] = smtp_server.messages
    body = message.get_payload(decode=True).decode()
    assert "http://127.0.0.1:8000/password/reset/" in body  # SITE_URL, not the request's host
