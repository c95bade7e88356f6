"""The deployments API as a pipeline sees it, plus releases, reviews, caused incidents and
metrics over HTTP."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from itline.cmdb.testing import make_component
from itline.core.testing import bearer, make_user
from itline.operation.testing import make_incident, make_service
from itline.transition.caused import suggest_caused_incidents
from itline.transition.choices import ChangeStatus
from itline.transition.models import Change, Deployment
from itline.transition.testing import make_change, make_template, window

pytestmark = pytest.mark.django_db


def _post(client, url, data, headers):
    return client.post(url, data, content_type="application/json", headers=headers)


@pytest.fixture
def ci():
    user = make_user("ci", "technician")
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="transition", codename="add_deployment")
    )
    return user


@pytest.fixture
def ci_h(ci):
    return bearer(ci)


@pytest.fixture
def carla():
    return make_user("carla", "change_manager")


@pytest.fixture
def carla_h(carla):
    return bearer(carla)


def test_a_pipeline_posts_a_deployment_and_then_its_result(client, ci_h):
    app = make_component("shop-app", "application")
    body = {
        "component": "shop-app",
        "version": "2.4.0",
        "environment": "production",
        "status": "started",
        "pipeline_url": "https://ci.example/runs/42",
        "commit": "9f1c2d3",
    }
    first = _post(client, "/api/v1/deployments", body, ci_h)
    assert first.status_code == 201, first.content
    data = first.json()
    assert (data["node"], data["matched"], data["unplanned"]) == (app.reference, "unplanned", True)
    done = _post(client, "/api/v1/deployments", {**body, "status": "succeeded"}, ci_h)
    assert done.status_code == 200
    assert (done.json()["reference"], done.json()["status"]) == (data["reference"], "succeeded")
    assert done.json()["matched"] == "existing"


def test_a_matching_template_gives_a_closed_standard_change(client, ci_h):
    app = make_component("shop-app", "application")
    make_template("Deploy the shop", nodes=[app], deployment_match={"environments": ["production"]})
    answer = _post(
        client,
        "/api/v1/deployments",
        {
            "component": app.reference,
            "version": "3",
            "environment": "production",
            "status": "succeeded",
        },
        ci_h,
    )
    assert answer.status_code == 201, answer.content
    assert (answer.json()["matched"], answer.json()["change_type"]) == ("template", "standard")
    assert Change.objects.get(reference=answer.json()["change"]).status == ChangeStatus.CLOSED


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"component": "nope"}, 422, "component"),
        ({"component": None, "service": "No such service"}, 422, "service"),
        ({"service": "Webshop"}, 422, "component"),
        ({"component": None}, 422, "component"),
        ({"status": "finished"}, 422, "status"),
        (
            {"started_at": "2026-01-01T10:00:00Z", "finished_at": "2025-01-01T10:00:00Z"},
            422,
            "finished_at",
        ),
        ({"change": "CHG-999999"}, 422, "change"),
        ({"release": "REL-999999"}, 422, "release"),
    ],
)
def test_bad_posts_name_the_field_and_write_nothing(client, ci_h, body, status, field):
    make_component("shop-app", "application")
    base = {
        "component": "shop-app",
        "version": "1",
        "environment": "production",
        "status": "succeeded",
    }
    answer = _post(client, "/api/v1/deployments", {**base, **body}, ci_h)
    assert answer.status_code == status, answer.content
    assert field in [e["field"] for e in answer.json()["errors"]]
    assert Deployment.objects.count() == 0


def test_a_bad_token_is_401_a_read_token_403_and_a_user_without_the_permission_403(client):
    make_component("shop-app", "application")
    body = {
        "component": "shop-app",
        "version": "1",
        "environment": "production",
        "status": "started",
    }
    assert (
        _post(
            client, "/api/v1/deployments", body, {"Authorization": "Bearer itl_wrong"}
        ).status_code
        == 401
    )
    tom = make_user("tom", "service_desk_agent")
    assert _post(client, "/api/v1/deployments", body, bearer(tom, "read")).status_code == 403
    assert _post(client, "/api/v1/deployments", body, bearer(tom)).status_code == 403
    assert Deployment.objects.count() == 0


def test_the_list_filters_unplanned_deployments_in_a_constant_number_of_queries(client, ci, ci_h):
    from itline.transition.services.deployments import record_deployment

    app = make_component("shop-app", "application")
    start, end = window(timedelta(minutes=-1), timedelta(hours=1))
    make_change(nodes=[app], start=start, end=end, status=ChangeStatus.SCHEDULED)
    db = make_component("db-01")
    for k in range(3):
        record_deployment(
            by=ci, node=app, version=f"1.{k}", environment="production", status="succeeded"
        )
        record_deployment(
            by=ci, node=db, version=f"9.{k}", environment="production", status="succeeded"
        )
        record_deployment(
            by=ci, node=db, version=f"9.{k}", environment="staging", status="succeeded"
        )
    client.get("/api/v1/deployments?limit=1", headers=ci_h)  # the token's first use is written
    with CaptureQueriesContext(connection) as few:
        small = client.get("/api/v1/deployments?limit=2", headers=ci_h)
    with CaptureQueriesContext(connection) as many:
        unplanned = client.get("/api/v1/deployments?unplanned=true", headers=ci_h)
    assert small.status_code == 200 and len(small.json()["items"]) == 2
    assert small.json()["next_cursor"]
    items = unplanned.json()["items"]
    assert {(i["node_name"], i["environment"]) for i in items} == {("db-01", "production")}
    assert len(items) == 3
    assert len(many) == len(few)
    planned = client.get(f"/api/v1/deployments?unplanned=false&node={app.reference}", headers=ci_h)
    assert len(planned.json()["items"]) == 3


def test_releases_are_created_moved_and_listed(client, carla_h):
    change = make_change()
    created = _post(
        client,
        "/api/v1/releases",
        {
            "name": "Webshop",
            "version": "2026.12",
            "notes": "Checkout",
            "changes": [change.reference],
        },
        carla_h,
    )
    assert created.status_code == 201, created.content
    ref = created.json()["reference"]
    assert created.json()["changes"] == [change.reference]
    released = client.patch(
        f"/api/v1/releases/{ref}",
        {"status": "released"},
        content_type="application/json",
        headers=carla_h,
    )
    assert released.status_code == 200 and released.json()["released_at"]
    back = client.patch(
        f"/api/v1/releases/{ref}",
        {"status": "planned"},
        content_type="application/json",
        headers=carla_h,
    )
    assert back.status_code == 409
    listed = client.get("/api/v1/releases?status=released", headers=carla_h).json()["items"]
    assert [r["reference"] for r in listed] == [ref]


def test_the_review_is_read_and_completed_with_close(client, carla, carla_h):
    change = make_change(status=ChangeStatus.IMPLEMENTED)
    url = f"/api/v1/changes/{change.reference}/review"
    draft = client.get(url, headers=carla_h)
    assert draft.status_code == 200
    assert draft.json()["status"] == "draft" and "summary" in draft.json()["draft"]
    done = client.put(
        url,
        {"summary": "Fine", "lessons": "None", "close": True},
        content_type="application/json",
        headers=carla_h,
    )
    assert done.status_code == 200, done.content
    assert (done.json()["status"], done.json()["change_status"]) == ("completed", "closed")
    again = client.put(url, {"summary": "x"}, content_type="application/json", headers=carla_h)
    assert again.status_code == 409
    none_yet = client.get(f"/api/v1/changes/{make_change().reference}/review", headers=carla_h)
    assert none_yet.status_code == 404


def test_caused_incidents_are_listed_confirmed_and_shown_on_the_incident(client, carla_h):
    db = make_component("db-01")
    change = make_change(nodes=[db], status=ChangeStatus.IMPLEMENTED)
    incident = make_incident("DB slow", component=db)
    scanned = _post(
        client, f"/api/v1/changes/{change.reference}/caused-incidents/scan", {}, carla_h
    )
    assert scanned.status_code == 200 and len(scanned.json()) == 1
    link_id = scanned.json()[0]["id"]
    base = f"/api/v1/changes/{change.reference}/caused-incidents"
    confirmed = _post(client, f"{base}/{link_id}/confirm", {}, carla_h)
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"
    assert _post(client, f"{base}/{link_id}/confirm", {}, carla_h).status_code == 409
    on_incident = client.get(f"/api/v1/incidents/{incident.reference}/caused-by", headers=carla_h)
    assert [(c["change"], c["status"]) for c in on_incident.json()] == [
        (change.reference, "confirmed")
    ]
    assert client.get(f"{base}?status=suggested", headers=carla_h).json() == []
    tom_h = bearer(make_user("tom", "technician"))
    assert _post(client, f"{base}/{link_id}/dismiss", {}, tom_h).status_code == 403
    assert suggest_caused_incidents(change) == []


def test_an_incident_is_linked_by_hand(client, carla_h):
    db = make_component("db-01")
    change = make_change(nodes=[db], status=ChangeStatus.IMPLEMENTED)
    incident = make_incident("Later trouble", component=make_component("other"))
    linked = _post(
        client,
        f"/api/v1/changes/{change.reference}/caused-incidents",
        {"incident": incident.reference, "reason": "The config pushed to it"},
        carla_h,
    )
    assert linked.status_code == 201, linked.content
    assert linked.json()["status"] == "confirmed"
    unknown = _post(
        client,
        f"/api/v1/changes/{change.reference}/caused-incidents",
        {"incident": "INC-0"},
        carla_h,
    )
    assert unknown.status_code == 422


def test_metrics_over_the_api_and_their_bad_input(client, carla_h):
    shop = make_service("Webshop")
    ok = client.get(f"/api/v1/changes/metrics?service={shop.reference}", headers=carla_h)
    assert ok.status_code == 200, ok.content
    assert ok.json()["services"] == [shop.reference]
    assert ok.json()["period"]["days"] == 30.0
    backwards = client.get(
        "/api/v1/changes/metrics?start=2026-02-01T00:00:00Z&end=2026-01-01T00:00:00Z",
        headers=carla_h,
    )
    assert backwards.status_code == 400 and backwards.json()["errors"][0]["field"] == "end"
    unknown = client.get("/api/v1/changes/metrics?service=SVC-999999", headers=carla_h)
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["field"] == "service"
    requester = bearer(make_user("rita", "requester"))
    assert client.get("/api/v1/changes/metrics", headers=requester).status_code == 403
