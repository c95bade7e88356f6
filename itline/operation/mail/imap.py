"""Polling an IMAP mailbox (``itline mail --imap``), for sites where mail for the desk lands
in a mailbox rather than being forwarded to the listener.

Each unseen mail is fetched without marking it (``BODY.PEEK``), stored through the same
:func:`inbound.receive` as SMTP mail, and only then flagged seen (or deleted, per
``IMAP_AFTER``). A mail that could not be stored stays unseen and is tried again at the next
poll; the Message-ID keeps a mail fetched twice from being stored twice. There is no SMTP
session to refuse an unknown sender in, so a refused mail gets a short bounce by e-mail."""

from __future__ import annotations

import contextlib
import imaplib
import logging
import ssl
from dataclasses import dataclass
from email.utils import parseaddr
from urllib.parse import unquote, urlparse

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string

from itline.operation.mail.inbound import Received, receive

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImapTarget:
    host: str
    port: int
    user: str
    password: str
    mailbox: str
    security: str  # "tls", "starttls" or "none"


def parse_imap_url(url: str) -> ImapTarget:
    parsed = urlparse(url)
    security = {"imaps": "tls", "imap+starttls": "starttls", "imap": "none"}.get(parsed.scheme)
    if security is None:
        raise ValueError("IMAP_URL scheme must be imap, imaps or imap+starttls")
    if not parsed.hostname:
        raise ValueError(
            "IMAP_URL needs a host, e.g. imaps://desk%40example.com:secret@mail.example.com/INBOX"
        )
    try:
        port = parsed.port or (993 if security == "tls" else 143)
    except ValueError:
        raise ValueError("IMAP_URL has an invalid port") from None
    return ImapTarget(
        host=parsed.hostname,
        port=port,
        user=unquote(parsed.username or ""),
        password=unquote(parsed.password or ""),
        mailbox=unquote(parsed.path.lstrip("/")) or "INBOX",
        security=security,
    )


def connect(target: ImapTarget, timeout: float = 30) -> imaplib.IMAP4:
    client: imaplib.IMAP4
    if target.security == "tls":
        client = imaplib.IMAP4_SSL(
            target.host, target.port, ssl_context=ssl.create_default_context(), timeout=timeout
        )
    else:
        client = imaplib.IMAP4(target.host, target.port, timeout=timeout)
        if target.security == "starttls":
            client.starttls(ssl_context=ssl.create_default_context())
    client.login(target.user, target.password)
    return client


def _quote_mailbox(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def poll_once(url: str | None = None, *, after: str | None = None) -> list[Received]:
    """Fetch and store every unseen mail once; returns what became of each."""
    target = parse_imap_url(url or settings.IMAP_URL)
    after = after or settings.IMAP_AFTER
    results: list[Received] = []
    client = connect(target)
    try:
        status, _ = client.select(_quote_mailbox(target.mailbox))
        if status != "OK":
            raise RuntimeError(f"IMAP mailbox {target.mailbox!r} cannot be opened")
        status, data = client.uid("SEARCH", "UNSEEN")
        if status != "OK":
            raise RuntimeError("IMAP search failed")
        uids = [u.decode() for u in (data[0] or b"").split()]
        deleted = False
        for uid in uids:
            status, parts = client.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next(
                (p[1] for p in parts if isinstance(p, tuple) and isinstance(p[1], bytes)), None
            )
            if status != "OK" or raw is None:
                log.warning("IMAP fetch of uid %s failed", uid)
                continue
            result = receive(raw)
            results.append(result)
            if not result.smtp_reply.startswith(("2", "5")):
                continue  # failed: stays unseen, tried again at the next poll
            if result.smtp_reply.startswith("5"):
                bounce(result)
            if after == "delete":
                client.uid("STORE", uid, "+FLAGS", "(\\Deleted)")
                deleted = True
            else:
                client.uid("STORE", uid, "+FLAGS", "(\\Seen)")
        if deleted:
            client.expunge()
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            client.logout()
    return results


def bounce(result: Received) -> None:
    """Tell the sender their mail was refused (the SMTP listener says it with 550 instead)."""
    address = parseaddr(result.sender)[1]
    if not address:
        return
    context = {
        "subject": result.subject,
        "address": address,
        "reason": result.smtp_reply[4:],
        "reply_address": settings.MAIL_REPLY_ADDRESS,
        "site_url": settings.SITE_URL,
    }
    subject = " ".join(
        render_to_string("operation/email/unknown_sender_subject.txt", context).split()
    )
    body = render_to_string("operation/email/unknown_sender.txt", context)
    try:
        EmailMessage(
            subject=subject[:250],
            body=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[address],
            headers={
                "Auto-Submitted": "auto-replied",
                "X-Auto-Response-Suppress": "All",
                "X-Itline-Loop": settings.MAIL_DOMAIN,
            },
        ).send()
    except Exception:
        log.exception("could not send the bounce to %s", address)
