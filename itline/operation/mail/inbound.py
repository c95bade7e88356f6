"""Incoming e-mail becomes service desk work.

:func:`receive` takes the raw bytes of one mail (from the SMTP listener or the IMAP poller)
and returns what became of it, with the SMTP answer to give:

- a mail that answers an existing request or incident (its Message-ID in In-Reply-To or
  References, or the reference such as ``[INC-000042]`` in the subject) is added to it; a
  resolved request is reopened, a closed record gets a new follow-up request;
- any other mail opens a service request (channel e-mail) for the person with the sender
  address; an unknown sender is created as a new contact or refused, as configured;
- the body (text preferred, HTML turned into text) is stored as an ``email_in`` message and
  the attachments as attachment rows; attachments over the limit are dropped with a note;
- the Message-ID makes delivery idempotent: a redelivered mail adds nothing;
- auto-replies and bounces are recorded on the record they answer (or only logged) and never
  answered; mail loops (our own mail coming back, too many hops) are logged and dropped;
- a mail that cannot be processed is logged as failed, kept on disk, and answered with 451 so
  the sending server tries again later: nothing is lost.

Every mail leaves one :class:`~itline.operation.models.InboundMail` row saying what happened.
"""

from __future__ import annotations

import hashlib
import logging
import traceback
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from itline.operation import notify
from itline.operation.choices import Channel, IncidentStatus, MessageKind, RequestStatus
from itline.operation.mail.parse import (
    ParsedMail,
    parse_mail,
    reference_in_message_id,
    strip_quoted_history,
)
from itline.operation.models import InboundMail, Incident, Message, ServiceRequest
from itline.org.models import Person

log = logging.getLogger(__name__)
Outcome = InboundMail.Outcome


@dataclass
class Received:
    """What became of one mail, and the SMTP reply that says so."""

    outcome: str
    smtp_reply: str
    reference: str = ""
    detail: str = ""
    sender: str = ""
    subject: str = ""

    @property
    def accepted(self) -> bool:
        return self.smtp_reply.startswith("2")


class Refused(Exception):
    """The mail is refused for good (550): the sender gets a bounce with this reason."""


def receive(
    raw: bytes, *, mail_from: str | None = None, rcpt_to: list[str] | None = None
) -> Received:
    """Process one mail. Never raises: any failure is logged and answered with 451."""
    try:
        return _receive(raw, mail_from=mail_from, rcpt_to=list(rcpt_to or []))
    except Exception as exc:  # the listener must survive anything and lose nothing
        return _failed(raw, exc, mail_from=mail_from, rcpt_to=rcpt_to or [])


# --- Steps -------------------------------------------------------------------------------


