import pytest

from itline.core.testing import PASSWORD, make_user
from itline.delivery.models import Improvement

pytestmark = pytest.mark.django_db


def test_an_administrator_registers_an_improvement_and_finds_it_in_the_register(client):
    admin = make_user("admin", "administrator")
    client.login(username=admin.username, password=PASSWORD)
    created = client.post(
        "/improvements/new/", {"title": "Self-service password reset", "status": "new"}
    )
    assert created.status_code == 302, created.content
    ref = Improvement.objects.get().reference
    listing = client.get("/improvements/?q=password")
    assert ref.encode() in listing.content
    assert client.get(f"/improvements/{ref}/").status_code == 200


def test_an_empty_title_is_refused_with_the_field_named(client):
    admin = make_user("admin", "administrator")
    client.login(username=admin.username, password=PASSWORD)
    answer = client.post("/improvements/new/", {"title": "", "status": "new"})
    assert answer.status_code == 422
    assert Improvement.objects.count() == 0


def test_a_requester_cannot_open_the_register(client):
    rita = make_user("rita", "requester")
    client.login(username=rita.username, password=PASSWORD)
    assert client.get("/improvements/").status_code == 403
