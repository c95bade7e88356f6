"""The webhook API: subscriptions by reference, the secret shown once, bad input named by
field (never a 500), the delivery log, test events and redelivery against a real receiver."""

from __future__ import annotations

import json

import pytest

from itline.core import webhooks
from itline.core.models import JournalEntry
from itline.core.testing import bearer, make_user
from itline.core.tests.webhook_receiver import receiver
from itline.core.webhook_models import EVENTS, WebhookDelivery, WebhookSubscription

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]

URL = "/api/v1/webhooks"


@pytest.fixture
def admin(db):
    return bearer(make_user("ada", "administrator"))


def post(client, url, data, headers):
    return client.post(url, data, content_type="application/json", headers=headers)


def patch(client, url, data, headers):
    return client.patch(url, data, content_type="application/json", headers=headers)


def create(client, headers, **fields):
    data = {"name": "Chat bridge", "url": "https://chat.example.com/hooks", "events": ["*"]}
    response = post(client, URL, {**data, **fields}, headers)
    assert response.status_code == 201, response.content
    return response.json()


def field_errors(response):
    return {e["field"]: e["message"] for e in response.json()["errors"]}


def test_creating_a_webhook_shows_its_secret_once(client, admin):
    body = create(client, admin, events=["incident.*", "problem.created"])
    assert body["reference"].startswith("WHK-")
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 30
    assert body["active"] is True
    sub = WebhookSubscription.objects.get(reference=body["reference"])
    assert sub.secret == body["secret"]

    read = client.get(f"{URL}/{body['reference']}", headers=admin).json()
    assert "secret" not in read
    assert read["events"] == ["incident.*", "problem.created"]
    listed = client.get(URL, headers=admin).json()["items"]
    assert [item["reference"] for item in listed] == [body["reference"]]
    assert "secret" not in listed[0]
    # the secret is not written into the history either
    history = json.dumps(list(JournalEntry.objects.values_list("changes", flat=True)))
    assert body["secret"] not in history


def test_a_chosen_secret_is_kept_and_a_short_one_is_refused(client, admin):
    body = create(client, admin, secret="my-own-long-enough-secret")
    assert body["secret"] == "my-own-long-enough-secret"
    short = post(
        client,
        URL,
        {"name": "x", "url": "https://a.example/h", "events": ["*"], "secret": "short"},
        admin,
    )
    assert short.status_code == 422
    assert "16 characters" in field_errors(short)["secret"]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://files.example.com/in", "Only http:// and https://"),
        ("file:///etc/passwd", "Only http:// and https://"),
        ("javascript:alert(1)", "Only http:// and https://"),
        ("gopher://example.com:70/", "Only http:// and https://"),
        ("chat.example.com/hooks", "Only http:// and https://"),
        ("", "Give the receiver's address"),
        ("http://", "not a valid"),
        ("https://exa mple.com/hooks", "not a valid"),
        ("http://example.com:99999/hooks", "not a valid"),
        ("https://bob:hunter2@example.com/hooks", "user name and password"),
    ],
)
def test_an_invalid_or_non_http_address_is_refused_naming_the_field(client, admin, url, says):
    response = post(client, URL, {"name": "Bad", "url": url, "events": ["*"]}, admin)
    assert response.status_code == 422, response.content
    assert says in field_errors(response)["url"]
    assert not WebhookSubscription.objects.exists()


@pytest.mark.parametrize(
    ("events", "field", "says"),
    [
        ([], "events", "at least one event"),
        (["incident.exploded"], "events", "Unknown event 'incident.exploded'"),
        (["strategy.*"], "events", "Unknown event"),
        (["incident.created", 7], "events.1", "valid string"),
        ("incident.created", "events", "valid list"),
        (None, "events", "valid list"),
    ],
)
def test_unknown_events_are_refused_naming_the_field(client, admin, events, field, says):
    data = {"name": "Bad", "url": "https://a.example/h", "events": events}
    response = post(client, URL, data, admin)
    assert response.status_code == 422, response.content
    assert says in field_errors(response)[field]


def test_the_event_list_documents_every_event(client, admin):
    body = client.get("/api/v1/webhook-events", headers=admin).json()
    names = [e["name"] for e in body]
    assert names == [name for name, _ in EVENTS]
    assert "incident.breach_warning" in names and "known_error.created" in names


