"""Bad input gets a clear 4xx naming the field and stores nothing: malformed JSON, wrong
shapes, unknown severities, times far in the future or past, odd Unicode, too-long values,
bodies over the size limit (413, before parsing)."""

from datetime import timedelta

import orjson
import pytest
from django.test import override_settings
from django.utils import timezone

from itline.operation.ingest.testing import am_alert, am_payload, iso, make_source, post
from itline.operation.models import Alert, AlertTransition, EventSource

pytestmark = pytest.mark.django_db

AM = "/api/v1/events/alertmanager"
OWN = "/api/v1/events"
PD = "/api/v1/events/pagerduty"


@pytest.fixture
def token():
    return make_source()[1]


@pytest.fixture
def own_token():
    return make_source("own", kind="itline")[1]


def refused(response, status, field):
    assert response.status_code == status, response.content
    body = response.json()
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["errors"][0]["field"] == field, body
    assert Alert.objects.count() == 0 and AlertTransition.objects.count() == 0
    return body["errors"][0]["message"]


def test_malformed_json_is_a_400_saying_so(client, token):
    message = refused(post(client, AM, b'{"alerts": [', token), 400, "request")
    assert "not valid JSON" in message


def test_an_empty_body_is_a_400(client, token):
    refused(post(client, AM, b"", token), 400, "request")


def test_a_payload_without_alerts_is_a_422_naming_alerts(client, token):
    refused(post(client, AM, {"version": "4", "status": "firing"}, token), 422, "alerts")


def test_an_unsupported_payload_version_is_refused(client, token):
    refused(post(client, AM, {**am_payload(am_alert()), "version": "3"}, token), 422, "version")


def test_one_bad_alert_refuses_the_whole_batch_and_names_it(client, token):
    good = am_alert("Good")
    bad = am_alert("Bad")
    bad["status"] = "pending"
    refused(post(client, AM, am_payload(good, good, bad), token), 422, "alerts.2.status")


def test_an_unknown_severity_is_a_422_naming_the_value(client, token):
    message = refused(
        post(client, AM, am_payload(am_alert(severity="catastrophic")), token),
        422,
        "alerts.0.labels.severity",
    )
    assert "catastrophic" in message and "critical" in message


def test_a_time_far_in_the_future_is_refused(client, token):
    alert = am_alert(starts_at=timezone.now() + timedelta(days=2))
    message = refused(post(client, AM, am_payload(alert), token), 422, "alerts.0.startsAt")
    assert "future" in message


@override_settings(EVENTS_MAX_AGE_DAYS=30)
def test_a_time_further_in_the_past_than_the_setting_is_refused(client, token):
    alert = am_alert(starts_at=timezone.now() - timedelta(days=31))
    message = refused(post(client, AM, am_payload(alert), token), 422, "alerts.0.startsAt")
    assert "30 days" in message


def test_a_time_that_is_no_time_is_refused(client, own_token):
    event = {"labels": {"a": "b"}, "starts_at": "yesterday"}
    refused(post(client, OWN, event, own_token), 422, "starts_at")


def test_a_nul_character_in_a_label_value_is_refused_with_its_place(client, token):
    alert = am_alert(extra="bad\x00value")
    message = refused(post(client, AM, am_payload(alert), token), 422, "alerts.0.labels.extra")
    assert "NUL" in message


def test_a_lone_surrogate_is_refused_as_invalid_json(client, token):
    body = orjson.dumps(am_payload(am_alert())).replace(b'"web-01:9100"', b'"web-\\ud800"')
    refused(post(client, AM, body, token), 400, "request")


def test_invalid_utf8_is_refused_as_invalid_json(client, token):
    body = orjson.dumps(am_payload(am_alert())).replace(b"web-01", b"web-\xff\xfe")
    refused(post(client, AM, body, token), 400, "request")


def test_a_too_long_label_value_is_refused_not_cut(client, token):
    alert = am_alert(pod="p" * 5000)
    message = refused(post(client, AM, am_payload(alert), token), 422, "alerts.0.labels.pod")
    assert "5000" in message


def test_labels_that_are_not_strings_are_refused(client, own_token):
    event = {"labels": {"host": {"nested": True}}}
    refused(post(client, OWN, event, own_token), 422, "labels.host")


def test_an_unknown_field_of_an_itline_event_is_refused(client, own_token):
    refused(
        post(client, OWN, {"labels": {"a": "b"}, "sevrity": "error"}, own_token), 422, "sevrity"
    )


def test_an_event_without_labels_or_fingerprint_is_refused(client, own_token):
    refused(post(client, OWN, {"summary": "something"}, own_token), 422, "labels")


def test_naming_another_source_in_the_body_is_refused(client, own_token):
    message = refused(
        post(client, OWN, {"labels": {"a": "b"}, "source": "nagios"}, own_token), 422, "source"
    )
    assert "own" in message


def test_long_texts_are_cut_safely_and_odd_unicode_is_kept(client, own_token):
    event = {
        "labels": {"host": "wëb-01 🚀", "rtl": "\u202eevil"},
        "summary": "x" * 5000,
        "name": "n" * 500,
        "annotations": {"description": "d" * 20000},
        "generator_url": "http://prom/graph?g0.expr=" + "a" * 2000,
        "severity": "info",
    }
    response = post(client, OWN, event, own_token)
    assert response.status_code == 202, response.content
    alert = Alert.objects.get()
    assert len(alert.summary) == 1024 and alert.summary.endswith("…")
    assert len(alert.name) == 200
    assert len(alert.annotations["description"]) == 16384
    assert alert.generator_url == "" and len(alert.annotations["generator_url"]) > 2000
    assert alert.labels["host"] == "wëb-01 🚀"


@override_settings(EVENTS_MAX_BYTES=2000)
def test_a_body_over_the_limit_is_a_413_before_parsing(client, token):
    body = orjson.dumps(am_payload(*[am_alert(f"A{i}") for i in range(20)]))
    assert len(body) > 2000
    response = post(client, AM, body, token)
    assert response.status_code == 413
    assert "2000" in response.json()["detail"]
    assert Alert.objects.count() == 0


@override_settings(EVENTS_MAX_BYTES=2000)
def test_a_body_over_the_limit_without_a_true_length_is_still_a_413(client, token):
    body = b"[" + b" " * 3000 + b"]"
    response = client.generic(
        "POST",
        AM,
        body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
        CONTENT_LENGTH="10",
    )
    assert response.status_code in (400, 413)
    assert Alert.objects.count() == 0


def test_pagerduty_errors_have_pagerduty_shape_and_the_api_detail(client):
    _, key = make_source("pd", kind="pagerduty")
    response = post(
        client,
        PD,
        {"routing_key": key, "event_action": "trigger", "payload": {"summary": "x", "source": "y"}},
    )
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "invalid event" and body["message"] == "Event object is invalid"
    assert body["errors"] == [body["detail"]] and "payload.severity" in body["detail"]
    assert Alert.objects.count() == 0


def test_pagerduty_unknown_action_and_missing_dedup_key_are_400(client):
    _, key = make_source("pd", kind="pagerduty")
    assert post(client, PD, {"routing_key": key, "event_action": "explode"}).status_code == 400
    response = post(client, PD, {"routing_key": key, "event_action": "resolve"})
    assert response.status_code == 400 and "dedup_key" in response.json()["detail"]


def test_a_rejected_batch_does_not_touch_the_sources_last_event(client, token):
    post(client, AM, b"{", token)
    assert EventSource.objects.get().last_event_at is None
    assert iso()  # the helper itself works