def _receive(raw: bytes, *, mail_from: str | None, rcpt_to: list[str]) -> Received:
    mail = parse_mail(
        raw, attachment_max_bytes=settings.ATTACHMENT_MAX_BYTES, envelope_from=mail_from
    )
    previous = InboundMail.objects.filter(message_id=mail.message_id).first()
    if previous is not None and previous.outcome != Outcome.FAILED:
        return Received(
            Outcome.DUPLICATE,
            f"250 2.0.0 Already received ({previous.get_outcome_display().lower()}"
            + (f", {previous.record_reference})" if previous.record_reference else ")"),
            previous.record_reference,
            "Delivered again; nothing added.",
            mail.from_address,
            mail.subject,
        )

    loop = _loop_reason(mail)
    if loop:
        return _log(
            mail,
            previous,
            mail_from,
            rcpt_to,
            Outcome.LOOP,
            "250 2.0.0 Dropped: " + loop,
            detail=loop,
        )
    if Message.objects.filter(message_id=mail.message_id).exists():
        return _log(
            mail,
            previous,
            mail_from,
            rcpt_to,
            Outcome.DUPLICATE,
            "250 2.0.0 Already on a record",
            detail="A message with this Message-ID is already on a record.",
        )

    record = find_record(mail)
    if mail.auto_reply:
        return _auto_reply(mail, record, previous, mail_from, rcpt_to)
    if not mail.from_address:
        return _log(
            mail,
            previous,
            mail_from,
            rcpt_to,
            Outcome.REJECTED,
            "550 5.1.7 The mail has no sender address, so the service desk cannot answer it.",
            detail="No sender address.",
        )
    # A reply to a closed record starts a new request that names it.
    follow_up = record if record is not None and _closed(record) else None
    opens_request = record is None or follow_up is not None
    # Mutes must cover the commit, when events are announced. A new request is acknowledged
    # to its sender ("new", with the reference) and its first message announces nothing
    # more; a reply is not echoed to its sender (not even "your request was reopened").
    if opens_request:
        mute: dict[str, list[str]] = {"events": ["request.updated"], "addresses": []}
    else:
        mute = {"events": [], "addresses": [mail.from_address]}
    try:
        with (
            notify.muted(**mute),
            transaction.atomic(),
        ):
            person = sender_person(mail)
            if opens_request:
                return _open_request(mail, person, previous, mail_from, rcpt_to, follow_up)
            return _thread(mail, person, record, previous, mail_from, rcpt_to)
    except Refused as refusal:
        reason = str(refusal)
        return _log(
            mail,
            previous,
            mail_from,
            rcpt_to,
            Outcome.REJECTED,
            f"550 5.7.1 {reason}",
            detail=reason,
        )
    except IntegrityError:
        # The same Message-ID delivered twice at the same moment: the other one won.
        if (
            InboundMail.objects.filter(message_id=mail.message_id)
            .exclude(outcome=Outcome.FAILED)
            .exists()
        ):
            return Received(
                Outcome.DUPLICATE, "250 2.0.0 Already received", sender=mail.from_address
            )
        raise


def _loop_reason(mail: ParsedMail) -> str:
    ours = {parseaddr(settings.DEFAULT_FROM_EMAIL)[1].lower(), settings.MAIL_REPLY_ADDRESS.lower()}
    if mail.loop_marker and mail.loop_marker.lower() == settings.MAIL_DOMAIN.lower():
        return "it carries our own X-Itline-Loop header"
    if mail.from_address.lower() in ours:
        return f"it is from our own address {mail.from_address}"
    if mail.message_id.lower().endswith(
        f"@{settings.MAIL_DOMAIN.lower()}>"
    ) and mail.message_id.lower().startswith("<itline."):
        return "its Message-ID is one of ours"
    if mail.received_count > settings.MAIL_MAX_RECEIVED:
        return f"it passed {mail.received_count} mail servers (limit {settings.MAIL_MAX_RECEIVED})"
    return ""


def find_record(mail: ParsedMail) -> ServiceRequest | Incident | None:
    """The record this mail answers: a stored Message-ID it replies to, one of our own
    Message-IDs (they name the record), or a reference in the subject."""
    ids = mail.thread_ids[:100]  # a References header can be long; the newest ids matter
    if ids:
        for stored in Message.objects.filter(message_id__in=ids).order_by("-created_at"):
            record = _record_of(stored)
            if record is not None:
                return _follow_merge(record)
        for mid in ids:
            reference = reference_in_message_id(mid)
            record = _by_reference(reference) if reference else None
            if record is not None:
                return _follow_merge(record)
    for reference in mail.subject_references:
        record = _by_reference(reference)
        if record is not None:
            return _follow_merge(record)
    return None


def _record_of(message: Message) -> ServiceRequest | Incident | None:
    model = message.content_type.model_class()
    if model not in (ServiceRequest, Incident):
        return None
    return model._default_manager.filter(pk=message.object_id).first()  # type: ignore[union-attr]


def _by_reference(reference: str) -> ServiceRequest | Incident | None:
    model: type[models.Model] = ServiceRequest if reference.startswith("REQ-") else Incident
    return model._default_manager.filter(reference=reference).first()  # type: ignore[return-value]


def _follow_merge(record: Any) -> Any:
    seen = set()
    while isinstance(record, Incident) and record.merged_into_id and record.pk not in seen:
        seen.add(record.pk)
        record = record.merged_into
    return record


