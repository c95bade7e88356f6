"""Problem management API: problems by reference with transitions (409 listing the allowed
ones), incident links and known errors recorded from them; known errors; recurrence
proposals accepted and dismissed; suggestions on incidents and requests; bad input is 4xx."""

import pytest

from itline.cmdb.testing import make_component
from itline.core.testing import bearer, make_user
from itline.operation import suggestions
from itline.operation.models import Incident, KnownError, Problem, RecurrenceProposal
from itline.operation.services import create_incident, create_known_error


@pytest.fixture(autouse=True)
def _fresh_index():
    suggestions.forget()
    yield
    suggestions.forget()


@pytest.fixture
def pm(db):
    return bearer(make_user("pm", "problem_manager"))


@pytest.fixture
def vpn(db):
    return make_component("vpn-gw-01", "network-device")


def post(client, url, data, headers):
    return client.post(url, data, content_type="application/json", headers=headers)


def patch(client, url, data, headers):
    return client.patch(url, data, content_type="application/json", headers=headers)


def test_a_problem_is_created_with_incidents_and_walks_its_states(client, pm, vpn):
    inc = create_incident(by=None, title="VPN login timeout", component=vpn)
    made = post(
        client,
        "/api/v1/problems",
        {"title": "VPN timeouts", "component": vpn.reference, "incidents": [inc.reference]},
        pm,
    )
    assert made.status_code == 201, made.content
    body = made.json()
    ref = body["reference"]
    assert ref.startswith("PRB-") and body["status"] == "new"
    assert body["incident_count"] == 1 and body["component"] == vpn.reference
    assert body["allowed_transitions"] == ["closed", "investigating", "known_error"]
    linked = client.get(f"/api/v1/problems/{ref}/incidents", headers=pm).json()
    assert [i["reference"] for i in linked] == [inc.reference]

    moved = post(client, f"/api/v1/problems/{ref}/transition", {"status": "investigating"}, pm)
    assert moved.status_code == 200 and moved.json()["status"] == "investigating"
    # resolving needs the permanent fix first
    early = post(client, f"/api/v1/problems/{ref}/transition", {"status": "resolved"}, pm)
    assert early.status_code == 422
    assert early.json()["errors"][0]["field"] == "resolution"
    fix = patch(client, f"/api/v1/problems/{ref}", {"resolution": "Firmware 9.2"}, pm)
    assert fix.status_code == 200
    done = post(client, f"/api/v1/problems/{ref}/transition", {"status": "resolved"}, pm)
    assert done.json()["status"] == "resolved"
    history = client.get(f"/api/v1/problems/{ref}/journal", headers=pm).json()
    assert any(h["changes"].get("status") == ["investigating", "resolved"] for h in history)


def test_an_invalid_transition_is_a_409_listing_the_allowed_ones(client, pm):
    ref = post(client, "/api/v1/problems", {"title": "Slow payroll"}, pm).json()["reference"]
    post(client, f"/api/v1/problems/{ref}/transition", {"status": "closed"}, pm)
    refused = post(client, f"/api/v1/problems/{ref}/transition", {"status": "investigating"}, pm)
    assert refused.status_code == 409
    assert refused.json()["allowed"] == []
    fresh = post(client, "/api/v1/problems", {"title": "Printer"}, pm).json()["reference"]
    skip = post(client, f"/api/v1/problems/{fresh}/transition", {"status": "resolved"}, pm)
    assert skip.status_code == 409
    assert skip.json()["allowed"] == ["closed", "investigating", "known_error"]
    assert "Allowed" in skip.json()["detail"]


def test_bad_input_is_refused_with_the_field_named(client, pm):
    def field_of(response):
        return response.json()["errors"][0]["field"]

    empty = post(client, "/api/v1/problems", {"title": ""}, pm)
    assert empty.status_code == 422 and field_of(empty) == "title"
    unknown_ref = post(client, "/api/v1/problems", {"title": "x", "service": "SVC-999999"}, pm)
    assert unknown_ref.status_code == 422 and field_of(unknown_ref) == "service"
    no_incident = post(client, "/api/v1/problems", {"title": "x", "incidents": ["INC-999"]}, pm)
    assert no_incident.status_code == 400 and field_of(no_incident) == "incidents"
    ref = post(client, "/api/v1/problems", {"title": "Real"}, pm).json()["reference"]
    bad_status = post(client, f"/api/v1/problems/{ref}/transition", {"status": "fixed"}, pm)
    assert bad_status.status_code == 422 and field_of(bad_status) == "status"
    null_title = patch(client, f"/api/v1/problems/{ref}", {"title": None}, pm)
    assert null_title.status_code in (400, 422) and field_of(null_title) == "title"
    nothing = patch(client, f"/api/v1/problems/{ref}", {}, pm)
    assert nothing.status_code == 400
    assert client.get("/api/v1/problems/PRB-999999", headers=pm).status_code == 404
    assert client.get("/api/v1/problems?sort=nonsense", headers=pm).status_code == 400
    no_ke = post(client, f"/api/v1/problems/{ref}/known-error", {}, pm)
    assert no_ke.status_code == 422 and field_of(no_ke) == "workaround"
    no_ke_body = post(client, "/api/v1/known-errors", {"title": "x"}, pm)
    assert no_ke_body.status_code == 422 and field_of(no_ke_body) == "workaround"
    assert Problem.objects.count() == 1 and not KnownError.objects.exists()


