"""Webhook delivery against real HTTP receivers on 127.0.0.1: signatures, retries with
backoff, giving up, disabling, receivers that hang, trickle, refuse or redirect."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from itline.core import webhook_tasks, webhooks
from itline.core.models import JournalEntry
from itline.core.tests.webhook_receiver import closed_port_url, receiver
from itline.core.webhook_models import WebhookDelivery, WebhookSubscription
from itline.org.models import Function

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

Status = WebhookDelivery.Status
SECRET = "whsec_test-secret-of-enough-length"


@pytest.fixture(autouse=True)
def fast_webhooks(settings):
    settings.WEBHOOK_TIMEOUT = 1
    settings.WEBHOOK_RETRY_BASE = 30
    settings.WEBHOOK_RETRY_MAX = 3600
    settings.WEBHOOK_MAX_ATTEMPTS = 4
    settings.WEBHOOK_DISABLE_AFTER = 20


def subscribe(url: str, events=("*",), **fields) -> WebhookSubscription:
    sub, _ = webhooks.create_subscription(
        by=None, name=fields.pop("name", "Receiver"), url=url, events=list(events), secret=SECRET
    )
    for key, value in fields.items():
        setattr(sub, key, value)
    sub.save()
    return sub


def emit(capture, event="incident.created", data=None):
    with capture(execute=True):
        return webhooks.emit(event, data or {"title": "Mail is down"})


def receiver_checks(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """What a receiver does (docs/webhooks.md), written independently of itline's code."""
    timestamp = headers["X-Itline-Timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest("sha256=" + expected.hexdigest(), headers["X-Itline-Signature"])


def test_an_event_is_delivered_with_a_signature_the_receiver_can_verify(
    django_capture_on_commit_callbacks,
):
    with receiver() as rx:
        sub = subscribe(rx.url)
        emit(django_capture_on_commit_callbacks, data={"title": "Mail is down", "priority": 1})

    (delivery,) = WebhookDelivery.objects.filter(subscription=sub)
    assert delivery.status == Status.DELIVERED
    assert delivery.response_code == 200
    assert delivery.response_excerpt == '{"ok": true}'
    assert delivery.duration_ms is not None
    (request,) = rx.requests
    assert request.path == "/hooks/itline"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Itline-Event"] == "incident.created"
    assert request.headers["X-Itline-Event-Id"] == str(delivery.event_id)
    assert request.headers["X-Itline-Attempt"] == "1"
    assert receiver_checks(SECRET, request.headers, request.body)
    assert not receiver_checks("another-secret-entirely", request.headers, request.body)
    assert not receiver_checks(SECRET, request.headers, request.body.replace(b"Mail", b"Mall"))
    body = json.loads(request.body)
    assert body["event"] == "incident.created"
    assert body["id"] == str(delivery.event_id)
    assert body["data"] == {"title": "Mail is down", "priority": 1}


def test_a_failing_receiver_is_retried_with_growing_delays_then_given_up(
    django_capture_on_commit_callbacks,
):
    with receiver(status=500, answer=b"database on fire") as rx:
        sub = subscribe(rx.url)
        emit(django_capture_on_commit_callbacks)
        # The immediate test backend cannot defer, so each retry waits for us (or the sweep).
        for _ in range(10):
            pending = WebhookDelivery.objects.filter(subscription=sub, status=Status.PENDING)
            if not pending:
                break
            (row,) = pending
            assert row.next_attempt_at > timezone.now()
            with django_capture_on_commit_callbacks(execute=True):
                webhook_tasks.attempt_delivery(row.pk)

    rows = list(WebhookDelivery.objects.filter(subscription=sub).order_by("attempt"))
    assert [r.attempt for r in rows] == [1, 2, 3, 4]
    assert [r.status for r in rows] == [Status.FAILED] * 3 + [Status.GIVEN_UP]
    assert all(r.response_code == 500 for r in rows)
    assert rows[0].response_excerpt == "database on fire"
    delays = [(r.next_attempt_at - r.completed_at).total_seconds() for r in rows[:3]]
    assert delays == pytest.approx([30, 60, 120], abs=1)
    # every retry is the same event, announced as such
    assert len({r.event_id for r in rows}) == 1
    assert [q.headers["X-Itline-Attempt"] for q in rx.requests] == ["1", "2", "3", "4"]
    assert len({q.body for q in rx.requests}) == 1
    assert "given up after 4 attempts" in rows[-1].error
    sub.refresh_from_db()
    assert sub.active  # four failures are below the disable threshold
    assert sub.failure_count == 4


def test_retry_delays_stop_growing_at_the_configured_maximum(settings):
    settings.WEBHOOK_RETRY_BASE = 60
    settings.WEBHOOK_RETRY_MAX = 300
    assert [webhooks.retry_delay(n) for n in range(1, 7)] == [60, 120, 240, 300, 300, 300]


def test_a_subscription_is_disabled_after_too_many_failures_in_a_row_and_says_why(
    settings, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_DISABLE_AFTER = 3
    settings.WEBHOOK_MAX_ATTEMPTS = 10
    with receiver(status=503) as rx:
        sub = subscribe(rx.url)
        emit(django_capture_on_commit_callbacks)
        for _ in range(5):
            row = WebhookDelivery.objects.filter(subscription=sub, status=Status.PENDING).first()
            if row is None:
                break
            with django_capture_on_commit_callbacks(execute=True):
                webhook_tasks.attempt_delivery(row.pk)
        assert len(rx.requests) == 3

        sub.refresh_from_db()
        assert not sub.active
        assert sub.disabled_at is not None
        assert "3 failed deliveries in a row" in sub.disabled_reason
        assert "HTTP 503" in sub.disabled_reason
        statuses = list(sub.deliveries.order_by("attempt").values_list("status", flat=True))
        assert statuses == [Status.FAILED, Status.FAILED, Status.GIVEN_UP]
        entry = JournalEntry.objects.filter(verb=JournalEntry.Verb.STATE_CHANGED).get()
        assert entry.actor_label == "system"
        assert entry.changes["active"] == [True, False]

        # a disabled subscription hears nothing more
        assert emit(django_capture_on_commit_callbacks) == []
        assert len(rx.requests) == 3


def test_one_success_resets_the_count_of_failures_in_a_row(django_capture_on_commit_callbacks):
    with receiver(status=500) as rx:
        sub = subscribe(rx.url)
        emit(django_capture_on_commit_callbacks)
        rx.status = 204
        row = sub.deliveries.get(status=Status.PENDING)
        webhook_tasks.attempt_delivery(row.pk)
    sub.refresh_from_db()
    assert sub.failure_count == 0
    assert sub.deliveries.get(attempt=2).status == Status.DELIVERED


def test_a_receiver_that_never_answers_times_out_and_the_next_receiver_still_gets_its_event(
    django_capture_on_commit_callbacks,
):
    with receiver(mode="hang") as hanging, receiver() as healthy:
        slow = subscribe(hanging.url, name="Hangs")
        fine = subscribe(healthy.url, name="Fine")
        started = time.monotonic()
        emit(django_capture_on_commit_callbacks)
        elapsed = time.monotonic() - started

    assert elapsed < 3  # one second for the hanging one, the healthy one is instant
    timed_out = slow.deliveries.get(attempt=1)
    assert timed_out.status == Status.FAILED
    assert timed_out.response_code is None
    assert timed_out.error == "timed out after 1 s"
    assert 900 <= timed_out.duration_ms < 2500
    assert slow.deliveries.filter(status=Status.PENDING, attempt=2).exists()
    assert fine.deliveries.get().status == Status.DELIVERED


def test_a_receiver_that_trickles_bytes_is_cut_off_at_the_deadline(
    django_capture_on_commit_callbacks,
):
    # Each byte comes well within any per-read timeout; only a deadline on the whole
    # attempt stops this receiver.
    with receiver(mode="trickle") as rx:
        sub = subscribe(rx.url)
        started = time.monotonic()
        emit(django_capture_on_commit_callbacks)
        elapsed = time.monotonic() - started
    assert elapsed < 2.5
    delivery = sub.deliveries.get(attempt=1)
    assert delivery.status == Status.FAILED
    assert delivery.error == "timed out after 1 s"
    assert delivery.response_code is None


def test_a_refused_connection_is_logged_and_retried(django_capture_on_commit_callbacks):
    sub = subscribe(closed_port_url())
    emit(django_capture_on_commit_callbacks)
    first = sub.deliveries.get(attempt=1)
    assert first.status == Status.FAILED
    assert first.error == "connection refused"
    assert first.response_code is None
    assert sub.deliveries.get(attempt=2).status == Status.PENDING


def test_redirects_are_not_followed(django_capture_on_commit_callbacks):
    with receiver(status=301, extra_headers={"Location": "http://127.0.0.1:9/elsewhere"}) as rx:
        sub = subscribe(rx.url)
        emit(django_capture_on_commit_callbacks)
    first = sub.deliveries.get(attempt=1)
    assert first.status == Status.FAILED
    assert first.response_code == 301
    assert "redirects are not followed" in first.error
    assert len(rx.requests) == 1


def test_a_huge_answer_with_nul_bytes_is_kept_as_a_short_clean_excerpt(
    django_capture_on_commit_callbacks,
):
    with receiver(status=500, answer=b"\x00boom " * 100_000) as rx:
        sub = subscribe(rx.url)
        emit(django_capture_on_commit_callbacks)
    first = sub.deliveries.get(attempt=1)
    assert len(first.response_excerpt) <= 1000
    assert "\x00" not in first.response_excerpt
    assert len(rx.requests) == 1


def test_subscriptions_get_only_the_events_they_asked_for(django_capture_on_commit_callbacks):
    with receiver() as rx:
        everything = subscribe(rx.url, ["*"], name="All")
        incidents = subscribe(rx.url, ["incident.*"], name="Incidents")
        resolved = subscribe(rx.url, ["incident.resolved", "problem.created"], name="Resolved")
        subscribe(rx.url, ["*"], name="Off", active=False)
        emit(django_capture_on_commit_callbacks, "incident.resolved")
        emit(django_capture_on_commit_callbacks, "request.created")
        emit(django_capture_on_commit_callbacks, "known_error.created")

    def events(sub):
        return sorted(sub.deliveries.values_list("event", flat=True))

    assert events(everything) == ["incident.resolved", "known_error.created", "request.created"]
    assert events(incidents) == ["incident.resolved"]
    assert events(resolved) == ["incident.resolved"]
    assert len(rx.requests) == 5


def test_an_unknown_event_name_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown webhook event"):
        webhooks.emit("incident.exploded", {})


def test_emit_for_sends_the_record_with_its_reference_and_fields(
    django_capture_on_commit_callbacks,
):
    function = Function.objects.create(name="Network operations", email="noc@example.com")
    with receiver() as rx:
        subscribe(rx.url, ["incident.*"])
        with django_capture_on_commit_callbacks(execute=True):
            webhooks.emit_for("org.function", function.pk, "incident.updated")
    body = json.loads(rx.requests[0].body)
    assert body["record"]["type"] == "org.function"
    assert body["record"]["reference"] == function.reference
    assert body["record"]["url"].endswith(function.get_absolute_url())
    assert body["data"]["reference"] == function.reference
    assert body["data"]["display"] == "Network operations"
    assert body["data"]["email"] == "noc@example.com"
    assert body["data"]["created_at"]  # datetimes travel as ISO text


def test_a_registered_payload_builder_shapes_the_data(
    monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setitem(webhooks._PAYLOADS, "org.function", lambda f: {"name": f.name, "v": 2})
    function = Function.objects.create(name="Service desk")
    with receiver() as rx:
        subscribe(rx.url)
        with django_capture_on_commit_callbacks(execute=True):
            webhooks.emit_for("org.function", function.pk, "incident.created")
    assert json.loads(rx.requests[0].body)["data"] == {"name": "Service desk", "v": 2}


def test_emit_for_a_deleted_record_or_a_broken_builder_never_raises(
    monkeypatch, django_capture_on_commit_callbacks
):
    with receiver() as rx:
        subscribe(rx.url)
        with django_capture_on_commit_callbacks(execute=True):
            webhooks.emit_for("org.function", 987654, "incident.closed")
        assert json.loads(rx.requests[0].body)["data"] == {"id": 987654, "deleted": True}

        def broken(obj):
            raise RuntimeError("builder bug")

        monkeypatch.setitem(webhooks._PAYLOADS, "org.function", broken)
        function = Function.objects.create(name="Broken")
        assert webhooks.emit_for("org.function", function.pk, "incident.closed") == []
        assert webhooks.emit_for("no.such_model", 1, "incident.closed") == []
    assert len(rx.requests) == 1


def test_nothing_is_queued_before_the_transaction_commits(django_capture_on_commit_callbacks):
    with receiver() as rx:
        subscribe(rx.url)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            (delivery,) = webhooks.emit("incident.created", {"n": 1})
        assert rx.requests == []
        assert delivery.status == Status.PENDING
        for callback in callbacks:
            callback()
        assert len(rx.requests) == 1


def test_an_attempt_already_made_is_never_sent_twice(django_capture_on_commit_callbacks):
    with receiver() as rx:
        sub = subscribe(rx.url)
        emit(django_capture_on_commit_callbacks)
        delivery = sub.deliveries.get()
        assert webhook_tasks.attempt_delivery(delivery.pk) == "skipped"
        assert len(rx.requests) == 1


def test_the_sweep_sends_due_deliveries_and_frees_attempts_stuck_by_a_dead_worker():
    with receiver() as rx:
        sub = subscribe(rx.url)
        now = timezone.now()
        due = WebhookDelivery.objects.create(
            subscription=sub, event="incident.created", payload={"n": 1}, next_attempt_at=now
        )
        later = WebhookDelivery.objects.create(
            subscription=sub,
            event="incident.created",
            payload={"n": 2},
            next_attempt_at=now + timedelta(hours=1),
        )
        stuck = WebhookDelivery.objects.create(
            subscription=sub,
            event="incident.created",
            payload={"n": 3},
            status=Status.SENDING,
            next_attempt_at=now - timedelta(minutes=10),
            attempted_at=now - timedelta(minutes=10),
        )
        assert webhook_tasks.sweep(now=now) == 2
    due.refresh_from_db()
    later.refresh_from_db()
    stuck.refresh_from_db()
    assert due.status == Status.DELIVERED
    assert stuck.status == Status.DELIVERED
    assert later.status == Status.PENDING
    assert sorted(json.loads(r.body)["n"] for r in rx.requests) == [1, 3]


def test_a_redelivery_sends_the_same_body_again(django_capture_on_commit_callbacks):
    with receiver(status=500) as rx:
        sub = subscribe(rx.url)
        emit(django_capture_on_commit_callbacks)
        failed = sub.deliveries.get(attempt=1)
        rx.status = 200
        with django_capture_on_commit_callbacks(execute=True):
            again = webhooks.redeliver(failed, by=None)
    again.refresh_from_db()
    assert again.status == Status.DELIVERED
    assert again.trigger == WebhookDelivery.Trigger.REDELIVERY
    assert again.event_id == failed.event_id
    assert json.loads(rx.requests[0].body) == json.loads(rx.requests[1].body)


def test_a_test_event_reaches_a_disabled_subscription_but_is_not_retried(
    django_capture_on_commit_callbacks,
):
    with receiver(status=500) as rx:
        sub = subscribe(rx.url, active=False)
        with django_capture_on_commit_callbacks(execute=True):
            delivery = webhooks.send_test(sub, by=None)
    delivery.refresh_from_db()
    assert delivery.event == "webhook.test"
    assert delivery.status == Status.GIVEN_UP
    assert "not retried" in delivery.error
    assert json.loads(rx.requests[0].body)["data"]["subscription"] == sub.reference
    assert not sub.deliveries.filter(status=Status.PENDING).exists()


def test_the_signature_helper_matches_the_documented_scheme():
    body = b'{"event":"incident.created"}'
    signature = webhooks.sign(SECRET, 1700000000, body)
    headers = {"X-Itline-Timestamp": "1700000000", "X-Itline-Signature": signature}
    assert receiver_checks(SECRET, headers, body)
    assert webhooks.verify(SECRET, "1700000000", body, signature)
    assert not webhooks.verify(SECRET, "1700000001", body, signature)


def test_a_published_record_event_reaches_the_receiver_after_commit_and_never_on_rollback(
    django_capture_on_commit_callbacks,
):
    from django.db import transaction

    from itline.operation.events import publish

    function = Function.objects.create(name="Problem management")
    with receiver() as rx:
        subscribe(rx.url, ["problem.*"])
        with django_capture_on_commit_callbacks(execute=True):
            try:
                with transaction.atomic():
                    publish(function, "problem.updated")
                    raise RuntimeError("the change fails")
            except RuntimeError:
                pass
        assert rx.requests == []
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            publish(function, "problem.updated", changes={"name": ["PM", "Problem management"]})
    (request,) = rx.requests
    body = json.loads(request.body)
    assert body["event"] == "problem.updated"
    assert body["record"]["reference"] == function.reference
    assert body["changes"] == {"name": ["PM", "Problem management"]}


def test_changes_and_details_of_an_event_travel_with_it(django_capture_on_commit_callbacks):
    function = Function.objects.create(name="Service desk")
    with receiver() as rx:
        subscribe(rx.url)
        with django_capture_on_commit_callbacks(execute=True):
            webhooks.emit_for(
                "org.function",
                function.pk,
                "incident.breach_warning",
                changes={"status": ["new", "assigned"]},
                extra={"clock": "resolution", "due_at": timezone.now()},
            )
            # an event nobody can subscribe to is ignored, quietly
            assert webhooks.emit_for("org.function", function.pk, "incident.sneezed") == []
    body = json.loads(rx.requests[0].body)
    assert body["changes"] == {"status": ["new", "assigned"]}
    assert body["details"]["clock"] == "resolution"
    assert body["details"]["due_at"]
    assert len(rx.requests) == 1


@pytest.fixture
def database_task_backend(settings):
    """The production backend (django-tasks-db) instead of the immediate test backend.
    Django caches task backends per process and does not reset them on a settings change,
    so the handler is reset here and again afterwards."""
    from asgiref.local import Local
    from django.tasks import task_backends

    def reset():
        task_backends.__dict__.pop("settings", None)
        task_backends._connections = Local(task_backends.thread_critical)

    original = settings.TASKS
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}
    }
    reset()
    yield
    settings.TASKS = original
    reset()


def run_worker():
    from django.core.management import call_command

    call_command("db_worker", batch=True, no_startup_delay=True, verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_with_the_database_task_backend_retries_wait_in_the_queue_until_due(
    database_task_backend,
):
    from django_tasks_db.models import DBTaskResult

    with receiver(status=500) as rx:
        sub = subscribe(rx.url)
        webhooks.emit("incident.created", {"n": 1})
        # queued, not sent: the worker sends it
        assert rx.requests == []
        assert DBTaskResult.objects.count() == 1
        run_worker()
        assert len(rx.requests) == 1

    failed = sub.deliveries.get(attempt=1)
    retry = sub.deliveries.get(attempt=2)
    assert failed.status == Status.FAILED and retry.status == Status.PENDING
    queued = DBTaskResult.objects.exclude(status="SUCCESSFUL").get()
    assert queued.args_kwargs["args"] == [retry.pk]
    assert queued.run_after == retry.next_attempt_at
    assert (queued.run_after - failed.completed_at).total_seconds() == pytest.approx(30, abs=1)
    # the worker leaves it alone until it is due
    with receiver() as rx2:
        WebhookSubscription.objects.filter(pk=sub.pk).update(url=rx2.url)
        run_worker()
        assert rx2.requests == []
        DBTaskResult.objects.filter(pk=queued.pk).update(run_after=timezone.now())
        run_worker()
        assert len(rx2.requests) == 1
    retry.refresh_from_db()
    assert retry.status == Status.DELIVERED
