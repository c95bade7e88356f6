"""The notification settings page (/profile/notifications/): each person switches mails
on and off; no stored choice means on."""

import pytest
from django.test import Client

from itline.core.testing import PASSWORD, make_user
from itline.operation import notify
from itline.operation.models import NotificationPreference

pytestmark = pytest.mark.django_db


def signed_in(user):
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def test_everything_is_on_until_switched_off():
    tom = make_user("tom", "technician")
    page = signed_in(tom).get("/profile/notifications/")
    assert page.status_code == 200
    html = page.content.decode()
    for event in (
        "new",
        "assigned",
        "updated",
        "resolved",
        "breach_warning",
        "breach",
        "major_update",
    ):
        assert f'name="event-{event}" checked' in html
    assert "tom@example.com" in html


def test_unticking_a_box_switches_that_mail_off_and_keeps_the_others_on():
    tom = make_user("tom", "technician")
    client = signed_in(tom)
    response = client.post(
        "/profile/notifications/",
        {
            "event-new": "on",
            "event-assigned": "on",
            "event-resolved": "on",
            "event-breach": "on",
            "event-major_update": "on",
        },
    )
    assert response.status_code == 302
    assert notify.preferences_of(tom.person) == {
        "new": True,
        "assigned": True,
        "updated": False,
        "resolved": True,
        "breach_warning": False,
        "breach": True,
        "major_update": True,
    }
    html = client.get("/profile/notifications/").content.decode()
    assert 'name="event-updated" aria-describedby' in html  # shown unticked
    assert 'name="event-new" checked' in html


def test_a_requester_is_offered_only_the_mails_a_requester_can_get():
    rita = make_user("rita", "requester")
    html = signed_in(rita).get("/profile/notifications/").content.decode()
    assert 'name="event-resolved"' in html
    assert 'name="event-assigned"' not in html
    assert 'name="event-breach"' not in html
    signed_in(rita).post("/profile/notifications/", {"event-resolved": "on"})
    stored = dict(NotificationPreference.objects.values_list("event", "email"))
    assert stored == {"new": False, "updated": False, "resolved": True, "major_update": False}


def test_a_login_without_a_person_is_told_why_there_are_no_mails():
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user(username="robot", password=PASSWORD)
    client = Client()
    client.login(username="robot", password=PASSWORD)
    page = client.get("/profile/notifications/")
    assert page.status_code == 200
    assert "not linked to a person" in page.content.decode()
    assert client.post("/profile/notifications/", {}).status_code == 200


def test_the_page_needs_a_login():
    response = Client().get("/profile/notifications/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_nobody_changes_the_preferences_of_someone_else():
    from django.core.exceptions import PermissionDenied

    tom = make_user("tom", "technician")
    una = make_user("una", "technician")
    with pytest.raises(PermissionDenied):
        notify.set_preferences(una.person, {"new": False}, by=tom)
