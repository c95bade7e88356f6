"""The changes API: create and edit with the version read, one endpoint per verb, lists with
filters and keyset pages in a fixed number of queries, and bad input answered with a 4xx
naming the field while nothing is written."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from itline.cmdb.testing import make_component, relate
from itline.core.journal import entries_for
from itline.core.models import JournalEntry
from itline.core.testing import bearer, make_user
from itline.operation.testing import make_service
from itline.transition.choices import ChangeStatus, ChangeType
from itline.transition.models import ApprovalRequest, Change
from itline.transition.testing import make_change, window

pytestmark = pytest.mark.django_db


@pytest.fixture
def tech(db):
    return make_user("tech", "technician", name="Tom Tech")


@pytest.fixture
def manager(db):
    return make_user("cm", "change_manager", name="Carla Manager")


def post(client, url, data, user):
    return client.post(url, data, content_type="application/json", headers=bearer(user))


def patch(client, url, data, user):
    return client.patch(url, data, content_type="application/json", headers=bearer(user))


def get(client, url, user):
    return client.get(url, headers=bearer(user))


def iso(moment):
    return moment.isoformat()


def new_change(client, user, **extra):
    start, end = window()
    body = {
        "title": "Upgrade PostgreSQL",
        "nodes": [make_component(f"db-{Change.objects.count() + 1}").reference],
        "implementation_plan": "pg_upgrade",
        "backout_plan": "restore the snapshot",
        "planned_start": iso(start),
        "planned_end": iso(end),
        **extra,
    }
    return post(client, "/api/v1/changes", body, user)


def test_a_change_goes_from_draft_to_closed_through_the_api(client, tech, manager):
    made = new_change(client, tech)
    assert made.status_code == 201, made.content
    body = made.json()
    ref = body["reference"]
    assert body["status"] == "draft" and body["change_type"] == "normal"
    assert body["nodes"][0]["name"].startswith("db-") and body["version"] == 1
    for item in body["readiness"]:
        ticked = post(client, f"/api/v1/changes/{ref}/readiness", {"key": item["key"]}, tech)
        assert ticked.status_code == 200, ticked.content
    submitted = post(client, f"/api/v1/changes/{ref}/submit", {}, tech)
    assert submitted.status_code == 200, submitted.content
    assert submitted.json()["status"] == "awaiting_approval"
    assert submitted.json()["approval_path"] == "change_manager"

    inbox = get(client, "/api/v1/approvals?mine=1", manager).json()["items"]
    assert [i["change"] for i in inbox] == [ref]
    approved = post(client, f"/api/v1/changes/{ref}/approve", {"comment": "Go"}, manager)
    assert approved.json()["status"] == "approved", approved.content
    rounds = get(client, f"/api/v1/changes/{ref}/approvals", tech).json()
    assert rounds[0]["status"] == "approved" and rounds[0]["votes"][0]["comment"] == "Go"

    for verb, data in (
        ("schedule", {}),
        ("start", {}),
        ("implement", {"outcome": "successful"}),
        ("start-review", {}),
        ("close", {}),
    ):
        moved = post(client, f"/api/v1/changes/{ref}/{verb}", data, tech)
        assert moved.status_code == 200, (verb, moved.content)
    final = get(client, f"/api/v1/changes/{ref}", tech).json()
    assert final["status"] == "closed" and final["outcome"] == "successful"
    history = get(client, f"/api/v1/changes/{ref}/journal", tech).json()
    assert any(h["changes"].get("status") == ["in_review", "closed"] for h in history)


def test_an_unknown_node_is_a_422_naming_it_and_nothing_is_written(client, tech):
    start, end = window()
    answer = post(
        client,
        "/api/v1/changes",
        {
            "title": "Upgrade",
            "nodes": ["CMP-999999"],
            "planned_start": iso(start),
            "planned_end": iso(end),
        },
        tech,
    )
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "nodes"
    assert "CMP-999999" in answer.json()["errors"][0]["message"]
    assert Change.objects.count() == 0 and JournalEntry.objects.count() == 0


def test_a_window_that_ends_before_it_starts_is_a_422_and_nothing_is_written(client, tech):
    start, end = window()
    answer = new_change(client, tech, planned_start=iso(end), planned_end=iso(start))
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "planned_end"
    assert Change.objects.count() == 0


def test_submitting_a_change_without_affected_items_is_a_422_on_nodes(client, tech):
    ref = new_change(client, tech, nodes=[]).json()["reference"]
    answer = post(client, f"/api/v1/changes/{ref}/submit", {}, tech)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "nodes"
    assert Change.objects.get(reference=ref).status == ChangeStatus.DRAFT


def test_submitting_a_window_in_the_past_is_a_422_on_planned_start(client, tech):
    start, end = window(timedelta(days=-1))
    ref = new_change(client, tech, planned_start=iso(start), planned_end=iso(end)).json()[
        "reference"
    ]
    answer = post(client, f"/api/v1/changes/{ref}/submit", {}, tech)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "planned_start"
    change = Change.objects.get(reference=ref)
    assert change.status == ChangeStatus.DRAFT and change.submitted_at is None


def test_a_stale_version_is_a_409_and_the_edit_is_not_applied(client, tech):
    ref = new_change(client, tech).json()["reference"]
    first = patch(client, f"/api/v1/changes/{ref}", {"version": 1, "title": "First"}, tech)
    assert first.status_code == 200 and first.json()["version"] == 2
    stale = patch(client, f"/api/v1/changes/{ref}", {"version": 1, "title": "Second"}, tech)
    assert stale.status_code == 409
    assert stale.json()["errors"][0]["field"] == "version"
    assert Change.objects.get(reference=ref).title == "First"


def test_rescheduling_an_implemented_change_is_refused_naming_the_field(client, tech):
    change = make_change(by=tech, status=ChangeStatus.IMPLEMENTED)
    start, end = window(timedelta(days=4))
    answer = post(
        client,
        f"/api/v1/changes/{change.reference}/reschedule",
        {"planned_start": iso(start), "planned_end": iso(end)},
        tech,
    )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "planned_start"
    change.refresh_from_db()
    assert change.planned_start != start


def test_approving_ones_own_change_is_a_403_with_the_reason(client, manager):
    make_user("cm2", "change_manager")
    change = make_change(by=manager)
    post(client, f"/api/v1/changes/{change.reference}/submit", {}, manager)
    answer = post(client, f"/api/v1/changes/{change.reference}/approve", {}, manager)
    assert answer.status_code == 403
    assert "forbids approving your own change" in answer.json()["detail"]
    assert ApprovalRequest.objects.get(change=change).status == "pending"


def test_rejecting_needs_a_comment(client, tech, manager):
    change = make_change(by=tech)
    post(client, f"/api/v1/changes/{change.reference}/submit", {}, tech)
    answer = post(client, f"/api/v1/changes/{change.reference}/reject", {}, manager)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["field"] == "comment"
    ok = post(
        client, f"/api/v1/changes/{change.reference}/reject", {"comment": "No tests"}, manager
    )
    assert ok.json()["status"] == "rejected"


def test_an_illegal_verb_is_a_409_listing_the_allowed_moves(client, tech):
    ref = new_change(client, tech).json()["reference"]
    answer = post(client, f"/api/v1/changes/{ref}/close", {}, tech)
    assert answer.status_code == 409
    assert answer.json()["allowed"] == ["cancelled", "submitted"]


def test_override_risk_is_for_change_managers_and_is_journaled(client, tech, manager):
    change = make_change(by=tech, ready=False)
    post(client, f"/api/v1/changes/{change.reference}/submit", {}, tech)
    url = f"/api/v1/changes/{change.reference}/override-risk"
    assert post(client, url, {"level": "high", "reason": "x"}, tech).status_code == 403
    done = post(client, url, {"level": "high", "reason": "Quarter close"}, manager)
    assert done.status_code == 200
    assert done.json()["effective_risk"] == "high" and done.json()["approval_path"] == "cab"
    assert "Quarter close" in entries_for(change).order_by("-id")[0].message


def test_the_list_filters_by_status_type_risk_node_service_and_window(client, tech):
    payroll = make_service("Payroll")
    db = make_component("payroll-db")
    relate(payroll, db)
    other = make_component("mail-01")
    start, end = window(timedelta(days=10))
    on_db = make_change("On the db", by=tech, nodes=[db], start=start, end=end)
    make_change("On mail", by=tech, nodes=[other])
    emergency = make_change("Hotfix", by=tech, nodes=[other], change_type=ChangeType.EMERGENCY)
    emergency.risk_override = "high"
    emergency.save()

    def titles(query):
        answer = get(client, f"/api/v1/changes?{query}", tech)
        assert answer.status_code == 200, answer.content
        return sorted(i["title"] for i in answer.json()["items"])

    assert titles(f"node={db.reference}") == ["On the db"]
    assert titles(f"service={payroll.reference}") == ["On the db"]
    assert titles("type=emergency") == ["Hotfix"]
    assert titles("risk=high") == ["Hotfix"]
    assert titles("status=draft&status=cancelled") == ["Hotfix", "On mail", "On the db"]
    assert titles(f"window_from={iso(start - timedelta(hours=1))}".replace("+", "%2B")) == [
        "On the db"
    ]
    assert on_db.reference in {
        i["reference"] for i in get(client, "/api/v1/changes?q=db", tech).json()["items"]
    }
    unknown = get(client, "/api/v1/changes?service=SVC-999", tech)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "service"


def test_the_list_pages_by_cursor_in_a_fixed_number_of_queries(client, tech):
    for n in range(3):
        make_change(f"Change {n}", by=tech)
    headers = bearer(tech)
    client.get("/api/v1/changes?limit=1", headers=headers)  # token use and caches settle
    with CaptureQueriesContext(connection) as few:
        first = client.get("/api/v1/changes?limit=2", headers=headers).json()
    for n in range(3, 12):
        make_change(f"Change {n}", by=tech, implementers=[])
    with CaptureQueriesContext(connection) as many:
        client.get("/api/v1/changes?limit=10", headers=headers)
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = client.get(f"/api/v1/changes?limit=50&cursor={first['next_cursor']}", headers=headers)
    # newest first: what was created after the first page is not "after" it
    assert [i["title"] for i in rest.json()["items"]] == ["Change 0"]


def test_people_without_access_see_no_changes(client, tech):
    make_change(by=tech)
    requester = make_user("req", "requester")
    answer = get(client, "/api/v1/changes", requester)
    assert answer.status_code == 200 and answer.json()["items"] == []


def test_approval_policies_are_read_and_changed_through_the_api(client, manager, tech):
    listed = get(client, "/api/v1/approval-policies", manager).json()
    assert [p["path"] for p in listed] == ["change_manager", "cab", "ecab"]
    assert listed[0]["approvers"] == [manager.person.reference]
    changed = client.put(
        "/api/v1/approval-policies/cab",
        {"rule": "all", "people": [manager.person.reference, tech.person.reference]},
        content_type="application/json",
        headers=bearer(manager),
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["rule"] == "all" and len(changed.json()["people"]) == 2
    bad = client.put(
        "/api/v1/approval-policies/cab",
        {"quorum": 0},
        content_type="application/json",
        headers=bearer(manager),
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "quorum"
    refused = client.put(
        "/api/v1/approval-policies/cab",
        {"rule": "any"},
        content_type="application/json",
        headers=bearer(tech),
    )
    assert refused.status_code == 403
    assert get(client, "/api/v1/approval-policies/nope", manager).status_code == 400


def test_a_delegate_sees_and_decides_the_absent_approvers_votes(client, tech, manager):
    deputy = make_user("deputy", "technician", name="Deputy")
    start, end = window(timedelta(hours=-1), timedelta(days=3))
    made = post(
        client,
        "/api/v1/delegations",
        {
            "delegate": deputy.person.reference,
            "starts_at": iso(start),
            "ends_at": iso(end),
        },
        manager,
    )
    assert made.status_code == 201, made.content
    change = make_change(by=tech)
    post(client, f"/api/v1/changes/{change.reference}/submit", {}, tech)
    inbox = get(client, "/api/v1/approvals?mine=1", deputy).json()["items"]
    assert [(i["change"], i["on_behalf"]) for i in inbox] == [(change.reference, True)]
    done = post(client, f"/api/v1/changes/{change.reference}/approve", {"comment": "ok"}, deputy)
    assert done.json()["status"] == "approved"
    ended = client.delete(f"/api/v1/delegations/{made.json()['id']}", headers=bearer(manager))
    assert ended.status_code == 204
    backwards = post(
        client,
        "/api/v1/delegations",
        {"delegate": deputy.person.reference, "starts_at": iso(end), "ends_at": iso(start)},
        manager,
    )
    assert backwards.status_code == 422
    assert backwards.json()["errors"][0]["field"] == "ends_at"


def test_the_standard_change_catalogue_is_managed_through_the_api(client, manager, tech):
    server = make_component("web-01")
    made = post(
        client,
        "/api/v1/change-templates",
        {
            "name": "Restart a web server",
            "nodes": [server.reference],
            "component_types": ["server"],
            "max_duration_minutes": 30,
            "readiness_items": ["Service desk informed"],
        },
        manager,
    )
    assert made.status_code == 201, made.content
    ref = made.json()["reference"]
    assert made.json()["component_types"] == ["server"]
    changed = patch(client, f"/api/v1/change-templates/{ref}", {"active": False}, manager)
    assert changed.json()["active"] is False
    assert post(client, "/api/v1/change-templates", {"name": "x"}, tech).status_code == 403
    nothing = post(client, "/api/v1/change-templates", {"name": "Touches nothing"}, manager)
    assert nothing.status_code == 422 and nothing.json()["errors"][0]["field"] == "nodes"
    bad_type = post(
        client,
        "/api/v1/change-templates",
        {"name": "Bad", "component_types": ["toaster"]},
        manager,
    )
    assert bad_type.status_code == 422
    assert bad_type.json()["errors"][0]["field"] == "component_types"


def test_a_standard_change_from_the_catalogue_is_approved_on_submit(client, manager, tech):
    server = make_component("web-01")
    template = post(
        client,
        "/api/v1/change-templates",
        {"name": "Restart", "nodes": [server.reference], "max_duration_minutes": 90},
        manager,
    ).json()["reference"]
    start, end = window()
    made = post(
        client,
        "/api/v1/changes",
        {
            "title": "Restart web-01",
            "change_type": "standard",
            "template": template,
            "nodes": [server.reference],
            "planned_start": iso(start),
            "planned_end": iso(end),
        },
        tech,
    )
    assert made.status_code == 201, made.content
    done = post(client, f"/api/v1/changes/{made.json()['reference']}/submit", {}, tech)
    assert done.json()["status"] == "approved" and done.json()["approval_path"] == "none"
    missing = post(
        client,
        "/api/v1/changes",
        {"title": "No template", "change_type": "standard", "nodes": [server.reference]},
        tech,
    )
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "template"


def test_freeze_windows_are_managed_through_the_api(client, manager, tech):
    payroll = make_service("Payroll")
    start, end = window(timedelta(days=1), timedelta(days=2))
    made = post(
        client,
        "/api/v1/freeze-windows",
        {
            "title": "Month end",
            "services": [payroll.reference],
            "starts_at": iso(start),
            "ends_at": iso(end),
            "rrule": "FREQ=MONTHLY;BYMONTHDAY=-1",
        },
        manager,
    )
    assert made.status_code == 201, made.content
    ref = made.json()["reference"]
    assert made.json()["services"][0]["name"] == "Payroll"
    listed = get(client, "/api/v1/freeze-windows", tech).json()["items"]
    assert [f["reference"] for f in listed] == [ref]
    bad_rule = patch(client, f"/api/v1/freeze-windows/{ref}", {"rrule": "FREQ=SOMETIMES"}, manager)
    assert bad_rule.status_code == 422 and bad_rule.json()["errors"][0]["field"] == "rrule"
    backwards = patch(client, f"/api/v1/freeze-windows/{ref}", {"ends_at": iso(start)}, manager)
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "ends_at"
    component = make_component("vm-1")
    not_service = patch(
        client, f"/api/v1/freeze-windows/{ref}", {"services": [component.reference]}, manager
    )
    assert not_service.status_code == 422
    assert not_service.json()["errors"][0]["field"] == "services"
    assert client.delete(f"/api/v1/freeze-windows/{ref}", headers=bearer(tech)).status_code == 403
    gone = client.delete(f"/api/v1/freeze-windows/{ref}", headers=bearer(manager))
    assert gone.status_code == 204
    assert get(client, "/api/v1/freeze-windows", tech).json()["items"] == []


def test_the_approver_inbox_costs_the_same_queries_for_one_or_many_changes(client, tech, manager):
    headers = bearer(manager)
    make_change("First", by=tech, status=ChangeStatus.AWAITING_APPROVAL)
    client.get("/api/v1/approvals?mine=1", headers=headers)  # token use and caches settle
    with CaptureQueriesContext(connection) as one:
        assert len(client.get("/api/v1/approvals?mine=1", headers=headers).json()["items"]) == 1
    for n in range(5):
        make_change(f"More {n}", by=tech, status=ChangeStatus.AWAITING_APPROVAL)
    with CaptureQueriesContext(connection) as six:
        assert len(client.get("/api/v1/approvals?mine=1", headers=headers).json()["items"]) == 6
    assert len(six) == len(one)
