"""Delivering webhooks: one signed POST per attempt, retries with exponential backoff, and
switching off subscriptions whose receiver keeps failing.

How a delivery moves:

- ``schedule(pk)`` hands a pending row to the task backend. A backend that can defer
  (django-tasks-db) gets ``run_after=next_attempt_at``; one that cannot (the immediate
  backend of tests and development) runs due rows now and leaves future ones to the sweep.
- ``attempt_delivery(pk)`` claims the row (``pending`` → ``sending`` in one conditional
  UPDATE, so a deferred task and the sweep never send the same attempt twice), posts it with
  a hard deadline, and records the outcome. A failure either schedules the next attempt as a
  new row or gives up; enough failures in a row disable the subscription.
- ``retry_due_webhooks`` (every minute) re-queues pending rows whose task went missing (a
  worker restart, a backend without ``run_after``) and frees rows stuck in ``sending`` by a
  worker that died mid-attempt.

Tests call ``attempt_delivery`` directly; it is the whole attempt, the task only wraps it."""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
from crontask import cron
from django.db import transaction
from django.db.models import F
from django.tasks import default_task_backend, task
from django.utils import timezone

from itline.core import webhooks
from itline.core.webhook_models import WebhookDelivery, WebhookSubscription

logger = logging.getLogger(__name__)

EXCERPT_BYTES = 1000
USER_AGENT = "itline-webhooks/1"
Status = WebhookDelivery.Status


@dataclass
class Outcome:
    status: int | None
    excerpt: str
    error: str
    duration_ms: int

    @property
    def ok(self) -> bool:
        return not self.error and self.status is not None and 200 <= self.status < 300


def _clean_text(raw: bytes | str, limit: int) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    # PostgreSQL text cannot hold NUL; a receiver's bytes must not break the log.
    return text.replace("\x00", "\\u0000")[:limit]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"host not found ({exc.strerror or exc})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the receiver closed the connection without answering"
    if isinstance(exc, http.client.HTTPException):
        return f"invalid HTTP response ({type(exc).__name__}: {exc})"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> Outcome:
    """POST ``body`` to ``url`` and read at most the first ``EXCERPT_BYTES`` of the answer.

    ``timeout`` bounds the whole attempt, not each socket read: a watchdog shuts the socket
    down at the deadline, so a receiver that accepts and then trickles or never answers
    costs at most ``timeout`` seconds. Redirects are not followed (a 3xx is a failure)."""
    start = time.monotonic()
    timed_out = threading.Event()
    conn: http.client.HTTPConnection | None = None

    def abort() -> None:
        timed_out.set()
        sock = getattr(conn, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed by the caller
                sock.shutdown(socket.SHUT_RDWR)

    def elapsed_ms() -> int:
        return int((time.monotonic() - start) * 1000)

    watchdog = threading.Timer(timeout, abort)
    watchdog.daemon = True
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        if parts.scheme == "https":
            conn = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=ssl.create_default_context()
            )
        elif parts.scheme == "http":
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        else:
            return Outcome(None, "", f"unsupported address scheme {parts.scheme!r}", 0)
        watchdog.start()
        conn.request("POST", target, body=body, headers=headers)
        response = conn.getresponse()
        excerpt = response.read(EXCERPT_BYTES)
        status = response.status
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if timed_out.is_set() or isinstance(exc, TimeoutError):
            error = f"timed out after {timeout:g} s"
        else:
            error = _describe(exc)
        return Outcome(None, "", _clean_text(error, 500), elapsed_ms())
    finally:
        watchdog.cancel()
        if conn is not None:
            conn.close()
    if timed_out.is_set():
        # Whatever was read was cut off by the deadline (a status line can parse from a
        # half-read answer): the attempt failed.
        return Outcome(None, "", f"timed out after {timeout:g} s", elapsed_ms())
    error = ""
    if 300 <= status < 400:
        error = f"HTTP {status}: redirects are not followed; give the final address"
    elif not 200 <= status < 300:
        error = f"HTTP {status}"
    return Outcome(status, _clean_text(excerpt, EXCERPT_BYTES), error, elapsed_ms())


def request_for(delivery: WebhookDelivery) -> tuple[bytes, dict[str, str]]:
    """The exact body and headers of this attempt."""
    sub = delivery.subscription
    try:
        body = orjson.dumps(delivery.payload)
    except orjson.JSONEncodeError:  # integers beyond 64 bits, which orjson refuses
        body = json.dumps(delivery.payload).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Itline-Event": delivery.event,
        "X-Itline-Event-Id": str(delivery.event_id),
        "X-Itline-Delivery": str(delivery.pk),
        "X-Itline-Attempt": str(delivery.attempt),
        webhooks.TIMESTAMP_HEADER: str(timestamp),
        webhooks.SIGNATURE_HEADER: webhooks.sign(sub.secret, timestamp, body),
    }
    return body, headers


