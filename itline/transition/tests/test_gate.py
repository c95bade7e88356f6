"""The deployment gate: a pipeline asks whether it may deploy to a component now, and gets
allowed true/false with the reasons; and the change form's live preview."""

from datetime import timedelta

import pytest

from itline.cmdb.testing import make_component, relate
from itline.core.testing import bearer, make_user
from itline.operation.testing import make_service
from itline.transition.choices import ChangeStatus, ChangeType
from itline.transition.gate import gate
from itline.transition.testing import make_template
from itline.transition.tests.t2_builders import at, change_on, freeze

pytestmark = pytest.mark.django_db


@pytest.fixture
def pipeline():
    return bearer(make_user("ci-bot", "technician"), scope="read")


def _ask(client, headers, component, when=None, **params):
    query = {"component": component, **params}
    if when is not None:
        query["at"] = when.isoformat()
    return client.get("/api/v1/changes/gate", query, headers=headers)


# --- the rule -----------------------------------------------------------------------------


def test_without_a_change_a_deployment_is_refused_and_told_why():
    app = make_component("app-01")
    answer = gate(app, at())
    assert answer.allowed is False and answer.change is None
    assert answer.reasons[0] == "No approved, scheduled or implementing change covers app-01 now."


def test_an_approved_change_covering_the_component_in_its_window_lets_it_through():
    app = make_component("app-01")
    change = change_on([app], at(), at(hours=2), status=ChangeStatus.APPROVED, title="Deploy 2.1")
    answer = gate(app, at(hours=1))
    assert answer.allowed is True and answer.change == change
    assert answer.reasons[0].startswith(f"{change.reference} “Deploy 2.1” is approved for")


def test_a_change_covers_from_a_little_before_to_a_little_after_its_window(settings):
    settings.CHANGE_GATE_GRACE_MINUTES = 15
    app = make_component("app-01")
    change_on([app], at(), at(hours=2), status=ChangeStatus.SCHEDULED)
    assert gate(app, at(hours=-0.2)).allowed  # 12 minutes early
    assert gate(app, at(hours=2.2)).allowed  # 12 minutes late
    assert not gate(app, at(hours=-0.5)).allowed


def test_outside_the_window_the_refusal_names_the_change_and_its_window():
    app = make_component("app-01")
    change = change_on([app], at(hours=5), at(hours=6), status=ChangeStatus.SCHEDULED)
    answer = gate(app, at())
    assert not answer.allowed
    assert any(r.startswith(change.reference) and "not now" in r for r in answer.reasons)


def test_a_change_awaiting_approval_does_not_cover_and_is_named():
    app = make_component("app-01")
    change = change_on([app], at(), at(hours=2), status=ChangeStatus.AWAITING_APPROVAL)
    answer = gate(app, at(hours=1))
    assert not answer.allowed
    assert f"{change.reference} “Upgrade”" in answer.reasons[1]
    assert "awaiting approval, not approved" in answer.reasons[1]


def test_a_change_on_a_service_covers_the_components_it_runs_on():
    shop = make_service("Webshop")
    app = make_component("shop-app")
    relate(shop, app, "runs-on")
    change = change_on([shop], at(), at(hours=2), status=ChangeStatus.APPROVED)
    assert gate(app, at(hours=1)).change == change


def test_an_implementing_change_covers_until_it_is_implemented_even_past_its_window():
    app = make_component("app-01")
    change = change_on([app], at(), at(hours=1), status=ChangeStatus.IMPLEMENTING)
    change.actual_start = at()
    change.save()
    answer = gate(app, at(hours=3))
    assert answer.allowed and "is being implemented" in answer.reasons[0]


def test_a_freeze_refuses_a_normal_change_and_lets_an_emergency_through():
    payroll = make_service("Payroll", criticality=5)
    app = make_component("payroll-app")
    relate(payroll, app, "runs-on")
    window = freeze("Payroll month-end", at(days=-1), at(days=1), services=[payroll])
    change_on([app], at(), at(hours=2), status=ChangeStatus.APPROVED)
    refused = gate(app, at(hours=1))
    assert not refused.allowed
    assert window.reference in refused.reasons[0] and "Payroll is frozen" in refused.reasons[0]
    change_on(
        [app],
        at(),
        at(hours=2),
        status=ChangeStatus.IMPLEMENTING,
        change_type=ChangeType.EMERGENCY,
        actual_start=at(),
    )
    emergency = gate(app, at(hours=1))
    assert emergency.allowed and emergency.change.change_type == ChangeType.EMERGENCY
    assert any("this emergency change may proceed" in r for r in emergency.reasons)


def test_a_standard_change_template_covers_routine_deployments_to_its_environment():
    app = make_component("app-01")
    template = make_template(
        "Deploy app-01", nodes=[app], deployment_match={"environments": ["production"]}
    )
    allowed = gate(app, at(), environment="production")
    assert allowed.allowed and allowed.template == template and allowed.change is None
    assert not gate(app, at(), environment="staging").allowed
    assert "Pass environment=" in gate(app, at()).reasons[-1]
    freeze("Year-end freeze", at(days=-1), at(days=1))
    frozen = gate(app, at(), environment="production")
    assert not frozen.allowed and "standard changes are frozen too" in frozen.reasons[1]


# --- the API ------------------------------------------------------------------------------


