"""The three wire formats arrive as alerts with their history: itline JSON (one or a list),
the Alertmanager webhook v4 exactly as Alertmanager sends it, and PagerDuty Events API v2
answered as PagerDuty answers."""

from datetime import timedelta

import pytest
from django.utils import timezone

from itline.cmdb.testing import make_component
from itline.operation.ingest.testing import am_alert, am_payload, iso, make_source, post
from itline.operation.models import Alert, AlertTransition
from itline.operation.testing import make_service

pytestmark = pytest.mark.django_db

AM = "/api/v1/events/alertmanager"
OWN = "/api/v1/events"
PD = "/api/v1/events/pagerduty"

# A real Alertmanager 0.25 webhook body (captured), nanosecond times and all.
REAL_AM_BODY = b"""{"receiver":"itline","status":"firing","alerts":[{"status":"firing",
"labels":{"alertname":"NodeDown","instance":"db-01:9100","job":"node","severity":"critical"},
"annotations":{"description":"db-01 has been down for 1m","summary":"Node db-01 down"},
"startsAt":"STARTS","endsAt":"0001-01-01T00:00:00Z",
"generatorURL":"http://prom:9090/graph?g0.expr=up+%3D%3D+0\\u0026g0.tab=1",
"fingerprint":"4f9c4f6f4ac3b2a1"}],"groupLabels":{"alertname":"NodeDown"},
"commonLabels":{"alertname":"NodeDown","instance":"db-01:9100","job":"node","severity":"critical"},
"commonAnnotations":{"summary":"Node db-01 down"},"externalURL":"http://am:9093",
"version":"4","groupKey":"{}:{alertname=\\"NodeDown\\"}","truncatedAlerts":0}"""


def test_an_alertmanager_webhook_becomes_a_firing_alert_with_one_transition(client):
    _, token = make_source()
    starts = (timezone.now() - timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M:%S.123456789Z")
    response = post(client, AM, REAL_AM_BODY.replace(b"STARTS", starts.encode()), token)
    assert response.status_code == 202, response.content
    assert response.json()["new"] == 1
    alert = Alert.objects.get()
    assert alert.fingerprint == "4f9c4f6f4ac3b2a1"
    assert (alert.name, alert.status, alert.severity) == ("NodeDown", "firing", "critical")
    assert alert.summary == "Node db-01 down"
    assert alert.labels["instance"] == "db-01:9100"
    assert alert.ends_at is None and alert.pending
    assert alert.starts_at.microsecond == 123456
    assert alert.generator_url.endswith("g0.tab=1")
    assert list(alert.history.values_list("status", flat=True)) == ["firing"]


def test_alertmanager_sends_the_resolution_and_history_has_both_transitions(client):
    _, token = make_source()
    fired = timezone.now() - timedelta(minutes=10)
    post(client, AM, am_payload(am_alert(starts_at=fired)), token)
    ended = timezone.now() - timedelta(minutes=1)
    resolved = am_alert(status="resolved", starts_at=fired, ends_at=ended)
    response = post(client, AM, am_payload(resolved), token)
    assert response.json() | {} == response.json() and response.json()["updated"] == 1
    alert = Alert.objects.get()
    assert alert.status == "resolved" and alert.transitions == 2
    assert abs((alert.ends_at - ended).total_seconds()) < 0.001
    assert [t.status for t in alert.history.all()] == ["firing", "resolved"]


def test_an_alert_without_a_fingerprint_gets_a_stable_one_from_its_labels(client):
    _, token = make_source()
    post(client, AM, am_payload(am_alert()), token)
    post(client, AM, am_payload(am_alert()), token)
    post(client, AM, am_payload(am_alert(instance="web-02:9100")), token)
    assert Alert.objects.count() == 2
    assert all(len(fp) == 32 for fp in Alert.objects.values_list("fingerprint", flat=True))


def test_an_alert_without_a_severity_label_is_a_warning(client):
    _, token = make_source()
    post(client, AM, am_payload(am_alert(severity=None)), token)
    assert Alert.objects.get().severity == "warning"


def test_severity_aliases_of_monitoring_tools_map_onto_itlines_four(client):
    _, token = make_source()
    for index, (given, expected) in enumerate(
        [
            ("page", "critical"),
            ("high", "error"),
            ("low", "info"),
            ("none", "info"),
            ("WARN", "warning"),
        ]
    ):
        post(client, AM, am_payload(am_alert(instance=f"h{index}", severity=given)), token)
        assert Alert.objects.get(labels__instance=f"h{index}").severity == expected


def test_one_itline_event_with_a_component_hint_is_stored_and_mapped(client):
    db01 = make_component("db-01", "database")
    _, token = make_source("zabbix", kind="itline")
    event = {
        "status": "firing",
        "severity": "error",
        "summary": "Replication lag 45 s",
        "labels": {"check": "replication", "host": "db-01"},
        "annotations": {"runbook": "https://wiki/runbooks/replication"},
        "starts_at": iso(timezone.now() - timedelta(seconds=30)),
        "component": db01.reference,
        "source": "zabbix",
    }
    response = post(client, OWN, event, token)
    assert response.status_code == 202, response.content
    alert = Alert.objects.get()
    assert alert.component_id == db01.pk and alert.severity == "error"
    assert alert.summary == "Replication lag 45 s"
    assert alert.annotations["runbook"].startswith("https://")


def test_a_list_of_itline_events_with_fingerprints_is_one_batch(client):
    svc = make_service("Payroll")
    _, token = make_source("checks", kind="itline")
    events = [
        {
            "fingerprint": f"check-{i}",
            "severity": "warning",
            "summary": f"Check {i}",
            "service": "Payroll",
        }
        for i in range(5)
    ]
    events.append({"fingerprint": "check-0", "status": "resolved", "severity": "warning"})
    response = post(client, OWN, events, token)
    assert response.json() == {
        "status": "success",
        "accepted": 6,
        "new": 5,
        "updated": 0,
        "unchanged": 0,
        "ignored": 0,
    }
    assert Alert.objects.filter(service=svc).count() == 5
    first = Alert.objects.get(fingerprint="check-0")
    assert first.status == "resolved"
    assert [t.status for t in first.history.all()] == ["firing", "resolved"]
    assert AlertTransition.objects.count() == 6


def test_a_pagerduty_trigger_is_answered_as_pagerduty_answers(client):
    web = make_component("web-01")
    _, routing_key = make_source("legacy", kind="pagerduty")
    body = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": "web-01/http",
        "payload": {
            "summary": "HTTP 500 on web-01",
            "source": "web-01",
            "severity": "error",
            "component": "nginx",
            "group": "shop",
            "class": "http",
            "custom_details": {"errors_per_min": 120, "path": "/checkout"},
        },
    }
    response = post(client, PD, body)
    assert response.status_code == 202
    assert response.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "web-01/http",
    }
    alert = Alert.objects.get()
    assert alert.component_id == web.pk and alert.name == "http"
    assert alert.labels == {
        "dedup_key": "web-01/http",
        "source": "web-01",
        "component": "nginx",
        "group": "shop",
        "class": "http",
    }
    assert alert.annotations["custom_details"]["errors_per_min"] == 120