def test_linking_incidents_and_recording_the_known_error(client, pm, vpn):
    ref = post(client, "/api/v1/problems", {"title": "VPN", "component": vpn.reference}, pm)
    ref = ref.json()["reference"]
    inc = create_incident(by=None, title="VPN down", component=vpn)
    linked = post(client, f"/api/v1/problems/{ref}/incidents", {"incident": inc.reference}, pm)
    assert linked.status_code == 200 and linked.json()["incident_count"] == 1
    assert Incident.objects.get(pk=inc.pk).problem.reference == ref
    other = post(client, "/api/v1/problems", {"title": "Other"}, pm).json()["reference"]
    taken = post(client, f"/api/v1/problems/{other}/incidents", {"incident": inc.reference}, pm)
    assert taken.status_code == 400 and taken.json()["errors"][0]["field"] == "incident"

    patch(client, f"/api/v1/problems/{ref}", {"workaround": "Use vpn2", "root_cause": "Bug"}, pm)
    recorded = post(client, f"/api/v1/problems/{ref}/known-error", {}, pm)
    assert recorded.status_code == 201
    known = recorded.json()
    assert known["workaround"] == "Use vpn2" and known["problem"] == ref
    assert known["component"] == vpn.reference
    problem = client.get(f"/api/v1/problems/{ref}", headers=pm).json()
    assert problem["status"] == "known_error" and problem["known_errors"] == [known["reference"]]


def test_known_errors_are_created_filtered_and_retired(client, pm, vpn):
    made = post(
        client,
        "/api/v1/known-errors",
        {"title": "VPN timeout", "workaround": "Use vpn2", "component": vpn.reference},
        pm,
    )
    assert made.status_code == 201
    ref = made.json()["reference"]
    post(client, "/api/v1/known-errors", {"title": "Printer", "workaround": "Kick it"}, pm)
    on_vpn = client.get(f"/api/v1/known-errors?component={vpn.reference}", headers=pm).json()
    assert [k["reference"] for k in on_vpn["items"]] == [ref]
    retired = patch(client, f"/api/v1/known-errors/{ref}", {"active": False}, pm)
    assert retired.status_code == 200 and retired.json()["active"] is False
    active = client.get("/api/v1/known-errors?active=true", headers=pm).json()["items"]
    assert [k["title"] for k in active] == ["Printer"]


def test_agents_read_problems_but_only_problem_managers_decide_proposals(client, pm, vpn):
    desk = bearer(make_user("desk", "service_desk_agent"))
    assert client.get("/api/v1/problems", headers=desk).status_code == 200
    assert post(client, "/api/v1/problems", {"title": "x"}, desk).status_code == 403
    for n in range(3):
        create_incident(by=None, title=f"VPN login timeout {n}", component=vpn)
    assert post(client, "/api/v1/recurrence-proposals/scan", {}, desk).status_code == 403
    requester = bearer(make_user("rita", "requester"))
    assert client.get("/api/v1/problems", headers=requester).json()["items"] == []


def test_recurrence_proposals_are_listed_accepted_and_dismissed(client, pm, vpn):
    for n in range(3):
        create_incident(by=None, title=f"VPN login timeout {n}", component=vpn)
    scan = post(client, "/api/v1/recurrence-proposals/scan", {}, pm)
    assert scan.status_code == 200 and len(scan.json()["created"]) == 1
    listed = client.get("/api/v1/recurrence-proposals?status=proposed", headers=pm).json()
    proposal = listed["items"][0]
    assert len(proposal["incidents"]) == 3 and "vpn" in proposal["terms"]
    assert "similar" in proposal["reason"]

    accepted = post(
        client,
        f"/api/v1/recurrence-proposals/{proposal['id']}/accept",
        {"title": "VPN gateway drops logins"},
        pm,
    )
    assert accepted.status_code == 201, accepted.content
    body = accepted.json()
    assert body["proposal"]["status"] == "accepted"
    assert body["problem"]["title"] == "VPN gateway drops logins"
    assert body["problem"]["incident_count"] == 3
    again = post(
        client, f"/api/v1/recurrence-proposals/{proposal['id']}/dismiss", {"reason": "no"}, pm
    )
    assert again.status_code == 409 and again.json()["allowed"] == []


