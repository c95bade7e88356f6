"""Outbound webhooks: turning record events into signed deliveries, and the verbs that manage
subscriptions.

Record verbs announce events through ``itline.operation.events.publish``; after the
transaction commits it calls ``emit_for(label, pk, event)``. That builds the JSON payload once
(apps register how with ``register_payload``), writes one pending ``WebhookDelivery`` per
matching active subscription and hands them to the delivery task
(``itline.core.webhook_tasks``). Nothing here ever raises into the caller's request: a
webhook problem is logged and shows in the delivery log, it never undoes or blocks a change.

Signature: ``X-Itline-Signature: sha256=<hex>``, the HMAC-SHA256 with the subscription's
secret over ``"<X-Itline-Timestamp>." + body`` (see docs/webhooks.md)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.utils import timezone

from itline.core import journal
from itline.core.errors import ConflictError
from itline.core.models import JournalEntry
from itline.core.services import create_record, require, update_record
from itline.core.webhook_models import (
    EVENT_NAMES,
    TEST_EVENT,
    WebhookDelivery,
    WebhookSubscription,
    generate_secret,
    validate_secret,
)

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Itline-Signature"
TIMESTAMP_HEADER = "X-Itline-Timestamp"


# --- configuration ------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    timeout: float  # seconds one attempt may take, connecting and answering together
    max_attempts: int  # attempts per event before it is given up
    retry_base: float  # seconds before the first retry; doubles with each further retry
    retry_max: float  # the longest wait between two attempts
    disable_after: int  # failed attempts in a row that switch a subscription off


def config() -> Config:
    """Read on every use so tests (and ``override_settings``) can make retries fast."""
    return Config(
        timeout=float(getattr(settings, "WEBHOOK_TIMEOUT", 10)),
        max_attempts=max(1, int(getattr(settings, "WEBHOOK_MAX_ATTEMPTS", 10))),
        retry_base=float(getattr(settings, "WEBHOOK_RETRY_BASE", 60)),
        retry_max=float(getattr(settings, "WEBHOOK_RETRY_MAX", 6 * 3600)),
        disable_after=max(1, int(getattr(settings, "WEBHOOK_DISABLE_AFTER", 20))),
    )


def retry_delay(attempt: int, cfg: Config | None = None) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): base, 2 x base,
    4 x base, … capped at ``retry_max``."""
    cfg = cfg or config()
    return float(min(cfg.retry_base * 2 ** (attempt - 1), cfg.retry_max))


# --- signatures ---------------------------------------------------------------------------


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """The value of the signature header for ``body`` sent at ``timestamp``."""
    message = f"{timestamp}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: int | str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


# --- payloads -----------------------------------------------------------------------------

PayloadBuilder = Callable[[models.Model], dict[str, Any]]
_PAYLOADS: dict[str, PayloadBuilder] = {}
_HIDDEN_FIELDS = {"password", "secret", "key_hash"}


def register_payload(label: str, builder: PayloadBuilder) -> None:
    """Say how records of ``label`` (``"operation.incident"``) appear in webhook payloads.
    The builder gets the record and returns a JSON-able dict (datetimes and decimals are
    fine); apps register the same shape their API returns."""
    _PAYLOADS[label.lower()] = builder


def _related_value(obj: models.Model, field: models.ForeignKey[Any, Any]) -> Any:
    related_id = getattr(obj, field.attname)
    if related_id is None:
        return None
    try:
        related = getattr(obj, field.name)
    except Exception:  # a dangling reference must not cost the whole payload
        return related_id
    return getattr(related, "reference", None) or related_id


def default_payload(obj: models.Model) -> dict[str, Any]:
    """Reference, display text and the concrete fields; foreign keys as the related
    record's reference (or id). Used until an app registers its own shape."""
    data: dict[str, Any] = {
        "id": obj.pk,
        "reference": getattr(obj, "reference", None),
        "display": str(obj),
    }
    for field in obj._meta.concrete_fields:
        if field.name in _HIDDEN_FIELDS or field.name in data or field.auto_created:
            continue
        if isinstance(field, models.ForeignKey):
            data[field.name] = _related_value(obj, field)
        else:
            data[field.name] = field.value_from_object(obj)
    return data


def payload_for(obj: models.Model) -> dict[str, Any]:
    builder = _PAYLOADS.get(obj._meta.label_lower, default_payload)
    return builder(obj)


