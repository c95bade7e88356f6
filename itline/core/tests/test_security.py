import pytest
from django.test import override_settings

from itline.core.testing import PASSWORD, make_user


@pytest.mark.django_db
def test_pages_carry_the_security_headers(client):
    response = client.get("/login/")
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "Strict-Transport-Security" not in response


@pytest.mark.django_db
@override_settings(SECURE_HSTS_SECONDS=31536000)
def test_hsts_is_sent_over_https(client):
    response = client.get("/login/", secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


@pytest.mark.django_db
def test_forms_are_protected_against_csrf():
    from django.test import Client

    make_user("admin", "administrator")
    client = Client(enforce_csrf_checks=True)
    client.login(username="admin", password=PASSWORD)
    response = client.post("/org/functions/new/", {"name": "Forged"})
    assert response.status_code == 403


@pytest.mark.django_db
def test_the_health_check_reports_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_an_unknown_page_is_a_friendly_404(client):
    make_user("admin", "administrator")
    client.login(username="admin", password=PASSWORD)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert b"This page does not exist" in response.content