def test_dismissing_needs_a_reason_and_unknown_proposals_are_404(client, pm, vpn):
    for n in range(3):
        create_incident(by=None, title=f"VPN login timeout {n}", component=vpn)
    post(client, "/api/v1/recurrence-proposals/scan", {}, pm)
    pid = RecurrenceProposal.objects.get().pk
    blank = post(client, f"/api/v1/recurrence-proposals/{pid}/dismiss", {"reason": " "}, pm)
    assert blank.status_code == 422 and blank.json()["errors"][0]["field"] == "reason"
    missing = post(client, f"/api/v1/recurrence-proposals/{pid}/dismiss", {}, pm)
    assert missing.status_code == 422
    assert post(client, "/api/v1/recurrence-proposals/999/accept", {}, pm).status_code == 404
    assert client.get("/api/v1/recurrence-proposals/abc", headers=pm).status_code in (404, 422)
    done = post(client, f"/api/v1/recurrence-proposals/{pid}/dismiss", {"reason": "Noise"}, pm)
    assert done.status_code == 200
    assert done.json()["status"] == "dismissed" and done.json()["decision_note"] == "Noise"


def test_an_incident_and_a_request_get_known_error_suggestions_best_first(client, pm, vpn):
    desk = bearer(make_user("desk", "service_desk_agent"))
    best = create_known_error(
        by=None, title="VPN login timeout", workaround="Use vpn2", component=vpn
    )
    create_known_error(by=None, title="Printer jams", workaround="Open tray 2")
    inc = create_incident(by=None, title="VPN login timeout for staff", component=vpn)
    found = client.get(f"/api/v1/incidents/{inc.reference}/suggestions", headers=desk).json()
    assert [k["reference"] for k in found["known_errors"]] == [best.reference]
    assert found["known_errors"][0]["score"] > 0.5
    assert any("same component" in why for why in found["known_errors"][0]["why"])

    from itline.operation.services import create_request
    from itline.org.models import person_of

    desk_user = make_user("desk2", "service_desk_agent")
    req = create_request(by=desk_user, requester=person_of(desk_user), title="VPN login timeout")
    for_request = client.get(f"/api/v1/requests/{req.reference}/suggestions", headers=desk)
    assert for_request.status_code == 200
    assert for_request.json()["known_errors"][0]["reference"] == best.reference
    assert [i["reference"] for i in for_request.json()["similar_incidents"]] == [inc.reference]
    assert (
        client.get(f"/api/v1/incidents/{inc.reference}/suggestions?limit=0", headers=desk)
    ).status_code == 400
    assert client.get("/api/v1/incidents/INC-999999/suggestions", headers=desk).status_code == 404
    requester = bearer(make_user("rita", "requester"))
    assert (
        client.get(f"/api/v1/incidents/{inc.reference}/suggestions", headers=requester)
    ).status_code in (403, 404)


def test_api_lists_cost_the_same_number_of_queries_for_few_or_many_rows(client, pm, vpn):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from itline.operation.recurrence import Thresholds, detect_recurring_incidents

    def counts():
        out = []
        for url in ("/api/v1/problems", "/api/v1/known-errors", "/api/v1/recurrence-proposals"):
            with CaptureQueriesContext(connection) as queries:
                assert client.get(url, headers=pm).status_code == 200
            out.append(len(queries))
        return out

    def add(n):
        other = make_component(f"gw-{n}", "network-device")
        incidents = [
            create_incident(by=None, title=f"Gateway {n} drops sessions {k}", component=other)
            for k in range(3)
        ]
        post(
            client,
            "/api/v1/problems",
            {"title": f"P{n}", "incidents": [incidents[0].reference]},
            pm,
        )
        create_known_error(by=None, title=f"KE {n}", workaround="w", component=other)

    add(0)
    detect_recurring_incidents(thresholds=Thresholds(2, 14, 0.3))
    few = counts()
    for n in range(1, 6):
        add(n)
    detect_recurring_incidents(thresholds=Thresholds(2, 14, 0.3))
    assert RecurrenceProposal.objects.count() == 6
    assert counts() == few