def test_changing_a_webhook_validates_and_keeps_the_secret_write_only(client, admin):
    ref = create(client, admin)["reference"]
    bad = patch(client, f"{URL}/{ref}", {"url": "ftp://x.example/in"}, admin)
    assert bad.status_code == 422 and "url" in field_errors(bad)
    null = patch(client, f"{URL}/{ref}", {"events": None}, admin)
    assert null.status_code == 422 and "events" in field_errors(null)
    empty = patch(client, f"{URL}/{ref}", {}, admin)
    assert empty.status_code == 400

    ok = patch(
        client, f"{URL}/{ref}", {"name": "Chat", "secret": "a-brand-new-secret-value"}, admin
    )
    assert ok.status_code == 200
    assert ok.json()["name"] == "Chat" and "secret" not in ok.json()
    assert WebhookSubscription.objects.get(reference=ref).secret == "a-brand-new-secret-value"
    messages = list(JournalEntry.objects.values_list("message", flat=True))
    assert "The signing secret was replaced." in messages
    assert not any("a-brand-new-secret-value" in json.dumps(m) for m in messages)


def test_rotating_the_secret_returns_the_new_one_once(client, admin):
    ref = create(client, admin)["reference"]
    old = WebhookSubscription.objects.get(reference=ref).secret
    response = post(client, f"{URL}/{ref}/rotate-secret", {}, admin)
    assert response.status_code == 200
    new = response.json()["secret"]
    assert new != old and WebhookSubscription.objects.get(reference=ref).secret == new


def test_switching_a_disabled_webhook_on_clears_its_failures(client, admin):
    ref = create(client, admin)["reference"]
    sub = WebhookSubscription.objects.get(reference=ref)
    WebhookSubscription.objects.filter(pk=sub.pk).update(failure_count=20)
    webhooks.disable_subscription(sub, reason="Disabled after 20 failed deliveries in a row.")
    body = client.get(f"{URL}/{ref}", headers=admin).json()
    assert body["active"] is False and body["disabled_reason"].startswith("Disabled after 20")

    body = patch(client, f"{URL}/{ref}", {"active": True}, admin).json()
    assert body["active"] is True
    assert body["failure_count"] == 0
    assert body["disabled_at"] is None and body["disabled_reason"] == ""


def test_people_without_the_administrator_role_cannot_see_or_change_webhooks(client, admin):
    ref = create(client, admin)["reference"]
    tech = bearer(make_user("tom", "technician"))
    assert client.get(URL, headers=tech).status_code == 403
    assert client.get(f"{URL}/{ref}", headers=tech).status_code == 403
    assert (
        post(
            client, URL, {"name": "x", "url": "https://a.example/h", "events": ["*"]}, tech
        ).status_code
        == 403
    )
    assert post(client, f"{URL}/{ref}/test", {}, tech).status_code == 403
    read_only = bearer(make_user("rob", "administrator"), scope="read")
    assert client.get(URL, headers=read_only).status_code == 200
    assert patch(client, f"{URL}/{ref}", {"name": "y"}, read_only).status_code == 403


def test_unknown_references_and_deliveries_are_404_and_garbage_is_never_a_500(client, admin):
    ref = create(client, admin)["reference"]
    assert client.get(f"{URL}/WHK-999999", headers=admin).status_code == 404
    assert client.get(f"{URL}/{ref}/deliveries/12345", headers=admin).status_code == 404
    assert post(client, f"{URL}/{ref}/deliveries/12345/redeliver", {}, admin).status_code == 404
    assert client.get(f"{URL}/{ref}/deliveries/abc", headers=admin).status_code == 422
    assert client.get(f"{URL}/{ref}/deliveries?status=exploded", headers=admin).status_code == 422
    assert client.get(f"{URL}/{ref}/deliveries?cursor=zzz", headers=admin).status_code == 400
    assert client.get(f"{URL}?sort=secret", headers=admin).status_code == 400
    broken = client.post(URL, "{not json", content_type="application/json", headers=admin)
    assert broken.status_code == 400
    nul = post(
        client, URL, {"name": "a\x00b", "url": "https://a.example/h", "events": ["*"]}, admin
    )
    assert nul.status_code == 422
    huge = post(
        client, URL, {"name": "x", "url": "https://a.example/" + "h" * 600, "events": ["*"]}, admin
    )
    assert huge.status_code == 422 and "url" in field_errors(huge)


