"""Polling an IMAP mailbox, against a real IMAP server: Debian's Dovecot started on a free
127.0.0.1 port with a throwaway configuration (package dovecot-imapd)."""

import contextlib
import imaplib
import io
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from itline.core.testing import make_person
from itline.operation.mail import imap
from itline.operation.mail.testing import build_mail, database_url, free_port, smtp_sink
from itline.operation.models import InboundMail, ServiceRequest

DOVECOT = os.environ.get("DOVECOT_PATH", "/usr/sbin/dovecot")
USER, PASSWORD = "desk@itline.test", "s3cret pass"

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={root}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


@pytest.fixture(scope="module")
def dovecot():
    if not (os.path.isfile(DOVECOT) and os.access(DOVECOT, os.X_OK)):
        message = f"Dovecot not found at {DOVECOT} (apt-get install dovecot-imapd)."
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{message} CI must run the IMAP tests.", pytrace=False)
        pytest.skip(message)
    # Dovecot's own users must read the configuration: not below /root or pytest's 0700 dirs.
    root = Path(tempfile.mkdtemp(prefix="itline-dovecot-", dir="/tmp"))
    root.chmod(0o755)
    for name in ("run", "state"):
        (root / name).mkdir()
    (root / "mail").mkdir(mode=0o777)
    (root / "mail").chmod(0o777)
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    port = free_port()
    (root / "dovecot.conf").write_text(CONFIG.format(root=root, port=port))
    proc = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(root / "dovecot.conf")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                log = (root / "dovecot.log").read_text() if (root / "dovecot.log").exists() else ""
                pytest.fail(f"dovecot did not start: {proc.stdout.read()!r} {log}")
            time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def mailbox(dovecot, settings, tmp_path):
    """An empty INBOX on the server; IMAP_URL points at it."""
    settings.IMAP_URL = f"imap://desk%40itline.test:s3cret%20pass@127.0.0.1:{dovecot}/INBOX"
    settings.IMAP_AFTER = "seen"
    settings.DEFAULT_FROM_EMAIL = "itline service desk <desk@itline.test>"
    settings.MAIL_REPLY_ADDRESS = "desk@itline.test"
    settings.MAIL_DOMAIN = "itline.test"
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.VAR_DIR = tmp_path
    client = imaplib.IMAP4("127.0.0.1", dovecot)
    client.login(USER, PASSWORD)
    _, count = client.select("INBOX")
    if int(count[0]):
        client.store("1:*", "+FLAGS", "(\\Deleted)")
        client.expunge()
    yield client
    client.logout()


def put(client, raw: bytes) -> None:
    status, _ = client.append("INBOX", None, None, raw)
    assert status == "OK"


def flags(client) -> list[str]:
    _, count = client.select("INBOX")
    if not int(count[0]):
        return []
    _status, data = client.fetch("1:*", "(FLAGS)")
    return [d.decode() for d in data if d]


@pytest.mark.django_db
def test_unseen_mails_open_requests_and_are_flagged_seen_so_the_next_poll_takes_nothing(mailbox):
    make_person("Anna Bell", email="anna@example.com")
    put(mailbox, build_mail(subject="Printer jammed", message_id="<i1@x>"))
    put(mailbox, build_mail(subject="Screen black", message_id="<i2@x>"))
    results = imap.poll_once()
    assert [r.outcome for r in results] == ["created", "created"]
    assert sorted(ServiceRequest.objects.values_list("title", flat=True)) == [
        "Printer jammed",
        "Screen black",
    ]
    assert all("\\Seen" in f for f in flags(mailbox))
    assert imap.poll_once() == []


