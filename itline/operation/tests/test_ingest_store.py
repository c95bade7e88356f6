"""The store: deduplication by fingerprint, redelivery changes nothing but last_seen, every
status change is one history row, re-posts of a firing alert cause no correlation, new and
changed alerts are handed to correlation after the commit, and the number of queries per
batch does not grow with the batch."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from itline.operation.ingest import NormalizedEvent, ingest, parse_alertmanager
from itline.operation.ingest.testing import am_alert, am_payload, make_source, post
from itline.operation.models import Alert, AlertTransition, EventSource

pytestmark = pytest.mark.django_db

AM = "/api/v1/events/alertmanager"


@pytest.fixture
def calls(monkeypatch):
    """What ingestion hands to correlation after each commit."""
    from itline.operation.ingest import store

    seen: list[list[int]] = []
    monkeypatch.setattr(store, "_correlate", lambda ids: seen.append(sorted(ids)))
    return seen


def batch(n, start=0, **kw):
    return am_payload(
        *[am_alert(f"A{i}", instance=f"host-{i}", **kw) for i in range(start, start + n)]
    )


def test_redelivery_of_the_same_batch_changes_nothing_but_last_seen(
    client, calls, django_capture_on_commit_callbacks
):
    _, token = make_source()
    body = batch(3)
    with django_capture_on_commit_callbacks(execute=True):
        first = post(client, AM, body, token).json()
    assert (first["new"], first["unchanged"]) == (3, 0)
    before = {
        a.pk: (a.status, a.changed_at, a.transitions, a.last_seen_at) for a in Alert.objects.all()
    }
    with django_capture_on_commit_callbacks(execute=True):
        again = post(client, AM, body, token).json()
    assert (again["new"], again["updated"], again["unchanged"]) == (0, 0, 3)
    assert AlertTransition.objects.count() == 3
    for alert in Alert.objects.all():
        status, changed_at, transitions, last_seen = before[alert.pk]
        assert (alert.status, alert.changed_at, alert.transitions) == (
            status,
            changed_at,
            transitions,
        )
        assert alert.last_seen_at >= last_seen
    assert len(calls) == 1 and len(calls[0]) == 3  # the re-post was not correlated


def test_new_and_changed_alerts_are_marked_pending_and_correlated_after_commit(
    calls, django_capture_on_commit_callbacks
):
    source, _ = make_source()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = ingest(source, parse_alertmanager(batch(2)))
    assert calls == []  # nothing before the commit
    assert Alert.objects.filter(pending=True).count() == 2
    for callback in callbacks:
        callback()
    assert calls == [sorted(result.changed_alert_ids)]
    Alert.objects.update(pending=False)
    resolved = am_payload(
        am_alert("A0", instance="host-0", status="resolved"), am_alert("A1", instance="host-1")
    )
    with django_capture_on_commit_callbacks(execute=True):
        second = ingest(source, parse_alertmanager(resolved))
    assert (second.updated, second.unchanged) == (1, 1)
    assert list(Alert.objects.filter(pending=True).values_list("name", flat=True)) == ["A0"]
    assert calls[-1] == second.changed_alert_ids


def test_a_severity_change_without_status_change_is_correlated_but_not_history(
    calls, django_capture_on_commit_callbacks
):
    source, _ = make_source()
    event = NormalizedEvent(
        status="firing", severity="warning", labels={"check": "disk"}, fingerprint="disk"
    )
    with django_capture_on_commit_callbacks(execute=True):
        ingest(source, [event])
        event.severity = "critical"
        result = ingest(source, [event])
    assert result.updated == 1 and calls[-1] == result.changed_alert_ids
    alert = Alert.objects.get()
    assert alert.severity == "critical" and alert.history.count() == 1


def test_firing_resolved_firing_is_three_history_rows_with_the_senders_times(client):
    _, token = make_source()
    t0 = timezone.now() - timedelta(hours=2)
    t1 = t0 + timedelta(minutes=20)
    t2 = t0 + timedelta(minutes=50)
    post(client, AM, am_payload(am_alert(starts_at=t0)), token)
    post(client, AM, am_payload(am_alert(status="resolved", starts_at=t0, ends_at=t1)), token)
    post(client, AM, am_payload(am_alert(starts_at=t2)), token)
    alert = Alert.objects.get()
    rows = list(alert.history.values_list("status", "at"))
    assert [s for s, _ in rows] == ["firing", "resolved", "firing"]
    assert [round((at - t0).total_seconds()) for _, at in rows] == [0, 1200, 3000]
    assert alert.status == "firing" and alert.ends_at is None and alert.transitions == 3
    assert alert.changed_at == rows[-1][1]


def test_an_alert_first_seen_resolved_gets_its_firing_and_resolved_rows():
    source, _ = make_source()
    t0 = timezone.now() - timedelta(minutes=30)
    ingest(
        source,
        parse_alertmanager(
            am_payload(am_alert(status="resolved", starts_at=t0, ends_at=t0 + timedelta(minutes=5)))
        ),
    )
    alert = Alert.objects.get()
    assert alert.status == "resolved"
    assert list(alert.history.values_list("status", flat=True)) == ["firing", "resolved"]


def test_a_fingerprint_repeated_inside_one_batch_is_one_alert_with_each_transition():
    source, _ = make_source()
    payload = am_payload(
        am_alert(fingerprint="f1"),
        am_alert(fingerprint="f1", status="resolved"),
        am_alert(fingerprint="f1"),
    )
    result = ingest(source, parse_alertmanager(payload))
    assert (result.accepted, result.new) == (3, 1)
    assert list(Alert.objects.get().history.values_list("status", flat=True)) == [
        "firing",
        "resolved",
        "firing",
    ]


def test_a_history_row_keeps_the_mapping_of_its_time():
    from itline.cmdb.testing import make_component
    from itline.operation.ingest import config

    web = make_component("web-01")
    source, _ = make_source()
    rule = config.create_rule(
        by=None, name="instance", label="instance", target="component", pattern=r"(.+?)(:\d+)?"
    )
    ingest(source, parse_alertmanager(am_payload(am_alert(instance="web-01:9100"))))
    config.delete_rule(rule, by=None)
    ingest(
        source, parse_alertmanager(am_payload(am_alert(instance="web-01:9100", status="resolved")))
    )
    first, second = AlertTransition.objects.order_by("id")
    assert first.component_id == web.pk and second.component_id == web.pk


def test_the_source_remembers_when_it_last_sent(client):
    source, token = make_source()
    post(client, AM, batch(1), token)
    assert EventSource.objects.get(pk=source.pk).last_event_at is not None


@pytest.mark.parametrize("kind", ["new", "repost", "resolve"])
def test_queries_per_batch_do_not_grow_with_the_batch(client, kind):
    _, token = make_source()

    def count(n, start):
        body = batch(n, start)
        if kind != "new":
            post(client, AM, body, token)
        if kind == "resolve":
            body = batch(n, start, status="resolved")
        with CaptureQueriesContext(connection) as ctx:
            response = post(client, AM, body, token)
        assert response.status_code == 202
        return len(ctx.captured_queries)

    post(client, AM, batch(1, 9999), token)  # the source's last_event_at is written once a minute
    small, large = count(2, 0), count(300, 1000)
    assert small == large, (small, large)
    assert large <= 12


def test_ingest_is_one_transaction_nothing_is_left_when_a_write_fails(monkeypatch):
    from itline.operation.ingest import store

    source, _ = make_source()

    def broken(self, rows):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store._SQLite, "insert_transitions", broken)
    monkeypatch.setattr(store._Postgres, "insert_transitions", broken)
    with pytest.raises(RuntimeError):
        ingest(source, parse_alertmanager(batch(5)))
    assert Alert.objects.count() == 0
