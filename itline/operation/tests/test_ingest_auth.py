"""Each event source has its own credential: a bearer token (also as Basic password), an
HMAC-SHA256 signature of the raw body, or the PagerDuty routing key. Unknown or wrong
credentials are 401 and store nothing; a rotated credential stops working at once."""

import base64

import orjson
import pytest

from itline.core.testing import bearer, make_user
from itline.operation.ingest import config
from itline.operation.ingest.auth import sign
from itline.operation.ingest.testing import am_alert, am_payload, make_source, post
from itline.operation.models import Alert, EventSource

pytestmark = pytest.mark.django_db

AM = "/api/v1/events/alertmanager"
OWN = "/api/v1/events"
PD = "/api/v1/events/pagerduty"
EVENT = {"labels": {"check": "disk", "host": "nas-01"}, "severity": "warning"}


def unauthorized(response):
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["detail"]
    assert Alert.objects.count() == 0


def test_no_credential_is_401(client):
    make_source()
    unauthorized(post(client, AM, am_payload(am_alert())))


def test_a_wrong_token_is_401(client):
    make_source()
    unauthorized(post(client, AM, am_payload(am_alert()), "itle_wrong"))


def test_a_users_api_token_is_not_an_event_source_credential(client):
    make_source()
    headers = bearer(make_user("admin", "administrator"))
    response = client.post(
        AM, orjson.dumps(am_payload(am_alert())), content_type="application/json", headers=headers
    )
    unauthorized(response)


def test_a_switched_off_source_is_401(client):
    source, token = make_source()
    config.update_source(source, by=None, active=False)
    unauthorized(post(client, AM, am_payload(am_alert()), token))


def test_a_token_of_another_kind_of_source_is_401_naming_the_right_endpoint(client):
    _, token = make_source("own", kind="itline")
    response = post(client, AM, am_payload(am_alert()), token)
    unauthorized(response)
    assert "/api/v1/events" in response.json()["detail"]


def test_the_token_works_as_basic_auth_password(client):
    _, token = make_source()
    basic = base64.b64encode(f"alertmanager:{token}".encode()).decode()
    response = client.post(
        AM,
        orjson.dumps(am_payload(am_alert())),
        content_type="application/json",
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 202


def test_a_rotated_token_stops_working_and_the_new_one_works(client):
    source, old = make_source()
    new = config.rotate_credential(source, by=None)
    unauthorized(post(client, AM, am_payload(am_alert()), old))
    assert post(client, AM, am_payload(am_alert()), new).status_code == 202


def test_only_the_hash_of_a_token_is_stored(client):
    source, token = make_source()
    stored = EventSource.objects.get(pk=source.pk)
    assert token not in (stored.token_hash, stored.hmac_secret)
    assert stored.token_hash == EventSource.hash(token)
    assert token.startswith(stored.token_prefix)


def test_a_correctly_signed_body_is_accepted(client):
    _, secret = make_source("signed", kind="itline", auth="hmac")
    body = orjson.dumps(EVENT)
    response = post(
        client, OWN, body, X_Itline_Source="signed", X_Itline_Signature=sign(secret, body)
    )
    assert response.status_code == 202, response.content
    assert Alert.objects.count() == 1


def test_a_signature_over_another_body_is_401(client):
    _, secret = make_source("signed", kind="itline", auth="hmac")
    body = orjson.dumps(EVENT)
    tampered = body.replace(b"warning", b"critical")
    unauthorized(
        post(client, OWN, tampered, X_Itline_Source="signed", X_Itline_Signature=sign(secret, body))
    )


def test_a_signature_without_the_source_name_or_for_an_unknown_source_is_401(client):
    _, secret = make_source("signed", kind="itline", auth="hmac")
    body = orjson.dumps(EVENT)
    unauthorized(post(client, OWN, body, X_Itline_Signature=sign(secret, body)))
    unauthorized(
        post(client, OWN, body, X_Itline_Source="other", X_Itline_Signature=sign(secret, body))
    )


def test_an_hmac_source_does_not_accept_its_secret_as_bearer_token(client):
    _, secret = make_source("signed", kind="itline", auth="hmac")
    unauthorized(post(client, OWN, EVENT, secret))


def test_an_unknown_routing_key_is_401_in_pagerduty_shape(client):
    make_source("pd", kind="pagerduty")
    body = {
        "routing_key": "nope",
        "event_action": "trigger",
        "payload": {"summary": "s", "source": "h", "severity": "info"},
    }
    response = post(client, PD, body)
    unauthorized(response)
    assert response.json()["status"] == "unauthorized"


def test_pagerduty_sources_cannot_use_hmac():
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as exc:
        make_source("pd", kind="pagerduty", auth="hmac")
    assert "auth" in exc.value.message_dict


def test_the_eventsource_command_adds_lists_and_rotates(client):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("eventsource", "add", "prom", "--kind", "alertmanager", stdout=out)
    token = out.getvalue().split("token (shown once): ")[1].split()[0]
    assert post(client, AM, am_payload(am_alert()), token).status_code == 202
    listing = StringIO()
    call_command("eventsource", "list", stdout=listing)
    assert "prom" in listing.getvalue() and "alertmanager" in listing.getvalue()
    rotated = StringIO()
    call_command("eventsource", "rotate", "prom", stdout=rotated)
    assert token not in rotated.getvalue()
    assert post(client, AM, am_payload(am_alert()), token).status_code == 401
