"""``GET /api/v1/impact``: impacted nodes with explaining paths, services and customers, cycles,
and clear 4xx errors naming the field."""

import pytest

from itline.cmdb import services
from itline.cmdb.testing import make_component as component
from itline.cmdb.testing import relate
from itline.core.testing import bearer, make_unit, make_user
from itline.org.models import Customer


@pytest.fixture
def estate(db):
    retail = Customer(business_unit=make_unit("Retail"))
    retail.save()
    shop = services.create_service(by=None, name="Web shop", customers=[retail], criticality=5)
    app = component("shop-app", "application")
    db_ = component("shop-db", "database")
    replica = component("shop-db-2", "database")
    host = component("host-1")
    relate(shop, app, "runs-on")
    relate(app, db_)
    relate(db_, replica)
    relate(replica, db_)
    relate(db_, host, "runs-on")
    return {"shop": shop, "app": app, "db": db_, "replica": replica, "host": host, "retail": retail}


@pytest.fixture
def agent(db):
    return bearer(make_user("tech", "technician"))


def get(client, headers, **params):
    return client.get("/api/v1/impact", params, headers=headers)


def test_the_impact_of_a_host_lists_nodes_services_customers_and_paths(client, estate, agent):
    response = get(client, agent, node=estate["host"].reference)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["direction"] == "up" and body["answered_by"] in ("index", "sql")
    assert body["nodes"] == [estate["host"].reference]
    assert [(n["name"], n["distance"]) for n in body["impacted"]] == [
        ("shop-db", 1),
        ("shop-app", 2),
        ("shop-db-2", 2),
        ("Web shop", 3),
    ]
    assert body["total"] == 4 and body["truncated"] is False
    shop = body["services"][0]
    refs = [estate[k].reference for k in ("host", "db", "app", "shop")]
    assert shop["path"] == refs
    assert shop["path_text"] == " -> ".join(refs)
    assert shop["kind"] == "service" and shop["type"] == "it_service" and shop["criticality"] == 5
    app = next(n for n in body["impacted"] if n["name"] == "shop-app")
    assert app["type"] == "Application" and app["status"] == "in_use"
    assert body["customers"] == [{"reference": estate["retail"].reference, "name": "Retail"}]
    assert body["cycles"] == [sorted([estate["db"].reference, estate["replica"].reference])]


def test_down_with_a_depth_limit_and_several_start_nodes(client, estate, agent):
    response = client.get(
        "/api/v1/impact?node={}&node={}&direction=down&depth=1".format(
            estate["shop"].reference, estate["replica"].reference
        ),
        headers=agent,
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert {n["name"]: n["distance"] for n in body["impacted"]} == {"shop-app": 1, "shop-db": 1}
    assert body["customers"] == [] and body["depth"] == 1


def test_a_long_answer_is_cut_at_the_limit_and_says_so(client, estate, agent):
    body = get(client, agent, node=estate["host"].reference, limit=2).json()
    assert len(body["impacted"]) == 2 and body["total"] == 4 and body["truncated"] is True
    assert len(body["services"]) == 1  # services are always listed in full


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"node": "CMP-999999"}, 400, "node"),
        ({}, 422, "node"),
        ({"node": "host", "direction": "sideways"}, 400, "direction"),
        ({"node": "host", "depth": -1}, 400, "depth"),
        ({"node": "host", "depth": 10**6}, 400, "depth"),
        ({"node": "host", "depth": "deep"}, 422, "depth"),
        ({"node": "host", "limit": 0}, 400, "limit"),
    ],
)
def test_bad_input_gets_a_clear_error_naming_the_field(
    client, estate, agent, params, status, field
):
    if params.get("node") == "host":
        params["node"] = estate["host"].reference
    response = get(client, agent, **params)
    assert response.status_code == status, response.content
    body = response.json()
    assert body["detail"]
    assert [e["field"] for e in body["errors"]] == [field]


def test_only_people_who_may_see_the_structure_may_ask(client, estate):
    requester = bearer(make_user("req", "requester"))
    response = get(client, requester, node=estate["host"].reference)
    assert response.status_code == 403
    assert response.json()["detail"]
    assert get(client, {}, node=estate["host"].reference).status_code == 401