def test_a_pagerduty_trigger_without_dedup_key_gets_one_and_resolve_uses_it(client):
    _, routing_key = make_source("legacy", kind="pagerduty")
    trigger = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "payload": {"summary": "Disk full", "source": "nas-01", "severity": "critical"},
    }
    dedup_key = post(client, PD, trigger).json()["dedup_key"]
    assert len(dedup_key) == 32
    ack = post(
        client,
        PD,
        {"routing_key": routing_key, "event_action": "acknowledge", "dedup_key": dedup_key},
    )
    assert ack.status_code == 202
    alert = Alert.objects.get()
    assert alert.acknowledged_at is not None and alert.status == "firing"
    resolve = {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key}
    assert post(client, PD, resolve).json()["dedup_key"] == dedup_key
    alert.refresh_from_db()
    assert alert.status == "resolved" and alert.summary == "Disk full"
    assert [t.status for t in alert.history.all()] == ["firing", "resolved"]


def test_pagerduty_resolve_of_an_unknown_dedup_key_is_accepted_and_stores_nothing(client):
    _, routing_key = make_source("legacy", kind="pagerduty")
    response = post(
        client, PD, {"routing_key": routing_key, "event_action": "resolve", "dedup_key": "nope"}
    )
    assert response.status_code == 202
    assert Alert.objects.count() == 0


def test_pagerduty_dedup_keys_of_two_sources_are_two_alerts(client):
    _, key_a = make_source("pd-a", kind="pagerduty")
    _, key_b = make_source("pd-b", kind="pagerduty")
    for key in (key_a, key_b):
        payload = {"summary": "CPU", "source": "host", "severity": "warning"}
        post(
            client,
            PD,
            {"routing_key": key, "event_action": "trigger", "dedup_key": "cpu", "payload": payload},
        )
    assert Alert.objects.count() == 2
