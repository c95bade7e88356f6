"""CRUD API of the service structure: validation names the field, filters work, history kept."""

import pytest

from itline.cmdb.models import Component, GraphVersion, Relation
from itline.core.testing import bearer, make_user


@pytest.fixture
def headers(db):
    return bearer(make_user("admin", "administrator"))


def _post(client, url, data, headers):
    return client.post(url, data, content_type="application/json", headers=headers)


def _component(client, headers, name, ctype="server", **extra):
    response = _post(
        client, "/api/v1/components", {"name": name, "component_type": ctype, **extra}, headers
    )
    assert response.status_code == 201, response.content
    return response.json()


def test_a_component_is_created_with_validated_attributes_and_tags(client, headers):
    body = _component(
        client, headers, "web-01", attributes={"cpu": 4, "os": "debian"}, tags=["DMZ", "pci"]
    )
    assert body["reference"].startswith("CMP-")
    assert body["tags"] == ["dmz", "pci"]
    bad = _post(
        client,
        "/api/v1/components",
        {"name": "web-02", "component_type": "server", "attributes": {"cpu": "four"}},
        headers,
    )
    assert bad.status_code == 422
    error = bad.json()["errors"][0]
    assert error["field"] == "attributes" and "cpu" in error["message"]


def test_unknown_types_and_duplicate_names_within_a_type_are_refused(client, headers):
    unknown = _post(
        client, "/api/v1/components", {"name": "x", "component_type": "toaster"}, headers
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "component_type"
    _component(client, headers, "db-01", "database")
    dup = _post(
        client, "/api/v1/components", {"name": "DB-01", "component_type": "database"}, headers
    )
    assert dup.status_code == 422
    assert dup.json()["errors"][0]["field"] == "name"
    _component(client, headers, "db-01", "server")  # same name, other type: fine
    assert Component.objects.count() == 2


def test_relations_refuse_self_loops_duplicates_and_missing_nodes_and_bump_the_graph_version(
    client, headers
):
    app = _component(client, headers, "shop", "application")
    vm = _component(client, headers, "vm-1", "virtual-machine")
    before = GraphVersion.current()
    made = _post(
        client,
        "/api/v1/relations",
        {"source": app["reference"], "relation_type": "runs-on", "target": vm["reference"]},
        headers,
    )
    assert made.status_code == 201
    assert GraphVersion.current() > before
    again = _post(
        client,
        "/api/v1/relations",
        {"source": app["reference"], "relation_type": "runs-on", "target": vm["reference"]},
        headers,
    )
    assert again.status_code == 422
    loop = _post(
        client,
        "/api/v1/relations",
        {"source": vm["reference"], "relation_type": "runs-on", "target": vm["reference"]},
        headers,
    )
    assert loop.status_code == 422 and loop.json()["errors"][0]["field"] == "target"
    missing = _post(
        client,
        "/api/v1/relations",
        {"source": "CMP-999999", "relation_type": "runs-on", "target": vm["reference"]},
        headers,
    )
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "source"
    listed = client.get(f"/api/v1/relations?node={vm['reference']}", headers=headers).json()[
        "items"
    ]
    assert [(r["source_name"], r["relation_type"], r["target_name"]) for r in listed] == [
        ("shop", "runs-on", "vm-1")
    ]
    assert client.delete(f"/api/v1/relations/{listed[0]['id']}", headers=headers).status_code == 204
    assert not Relation.objects.exists()
    history = client.get(f"/api/v1/components/{app['reference']}/journal", headers=headers).json()
    assert any("runs on" in key for h in history for key in h["changes"])


def test_components_filter_by_type_status_tag_and_attribute(client, headers):
    _component(client, headers, "a", attributes={"os": "debian"}, tags=["dmz"])
    _component(client, headers, "b", attributes={"os": "windows"}, status="retired")
    _component(client, headers, "c", "database")

    def names(query):
        return [
            c["name"]
            for c in client.get(f"/api/v1/components?{query}", headers=headers).json()["items"]
        ]

    assert names("type=server") == ["a", "b"]
    assert names("status=retired") == ["b"]
    assert names("tag=dmz") == ["a"]
    assert names("attr=os:windows") == ["b"]
    assert client.get("/api/v1/components?attr=nonsense", headers=headers).status_code == 400


def test_services_carry_customers_criticality_and_lifecycle(client, headers):
    from itline.core.testing import make_unit
    from itline.org.models import Customer

    customer = Customer(business_unit=make_unit("Sales"))
    customer.save()
    made = _post(
        client,
        "/api/v1/services",
        {
            "name": "Webshop",
            "criticality": 5,
            "lifecycle": "live",
            "customers": [customer.reference],
        },
        headers,
    )
    assert made.status_code == 201, made.content
    assert made.json()["customers"] == [customer.reference]
    dup = _post(client, "/api/v1/services", {"name": "webshop"}, headers)
    assert dup.status_code == 422 and dup.json()["errors"][0]["field"] == "name"
    bad = _post(client, "/api/v1/services", {"name": "X", "customers": ["CUS-999999"]}, headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "customers"
    assert [
        s["name"]
        for s in client.get("/api/v1/services?min_criticality=4", headers=headers).json()["items"]
    ] == ["Webshop"]


def test_a_stricter_component_type_schema_that_existing_data_violates_is_refused(client, headers):
    _component(client, headers, "srv", attributes={"cpu": 2})
    response = client.patch(
        "/api/v1/component-types/server",
        {"attribute_schema": {"type": "object", "required": ["serial"]}},
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 422
    assert "serial" in response.json()["errors"][0]["message"]


def test_a_technician_may_edit_components_but_not_services(client, db):
    tech = bearer(make_user("tom", "technician"))
    assert (
        _post(
            client, "/api/v1/components", {"name": "x", "component_type": "server"}, tech
        ).status_code
        == 201
    )
    assert _post(client, "/api/v1/services", {"name": "Y"}, tech).status_code == 403


def test_global_search_finds_services_and_components(client, headers):
    from itline.core.testing import PASSWORD

    _component(client, headers, "san-unique-01", "storage")
    client.login(username="admin", password=PASSWORD)
    body = client.get("/search/?q=san-unique").content.decode()
    assert "san-unique-01" in body and "Component" in body