# Real commits: the API answers after the attempt, as in production.
@pytest.mark.django_db(transaction=True)
def test_a_test_event_is_delivered_and_shows_in_the_delivery_log(
    client, admin, django_capture_on_commit_callbacks
):
    with receiver(status=202, answer=b"thanks") as rx:
        ref = create(client, admin, url=rx.url)["reference"]
        with django_capture_on_commit_callbacks(execute=True):
            response = post(client, f"{URL}/{ref}/test", {}, admin)
    assert response.status_code == 202
    body = response.json()
    assert body["event"] == "webhook.test"
    assert body["status"] == "delivered"
    assert body["response_code"] == 202
    assert len(rx.requests) == 1

    log = client.get(f"{URL}/{ref}/deliveries", headers=admin).json()
    assert [d["id"] for d in log["items"]] == [body["id"]]
    assert log["items"][0]["response_excerpt"] == "thanks"
    one = client.get(f"{URL}/{ref}/deliveries/{body['id']}", headers=admin).json()
    assert one["payload"]["event"] == "webhook.test"
    assert one["payload"]["data"]["subscription"] == ref


# Real commits: the API answers after the attempt, as in production.
@pytest.mark.django_db(transaction=True)
def test_a_failed_delivery_can_be_redelivered_once_the_receiver_is_fixed(
    client, admin, django_capture_on_commit_callbacks
):
    with receiver(status=500) as rx:
        ref = create(client, admin, url=rx.url)["reference"]
        with django_capture_on_commit_callbacks(execute=True):
            webhooks.emit("incident.resolved", {"reference": "INC-000042"})
        log = client.get(f"{URL}/{ref}/deliveries", headers=admin).json()["items"]
        pending, failed = log  # newest first: the scheduled retry, then the failure
        assert (pending["status"], failed["status"]) == ("pending", "failed")
        assert failed["response_code"] == 500

        busy = post(client, f"{URL}/{ref}/deliveries/{pending['id']}/redeliver", {}, admin)
        assert busy.status_code == 409
        assert "still pending" in busy.json()["detail"]

        rx.status = 200
        with django_capture_on_commit_callbacks(execute=True):
            again = post(client, f"{URL}/{ref}/deliveries/{failed['id']}/redeliver", {}, admin)
    assert again.status_code == 202
    assert again.json()["status"] == "delivered"
    assert again.json()["trigger"] == "redelivery"
    assert again.json()["event_id"] == failed["event_id"]
    assert len(rx.requests) == 2
    delivered = client.get(f"{URL}/{ref}/deliveries?status=delivered", headers=admin).json()
    assert [d["id"] for d in delivered["items"]] == [again.json()["id"]]


def test_the_delivery_log_pages_newest_first(client, admin):
    ref = create(client, admin)["reference"]
    sub = WebhookSubscription.objects.get(reference=ref)
    for n in range(5):
        WebhookDelivery.objects.create(
            subscription=sub, event="incident.created", payload={"n": n}, status="delivered"
        )
    first = client.get(f"{URL}/{ref}/deliveries?limit=3", headers=admin).json()
    second = client.get(
        f"{URL}/{ref}/deliveries?limit=3&cursor={first['next_cursor']}", headers=admin
    ).json()
    ids = [d["id"] for d in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 5
    assert second["next_cursor"] is None


def test_deleting_a_webhook_removes_it_and_its_log(client, admin):
    ref = create(client, admin)["reference"]
    sub = WebhookSubscription.objects.get(reference=ref)
    WebhookDelivery.objects.create(subscription=sub, event="incident.created", payload={})
    assert client.delete(f"{URL}/{ref}", headers=admin).status_code == 204
    assert not WebhookSubscription.objects.exists()
    assert not WebhookDelivery.objects.exists()
    assert JournalEntry.objects.filter(verb=JournalEntry.Verb.DELETED).exists()