def sender_person(mail: ParsedMail) -> Person:
    """The person behind the sender address, created or refused as configured."""
    person = Person.objects.filter(email__iexact=mail.from_address).first()
    if person is not None:
        return person
    if settings.MAIL_UNKNOWN_SENDERS != "accept":
        raise Refused(
            f"<{mail.from_address}> is not known to the service desk. Ask the service desk to "
            f"register your address, or use the portal at {settings.SITE_URL}/portal/."
        )
    from itline.org.services import create_person

    name = mail.from_name or mail.from_address.split("@", 1)[0]
    try:
        with transaction.atomic():
            return create_person(by=None, name=name[:150], email=mail.from_address)
    except ValidationError as exc:
        raise Refused(
            f"<{mail.from_address}> cannot be registered as a contact: "
            + "; ".join(m for msgs in exc.message_dict.values() for m in msgs)
        ) from None


def _body(mail: ParsedMail) -> str:
    body = strip_quoted_history(mail.body)
    if mail.notes:
        body = (body + "\n\n" if body else "") + "\n".join(f"[itline: {n}]" for n in mail.notes)
    return body


def _title(mail: ParsedMail) -> str:
    title = mail.subject.strip()
    if not title:
        first = next((line.strip() for line in mail.body.splitlines() if line.strip()), "")
        title = first or "(no subject)"
    return title[:200]


def _store(
    record: Any, mail: ParsedMail, person: Person | None, kind: str = MessageKind.EMAIL_IN
) -> Message:
    from itline.operation.services import add_attachment, add_message

    message = add_message(
        record,
        by=None,
        kind=kind,
        body=_body(mail),
        author=person,
        from_address=mail.from_address,
        subject=mail.subject,
        message_id=mail.message_id,
        in_reply_to=(mail.in_reply_to or [""])[0],
        to_addresses=[*mail.to, *mail.cc][:50],
    )
    for attachment in mail.attachments:
        try:
            with transaction.atomic():
                add_attachment(
                    record,
                    by=None,
                    filename=attachment.filename,
                    content=attachment.content,
                    mime_type=attachment.mime_type,
                    message=message,
                )
        except ValidationError as exc:
            # A file the store refuses (e.g. a limit changed meanwhile) costs the file, not the mail.
            note = (
                f"[itline: attachment {attachment.filename!r} was dropped: "
                + "; ".join(m for msgs in exc.message_dict.values() for m in msgs)
                + "]"
            )
            message.body = f"{message.body}\n\n{note}".strip()
            message.save(update_fields=["body"])
    return message


def _closed(record: Any) -> bool:
    return record.status == (
        IncidentStatus.CLOSED if isinstance(record, Incident) else RequestStatus.CLOSED
    )


def _open_request(
    mail: ParsedMail,
    person: Person,
    previous: InboundMail | None,
    mail_from: str | None,
    rcpt_to: list[str],
    follow_up: Any = None,
) -> Received:
    from itline.operation.services import create_request

    description = strip_quoted_history(mail.body)
    if follow_up is not None:
        description = f"Follow-up to {follow_up.reference} ({follow_up.get_status_display().lower()}).\n\n{description}"
    req = create_request(
        by=None,
        requester=person,
        title=_title(mail),
        description=description,
        channel=Channel.EMAIL,
    )
    _store(req, mail, person)
    detail = f"Opened {req.reference}" + (
        f" as a follow-up to {follow_up.reference}" if follow_up else ""
    )
    return _log(
        mail,
        previous,
        mail_from,
        rcpt_to,
        Outcome.CREATED,
        f"250 2.0.0 Opened {req.reference}",
        req.reference,
        detail=detail + _notes(mail),
    )


def _thread(
    mail: ParsedMail,
    person: Person,
    record: Any,
    previous: InboundMail | None,
    mail_from: str | None,
    rcpt_to: list[str],
) -> Received:
    detail = f"Added to {record.reference}"
    if isinstance(record, ServiceRequest) and record.status == RequestStatus.RESOLVED:
        from itline.operation.services import reopen_request

        record = reopen_request(record, by=None, reason=f"e-mail reply from {mail.from_address}")
        detail += ", which was reopened"
    _store(record, mail, person)
    return _log(
        mail,
        previous,
        mail_from,
        rcpt_to,
        Outcome.THREADED,
        f"250 2.0.0 Added to {record.reference}",
        record.reference,
        detail=detail + _notes(mail),
    )


