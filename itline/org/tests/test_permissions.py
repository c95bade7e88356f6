"""Permissions hold in the API, the UI and the verbs alike; portal roles see only their unit."""

import pytest
from django.core.exceptions import PermissionDenied

from itline.core.testing import PASSWORD, bearer, make_person, make_unit, make_user
from itline.org import services
from itline.org.models import Customer


@pytest.fixture
def two_units(db):
    warehousing = make_unit("Warehousing")
    finance = make_unit("Finance")
    make_person("Wanda", unit=warehousing)
    make_person("Fred", unit=finance)
    return warehousing, finance


def test_a_requester_sees_only_themselves_in_the_api(client, two_units):
    warehousing, _ = two_units
    rita = make_user("rita", "requester", unit=warehousing, name="Rita")
    names = [p["name"] for p in client.get("/api/v1/people", headers=bearer(rita)).json()["items"]]
    assert names == ["Rita"]


def test_a_requester_never_sees_another_units_records(client, two_units):
    warehousing, finance = two_units
    rita = make_user("rita", "requester", unit=warehousing)
    headers = bearer(rita)
    assert (
        client.get(f"/api/v1/business-units/{finance.reference}", headers=headers).status_code
        == 404
    )
    units = [
        u["name"] for u in client.get("/api/v1/business-units", headers=headers).json()["items"]
    ]
    assert units == ["Warehousing"]
    fred = finance.people.get()
    assert client.get(f"/api/v1/people/{fred.reference}", headers=headers).status_code == 404


def test_a_customer_representative_sees_their_customers_units_people(client, two_units):
    warehousing, _ = two_units
    night = make_unit("Night shift", parent=warehousing)
    make_person("Nico", unit=night)
    rachel = make_user("rachel", "customer_representative", unit=warehousing, name="Rachel")
    Customer(business_unit=warehousing, decision_maker=rachel.person).save()
    names = sorted(
        p["name"] for p in client.get("/api/v1/people", headers=bearer(rachel)).json()["items"]
    )
    assert names == ["Nico", "Rachel", "Wanda"]


def test_agents_see_everyone(client, two_units):
    dana = make_user("dana", "service_desk_agent")
    names = {p["name"] for p in client.get("/api/v1/people", headers=bearer(dana)).json()["items"]}
    assert {"Wanda", "Fred"} <= names


@pytest.mark.parametrize("role", ["requester", "technician", "service_desk_agent"])
def test_roles_without_the_permission_cannot_create_functions(client, db, role):
    user = make_user("someone", role)
    response = client.post(
        "/api/v1/functions",
        {"name": "Shadow IT"},
        content_type="application/json",
        headers=bearer(user),
    )
    assert response.status_code == 403
    assert response.json()["detail"]


def test_the_verbs_refuse_too_so_cli_and_tasks_cannot_bypass_permissions(db):
    tom = make_user("tom", "technician")
    with pytest.raises(PermissionDenied):
        services.create_function(by=tom, name="Shadow IT")


@pytest.mark.parametrize(
    "url",
    ["/org/people/", "/org/functions/", "/org/customers/", "/org/business-units/", "/journal/"],
)
def test_portal_roles_are_refused_on_agent_pages(client, db, url):
    make_user("rita", "requester")
    client.login(username="rita", password=PASSWORD)
    response = client.get(url)
    assert response.status_code == 403
    assert b"Not allowed" in response.content


def test_portal_roles_get_the_portal_home_without_navigation(client, db):
    make_user("rita", "requester")
    client.login(username="rita", password=PASSWORD)
    response = client.get("/")
    assert response.status_code == 200
    assert b"IT service portal" in response.content
    assert b'id="sidebar"' not in response.content


def test_anonymous_visitors_are_sent_to_the_login_page(client, db):
    response = client.get("/org/people/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_a_requester_sees_no_customers_and_a_purchaser_only_their_own(client, two_units):
    from itline.org.models import Purchaser

    warehousing, finance = two_units
    rita = make_user("rita", "requester", unit=warehousing)
    bruno = make_user("bruno", "purchaser", unit=warehousing)
    mine = Customer(business_unit=warehousing)
    mine.save()
    other = Customer(business_unit=finance)
    other.save()
    Purchaser(customer=mine, person=bruno.person, spending_limit=100).save()
    Purchaser(customer=mine, person=make_person("Wanda 2", unit=warehousing)).save()
    assert client.get("/api/v1/customers", headers=bearer(rita)).json()["items"] == []
    seen = client.get("/api/v1/customers", headers=bearer(bruno)).json()["items"]
    assert [c["reference"] for c in seen] == [mine.reference]
    purchasers = client.get(
        f"/api/v1/customers/{mine.reference}/purchasers", headers=bearer(bruno)
    ).json()
    assert [p["person_name"] for p in purchasers] == ["Bruno"]
