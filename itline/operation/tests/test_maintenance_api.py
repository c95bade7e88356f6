"""Maintenance API: windows, plans and work orders (CRUD, filters, keyset pages, verbs with
409 listing the allowed moves), expanded occurrences, completion history, and the config
export/import round trip. Bad input is a 4xx naming the field and writes nothing."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from itline.cmdb.testing import make_component, relate
from itline.core.testing import bearer, make_user
from itline.operation import maintenance
from itline.operation.models import MaintenancePlan, MaintenanceWindow, WorkOrder
from itline.operation.testing import make_function, make_service


@pytest.fixture(autouse=True)
def _fresh_cache():
    maintenance.forget()
    yield
    maintenance.forget()


@pytest.fixture
def world(db):
    carl = make_user("carl", "change_manager")
    tess = make_user("tess", "technician")
    ops = make_function("Datacenter operations", tess)
    shop = make_service("Web shop")
    web, db1 = make_component("web-1"), make_component("db-1")
    relate(shop, web, "runs-on")
    relate(web, db1, "depends-on")
    return {
        "carl": bearer(carl),
        "tess": bearer(tess),
        "reader": bearer(make_user("dana", "service_desk_agent"), "read"),
        "ops": ops,
        "shop": shop,
        "web": web,
        "db": db1,
    }


def post(client, url, data, headers):
    return client.post(url, data, content_type="application/json", headers=headers)


def patch(client, url, data, headers):
    return client.patch(url, data, content_type="application/json", headers=headers)


def window_body(world, **fields):
    return {
        "title": "Sunday patching",
        "nodes": [world["web"].reference],
        "starts_at": "2030-01-06T02:00:00+01:00",
        "ends_at": "2030-01-06T04:00:00+01:00",
        "rrule": "FREQ=WEEKLY;BYDAY=SU",
        "time_zone": "Europe/Amsterdam",
        "function": world["ops"].reference,
        **fields,
    }


def test_a_window_is_created_read_listed_by_node_and_expanded(client, world):
    made = post(client, "/api/v1/maintenance-windows", window_body(world), world["carl"])
    assert made.status_code == 201, made.content
    body = made.json()
    ref = body["reference"]
    assert ref.startswith("MW-")
    assert body["recurrence"] == "weekly on Sun"
    assert body["nodes"] == [
        {"reference": world["web"].reference, "name": "web-1", "kind": "component"}
    ]
    assert (
        client.get(f"/api/v1/maintenance-windows/{ref}", headers=world["reader"]).status_code == 200
    )
    listed = client.get(
        f"/api/v1/maintenance-windows?node={world['web'].reference}", headers=world["reader"]
    ).json()
    assert [w["reference"] for w in listed["items"]] == [ref]
    assert (
        client.get(
            f"/api/v1/maintenance-windows?node={world['db'].reference}", headers=world["reader"]
        ).json()["items"]
        == []
    )

    found = client.get(
        "/api/v1/maintenance-windows/occurrences",
        {
            "start": "2030-03-24T00:00:00Z",
            "end": "2030-04-08T00:00:00Z",
            "node": world["db"].reference,
        },
        headers=world["reader"],
    )
    assert found.status_code == 200, found.content
    rows = found.json()
    assert [r["starts_at"] for r in rows] == [
        "2030-03-24T01:00:00+00:00",  # 02:00 CET
        "2030-03-31T01:00:00+00:00",  # 02:00 does not exist: 03:00 CEST
        "2030-04-07T00:00:00+00:00",  # 02:00 CEST
    ]
    assert rows[0]["window"] == ref
    assert rows[0]["covered"] == sorted([world["web"].reference, world["db"].reference])


def test_occurrences_refuse_a_range_that_is_too_long_or_reversed(client, world):
    too_long = client.get(
        "/api/v1/maintenance-windows/occurrences",
        {"start": "2030-01-01T00:00:00Z", "end": "2032-01-01T00:00:00Z"},
        headers=world["reader"],
    )
    assert too_long.status_code == 400
    assert too_long.json()["errors"][0]["field"] == "end"
    reversed_ = client.get(
        "/api/v1/maintenance-windows/occurrences",
        {"start": "2030-01-02T00:00:00Z", "end": "2030-01-01T00:00:00Z"},
        headers=world["reader"],
    )
    assert reversed_.status_code == 400


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"ends_at": "2030-01-06T01:00:00+01:00"}, "ends_at"),
        ({"rrule": "FREQ=MINUTELY"}, "rrule"),
        ({"rrule": "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"}, "rrule"),
        ({"nodes": []}, "nodes"),
        ({"nodes": ["CMP-999999"]}, "nodes"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"function": "FN-999999"}, "function"),
        (
            {"starts_at": "2020-01-01T00:00:00Z", "ends_at": "2020-01-01T01:00:00Z", "rrule": ""},
            "ends_at",
        ),
    ],
)
def test_a_bad_window_is_refused_naming_the_field_and_nothing_is_stored(
    client, world, fields, field
):
    answer = post(
        client, "/api/v1/maintenance-windows", window_body(world, **fields), world["carl"]
    )
    assert 400 <= answer.status_code < 500, answer.content
    assert field in [e["field"] for e in answer.json()["errors"]], answer.json()
    assert not MaintenanceWindow.objects.exists()


def test_a_read_token_and_an_agent_without_the_permission_cannot_create(client, world):
    assert (
        post(client, "/api/v1/maintenance-windows", window_body(world), world["reader"]).status_code
        == 403
    )
    agent = bearer(make_user("sam", "service_desk_agent"))
    assert post(client, "/api/v1/maintenance-windows", window_body(world), agent).status_code == 403


def test_a_window_is_edited_and_deleted_but_stays_readable(client, world):
    ref = post(client, "/api/v1/maintenance-windows", window_body(world), world["carl"]).json()[
        "reference"
    ]
    changed = patch(
        client,
        f"/api/v1/maintenance-windows/{ref}",
        {"title": "OS patching", "nodes": [world["db"].reference]},
        world["carl"],
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["title"] == "OS patching"
    assert [n["reference"] for n in changed.json()["nodes"]] == [world["db"].reference]
    journal = client.get(
        f"/api/v1/maintenance-windows/{ref}/journal", headers=world["reader"]
    ).json()
    assert journal[-1]["changes"]["nodes"] == [["web-1"], ["db-1"]]
    gone = client.delete(f"/api/v1/maintenance-windows/{ref}?reason=moved", headers=world["carl"])
    assert gone.status_code == 200 and gone.json()["active"] is False
    assert client.get("/api/v1/maintenance-windows", headers=world["reader"]).json()["items"] == []
    assert (
        len(
            client.get("/api/v1/maintenance-windows?active=false", headers=world["reader"]).json()[
                "items"
            ]
        )
        == 1
    )
    again = client.delete(f"/api/v1/maintenance-windows/{ref}", headers=world["carl"])
    assert again.status_code == 409


def test_window_lists_are_keyset_paged_with_a_fixed_number_of_queries(
    client, world, django_assert_max_num_queries
):
    for k in range(7):
        post(
            client, "/api/v1/maintenance-windows", window_body(world, title=f"W{k}"), world["carl"]
        )
    seen, cursor = [], None
    with django_assert_max_num_queries(12):
        page = client.get(
            "/api/v1/maintenance-windows", {"limit": 3}, headers=world["reader"]
        ).json()
    seen += [w["title"] for w in page["items"]]
    cursor = page["next_cursor"]
    while cursor:
        page = client.get(
            "/api/v1/maintenance-windows", {"limit": 3, "cursor": cursor}, headers=world["reader"]
        ).json()
        seen += [w["title"] for w in page["items"]]
        cursor = page["next_cursor"]
    assert sorted(seen) == [f"W{k}" for k in range(7)]


def plan_body(world, **fields):
    return {
        "title": "Backup restore test",
        "nodes": [world["db"].reference],
        "rrule": "FREQ=MONTHLY;BYMONTHDAY=1",
        "first_due_at": (timezone.now() + timedelta(days=3)).isoformat(),
        "function": world["ops"].reference,
        "checklist": ["Restore last night's backup", "Compare row counts"],
        "lead_days": 7,
        **fields,
    }


def test_a_plan_generates_its_work_order_which_is_worked_through_the_api(client, world):
    made = post(client, "/api/v1/maintenance-plans", plan_body(world), world["carl"])
    assert made.status_code == 201, made.content
    plan_ref = made.json()["reference"]
    generated = post(client, f"/api/v1/maintenance-plans/{plan_ref}/generate", {}, world["carl"])
    assert generated.json() == {"created": 1}
    [wo] = client.get(f"/api/v1/work-orders?plan={plan_ref}", headers=world["tess"]).json()["items"]
    ref = wo["reference"]
    assert wo["checklist"] == [
        {"text": "Restore last night's backup", "done": False},
        {"text": "Compare row counts", "done": False},
    ]
    assert wo["allowed_transitions"] == ["cancelled", "done", "in_progress"]

    early = post(client, f"/api/v1/work-orders/{ref}/complete", {"notes": "ok"}, world["tess"])
    assert early.status_code == 422
    assert early.json()["errors"][0]["field"] == "checklist"
    for index in (0, 1):
        ticked = post(
            client, f"/api/v1/work-orders/{ref}/checklist/{index}", {"done": True}, world["tess"]
        )
        assert ticked.status_code == 200, ticked.content
    assert ticked.json()["status"] == "in_progress"
    done = post(
        client,
        f"/api/v1/work-orders/{ref}/complete",
        {"notes": "Restored in 12 min; counts match.", "version": ticked.json()["version"]},
        world["tess"],
    )
    assert done.status_code == 200, done.content
    assert done.json()["status"] == "done" and done.json()["completed_by"]
    refused = post(client, f"/api/v1/work-orders/{ref}/start", {}, world["tess"])
    assert refused.status_code == 409
    assert refused.json()["allowed"] == []
    history = client.get(
        "/api/v1/work-orders/history", {"node": world["db"].reference}, headers=world["reader"]
    ).json()
    assert [h["reference"] for h in history] == [ref]
    assert history[0]["late"] is False


def test_a_stale_version_is_a_409(client, world):
    wo = post(
        client,
        "/api/v1/work-orders",
        {
            "title": "Swap disk",
            "function": world["ops"].reference,
            "due_at": "2030-05-01T10:00:00Z",
            "checklist": ["Swap"],
            "nodes": [world["db"].reference],
        },
        world["carl"],
    ).json()
    post(client, f"/api/v1/work-orders/{wo['reference']}/checklist/0", {}, world["tess"])
    stale = post(
        client,
        f"/api/v1/work-orders/{wo['reference']}/cancel",
        {"reason": "not needed", "version": wo["version"]},
        world["tess"],
    )
    assert stale.status_code == 409
    assert stale.json()["errors"][0]["field"] == "version"


def test_work_orders_filter_by_overdue_and_function(client, world):
    for title, due in (("Late", "2020-01-01T00:00:00Z"), ("Later", "2031-01-01T00:00:00Z")):
        post(
            client,
            "/api/v1/work-orders",
            {"title": title, "function": world["ops"].reference, "due_at": due},
            world["carl"],
        )
    overdue = client.get("/api/v1/work-orders?overdue=true", headers=world["reader"]).json()[
        "items"
    ]
    assert [w["title"] for w in overdue] == ["Late"]
    assert overdue[0]["overdue"] is True
    mine = client.get(
        f"/api/v1/work-orders?function={world['ops'].reference}&due_after=2030-01-01T00:00:00Z",
        headers=world["reader"],
    ).json()["items"]
    assert [w["title"] for w in mine] == ["Later"]


def test_export_then_import_elsewhere_recreates_windows_and_plans(client, world):
    post(client, "/api/v1/maintenance-windows", window_body(world), world["carl"])
    post(client, "/api/v1/maintenance-plans", plan_body(world), world["carl"])
    exported = client.get("/api/v1/maintenance/export", headers=world["carl"]).json()
    assert len(exported["windows"]) == 1 and len(exported["plans"]) == 1
    same = post(client, "/api/v1/maintenance/import", exported, world["carl"]).json()
    assert same == {"created": 0, "updated": 0, "unchanged": 2, "dry_run": False}

    for item in exported["windows"] + exported["plans"]:
        del item["reference"]
    exported["windows"][0]["title"] = "Patching (copy)"
    dry = post(client, "/api/v1/maintenance/import?dry_run=true", exported, world["carl"]).json()
    assert dry["created"] == 2 and dry["dry_run"] is True
    assert MaintenanceWindow.objects.count() == 1
    post(client, "/api/v1/maintenance/import", exported, world["carl"])
    assert MaintenanceWindow.objects.count() == 2
    assert MaintenancePlan.objects.count() == 2


def test_an_import_with_one_bad_item_writes_nothing_and_names_the_item(client, world):
    document = {
        "windows": [window_body(world), window_body(world, rrule="FREQ=SECONDLY")],
        "plans": [plan_body(world, function="FN-404")],
    }
    answer = post(client, "/api/v1/maintenance/import", document, world["carl"])
    assert answer.status_code == 422
    fields = {e["field"] for e in answer.json()["errors"]}
    assert {"windows[1].rrule", "plans[0].function"} <= fields
    assert not MaintenanceWindow.objects.exists()
    assert not WorkOrder.objects.exists()


def test_the_read_api_does_not_leak_to_portal_users(client, world):
    requester = bearer(make_user("rita", "requester"))
    post(client, "/api/v1/maintenance-windows", window_body(world), world["carl"])
    assert client.get("/api/v1/maintenance-windows", headers=requester).json()["items"] == []
    assert (
        client.get(
            "/api/v1/maintenance-windows/occurrences",
            {"start": datetime(2030, 1, 1, tzinfo=UTC).isoformat(), "end": "2030-02-01T00:00:00Z"},
            headers=requester,
        ).status_code
        == 403
    )
