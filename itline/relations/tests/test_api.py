"""Agreements over the API: config as code (GET then PUT of the same body changes nothing),
CRUD by reference, 4xx naming the field for bad input, permissions."""

import json

import pytest

from itline.core.journal import entries_for
from itline.core.services import create_calendar
from itline.core.testing import bearer, make_unit, make_user
from itline.operation.testing import make_service
from itline.org.models import Customer
from itline.relations.models import Agreement

OFFICE = {d: ["08:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}


@pytest.fixture
def owner(db):
    return make_user("sam", "service_owner")


@pytest.fixture
def world(db):
    retail = Customer(business_unit=make_unit("Retail"))
    retail.save()
    return {
        "retail": retail,
        "mail": make_service("Mail"),
        "office": create_calendar(by=None, name="Office", working_hours=OFFICE),
    }


def body(world, **overrides):
    data = {
        "name": "Retail mail",
        "customer": world["retail"].reference,
        "service": world["mail"].reference,
        "calendar": world["office"].reference,
        "warning_percent": 80,
        "pause_states": ["waiting_for_customer", "waiting_for_change"],
        "description": "Mail for the shops",
        "targets": [
            {"priority": 2, "response_minutes": 30, "resolution_minutes": 480},
            {"priority": 1, "response_minutes": 15, "resolution_minutes": 240},
        ],
    }
    return {**data, **overrides}


def post(client, url, data, user, method="post"):
    return getattr(client, method)(
        url, data=json.dumps(data), content_type="application/json", headers=bearer(user)
    )


def test_an_agreement_created_over_the_api_reads_back_whole(client, owner, world):
    response = post(client, "/api/v1/agreements", body(world), owner)
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["reference"].startswith("SLA-")
    assert created["customer"] == world["retail"].reference
    assert created["customer_name"] == "Retail"
    assert created["calendar_name"] == "Office"
    assert created["targets"] == [
        {"priority": 1, "response_minutes": 15, "resolution_minutes": 240},
        {"priority": 2, "response_minutes": 30, "resolution_minutes": 480},
    ]
    read = client.get(f"/api/v1/agreements/{created['reference']}", headers=bearer(owner))
    assert read.json() == created


def test_get_then_put_of_the_same_body_changes_nothing(client, owner, world):
    ref = post(client, "/api/v1/agreements", body(world), owner).json()["reference"]
    agreement = Agreement.objects.get(reference=ref)
    history = len(entries_for(agreement))
    read = client.get(f"/api/v1/agreements/{ref}", headers=bearer(owner)).json()
    put = post(client, f"/api/v1/agreements/{ref}", read, owner, method="put")
    assert put.status_code == 200, put.content
    assert {k: v for k, v in put.json().items() if k != "updated_at"} == {
        k: v for k, v in read.items() if k != "updated_at"
    }
    assert len(entries_for(agreement)) == history


def test_put_replaces_the_whole_agreement_and_patch_only_what_it_names(client, owner, world):
    ref = post(client, "/api/v1/agreements", body(world), owner).json()["reference"]
    put = post(
        client,
        f"/api/v1/agreements/{ref}",
        {"name": "Retail mail", "service": world["mail"].reference},
        owner,
        method="put",
    )
    assert put.status_code == 200, put.content
    replaced = put.json()
    assert replaced["customer"] is None and replaced["calendar"] is None
    assert replaced["targets"] == [] and replaced["warning_percent"] == 75
    assert replaced["pause_states"] == ["waiting_for_customer"]
    patch = post(
        client,
        f"/api/v1/agreements/{ref}",
        {"targets": [{"priority": 4, "response_minutes": 60, "resolution_minutes": 600}]},
        owner,
        method="patch",
    )
    assert patch.status_code == 200
    assert patch.json()["name"] == "Retail mail"
    assert patch.json()["targets"] == [
        {"priority": 4, "response_minutes": 60, "resolution_minutes": 600}
    ]


@pytest.mark.parametrize(
    ("overrides", "status", "field"),
    [
        ({"customer": "CUS-999999"}, 422, "customer"),
        ({"calendar": "nonsense"}, 422, "calendar"),
        ({"warning_percent": 150}, 422, "warning_percent"),
        ({"pause_states": ["asleep"]}, 422, "pause_states.0"),
        (
            {"targets": [{"priority": 9, "response_minutes": 1, "resolution_minutes": 2}]},
            422,
            "targets.0.priority",
        ),
        (
            {
                "targets": [
                    {"priority": 1, "response_minutes": 1, "resolution_minutes": 2},
                    {"priority": 1, "response_minutes": 1, "resolution_minutes": 2},
                ]
            },
            422,
            "targets.1.priority",
        ),
        (
            {"targets": [{"priority": 1, "response_minutes": 90, "resolution_minutes": 60}]},
            422,
            "targets.0.response_minutes",
        ),
        ({"name": ""}, 422, "name"),
        ({"customer": None, "service": None}, 422, "service"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(client, owner, world, overrides, status, field):
    response = post(client, "/api/v1/agreements", body(world, **overrides), owner)
    assert response.status_code == status, response.content
    assert field in [e["field"] for e in response.json()["errors"]]
    assert not Agreement.objects.exists()


def test_a_second_default_is_refused_with_the_reason(client, owner, world):
    post(client, "/api/v1/agreements", {"name": "Standard", "is_default": True}, owner)
    response = post(client, "/api/v1/agreements", {"name": "Std 2", "is_default": True}, owner)
    assert response.status_code == 422
    assert "already the default" in response.json()["errors"][0]["message"]


def test_lists_filter_by_customer_and_page_with_a_cursor(client, owner, world):
    post(client, "/api/v1/agreements", body(world), owner)
    post(client, "/api/v1/agreements", {"name": "Standard", "is_default": True}, owner)
    everything = client.get("/api/v1/agreements", headers=bearer(owner)).json()
    assert [a["name"] for a in everything["items"]] == ["Retail mail", "Standard"]
    retail = client.get(
        f"/api/v1/agreements?customer={world['retail'].reference}", headers=bearer(owner)
    ).json()
    assert [a["name"] for a in retail["items"]] == ["Retail mail"]
    first = client.get("/api/v1/agreements?limit=1", headers=bearer(owner)).json()
    second = client.get(
        f"/api/v1/agreements?limit=1&cursor={first['next_cursor']}", headers=bearer(owner)
    ).json()
    assert [a["name"] for a in second["items"]] == ["Standard"]


def test_technicians_read_agreements_but_do_not_change_them(client, owner, world):
    ref = post(client, "/api/v1/agreements", body(world), owner).json()["reference"]
    tom = make_user("tom", "technician")
    assert client.get(f"/api/v1/agreements/{ref}", headers=bearer(tom)).status_code == 200
    assert (
        post(client, f"/api/v1/agreements/{ref}", {"warning_percent": 60}, tom, "patch").status_code
        == 403
    )
    assert client.delete(f"/api/v1/agreements/{ref}", headers=bearer(tom)).status_code == 403
    rita = make_user("rita", "requester")
    assert client.get(f"/api/v1/agreements/{ref}", headers=bearer(rita)).status_code == 404


def test_an_administrator_deletes_an_agreement(client, owner, world):
    ref = post(client, "/api/v1/agreements", body(world), owner).json()["reference"]
    ada = make_user("ada", "administrator")
    assert client.delete(f"/api/v1/agreements/{ref}", headers=bearer(ada)).status_code == 204
    assert client.get(f"/api/v1/agreements/{ref}", headers=bearer(ada)).status_code == 404


def test_the_history_of_an_agreement_is_readable(client, owner, world):
    ref = post(client, "/api/v1/agreements", body(world), owner).json()["reference"]
    post(client, f"/api/v1/agreements/{ref}", {"warning_percent": 60}, owner, "patch")
    history = client.get(f"/api/v1/agreements/{ref}/journal", headers=bearer(owner)).json()
    assert [h["verb"] for h in history] == ["created", "updated"]
    assert history[1]["changes"] == {"warning_percent": [80, 60]}
