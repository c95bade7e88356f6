from datetime import timedelta

import pytest
from django.utils import timezone

from itline.core.models import ApiToken
from itline.core.testing import PASSWORD, bearer, make_user


def _error_shape(body):
    assert set(body) >= {"detail", "errors"}
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["errors"], list)


@pytest.mark.django_db
def test_a_token_is_stored_only_as_a_hash(client):
    user = make_user("ops", "technician")
    token, secret = ApiToken.issue(user=user, name="ci", scope="read")
    stored = ApiToken.objects.get(pk=token.pk)
    assert secret not in (stored.key_hash, stored.prefix)
    assert stored.key_hash == ApiToken.hash(secret)
    assert secret.startswith(stored.prefix)


@pytest.mark.django_db
def test_a_read_token_reads_but_may_not_write(client):
    user = make_user("admin", "administrator")
    headers = bearer(user, scope="read")
    assert client.get("/api/v1/people", headers=headers).status_code == 200
    response = client.post(
        "/api/v1/functions", {"name": "X"}, content_type="application/json", headers=headers
    )
    assert response.status_code == 403
    _error_shape(response.json())
    assert "read-only" in response.json()["detail"]


@pytest.mark.django_db
def test_a_write_token_writes(client):
    user = make_user("admin", "administrator")
    response = client.post(
        "/api/v1/functions",
        {"name": "Network"},
        content_type="application/json",
        headers=bearer(user),
    )
    assert response.status_code == 201, response.content
    assert response.json()["reference"].startswith("FUN-")


@pytest.mark.django_db
@pytest.mark.parametrize("header", ["Bearer nope", "Bearer ", "Basic abc", "Token x"])
def test_a_wrong_credential_gets_401_with_the_error_body(client, header):
    response = client.get("/api/v1/people", headers={"Authorization": header})
    assert response.status_code == 401
    _error_shape(response.json())


@pytest.mark.django_db
def test_revoked_and_expired_tokens_are_refused(client):
    user = make_user("ops", "technician")
    revoked, secret1 = ApiToken.issue(user=user, name="old", scope="read")
    revoked.revoked_at = timezone.now()
    revoked.save()
    expired, secret2 = ApiToken.issue(user=user, name="exp", scope="read")
    expired.expires_at = timezone.now() - timedelta(minutes=1)
    expired.save()
    for secret in (secret1, secret2):
        assert (
            client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code
            == 401
        )


@pytest.mark.django_db
def test_using_a_token_records_when_it_was_last_used(client):
    user = make_user("ops", "technician")
    token, secret = ApiToken.issue(user=user, name="t", scope="read")
    assert token.last_used_at is None
    client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    token.refresh_from_db()
    assert token.last_used_at is not None


@pytest.mark.django_db
def test_the_browser_session_works_and_needs_csrf_for_writes():
    from django.test import Client

    make_user("admin", "administrator")
    client = Client(enforce_csrf_checks=True)
    client.login(username="admin", password=PASSWORD)
    assert client.get("/api/v1/me").json()["username"] == "admin"
    response = client.post("/api/v1/functions", {"name": "CAB"}, content_type="application/json")
    assert response.status_code == 403
    csrf = client.get("/profile/").cookies["csrftoken"].value
    response = client.post(
        "/api/v1/functions",
        {"name": "CAB"},
        content_type="application/json",
        headers={"X-CSRFToken": csrf},
    )
    assert response.status_code == 201


@pytest.mark.django_db
def test_tokens_can_be_created_listed_and_revoked_through_the_api(client):
    user = make_user("ops", "technician")
    headers = bearer(user)
    created = client.post(
        "/api/v1/tokens",
        {"name": "monitoring", "scope": "read"},
        content_type="application/json",
        headers=headers,
    )
    assert created.status_code == 201
    body = created.json()
    assert body["secret"].startswith("itl_")
    listed = client.get("/api/v1/tokens", headers=headers).json()
    assert {t["name"] for t in listed} >= {"monitoring"}
    assert all("secret" not in t and "key_hash" not in t for t in listed)
    assert client.delete(f"/api/v1/tokens/{body['id']}", headers=headers).status_code == 204
    again = client.delete(f"/api/v1/tokens/{body['id']}", headers=headers)
    assert again.status_code == 409
    _error_shape(again.json())
    dup = client.post(
        "/api/v1/tokens", {"name": "monitoring"}, content_type="application/json", headers=headers
    )
    assert dup.status_code == 422
    assert dup.json()["errors"][0]["field"] == "name"


