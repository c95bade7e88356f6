"""Webhook pages: list, create with the secret shown once, edit, the delivery log with
response codes, test event, redeliver, delete; errors next to the field, never a 500."""

from __future__ import annotations

import pytest

from itline.core import webhooks
from itline.core.testing import PASSWORD, make_user
from itline.core.tests.webhook_receiver import receiver
from itline.core.webhook_models import WebhookDelivery, WebhookSubscription

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(60)]


@pytest.fixture
def admin_client(client):
    make_user("ada", "administrator")
    client.login(username="ada", password=PASSWORD)
    return client


def make_subscription(url="https://chat.example.com/hooks", **fields):
    sub, _ = webhooks.create_subscription(
        by=None, name=fields.pop("name", "Chat bridge"), url=url, events=["incident.*"]
    )
    return sub


def test_administrators_find_webhooks_in_the_navigation_and_see_the_list(admin_client):
    make_subscription(name="Chat bridge")
    home = admin_client.get("/")
    assert b'href="/webhooks/"' in home.content
    page = admin_client.get("/webhooks/")
    assert page.status_code == 200
    assert b"Chat bridge" in page.content and b"New webhook" in page.content
    off = admin_client.get("/webhooks/?status=off")
    assert b"Chat bridge" not in off.content
    assert admin_client.get("/webhooks/?status=bogus").status_code == 200


def test_technicians_and_requesters_do_not_see_webhook_pages(client):
    sub = make_subscription()
    make_user("tom", "technician")
    client.login(username="tom", password=PASSWORD)
    assert client.get("/webhooks/").status_code == 403
    assert client.get(sub.get_absolute_url()).status_code == 403
    assert client.post(f"/webhooks/{sub.reference}/test/").status_code == 403
    assert b'href="/webhooks/"' not in client.get("/").content


def test_creating_a_webhook_in_the_form_shows_the_secret_only_once(admin_client):
    form = admin_client.get("/webhooks/new/")
    assert form.status_code == 200
    assert b'value="incident.breach_warning"' in form.content
    response = admin_client.post(
        "/webhooks/new/",
        {
            "name": "Pager bridge",
            "url": "https://pager.example.com/in",
            "events": ["incident.created", "incident.breach"],
        },
    )
    assert response.status_code == 302
    sub = WebhookSubscription.objects.get(name="Pager bridge")
    assert response["Location"] == sub.get_absolute_url()
    assert sub.events == ["incident.created", "incident.breach"]
    first = admin_client.get(sub.get_absolute_url())
    assert sub.secret.encode() in first.content
    second = admin_client.get(sub.get_absolute_url())
    assert sub.secret.encode() not in second.content
    assert b"set, not shown" in second.content


def test_bad_form_input_comes_back_next_to_the_field(admin_client):
    response = admin_client.post(
        "/webhooks/new/",
        {"name": "Bad", "url": "ftp://files.example.com/in", "events": ["incident.nonsense"]},
    )
    assert response.status_code == 422
    assert b"Only http:// and https://" in response.content
    assert b"incident.nonsense is not one of the available choices" in response.content
    short = admin_client.post(
        "/webhooks/new/",
        {"name": "Bad", "url": "https://a.example/h", "events": ["*"], "new_secret": "short"},
    )
    assert short.status_code == 422
    assert b"at least 16 characters" in short.content
    assert not WebhookSubscription.objects.exists()


def test_editing_switches_a_disabled_webhook_back_on(admin_client):
    sub = make_subscription()
    webhooks.disable_subscription(sub, reason="Disabled after 20 failed deliveries in a row.")
    detail = admin_client.get(sub.get_absolute_url())
    assert b"Disabled after 20 failed deliveries in a row." in detail.content
    form = admin_client.get(f"/webhooks/{sub.reference}/edit/")
    assert form.status_code == 200
    response = admin_client.post(
        f"/webhooks/{sub.reference}/edit/",
        {"name": "Chat", "url": sub.url, "events": ["*"], "active": "on"},
    )
    assert response.status_code == 302
    sub.refresh_from_db()
    assert sub.active and sub.disabled_at is None and sub.name == "Chat"


# Real commits: the page reports the attempt's outcome, as in production.
@pytest.mark.django_db(transaction=True)
def test_the_delivery_log_shows_response_codes_and_a_failure_can_be_redelivered(
    admin_client, django_capture_on_commit_callbacks
):
    with receiver(status=500, answer=b"oops") as rx:
        sub = make_subscription(url=rx.url)
        with django_capture_on_commit_callbacks(execute=True):
            webhooks.emit("incident.created", {"reference": "INC-000001"})
        page = admin_client.get(sub.get_absolute_url())
        assert b"HTTP 500" in page.content
        assert b"failed, will retry" in page.content
        failed = sub.deliveries.get(attempt=1)
        one = admin_client.get(f"/webhooks/{sub.reference}/deliveries/{failed.pk}/")
        assert one.status_code == 200
        assert b"INC-000001" in one.content and b"oops" in one.content

        rx.status = 200
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(
                f"/webhooks/{sub.reference}/deliveries/{failed.pk}/redeliver/", follow=True
            )
    assert b"delivered: HTTP 200" in response.content
    assert sub.deliveries.filter(trigger="redelivery", status="delivered").count() == 1
    filtered = admin_client.get(f"{sub.get_absolute_url()}?status=delivered")
    assert filtered.content.count(b"HTTP 200") >= 1 and b"HTTP 500" not in filtered.content
    odd = admin_client.get(f"{sub.get_absolute_url()}?status=nope&cursor=garbage")
    assert odd.status_code == 200 and b"Unknown status" in odd.content


def test_the_test_button_sends_a_test_event(admin_client, django_capture_on_commit_callbacks):
    with receiver() as rx:
        sub = make_subscription(url=rx.url)
        with django_capture_on_commit_callbacks(execute=True):
            response = admin_client.post(f"/webhooks/{sub.reference}/test/", follow=True)
    assert response.status_code == 200
    assert len(rx.requests) == 1
    assert sub.deliveries.get().event == "webhook.test"
    assert admin_client.get(f"/webhooks/{sub.reference}/test/").status_code == 405


def test_a_new_secret_can_be_generated_and_is_shown_once(admin_client):
    sub = make_subscription()
    old = sub.secret
    response = admin_client.post(f"/webhooks/{sub.reference}/rotate-secret/", follow=True)
    sub.refresh_from_db()
    assert sub.secret != old
    assert sub.secret.encode() in response.content


def test_deleting_a_webhook_from_its_page(admin_client):
    sub = make_subscription()
    WebhookDelivery.objects.create(subscription=sub, event="incident.created", payload={})
    response = admin_client.post(f"/webhooks/{sub.reference}/delete/")
    assert response.status_code == 302 and response["Location"] == "/webhooks/"
    assert not WebhookSubscription.objects.exists()
    assert admin_client.get(f"/webhooks/{sub.reference}/").status_code == 404