def _jsonable(data: Any) -> Any:
    """Datetimes, decimals, UUIDs … as the API writes them, so the stored payload is the
    body that goes out on every attempt."""
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder, default=str))


def _record_ref(label: str, pk: Any, obj: models.Model | None) -> dict[str, Any]:
    url = None
    if obj is not None and hasattr(obj, "get_absolute_url"):
        try:
            url = settings.SITE_URL + obj.get_absolute_url()
        except Exception:  # a record without a page still gets its webhook
            url = None
    return {
        "type": label,
        "id": pk,
        "reference": getattr(obj, "reference", None),
        "url": url,
    }


# --- emitting -----------------------------------------------------------------------------


def _subscribers(event: str) -> list[WebhookSubscription]:
    # Few subscriptions exist; matching wildcards in Python keeps it portable across databases.
    return [s for s in WebhookSubscription.objects.filter(active=True) if s.matches(event)]


def _envelope(
    event: str,
    data: dict[str, Any],
    record: dict[str, Any] | None,
    event_id: uuid.UUID,
    changes: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": str(event_id),
        "event": event,
        "occurred_at": timezone.now().isoformat(),
        "record": record,
        "changes": _jsonable(changes or {}),
        "details": _jsonable(details or {}),
        "data": _jsonable(data),
    }


def _queue(
    subscriptions: list[WebhookSubscription],
    event: str,
    envelope: dict[str, Any],
    event_id: uuid.UUID,
    trigger: str = WebhookDelivery.Trigger.EVENT,
) -> list[WebhookDelivery]:
    now = timezone.now()
    rows = [
        WebhookDelivery(
            subscription=sub,
            event=event,
            event_id=event_id,
            trigger=trigger,
            payload=envelope,
            created_at=now,
            next_attempt_at=now,
        )
        for sub in subscriptions
    ]
    with transaction.atomic():
        created = WebhookDelivery.objects.bulk_create(rows)
    ids = [d.pk for d in created]

    def send() -> None:
        from itline.core.webhook_tasks import schedule

        for pk in ids:
            schedule(pk)

    # The task must find its row: hand over only once the rows are committed.
    transaction.on_commit(send, robust=True)
    return created