def test_a_pipeline_is_refused_in_a_freeze_window_and_allowed_after_it(client, pipeline):
    app = make_component("payments-api")
    change = change_on([app], at(), at(days=2), status=ChangeStatus.SCHEDULED)
    window = freeze("Quarter close", at(days=-1), at(days=1))
    during = _ask(client, pipeline, app.reference, at(hours=12))
    assert during.status_code == 200, during.content
    body = during.json()
    assert body["allowed"] is False and body["change"]["reference"] == change.reference
    assert window.reference in body["reasons"][0]
    after = _ask(client, pipeline, app.reference, at(days=1, hours=1))
    assert after.json()["allowed"] is True
    assert after.json()["reasons"][0].startswith(change.reference)


def test_the_component_may_be_named_by_reference_or_by_name(client, pipeline):
    app = make_component("payments-api")
    change_on([app], at(), at(hours=2), status=ChangeStatus.APPROVED)
    by_name = _ask(client, pipeline, "payments-api", at(hours=1)).json()
    assert by_name["allowed"] and by_name["component"] == app.reference
    assert by_name["change"]["url"].startswith("http://testserver/changes/")


def test_an_unknown_component_is_a_404_naming_the_field(client, pipeline):
    response = _ask(client, pipeline, "CMP-999999")
    assert response.status_code == 404
    assert response.json()["errors"] == [
        {"field": "component", "message": "There is no component or service 'CMP-999999'."}
    ]


def test_a_name_shared_by_two_components_must_be_given_by_reference(client, pipeline):
    make_component("app-01", "server")
    make_component("app-01", "virtual-machine")
    response = _ask(client, pipeline, "app-01")
    assert response.status_code == 400 and "give its reference" in response.json()["detail"]


def test_a_bad_or_naive_at_is_refused_naming_the_field(client, pipeline):
    app = make_component("app-01")
    bad = client.get(
        "/api/v1/changes/gate", {"component": app.reference, "at": "tomorrow"}, headers=pipeline
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "at"
    naive = client.get(
        "/api/v1/changes/gate",
        {"component": app.reference, "at": "2031-03-03T08:00:00"},
        headers=pipeline,
    )
    assert naive.status_code == 400 and naive.json()["errors"][0]["field"] == "at"


def test_at_defaults_to_now(client, pipeline):
    app = make_component("app-01")
    response = _ask(client, pipeline, app.reference)
    assert response.status_code == 200 and response.json()["allowed"] is False


def test_the_gate_needs_a_valid_token_of_someone_who_may_see_changes(client):
    app = make_component("app-01")
    assert _ask(client, {"Authorization": "Bearer itl_nope"}, app.reference).status_code == 401
    requester = bearer(make_user("rita", "requester"))
    assert _ask(client, requester, app.reference).status_code == 403


# --- the preview --------------------------------------------------------------------------


@pytest.fixture
def agent():
    return bearer(make_user("tom", "technician"))


def _preview(client, headers, **body):
    return client.post(
        "/api/v1/changes/preview", body, content_type="application/json", headers=headers
    )


def test_the_preview_answers_risk_factors_and_collisions_without_saving(client, agent):
    from itline.transition.models import Change

    app = make_component("app-01")
    other = change_on([app], at(), at(hours=2))
    before = Change.objects.count()
    response = _preview(
        client,
        agent,
        nodes=[app.reference],
        start=at().isoformat(),
        end=at(hours=1).isoformat(),
        type="normal",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["level"] in {"low", "medium", "high"} and 0 <= body["score"] <= 100
    assert body["factors"][0]["key"] == "breadth"
    assert [c["ref"] for c in body["collisions"]] == [other.reference]
    assert body["blocking"] is False and body["approval_path"] == "change_manager"
    assert Change.objects.count() == before


def test_the_preview_leaves_the_edited_change_out_of_its_own_collisions(client, agent):
    app = make_component("app-01")
    own = change_on([app], at(), at(hours=2))
    body = _preview(
        client,
        agent,
        nodes=[app.reference],
        start=at().isoformat(),
        end=at(hours=1).isoformat(),
        change=own.reference,
    ).json()
    assert body["collisions"] == []


def test_the_preview_refuses_unknown_nodes_and_backwards_windows_naming_the_field(client, agent):
    app = make_component("app-01")
    unknown = _preview(client, agent, nodes=[app.reference, "CMP-999999"])
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["field"] == "nodes.1"
    backwards = _preview(
        client, agent, nodes=[app.reference], start=at(hours=1).isoformat(), end=at().isoformat()
    )
    assert backwards.json()["errors"][0]["field"] == "end"
    standard = _preview(client, agent, nodes=[app.reference], type="standard")
    assert standard.json()["errors"][0]["field"] == "template"
    bad_type = _preview(client, agent, nodes=[app.reference], type="sometime")
    assert bad_type.status_code == 422 and bad_type.json()["errors"][0]["field"] == "type"


def test_the_preview_of_a_standard_change_says_whether_it_is_within_its_template(client, agent):
    app = make_component("app-01")
    template = make_template(nodes=[app], max_duration_minutes=30)
    body = _preview(
        client,
        agent,
        nodes=[app.reference],
        type="standard",
        template=template.reference,
        start=at().isoformat(),
        end=(at() + timedelta(hours=1)).isoformat(),
    ).json()
    assert body["approval_path"] == "change_manager"
    assert body["outside_template"] == ["The window lasts 60 minutes; the template allows 30."]


def test_only_people_who_may_raise_changes_get_a_preview(client):
    requester = bearer(make_user("rita", "requester"))
    assert _preview(client, requester, nodes=[]).status_code == 403