def attempt_delivery(delivery_id: int) -> str:
    """Make one attempt of a pending delivery and record what happened; returns the row's
    new status (or ``"skipped"`` when the row was not pending)."""
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(pk=delivery_id, status=Status.PENDING).update(
        status=Status.SENDING, attempted_at=now
    )
    if not claimed:
        return "skipped"
    delivery = WebhookDelivery.objects.select_related("subscription").get(pk=delivery_id)
    cfg = webhooks.config()
    try:
        body, headers = request_for(delivery)
        outcome = post(delivery.subscription.url, body, headers, cfg.timeout)
    except Exception as exc:
        # Never leave the row in "sending": an unexpected fault counts as a failed attempt.
        logger.exception("webhook delivery %s failed before an answer", delivery_id)
        outcome = Outcome(None, "", _clean_text(f"itline could not send it: {exc!r}", 500), 0)
    return _record(delivery, outcome, cfg)


def _record(delivery: WebhookDelivery, outcome: Outcome, cfg: webhooks.Config) -> str:
    now = timezone.now()
    sub = delivery.subscription
    delivery.response_code = outcome.status
    delivery.response_excerpt = outcome.excerpt
    delivery.error = outcome.error[:500]
    delivery.duration_ms = outcome.duration_ms
    delivery.completed_at = now
    fields = ["status", "response_code", "response_excerpt", "error", "duration_ms"]
    retry: WebhookDelivery | None = None
    with transaction.atomic():
        if outcome.ok:
            delivery.status = Status.DELIVERED
            delivery.save(update_fields=[*fields, "completed_at"])
            WebhookSubscription.objects.filter(pk=sub.pk).update(failure_count=0)
            return delivery.status
        WebhookSubscription.objects.filter(pk=sub.pk).update(failure_count=F("failure_count") + 1)
        state = WebhookSubscription.objects.filter(pk=sub.pk).values("failure_count", "active")
        current = state.first()
        if current is None:  # deleted while the attempt was under way; its log went with it
            return "deleted"
        failures = current["failure_count"]
        sub.active = current["active"]
        if sub.active and failures >= cfg.disable_after:
            delivery.status = Status.GIVEN_UP
            delivery.save(update_fields=[*fields, "completed_at"])
            webhooks.disable_subscription(
                sub,
                reason=(
                    f"Disabled after {failures} failed deliveries in a row; "
                    f"the last one: {outcome.error or 'no answer'}."
                ),
            )
        elif not sub.active:
            delivery.status = Status.GIVEN_UP
            delivery.error = (delivery.error + "; not retried: the subscription is off")[:500]
            delivery.save(update_fields=[*fields, "completed_at"])
        elif delivery.attempt >= cfg.max_attempts:
            delivery.status = Status.GIVEN_UP
            delivery.error = (delivery.error + f"; given up after {delivery.attempt} attempts")[
                :500
            ]
            delivery.save(update_fields=[*fields, "completed_at"])
        else:
            due = now + timedelta(seconds=webhooks.retry_delay(delivery.attempt, cfg))
            delivery.status = Status.FAILED
            delivery.next_attempt_at = due
            delivery.save(update_fields=[*fields, "completed_at", "next_attempt_at"])
            retry = WebhookDelivery.objects.create(
                subscription=sub,
                event=delivery.event,
                event_id=delivery.event_id,
                trigger=delivery.trigger,
                payload=delivery.payload,
                attempt=delivery.attempt + 1,
                created_at=now,
                next_attempt_at=due,
            )
    if retry is not None:
        retry_id = retry.pk
        transaction.on_commit(lambda: schedule(retry_id), robust=True)
    return delivery.status


def schedule(delivery_id: int) -> None:
    """Hand a pending delivery to the task backend, deferred to its due time where the
    backend can defer; otherwise now if due, else the sweep picks it up when it is."""
    row = (
        WebhookDelivery.objects.filter(pk=delivery_id, status=Status.PENDING)
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if row is None:
        return
    try:
        if row > timezone.now():
            if default_task_backend.supports_defer:
                deliver_webhook.using(run_after=row).enqueue(delivery_id)
            return
        deliver_webhook.enqueue(delivery_id)
    except Exception:
        # The row stays pending; the sweep retries handing it over.
        logger.exception("webhook delivery %s could not be queued", delivery_id)


@task
def deliver_webhook(delivery_id: int) -> str:
    return attempt_delivery(delivery_id)


# Deferred tasks should have run by then; younger due rows are still theirs.
SWEEP_GRACE = timedelta(minutes=2)


def sweep(now: Any = None, limit: int = 500) -> int:
    """Queue due pending deliveries whose task went missing and free rows stuck in
    ``sending``; returns how many were queued."""
    now = now or timezone.now()
    cfg = webhooks.config()
    stuck_before = now - timedelta(seconds=cfg.timeout) - SWEEP_GRACE
    WebhookDelivery.objects.filter(status=Status.SENDING, attempted_at__lt=stuck_before).update(
        status=Status.PENDING
    )
    grace = SWEEP_GRACE if default_task_backend.supports_defer else timedelta(0)
    due = list(
        WebhookDelivery.objects.filter(status=Status.PENDING, next_attempt_at__lte=now - grace)
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in due:
        try:
            deliver_webhook.enqueue(pk)
        except Exception:
            logger.exception("webhook delivery %s could not be queued", pk)
    return len(due)


@cron("* * * * *")
@task
def retry_due_webhooks() -> int:
    return sweep()
