"""The conversation of a record: replies, notes, e-mails, updates, and attachments."""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import PurePath
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import models, transaction
from django.utils import timezone

from itline.core import journal
from itline.core.models import JournalEntry
from itline.operation import events, sla
from itline.operation.choices import PUBLIC_MESSAGE_KINDS, MessageKind
from itline.operation.models import Attachment, Incident, Message
from itline.operation.services.common import lock, save_with_journal
from itline.org.models import Person, person_of


def _event_prefix(record: models.Model) -> str:
    return {"servicerequest": "request", "knownerror": "known_error"}.get(
        record._meta.model_name or "", record._meta.model_name or "record"
    )


def _may_write(by: Any, record: models.Model, kind: str) -> None:
    """Agents may write anything; the requester/caller of a record only public replies."""
    if by is None or by.has_perm("core.agent_access"):
        return
    me = person_of(by)
    owner_id = getattr(record, "requester_id", None) or getattr(record, "caller_id", None)
    if me is None or owner_id != me.pk:
        raise PermissionDenied("You cannot write on this record.")
    if kind != MessageKind.REPLY:
        raise PermissionDenied("Requesters can only reply.")


def add_message(
    record: models.Model,
    *,
    by: Any,
    kind: str,
    body: str,
    author: Person | None = None,
    from_address: str = "",
    subject: str = "",
    message_id: str | None = None,
    in_reply_to: str = "",
    to_addresses: list[str] | None = None,
) -> Message:
    if kind not in MessageKind.values:
        raise ValidationError({"kind": "Choose one of: " + ", ".join(MessageKind.values) + "."})
    _may_write(by, record, kind)
    if not (body or "").strip() and kind in (
        MessageKind.REPLY,
        MessageKind.NOTE,
        MessageKind.UPDATE,
    ):
        raise ValidationError({"body": "Write something."})
    with transaction.atomic():
        message = Message(
            content_type=journal.content_type_for(record),
            object_id=str(record.pk),
            kind=kind,
            author=author or (person_of(by) if by is not None else None),
            from_address=from_address[:254],
            to_addresses=to_addresses or [],
            subject=subject[:250],
            body=body,
            message_id=message_id or None,
            in_reply_to=in_reply_to[:250],
            created_by=by if getattr(by, "pk", None) else None,
        )
        message.save()
        journal.record(
            record,
            by=by,
            verb=JournalEntry.Verb.COMMENTED,
            message=f"{message.get_kind_display()}",
        )
        if (
            kind == MessageKind.REPLY
            and isinstance(record, Incident)
            and by is not None
            and by.has_perm("core.agent_access")
            and not record.responded_at
        ):
            # A public answer from an agent is the first response.
            current = lock(record)
            before = journal.snapshot(current)
            current.responded_at = timezone.now()
            save_with_journal(current, before, by=by)
            sla.refresh(current)
            record.responded_at = current.responded_at
            record.version = current.version
        if kind in (MessageKind.REPLY, MessageKind.EMAIL_IN):
            _resume_on_customer_reply(record, message, by=by)
        if kind in (MessageKind.REPLY, MessageKind.NOTE, MessageKind.EMAIL_IN):
            events.publish(
                record,
                f"{_event_prefix(record)}.updated",
                by=by,
                extra={"message": message.pk, "public": kind in PUBLIC_MESSAGE_KINDS},
            )
    return message


def _resume_on_customer_reply(record: models.Model, message: Message, *, by: Any) -> None:
    """The requester answered: a request waiting for them, or an incident on hold waiting
    for the customer, goes back to in progress (and its clock runs again)."""
    from itline.operation.choices import HoldReason, IncidentStatus, RequestStatus
    from itline.operation.models import ServiceRequest

    author_id = message.author_id
    if author_id is None:
        return
    if isinstance(record, ServiceRequest):
        if author_id != record.requester_id or record.status != RequestStatus.WAITING_FOR_REQUESTER:
            return
        current = lock(record)
        before = journal.snapshot(current)
        current.status = RequestStatus.IN_PROGRESS
    elif isinstance(record, Incident):
        if (
            author_id != record.caller_id
            or record.status != IncidentStatus.ON_HOLD
            or record.hold_reason != HoldReason.WAITING_FOR_CUSTOMER
        ):
            return
        current = lock(record)
        before = journal.snapshot(current)
        current.status = IncidentStatus.IN_PROGRESS
        current.hold_reason = ""
    else:
        return
    save_with_journal(
        current,
        before,
        by=by,
        verb=JournalEntry.Verb.STATE_CHANGED,
        message="the requester replied",
    )
    if isinstance(current, Incident):
        sla.refresh(current)
    record.status = current.status  # type: ignore[attr-defined]
    record.version = current.version  # type: ignore[attr-defined]
    if isinstance(record, Incident):
        record.hold_reason = ""


def messages_for(record: models.Model, *, public_only: bool = False) -> models.QuerySet[Message]:
    qs = Message.objects.filter(
        content_type=journal.content_type_for(record), object_id=str(record.pk)
    ).select_related("author")
    if public_only:
        qs = qs.filter(kind__in=PUBLIC_MESSAGE_KINDS)
    return qs.prefetch_related("attachments")


def max_attachment_bytes() -> int:
    return int(getattr(settings, "ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024))


def add_attachment(
    record: models.Model,
    *,
    by: Any,
    filename: str,
    content: bytes,
    mime_type: str = "",
    message: Message | None = None,
) -> Attachment:
    """Store a file on a record. Names are reduced to their last path part; files over the
    configured limit are refused with the limit named."""
    _may_write(by, record, MessageKind.REPLY)
    name = PurePath((filename or "").replace("\\", "/")).name.strip().replace("\x00", "")[:255]
    if not name:
        raise ValidationError({"file": "The file has no name."})
    limit = max_attachment_bytes()
    if len(content) > limit:
        raise ValidationError(
            {"file": f"{name} is {len(content):,} bytes; the limit is {limit:,} bytes."}
        )
    digest = hashlib.sha256(content).hexdigest()
    mime = (mime_type or mimetypes.guess_type(name)[0] or "application/octet-stream")[:120]
    with transaction.atomic():
        attachment = Attachment(
            content_type=journal.content_type_for(record),
            object_id=str(record.pk),
            message=message,
            filename=name,
            mime_type=mime,
            size=len(content),
            sha256=digest,
            created_by=by if getattr(by, "pk", None) else None,
        )
        existing = Attachment.objects.filter(sha256=digest).exclude(file="").first()
        if existing is not None:
            attachment.file.name = existing.file.name
        else:
            attachment.file.save(name, ContentFile(content), save=False)
        attachment.save()
        journal.record(record, by=by, verb=JournalEntry.Verb.UPDATED, message=f"attached {name}")
    return attachment


def attachments_for(record: models.Model) -> models.QuerySet[Attachment]:
    return Attachment.objects.filter(
        content_type=journal.content_type_for(record), object_id=str(record.pk)
    )