def _auto_reply(
    mail: ParsedMail,
    record: Any,
    previous: InboundMail | None,
    mail_from: str | None,
    rcpt_to: list[str],
) -> Received:
    """Recorded where it belongs, never answered, never a new request."""
    reference = ""
    detail = f"Automatic mail ({mail.auto_reply})"
    if record is not None:
        person = (
            Person.objects.filter(email__iexact=mail.from_address).first()
            if mail.from_address
            else None
        )
        with notify.muted(), transaction.atomic():
            _store(record, mail, person)
            result = _log(
                mail,
                previous,
                mail_from,
                rcpt_to,
                Outcome.AUTO_REPLY,
                f"250 2.0.0 Auto-reply added to {record.reference}",
                record.reference,
                detail=f"{detail}; added to {record.reference}, not answered",
            )
        return result
    return _log(
        mail,
        previous,
        mail_from,
        rcpt_to,
        Outcome.AUTO_REPLY,
        "250 2.0.0 Auto-reply recorded",
        reference,
        detail=f"{detail}; no record to add it to, not answered",
    )


def _notes(mail: ParsedMail) -> str:
    return ("; " + " ".join(mail.notes)) if mail.notes else ""


def _log(
    mail: ParsedMail,
    previous: InboundMail | None,
    mail_from: str | None,
    rcpt_to: list[str],
    outcome: str,
    reply: str,
    reference: str = "",
    *,
    detail: str = "",
) -> Received:
    row = previous or InboundMail(message_id=mail.message_id)
    row.received_at = timezone.now()
    row.mail_from = (mail.from_address or (mail_from or ""))[:254]
    row.rcpt_to = rcpt_to[:50]
    row.subject = mail.subject[:250]
    row.size = min(mail.size, 2**31 - 1)
    row.outcome = outcome
    row.detail = detail
    row.record_reference = reference
    row.save()
    log.info("mail %s from %s: %s %s", mail.message_id, mail.from_address, outcome, reference)
    return Received(outcome, reply, reference, detail, mail.from_address, mail.subject)


def failed_dir() -> Path:
    return Path(settings.VAR_DIR) / "mail" / "failed"


def _failed(
    raw: bytes, exc: BaseException, *, mail_from: str | None, rcpt_to: list[str]
) -> Received:
    """Keep the mail on disk, log it as failed, and ask the sender to retry (451)."""
    error = f"{type(exc).__name__}: {exc}"
    log.error("could not process an incoming mail: %s\n%s", error, traceback.format_exc())
    digest = hashlib.sha256(raw).hexdigest()
    try:
        folder = failed_dir()
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{digest}.eml").write_bytes(raw)
    except OSError:
        log.exception("could not keep the failed mail on disk")
    message_id = f"<{digest[:40]}@no-message-id.invalid>"
    subject = ""
    sender = ""
    try:
        parsed = parse_mail(raw, attachment_max_bytes=1, envelope_from=mail_from)
        message_id, subject, sender = parsed.message_id, parsed.subject, parsed.from_address
    except Exception:  # parsing itself failed: the hash names the mail
        log.debug("failed mail is not even parseable", exc_info=True)
    try:
        with transaction.atomic():
            row = InboundMail.objects.filter(message_id=message_id).first() or InboundMail(
                message_id=message_id
            )
            if row.pk and row.outcome != Outcome.FAILED:
                # A concurrent delivery of the same mail succeeded; this copy is redundant.
                return Received(Outcome.DUPLICATE, "250 2.0.0 Already received", sender=sender)
            row.received_at = timezone.now()
            row.mail_from = (sender or mail_from or "")[:254]
            row.rcpt_to = list(rcpt_to)[:50]
            row.subject = subject[:250]
            row.size = min(len(raw), 2**31 - 1)
            row.outcome = Outcome.FAILED
            row.detail = f"{error}\nKept as {failed_dir() / (digest + '.eml')}"[:5000]
            row.save()
    except Exception:
        log.exception("could not even log the failed mail")
    return Received(
        Outcome.FAILED,
        "451 4.3.0 The service desk could not store this mail right now; please try again later.",
        detail=error,
        sender=sender,
        subject=subject,
    )
