"""Outbound mail: who hears about an event, what they read, and the sending itself.

One mail per recipient (preferences differ, and a requester must not see the addresses of
the team), each with the record's reference in the subject, a Message-ID that names the record
and In-Reply-To/References that keep the whole conversation one thread in the recipient's
mail program. Every sent mail is stored on the record's timeline as an ``email_out`` message.

Who is told:

- new request/incident: the requester or caller ("we have it, here is the reference"); for an
  incident also whoever it is routed to;
- assignment: the assignee, or else the function (its shared mailbox, else its members, else
  its lead);
- a public reply by an agent: the requester/caller; a reply or mail from the requester (or a
  third party): the assignee, or else the function; an internal note: the assignee;
- status changes and the workaround: the requester/caller; resolution: the requester/caller;
- SLA warning and breach: the assignee and the function lead;
- a major incident update: the caller, the requesters of linked requests and the decision
  makers of the customers concerned;
- a merge: the caller of the duplicate.

The actor is never mailed about their own action, nor anyone who switched the event off.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass, field
from email.utils import formataddr, parseaddr
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import models
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse

from itline.core import journal
from itline.operation.choices import MessageKind, NotificationEvent
from itline.operation.mail.parse import REPLY_MARKER

log = logging.getLogger(__name__)

# Fields whose change the requester/caller hears about (others are internal bookkeeping).
PUBLIC_FIELDS = frozenset({"status", "workaround", "hold_reason"})
ASSIGNMENT_FIELDS = frozenset({"assignee", "assigned_function", "owner", "owner_function"})


@dataclass
class Recipient:
    address: str
    name: str = ""
    person: Any = None  # org.Person, or None for a shared mailbox


@dataclass
class Mail:
    """One planned notification kind for one group of recipients."""

    template: str  # operation/email/<template>.txt and <template>_subject.txt
    preference: str  # NotificationEvent value the recipients can switch off
    recipients: list[Recipient]
    audience: str = "staff"  # "contact" (requester/caller: portal links) or "staff"
    context: dict[str, Any] = field(default_factory=dict)


# --- Who ----------------------------------------------------------------------------------


def _person(person: Any) -> list[Recipient]:
    if person is None or not getattr(person, "email", None) or not person.active:
        return []
    return [Recipient(person.email, person.name, person)]


def contact_of(record: models.Model) -> Any:
    """The requester of a request, the caller of an incident (people outside the desk)."""
    return getattr(record, "requester", None) or getattr(record, "caller", None)


def _function(function: Any) -> list[Recipient]:
    if function is None:
        return []
    if function.email:
        return [Recipient(function.email, function.name)]
    members = [
        r
        for m in function.memberships.select_related("person").order_by("person__name")
        for r in _person(m.person)
    ]
    return members or _person(function.lead)


def assignment_recipients(record: models.Model) -> list[Recipient]:
    assignee = getattr(record, "assignee", None) or getattr(record, "owner", None)
    if assignee is not None:
        return _person(assignee)
    function = getattr(record, "assigned_function", None) or getattr(record, "owner_function", None)
    return _function(function)


def breach_recipients(record: models.Model) -> list[Recipient]:
    function = getattr(record, "assigned_function", None)
    people = _person(getattr(record, "assignee", None))
    if function is not None:
        people += _person(function.lead) if function.lead_id else []
    return people or _function(function)


def stakeholders(incident: Any) -> list[Recipient]:
    people = _person(incident.caller)
    for req in incident.requests.select_related("requester"):
        people += _person(req.requester)
    customers = []
    if incident.customer_id:
        customers.append(incident.customer)
    if incident.service_id:
        customers += list(incident.service.customers.select_related("decision_maker"))
    for customer in customers:
        people += _person(customer.decision_maker)
    return people


def plan(
    record: models.Model, event: str, *, changes: dict[str, Any], extra: dict[str, Any]
) -> list[Mail]:
    """The mails ``event`` on ``record`` calls for, before preferences and the actor."""
    from itline.operation.models import Message

    action = event.split(".", 1)[1]
    contact = _person(contact_of(record))
    mails: list[Mail] = []
    if action == "created":
        if event != "problem.created":
            mails.append(Mail("new", NotificationEvent.NEW, contact, "contact"))
        if event != "request.created":
            mails.append(
                Mail("assigned", NotificationEvent.ASSIGNED, assignment_recipients(record))
            )
    elif action == "assigned":
        mails.append(Mail("assigned", NotificationEvent.ASSIGNED, assignment_recipients(record)))
    elif action == "updated":
        message = None
        if extra.get("message"):
            message = Message.objects.select_related("author").filter(pk=extra["message"]).first()
        if message is not None:
            mails += _message_mails(record, message, contact)
        elif ASSIGNMENT_FIELDS & set(changes):
            mails.append(
                Mail("assigned", NotificationEvent.ASSIGNED, assignment_recipients(record))
            )
        elif PUBLIC_FIELDS & set(changes):
            mails.append(
                Mail("updated", NotificationEvent.UPDATED, contact, "contact", {"changes": changes})
            )
    elif action == "resolved":
        mails.append(Mail("resolved", NotificationEvent.RESOLVED, contact, "contact"))
    elif action == "reopened":
        mails.append(Mail("reopened", NotificationEvent.UPDATED, assignment_recipients(record)))
    elif action == "merged":
        mails.append(
            Mail(
                "merged",
                NotificationEvent.UPDATED,
                contact,
                "contact",
                {"into": extra.get("into", "")},
            )
        )
    elif action in ("breach_warning", "breach"):
        mails.append(Mail(action, action, breach_recipients(record), context={"sla": extra}))
    elif action == "major_update":
        message = Message.objects.filter(pk=extra.get("message") or 0).first()
        mails.append(
            Mail(
                "major_update",
                NotificationEvent.MAJOR_UPDATE,
                stakeholders(record),
                "contact",
                {"message": message},
            )
        )
    return mails


def _message_mails(record: models.Model, message: Any, contact: list[Recipient]) -> list[Mail]:
    from itline.operation.models import InboundMail

    if (
        message.kind == MessageKind.EMAIL_IN
        and message.message_id
        and InboundMail.objects.filter(
            message_id=message.message_id, outcome=InboundMail.Outcome.AUTO_REPLY
        ).exists()
    ):
        return []  # an auto-reply is recorded, never answered nor passed on
    author_id = message.author_id
    contact_ids = {r.person.pk for r in contact if r.person is not None}
    from_contact = author_id is not None and author_id in contact_ids
    if message.kind == MessageKind.REPLY and not from_contact:
        return [Mail("reply", NotificationEvent.UPDATED, contact, "contact", {"message": message})]
    if message.kind in (MessageKind.REPLY, MessageKind.EMAIL_IN):
        return [
            Mail(
                "message",
                NotificationEvent.UPDATED,
                assignment_recipients(record),
                context={"message": message},
            )
        ]
    if message.kind == MessageKind.NOTE:
        assignee = _person(getattr(record, "assignee", None))
        return [Mail("message", NotificationEvent.UPDATED, assignee, context={"message": message})]
    return []


def filter_recipients(
    recipients: list[Recipient],
    *,
    preference: str,
    actor_id: Any,
    skip: set[str],
    exclude_person_ids: set[Any] = frozenset(),  # type: ignore[assignment]
) -> list[Recipient]:
    """Drop the actor, muted addresses, duplicates and people who switched ``preference``
    off (no preference row means on)."""
    from itline.operation.models import NotificationPreference

    people = [r.person.pk for r in recipients if r.person is not None]
    off = set(
        NotificationPreference.objects.filter(
            person_id__in=people, event=preference, email=False
        ).values_list("person_id", flat=True)
    )
    kept: list[Recipient] = []
    seen: set[str] = set()
    for r in recipients:
        address = r.address.strip().lower()
        if not address or address in seen or address in skip:
            continue
        if r.person is not None and (
            r.person.pk in off
            or r.person.pk in exclude_person_ids
            or (actor_id is not None and r.person.user_id == actor_id)
        ):
            continue
        seen.add(address)
        kept.append(r)
    return kept


# --- What ---------------------------------------------------------------------------------


def record_url(record: models.Model, audience: str) -> str:
    """Absolute link for the recipient: the portal page for requesters and callers."""
    reference = getattr(record, "reference", "")
    model = record._meta.model_name
    pages = {
        "servicerequest": ("portal:request-detail", "operation:request-detail"),
        "incident": ("portal:incident-detail", "operation:incident-detail"),
    }.get(model or "")
    names: list[str] = []
    if pages is not None:
        names = [pages[0]] if audience == "contact" else [pages[1]]
    path = ""
    for name in names:
        try:
            path = reverse(name, args=[reference])
            break
        except NoReverseMatch:
            continue
    if not path and hasattr(record, "get_absolute_url"):
        try:
            path = record.get_absolute_url()
        except NoReverseMatch:
            path = ""
    return f"{settings.SITE_URL}{path or '/'}"


def kind_label(record: models.Model) -> str:
    return {"servicerequest": "request", "incident": "incident", "problem": "problem"}.get(
        record._meta.model_name or "", str(record._meta.verbose_name)
    )


def render(mail: Mail, record: models.Model, recipient: Recipient) -> tuple[str, str]:
    context = {
        "record": record,
        "reference": getattr(record, "reference", ""),
        "kind": kind_label(record),
        "recipient": recipient,
        "url": record_url(record, mail.audience),
        "reply_marker": REPLY_MARKER,
        "site_url": settings.SITE_URL,
        "reply_address": settings.MAIL_REPLY_ADDRESS,
        **mail.context,
    }
    subject = " ".join(
        str(render_to_string(f"operation/email/{mail.template}_subject.txt", context)).split()
    )
    reference = context["reference"]
    if reference and f"[{reference}]" not in subject:
        subject = f"[{reference}] {subject}"
    rendered = str(render_to_string(f"operation/email/{mail.template}.txt", context))
    # Optional parts of a template leave empty lines behind; one blank line is enough.
    body = re.sub(r"\n\s*\n(\s*\n)+", "\n\n", rendered.strip())
    return subject[:250], body + "\n"


# --- Sending ------------------------------------------------------------------------------


def new_message_id(record: models.Model) -> str:
    reference = getattr(record, "reference", "") or "mail"
    return f"<itline.{reference}.{secrets.token_hex(8)}@{settings.MAIL_DOMAIN}>"


def thread_root(record: models.Model) -> str:
    """The Message-ID every mail about the record refers to: the first mail stored on it
    (usually the requester's own), else a fixed id naming the record."""
    from itline.operation.models import Message

    first = (
        Message.objects.filter(
            content_type=journal.content_type_for(record),
            object_id=str(record.pk),
            message_id__isnull=False,
        )
        .order_by("created_at", "id")
        .values_list("message_id", flat=True)
        .first()
    )
    return first or f"<itline.{getattr(record, 'reference', 'mail')}.thread@{settings.MAIL_DOMAIN}>"


def last_mail_from(record: models.Model, address: str) -> str:
    """The Message-ID of the newest mail ``address`` sent on this record, to answer it."""
    from itline.operation.models import Message

    return (
        Message.objects.filter(
            content_type=journal.content_type_for(record),
            object_id=str(record.pk),
            kind=MessageKind.EMAIL_IN,
            from_address__iexact=address,
            message_id__isnull=False,
        )
        .order_by("-created_at", "-id")
        .values_list("message_id", flat=True)
        .first()
        or ""
    )


def send_one(
    record: models.Model,
    recipient: Recipient,
    subject: str,
    body: str,
    *,
    extra_headers: dict[str, str] | None = None,
) -> Any:
    """Send one mail over the configured mailer and store it on the record's timeline."""
    from itline.operation.services import add_message

    root = thread_root(record)
    parent = last_mail_from(record, recipient.address) or root
    message_id = new_message_id(record)
    references = [root] if parent == root else [root, parent]
    headers = {
        "Message-ID": message_id,
        "In-Reply-To": parent,
        "References": " ".join(references),
        # RFC 3834: a machine wrote this; well-behaved auto-responders stay quiet.
        "Auto-Submitted": "auto-generated",
        "X-Auto-Response-Suppress": "All",
        "X-Itline-Loop": settings.MAIL_DOMAIN,
        "X-Itline-Reference": getattr(record, "reference", ""),
        **(extra_headers or {}),
    }
    mail = EmailMessage(
        subject=subject,
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[
            formataddr((recipient.name, recipient.address)) if recipient.name else recipient.address
        ],
        reply_to=[settings.MAIL_REPLY_ADDRESS],
        headers=headers,
    )
    mail.send()
    return add_message(
        record,
        by=None,
        kind=MessageKind.EMAIL_OUT,
        body=body,
        from_address=parseaddr(settings.DEFAULT_FROM_EMAIL)[1],
        subject=subject,
        message_id=message_id,
        in_reply_to=parent,
        to_addresses=[recipient.address],
    )


def load(label: str, pk: Any) -> models.Model | None:
    try:
        model = apps.get_model(label)
    except (LookupError, ValueError):
        return None
    return model._default_manager.filter(pk=pk).first()


def deliver_event(
    label: str,
    pk: Any,
    event: str,
    *,
    actor_id: Any = None,
    changes: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    skip_addresses: list[str] | None = None,
    only_addresses: list[str] | None = None,
) -> tuple[list[str], list[str]]:
    """Plan, filter, render and send the mails for one event. Returns the addresses mailed
    and the addresses whose sending failed (to be retried)."""
    record = load(label, pk)
    if record is None:
        return [], []
    skip = {a.lower() for a in skip_addresses or []}
    only = {a.lower() for a in only_addresses} if only_addresses else None
    sent: list[str] = []
    failed: list[str] = []
    for mail in plan(record, event, changes=changes or {}, extra=extra or {}):
        exclude: set[Any] = set()
        message = mail.context.get("message")
        if message is not None and message.author_id:
            exclude.add(message.author_id)  # nobody is mailed their own words
        recipients = filter_recipients(
            mail.recipients,
            preference=mail.preference,
            actor_id=actor_id,
            skip=skip | {a.lower() for a in sent},
            exclude_person_ids=exclude,
        )
        for recipient in recipients:
            if only is not None and recipient.address.lower() not in only:
                continue
            try:
                subject, body = render(mail, record, recipient)
                send_one(record, recipient, subject, body)
            except Exception:
                log.exception("mail to %s about %s %s failed", recipient.address, label, pk)
                failed.append(recipient.address)
            else:
                sent.append(recipient.address)
    return sent, failed