def emit(
    event: str,
    payload: dict[str, Any],
    *,
    record: dict[str, Any] | None = None,
    changes: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> list[WebhookDelivery]:
    """Queue ``event`` with ``payload`` (the ``data`` part of the body) for every active
    subscription that wants it; returns the pending deliveries. ``changes`` (field ->
    [before, after]) and ``details`` (what else the publisher said, e.g. the SLA clock of a
    breach) travel alongside."""
    if event not in EVENT_NAMES:
        raise ValueError(f"unknown webhook event {event!r}")
    subscriptions = _subscribers(event)
    if not subscriptions:
        return []
    event_id = uuid.uuid4()
    envelope = _envelope(event, payload, record, event_id, changes, details)
    return _queue(subscriptions, event, envelope, event_id)


def emit_for(
    label: str,
    pk: Any,
    event: str,
    *,
    changes: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> list[WebhookDelivery]:
    """Queue ``event`` about the record ``label``/``pk`` (called after commit by
    ``itline.operation.events``). Never raises: failures are logged."""
    if event not in EVENT_NAMES:
        # Events nobody can subscribe to (yet) are not an error of the change that made them.
        logger.debug("no webhooks for event %s", event)
        return []
    try:
        if not _subscribers(event):
            return []
        model = apps.get_model(label)
        obj = model._default_manager.filter(pk=pk).first()
        data = payload_for(obj) if obj is not None else {"id": pk, "deleted": True}
        record = _record_ref(label, pk, obj)
        return emit(event, data, record=record, changes=changes, details=extra)
    except Exception:
        logger.exception("webhook event %s for %s %s was not queued", event, label, pk)
        return []


# --- subscription verbs -------------------------------------------------------------------


def create_subscription(
    *,
    by: Any,
    name: str,
    url: str,
    events: list[str],
    secret: str | None = None,
    active: bool = True,
) -> tuple[WebhookSubscription, str]:
    """Create a subscription; returns it with its signing secret (generated when not
    given), which is shown to the caller this once."""
    require(by, "core.add_webhooksubscription")
    secret = secret or generate_secret()
    sub = WebhookSubscription(name=name, url=url, events=events, secret=secret, active=active)
    create_record(sub, by=by)
    return sub, secret


def update_subscription(
    sub: WebhookSubscription, *, by: Any, secret: str | None = None, **fields: Any
) -> WebhookSubscription:
    """Change name, address, events or ``active``; a new ``secret`` replaces the old one
    (journaled without its value). Switching a disabled subscription back on clears the
    failure count and the reason it was disabled."""
    require(by, "core.change_webhooksubscription")
    with transaction.atomic():
        if secret:
            _set_secret(sub, secret, by=by)
        if fields.get("active") and not sub.active:
            fields.update(disabled_at=None, disabled_reason="")
            WebhookSubscription.objects.filter(pk=sub.pk).update(failure_count=0)
            sub.failure_count = 0
        if fields:
            update_record(sub, by=by, **fields)
    return sub


def _set_secret(sub: WebhookSubscription, secret: str, *, by: Any) -> None:
    try:
        validate_secret(secret)
    except ValidationError as exc:
        raise ValidationError({"secret": exc.messages}) from None
    sub.secret = secret
    sub.updated_by = by if getattr(by, "pk", None) else None
    sub.save(update_fields=["secret", "updated_at", "updated_by"])
    journal.record(
        sub, by=by, verb=JournalEntry.Verb.UPDATED, message="The signing secret was replaced."
    )


def rotate_secret(sub: WebhookSubscription, *, by: Any) -> str:
    """Replace the signing secret with a new random one and return it (shown once)."""
    require(by, "core.change_webhooksubscription")
    secret = generate_secret()
    with transaction.atomic():
        _set_secret(sub, secret, by=by)
    return secret


def delete_subscription(sub: WebhookSubscription, *, by: Any) -> None:
    require(by, "core.delete_webhooksubscription")
    with transaction.atomic():
        journal.record(sub, by=by, verb=JournalEntry.Verb.DELETED, message=f"{sub.url}")
        sub.delete()


def disable_subscription(sub: WebhookSubscription, *, reason: str) -> bool:
    """Switch a subscription off on the system's behalf; pending deliveries are given up.
    Returns False when it was already off (another worker got there first)."""
    now = timezone.now()
    reason = reason[:300]
    with transaction.atomic():
        switched = WebhookSubscription.objects.filter(pk=sub.pk, active=True).update(
            active=False, disabled_at=now, disabled_reason=reason, updated_at=now
        )
        if not switched:
            return False
        sub.active, sub.disabled_at, sub.disabled_reason = False, now, reason
        journal.record(
            sub,
            by=None,
            verb=JournalEntry.Verb.STATE_CHANGED,
            changes={"active": [True, False], "disabled_reason": ["", reason]},
            message=reason,
        )
        WebhookDelivery.objects.filter(
            subscription=sub, status=WebhookDelivery.Status.PENDING
        ).update(
            status=WebhookDelivery.Status.GIVEN_UP,
            completed_at=now,
            error="not sent: the subscription was disabled",
        )
    return True


def send_test(sub: WebhookSubscription, *, by: Any) -> WebhookDelivery:
    """Send a ``webhook.test`` event to this subscription only (also when it is disabled,
    so a repaired receiver can be checked before switching it back on)."""
    require(by, "core.change_webhooksubscription")
    event_id = uuid.uuid4()
    data = {
        "message": "Test event from itline: your receiver is reachable.",
        "subscription": sub.reference,
        "sent_by": journal.actor_label(by),
    }
    envelope = _envelope(TEST_EVENT, data, None, event_id)
    return _queue([sub], TEST_EVENT, envelope, event_id, WebhookDelivery.Trigger.TEST)[0]


def redeliver(delivery: WebhookDelivery, *, by: Any) -> WebhookDelivery:
    """Send the same event again (same body and event id) as a new attempt chain."""
    require(by, "core.change_webhooksubscription")
    busy = {WebhookDelivery.Status.PENDING, WebhookDelivery.Status.SENDING}
    if delivery.status in busy:
        raise ConflictError(
            f"This delivery is still {delivery.status}; wait for its outcome before sending it again.",
            field="delivery",
        )
    return _queue(
        [delivery.subscription],
        delivery.event,
        delivery.payload,
        delivery.event_id,
        WebhookDelivery.Trigger.REDELIVERY,
    )[0]
