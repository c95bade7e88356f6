import pytest
from django.test import override_settings

from itline.core.models import LoginAttempt
from itline.core.testing import PASSWORD, make_user


def _login(client, username, password):
    return client.post("/login/", {"username": username, "password": password})


@pytest.mark.django_db
def test_the_login_page_is_shown_to_anonymous_visitors(client):
    response = client.get("/login/")
    assert response.status_code == 200
    assert b'autocomplete="current-password"' in response.content


@pytest.mark.django_db
def test_a_wrong_password_is_refused_and_counted(client):
    make_user("tom", "technician")
    response = _login(client, "tom", "wrong")
    assert response.status_code == 200
    assert b"correct username and password" in response.content
    assert LoginAttempt.objects.filter(username="tom").count() == 1


@pytest.mark.django_db
@override_settings(LOGIN_RATE_LIMIT=3, LOGIN_RATE_WINDOW=600)
def test_after_too_many_failures_even_the_right_password_is_refused_for_a_while(client):
    make_user("tom", "technician")
    for _ in range(3):
        _login(client, "tom", "wrong")
    response = _login(client, "tom", PASSWORD)
    assert response.status_code == 429
    assert b"Too many failed sign-in attempts" in response.content
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
@override_settings(LOGIN_RATE_LIMIT=3)
def test_a_successful_login_clears_the_failures(client):
    make_user("tom", "technician")
    _login(client, "tom", "wrong")
    response = _login(client, "tom", PASSWORD)
    assert response.status_code == 302
    assert not LoginAttempt.objects.filter(username="tom").exists()


@pytest.mark.django_db
def test_every_persona_lands_on_its_own_home_page(client):
    titles = {
        "administrator": b"Administration",
        "service_desk_agent": b"Service desk",
        "technician": b"My work",
        "change_manager": b"Change enablement",
        "steering_group_member": b"IT steering",
        "requester": b"IT service portal",
    }
    for role, title in titles.items():
        make_user(role, role)
        client.login(username=role, password=PASSWORD)
        response = client.get("/")
        assert response.status_code == 200
        assert title in response.content, role
        client.logout()
