import pytest

from itline.core.testing import PASSWORD, make_user
from itline.operation import services
from itline.operation.testing import make_incident

pytestmark = pytest.mark.django_db


def test_global_search_finds_incidents_and_requests_by_reference_and_title(client):
    tom = make_user("tom", "technician")
    incident = make_incident("Payroll export fails", by=tom)
    rita = make_user("rita", "requester")
    req = services.create_request(by=rita, title="Payroll question")
    client.login(username="tom", password=PASSWORD)
    page = client.get("/search/?q=payroll").content.decode()
    assert incident.reference in page
    assert req.reference in page
    exact = client.get(f"/search/?q={incident.reference}")
    assert exact.status_code in (200, 302)


def test_a_requester_does_not_find_other_peoples_requests(client):
    rita = make_user("rita", "requester")
    otto = make_user("otto", "requester")
    services.create_request(by=otto, title="Otto's payroll question")
    mine = services.create_request(by=rita, title="My payroll question")
    client.login(username="rita", password=PASSWORD)
    page = client.get("/search/?q=payroll").content.decode()
    assert mine.reference in page
    assert "Otto" not in page
