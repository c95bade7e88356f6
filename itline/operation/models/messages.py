from __future__ import annotations

from django.db import models
from django.utils import timezone

from itline.core.models import Record
from itline.operation.choices import MessageKind


class Message(Record):
    """One entry of a record's conversation: a public reply, an internal note, an e-mail in
    or out, or a stakeholder update of a major incident. Attached to any record (request,
    incident, problem) by content type and id, like the journal. E-mails keep their
    ``Message-ID`` so replies thread back and redeliveries are recognised."""

    content_type = models.ForeignKey(
        "contenttypes.ContentType", on_delete=models.CASCADE, related_name="+"
    )
    object_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=12, choices=MessageKind.choices, default=MessageKind.NOTE)
    author = models.ForeignKey(
        "org.Person", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_address = models.CharField(max_length=254, blank=True)
    to_addresses = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=250, blank=True)
    body = models.TextField(blank=True)
    message_id = models.CharField(max_length=250, null=True, blank=True, unique=True)
    in_reply_to = models.CharField(max_length=250, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["content_type", "object_id", "created_at"], name="msg_record")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.created_at:%Y-%m-%d %H:%M}"


def attachment_path(instance: Attachment, filename: str) -> str:
    now = timezone.now()
    return f"attachments/{now:%Y/%m}/{instance.sha256[:2]}/{instance.sha256}"


class Attachment(Record):
    """A file added to a record, by upload or from an e-mail. Stored under MEDIA_ROOT by its
    SHA-256 so the same file attached twice is stored once."""

    content_type = models.ForeignKey(
        "contenttypes.ContentType", on_delete=models.CASCADE, related_name="+"
    )
    object_id = models.CharField(max_length=64)
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    file = models.FileField(upload_to=attachment_path, max_length=300)
    filename = models.CharField(max_length=255)
    mime_type = models.CharField(max_length=120, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["content_type", "object_id"], name="att_record")]

    def __str__(self) -> str:
        return self.filename


class InboundMail(models.Model):
    """The log of every e-mail the service desk received, whatever became of it: the
    ``Message-ID`` makes delivery idempotent and the outcome explains what happened."""

    class Outcome(models.TextChoices):
        CREATED = "created", "Opened a new request"
        THREADED = "threaded", "Added to an existing record"
        DUPLICATE = "duplicate", "Already received"
        AUTO_REPLY = "auto_reply", "Auto-reply, not answered"
        LOOP = "loop", "Mail loop, dropped"
        REJECTED = "rejected", "Rejected"
        FAILED = "failed", "Could not be processed"

    message_id = models.CharField(max_length=250, unique=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    mail_from = models.CharField(max_length=254, blank=True)
    rcpt_to = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=250, blank=True)
    size = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    detail = models.TextField(blank=True)
    record_reference = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.message_id} {self.outcome}"