@pytest.mark.django_db
def test_nobody_can_revoke_another_users_token(client):
    alice = make_user("alice", "technician")
    bob = make_user("bob", "technician")
    token, _ = ApiToken.issue(user=alice, name="a", scope="read")
    response = client.delete(f"/api/v1/tokens/{token.pk}", headers=bearer(bob))
    assert response.status_code == 404


@pytest.mark.django_db
def test_malformed_json_and_wrong_types_get_422_naming_the_field(client):
    headers = bearer(make_user("admin", "administrator"))
    bad_json = client.post(
        "/api/v1/functions", "{not json", content_type="application/json", headers=headers
    )
    assert bad_json.status_code in (400, 422)
    _error_shape(bad_json.json())
    wrong = client.post(
        "/api/v1/functions",
        {"name": "", "governance_level": "cosmic"},
        content_type="application/json",
        headers=headers,
    )
    assert wrong.status_code == 422
    fields = {e["field"] for e in wrong.json()["errors"]}
    assert {"name", "governance_level"} <= fields


@pytest.mark.django_db
def test_the_openapi_document_describes_the_api(client):
    doc = client.get("/api/v1/openapi.json").json()
    assert doc["info"]["title"] == "itline API"
    assert "/api/v1/people" in doc["paths"]
    assert client.get("/api/v1/docs").status_code == 200


@pytest.mark.django_db
def test_unknown_api_paths_and_wrong_methods_get_the_json_error_body(client):
    headers = bearer(make_user("admin", "administrator"))
    missing = client.get("/api/v1/no-such-thing", headers=headers)
    assert missing.status_code == 404
    _error_shape(missing.json())
    wrong = client.put("/api/v1/people", {}, content_type="application/json", headers=headers)
    assert wrong.status_code == 405
    _error_shape(wrong.json())


@pytest.mark.django_db
def test_nul_characters_and_huge_numbers_get_a_4xx_naming_the_place(client):
    headers = bearer(make_user("admin", "administrator"))
    body = client.post(
        "/api/v1/functions",
        '{"name": "a\\u0000b"}',
        content_type="application/json",
        headers=headers,
    )
    assert body.status_code == 422
    assert body.json()["errors"][0]["field"] == "name"
    query = client.get("/api/v1/people?q=a%00b", headers=headers)
    assert query.status_code == 422
    assert query.json()["errors"][0]["field"] == "q"
    huge = client.post(
        "/api/v1/calendars",
        '{"name": "x", "custom_holidays": [], "removed_holidays": [], "working_hours": {"mon": ["08:00-17:00"]}, "description": "", "country": "", "subdivision": "", "time_zone": "UTC", "n": 123456789012345678901234567890}',
        content_type="application/json",
        headers=headers,
    )
    assert huge.status_code in (400, 422)
    assert client.get("/search/?q=a%00b").status_code == 400


@pytest.mark.django_db
def test_null_for_a_text_field_is_a_422_naming_it(client):
    headers = bearer(make_user("admin", "administrator"))
    created = client.post(
        "/api/v1/calendars", {"name": "Desk"}, content_type="application/json", headers=headers
    )
    ref = created.json()["reference"]
    for field in ("country", "time_zone", "description"):
        response = client.patch(
            f"/api/v1/calendars/{ref}",
            {field: None},
            content_type="application/json",
            headers=headers,
        )
        assert response.status_code == 422, (field, response.content)
        assert response.json()["errors"][0]["field"] == field