@pytest.mark.django_db
def test_a_mail_that_could_not_be_stored_stays_unseen_and_is_taken_at_the_next_poll(
    mailbox, settings, tmp_path
):
    make_person("Anna Bell", email="anna@example.com")
    (tmp_path / "blocker").write_text("")
    settings.MEDIA_ROOT = tmp_path / "blocker" / "media"
    put(mailbox, build_mail(attachments=[("a.txt", b"a", "text/plain")]))
    assert [r.outcome for r in imap.poll_once()] == ["failed"]
    assert "\\Seen" not in flags(mailbox)[0]
    settings.MEDIA_ROOT = tmp_path / "media"
    assert [r.outcome for r in imap.poll_once()] == ["created"]
    assert InboundMail.objects.get().outcome == "created"


@pytest.mark.django_db
def test_with_imap_after_delete_stored_mails_are_removed_from_the_mailbox(mailbox, settings):
    settings.IMAP_AFTER = "delete"
    make_person("Anna Bell", email="anna@example.com")
    put(mailbox, build_mail())
    assert [r.outcome for r in imap.poll_once()] == ["created"]
    assert flags(mailbox) == []


@pytest.mark.django_db
def test_a_refused_unknown_sender_gets_a_bounce_by_mail(mailbox, settings):
    settings.MAIL_UNKNOWN_SENDERS = "reject"
    put(mailbox, build_mail(sender="stranger@spam.example", subject="Buy now"))
    with smtp_sink() as outbox:
        [result] = imap.poll_once()
    assert result.outcome == "rejected"
    [bounce] = outbox.messages
    assert bounce["To"] == "stranger@spam.example"
    assert bounce["Subject"] == "Not delivered: Buy now"
    assert bounce["Auto-Submitted"] == "auto-replied"
    assert "is not known to the service desk" in outbox.text(bounce)
    assert not ServiceRequest.objects.exists()


@pytest.mark.django_db
def test_itline_mail_once_polls_the_mailbox_and_reports_each_mail(mailbox):
    make_person("Anna Bell", email="anna@example.com")
    put(mailbox, build_mail())
    out = io.StringIO()
    call_command("mail", "--once", stdout=out)
    req = ServiceRequest.objects.get()
    assert f"created {req.reference} anna@example.com 250" in out.getvalue()


@pytest.mark.django_db
def test_a_wrong_password_is_reported_and_does_not_stop_the_poller(mailbox, settings):
    settings.IMAP_URL = settings.IMAP_URL.replace("s3cret", "wrong")
    err = io.StringIO()
    call_command("mail", "--once", stdout=io.StringIO(), stderr=err)
    assert "IMAP poll failed" in err.getvalue()


def test_the_imap_url_is_checked(settings):
    assert imap.parse_imap_url("imaps://a%40b.c:p@mail.example.com/Desk") == imap.ImapTarget(
        "mail.example.com", 993, "a@b.c", "p", "Desk", "tls"
    )
    assert imap.parse_imap_url("imap+starttls://u:p@h").port == 143
    with pytest.raises(ValueError, match="scheme"):
        imap.parse_imap_url("pop3://u:p@h")
    settings.IMAP_URL = ""
    with pytest.raises(CommandError, match="IMAP_URL"):
        call_command("mail", "--once")


@pytest.mark.django_db(transaction=True)
def test_itline_mail_imap_keeps_polling_in_its_own_process(dovecot, mailbox, settings, tmp_path):
    import sys

    make_person("Anna Bell", email="anna@example.com")
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "ITLINE_VAR_DIR": str(tmp_path),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "IMAP_URL": settings.IMAP_URL,
        "IMAP_POLL_SECONDS": "1",
        "SECRET_KEY": "test-" + "k" * 50,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "itline", "mail", "--imap", "--no-smtp"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(0.5)
        put(mailbox, build_mail(subject="First", message_id="<p1@x>"))
        put(mailbox, build_mail(subject="Second", message_id="<p2@x>"))
        deadline = time.monotonic() + 30
        while ServiceRequest.objects.count() < 2 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            time.sleep(0.2)
        assert sorted(ServiceRequest.objects.values_list("title", flat=True)) == ["First", "Second"]
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    assert "polling IMAP every 1 s" in out
