import pytest

from itline.core.testing import bearer, make_person, make_unit, make_user
from itline.org.models import Function


@pytest.fixture
def admin_headers(db):
    return bearer(make_user("admin", "administrator"))


def _post(client, url, data, headers):
    return client.post(url, data, content_type="application/json", headers=headers)


def _patch(client, url, data, headers):
    return client.patch(url, data, content_type="application/json", headers=headers)


def test_a_function_is_created_read_changed_and_its_history_listed(client, admin_headers):
    lead = make_person("Nadia Nowak")
    created = _post(
        client,
        "/api/v1/functions",
        {"name": "Service Desk", "governance_level": "operational", "lead": lead.reference},
        admin_headers,
    )
    assert created.status_code == 201, created.content
    ref = created.json()["reference"]
    assert created.json()["lead_name"] == "Nadia Nowak"
    changed = _patch(
        client, f"/api/v1/functions/{ref}", {"description": "First line"}, admin_headers
    )
    assert changed.status_code == 200
    assert changed.json()["description"] == "First line"
    history = client.get(f"/api/v1/functions/{ref}/journal", headers=admin_headers).json()
    assert [h["verb"] for h in history] == ["created", "updated"]
    assert history[1]["changes"] == {"description": ["", "First line"]}
    assert history[1]["actor"] == "admin"


def test_a_duplicate_name_gets_422_naming_the_field_and_writes_nothing(client, admin_headers):
    _post(client, "/api/v1/functions", {"name": "CAB"}, admin_headers)
    response = _post(client, "/api/v1/functions", {"name": "CAB"}, admin_headers)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "name", "message": "Function with this Name already exists."}
    ]
    assert Function.objects.count() == 1


def test_a_reference_to_a_missing_record_names_the_field(client, admin_headers):
    response = _post(
        client, "/api/v1/people", {"name": "X", "business_unit": "BU-999999"}, admin_headers
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "business_unit"
    assert "BU-999999" in response.json()["errors"][0]["message"]


def test_an_invalid_email_is_refused_with_the_field_named(client, admin_headers):
    response = _post(
        client, "/api/v1/people", {"name": "X", "email": "not-an-address"}, admin_headers
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "email"


def test_a_unit_cannot_be_moved_below_itself(client, admin_headers):
    top = make_unit("Board")
    child = make_unit("Sales", parent=top)
    response = _patch(
        client,
        f"/api/v1/business-units/{top.reference}",
        {"parent": child.reference},
        admin_headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "parent"


def test_an_empty_patch_is_refused(client, admin_headers):
    unit = make_unit("Board")
    response = _patch(client, f"/api/v1/business-units/{unit.reference}", {}, admin_headers)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Send at least one field")


def test_unknown_references_are_404_with_the_error_body(client, admin_headers):
    response = client.get("/api/v1/functions/FUN-424242", headers=admin_headers)
    assert response.status_code == 404
    assert (
        response.json() == {"detail": "Not found.", "errors": []} or response.json()["errors"] == []
    )


def test_lists_filter_search_sort_and_paginate(client, admin_headers):
    finance = make_unit("Finance")
    for name in ["Ann", "Bea", "Cid", "Dan", "Eve"]:
        make_person(name, unit=finance)
    make_person("Zed")
    page1 = client.get(
        f"/api/v1/people?business_unit={finance.reference}&limit=2&sort=-name",
        headers=admin_headers,
    ).json()
    assert [p["name"] for p in page1["items"]] == ["Eve", "Dan"]
    page2 = client.get(
        f"/api/v1/people?business_unit={finance.reference}&limit=2&sort=-name&cursor={page1['next_cursor']}",
        headers=admin_headers,
    ).json()
    assert [p["name"] for p in page2["items"]] == ["Cid", "Bea"]
    searched = client.get("/api/v1/people?q=ze", headers=admin_headers).json()
    assert [p["name"] for p in searched["items"]] == ["Zed"]
    bad = client.get("/api/v1/people?sort=password", headers=admin_headers)
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "sort"


def test_list_query_count_does_not_grow_with_the_page_size(client, admin_headers):
    client.get("/api/v1/me", headers=admin_headers)  # the token's first use writes last_used_at
    unit = make_unit("Ops")
    for i in range(30):
        make_person(f"P{i:02d}", unit=unit)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for limit in (3, 30):
        with CaptureQueriesContext(connection) as ctx:
            assert (
                client.get(f"/api/v1/people?limit={limit}", headers=admin_headers).status_code
                == 200
            )
        counts.append(len(ctx))
    assert counts[0] == counts[1]


def test_members_are_added_with_a_role_and_removed_with_history(client, admin_headers):
    function = Function(name="Network")
    function.save()
    person = make_person("Isla")
    added = _post(
        client,
        f"/api/v1/functions/{function.reference}/members",
        {"person": person.reference, "role": "lead"},
        admin_headers,
    )
    assert added.status_code == 201
    members = client.get(
        f"/api/v1/functions/{function.reference}/members", headers=admin_headers
    ).json()
    assert [(m["person_name"], m["role"]) for m in members] == [("Isla", "lead")]
    removed = client.delete(
        f"/api/v1/functions/{function.reference}/members/{person.reference}", headers=admin_headers
    )
    assert removed.status_code == 204
    history = client.get(
        f"/api/v1/functions/{function.reference}/journal", headers=admin_headers
    ).json()
    assert [h["changes"] for h in history if h["verb"] == "membership"] == [
        {"member Isla": [None, "lead"]},
        {"member Isla": ["lead", None]},
    ]


def test_customers_and_purchasers_round_trip(client, admin_headers):
    unit = make_unit("Warehousing")
    boss = make_person("Rachel", unit=unit)
    buyer = make_person("Bruno", unit=unit)
    created = _post(
        client,
        "/api/v1/customers",
        {"business_unit": unit.reference, "decision_maker": boss.reference},
        admin_headers,
    )
    assert created.status_code == 201, created.content
    ref = created.json()["reference"]
    assert created.json()["name"] == "Warehousing"
    again = _post(client, "/api/v1/customers", {"business_unit": unit.reference}, admin_headers)
    assert again.status_code == 422
    assert again.json()["errors"][0]["field"] == "business_unit"
    purchaser = _post(
        client,
        f"/api/v1/customers/{ref}/purchasers",
        {"person": buyer.reference, "spending_limit": "2500.00"},
        admin_headers,
    )
    assert purchaser.status_code == 201
    negative = _post(
        client,
        f"/api/v1/customers/{ref}/purchasers",
        {"person": boss.reference, "spending_limit": -1},
        admin_headers,
    )
    assert negative.status_code == 422
    assert negative.json()["errors"][0]["field"] == "spending_limit"
    assert (
        client.delete(
            f"/api/v1/customers/{ref}/purchasers/{buyer.reference}", headers=admin_headers
        ).status_code
        == 204
    )
