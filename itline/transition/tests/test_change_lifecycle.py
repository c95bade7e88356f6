"""A change walks its states through the verbs: draft, submitted and assessed (risk and the
approval path), awaiting approval, approved, scheduled, implementing, implemented, in review,
closed; standard changes are approved by their template; emergencies are implemented first
and approved by the emergency CAB after the fact. Every step is a journal row."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from itline.cmdb.testing import make_component
from itline.core.errors import ConflictError, DomainError, TransitionError
from itline.core.journal import entries_for
from itline.core.testing import make_user
from itline.transition import services
from itline.transition.choices import (
    ApprovalPath,
    ApprovalStatus,
    ChangeOutcome,
    ChangeStatus,
    ChangeType,
)
from itline.transition.models import ApprovalRequest, Change
from itline.transition.testing import make_change, make_template, window

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(db):
    return make_user("cm", "change_manager", name="Carla Manager")


@pytest.fixture
def tech(db):
    return make_user("tech", "technician", name="Tom Tech")


def test_a_new_change_is_a_draft_with_the_default_readiness_checklist(tech):
    db = make_component("db-01")
    start, end = window()
    change = services.create_change(
        by=tech,
        title="Upgrade PostgreSQL",
        change_type=ChangeType.NORMAL,
        nodes=[db],
        planned_start=start,
        planned_end=end,
    )
    assert change.reference.startswith("CHG-") and change.status == ChangeStatus.DRAFT
    assert change.requester.name == "Tom Tech"
    assert [i["key"] for i in change.readiness] == [
        "monitoring",
        "documentation",
        "support_trained",
        "service_desk_informed",
        "architecture",
    ]
    assert not any(i["done"] for i in change.readiness)
    created = entries_for(change).get()
    assert created.verb == "created" and created.changes["nodes"] == [None, ["db-01"]]


def test_a_normal_change_walks_from_draft_to_closed(tech, manager):
    change = make_change(by=tech)
    services.submit_change(change, by=tech)
    # readiness complete: submit goes on to the change manager's approval round
    assert change.status == ChangeStatus.AWAITING_APPROVAL
    assert change.approval_path == ApprovalPath.CHANGE_MANAGER
    assert change.submitted_at is not None
    vote = services.decide_approval(change, by=manager, decision="approved", comment="Fine")
    assert vote.decided_by.name == "Carla Manager"
    assert change.status == ChangeStatus.APPROVED and change.approved_at is not None
    services.schedule_change(change, by=tech)
    services.start_implementation(change, by=tech)
    assert change.actual_start is not None
    services.complete_implementation(change, by=tech, outcome=ChangeOutcome.SUCCESSFUL)
    assert change.status == ChangeStatus.IMPLEMENTED and change.actual_end is not None
    services.start_review(change, by=tech)
    services.close_change(change, by=tech)
    change.refresh_from_db()
    assert change.status == ChangeStatus.CLOSED and change.closed_at is not None
    moves = [
        e.changes["status"] for e in entries_for(change).order_by("id") if e.verb == "state_changed"
    ]
    assert [m[1] for m in moves] == [
        "submitted",
        "assessed",
        "awaiting_approval",
        "approved",
        "scheduled",
        "implementing",
        "implemented",
        "in_review",
        "closed",
    ]


def test_submit_with_open_readiness_items_stops_at_assessed(tech, manager):
    change = make_change(by=tech, ready=False)
    services.submit_change(change, by=tech)
    assert change.status == ChangeStatus.ASSESSED
    with pytest.raises(ValidationError) as refused:
        services.request_approval(change, by=tech)
    assert "readiness" in refused.value.message_dict
    assert not ApprovalRequest.objects.filter(change=change).exists()
    for item in change.readiness:
        services.tick_readiness(change, by=tech, key=item["key"], done=True)
    services.request_approval(change, by=tech)
    assert change.status == ChangeStatus.AWAITING_APPROVAL


def test_ticking_a_readiness_item_records_who_and_when(tech):
    change = make_change(by=tech, ready=False)
    services.tick_readiness(change, by=tech, key="monitoring", done=True)
    item = next(i for i in change.readiness if i["key"] == "monitoring")
    assert item["done"] and item["by"] == "Tom Tech" and item["at"]
    assert "Ticked readiness item" in entries_for(change).order_by("-id")[0].message
    with pytest.raises(ValidationError) as unknown:
        services.tick_readiness(change, by=tech, key="nope", done=True)
    assert "key" in unknown.value.message_dict


def test_a_change_without_affected_items_cannot_be_submitted(tech):
    change = make_change(by=tech, nodes=[])
    with pytest.raises(ValidationError) as refused:
        services.submit_change(change, by=tech)
    assert "nodes" in refused.value.message_dict
    change.refresh_from_db()
    assert change.status == ChangeStatus.DRAFT


def test_a_window_in_the_past_or_ending_before_it_starts_is_refused(tech):
    start, end = window(timedelta(days=-2))
    past = make_change(by=tech, start=start, end=end)
    with pytest.raises(ValidationError) as refused:
        services.submit_change(past, by=tech)
    assert "planned_start" in refused.value.message_dict
    start, end = window()
    with pytest.raises(ValidationError) as backwards:
        make_change(by=tech, start=end, end=start)
    assert "planned_end" in backwards.value.message_dict
    assert Change.objects.count() == 1


def test_a_normal_change_needs_implementation_and_backout_plans(tech):
    change = make_change(by=tech, backout_plan="")
    with pytest.raises(ValidationError) as refused:
        services.submit_change(change, by=tech)
    assert "backout_plan" in refused.value.message_dict


def test_a_standard_change_within_its_template_is_approved_at_submit(tech):
    server = make_component("web-01")
    template = make_template("Restart a web server", nodes=[server], max_duration_minutes=30)
    start, end = window(duration=timedelta(minutes=20))
    change = services.create_change(
        by=tech,
        title="Restart web-01",
        change_type=ChangeType.STANDARD,
        template=template,
        nodes=[server],
        planned_start=start,
        planned_end=end,
    )
    assert change.implementation_plan == template.implementation_plan
    assert change.readiness == []
    services.submit_change(change, by=tech)
    assert change.status == ChangeStatus.APPROVED
    assert change.approval_path == ApprovalPath.NONE
    assert not ApprovalRequest.objects.filter(change=change).exists()
    assert "Pre-approved" in entries_for(change).order_by("-id")[0].message


def test_a_standard_change_outside_its_template_is_refused_with_the_reason(tech):
    server = make_component("web-01")
    other = make_component("db-09")
    template = make_template("Restart a web server", nodes=[server], max_duration_minutes=30)
    start, end = window(duration=timedelta(hours=2))
    change = services.create_change(
        by=tech,
        title="Restart things",
        change_type=ChangeType.STANDARD,
        template=template,
        nodes=[server, other],
        planned_start=start,
        planned_end=end,
    )
    with pytest.raises(DomainError) as refused:
        services.submit_change(change, by=tech)
    message = refused.value.message
    assert "db-09 is not covered" in message and "at most 30" in message
    assert "normal change" in message
    change.refresh_from_db()
    assert change.status == ChangeStatus.DRAFT


def test_a_standard_change_may_touch_components_of_the_templates_types(tech):
    server = make_component("app-07", "server")
    template = make_template("Patch a server")
    template.component_types.set([server.component_type])
    change = make_change(
        change_type=ChangeType.STANDARD, template=template, nodes=[server], by=tech
    )
    services.submit_change(change, by=tech)
    assert change.status == ChangeStatus.APPROVED


def test_an_emergency_is_implemented_first_and_approved_by_the_ecab_after(tech, manager):
    change = make_change(by=tech, change_type=ChangeType.EMERGENCY, start=None)
    services.submit_change(change, by=tech)
    assert change.status == ChangeStatus.ASSESSED and change.approval_path == ApprovalPath.ECAB
    services.start_implementation(change, by=tech)
    services.complete_implementation(change, by=tech, outcome=ChangeOutcome.SUCCESSFUL)
    assert change.status == ChangeStatus.AWAITING_APPROVAL
    assert ApprovalRequest.objects.get(change=change).path == ApprovalPath.ECAB
    with pytest.raises(DomainError):
        services.cancel_change(change, by=manager, reason="too late")
    services.decide_approval(change, by=manager, decision="approved", comment="Was needed")
    assert change.status == ChangeStatus.IN_REVIEW and change.approved_at is not None


def test_a_normal_change_cannot_be_implemented_before_approval(tech):
    change = make_change(by=tech, ready=False)
    services.submit_change(change, by=tech)
    with pytest.raises(DomainError) as refused:
        services.start_implementation(change, by=tech)
    assert "only an emergency" in refused.value.message


def test_a_change_awaiting_approval_cannot_skip_it_by_starting_the_review(tech):
    change = make_change(by=tech, status=ChangeStatus.AWAITING_APPROVAL)
    with pytest.raises(TransitionError) as refused:
        services.start_review(change, by=tech)
    assert "only an implemented change goes to review" in refused.value.message
    change.refresh_from_db()
    assert change.status == ChangeStatus.AWAITING_APPROVAL


def test_an_illegal_move_is_refused_naming_the_allowed_ones(tech):
    change = make_change(by=tech)
    with pytest.raises(TransitionError) as refused:
        services.close_change(change, by=tech)
    assert "cannot move to Closed" in refused.value.message
    assert refused.value.allowed == ["cancelled", "submitted"]


def test_rescheduling_an_implemented_change_is_refused(tech):
    change = make_change(by=tech, status=ChangeStatus.IMPLEMENTED)
    start, end = window(timedelta(days=5))
    with pytest.raises(DomainError) as refused:
        services.reschedule_change(change, by=tech, planned_start=start, planned_end=end)
    assert refused.value.field == "planned_start"
    assert "cannot be rescheduled" in refused.value.message


def test_rescheduling_moves_the_window_and_journals_it(tech):
    change = make_change(by=tech, status=ChangeStatus.APPROVED)
    start, end = window(timedelta(days=6))
    services.reschedule_change(change, by=tech, planned_start=start, planned_end=end)
    change.refresh_from_db()
    assert change.planned_start == start and change.status == ChangeStatus.APPROVED
    last = entries_for(change).order_by("-id")[0]
    assert last.message == "Rescheduled" and "planned_start" in last.changes


def test_rescheduling_into_the_past_is_refused_and_writes_nothing(tech):
    change = make_change(by=tech, status=ChangeStatus.APPROVED)
    rows = entries_for(change).count()
    start, end = window(timedelta(days=-3))
    with pytest.raises(ValidationError):
        services.reschedule_change(change, by=tech, planned_start=start, planned_end=end)
    change.refresh_from_db()
    assert change.planned_start > start and entries_for(change).count() == rows


def test_a_stale_version_is_a_conflict(tech):
    change = make_change(by=tech)
    stale = change.version
    services.update_change(change, by=tech, title="Upgrade PostgreSQL to 17")
    with pytest.raises(ConflictError) as refused:
        services.update_change(change, by=tech, version=stale, title="Other")
    assert refused.value.field == "version"


def test_the_plan_of_a_change_awaiting_approval_cannot_change(tech):
    change = make_change(by=tech, status=ChangeStatus.AWAITING_APPROVAL)
    with pytest.raises(DomainError) as refused:
        services.update_change(change, by=tech, implementation_plan="Something else")
    assert refused.value.field == "implementation_plan"
    services.update_change(change, by=tech, test_plan="Run the smoke tests")
    assert change.test_plan == "Run the smoke tests"


def test_withdrawing_to_draft_withdraws_the_pending_round(tech):
    change = make_change(by=tech, status=ChangeStatus.AWAITING_APPROVAL)
    services.withdraw_change(change, by=tech)
    assert change.status == ChangeStatus.DRAFT
    assert ApprovalRequest.objects.get(change=change).status == ApprovalStatus.WITHDRAWN


def test_cancelling_needs_a_reason_and_is_journaled(tech):
    change = make_change(by=tech)
    with pytest.raises(ValidationError):
        services.cancel_change(change, by=tech, reason=" ")
    services.cancel_change(change, by=tech, reason="Superseded by CHG-2")
    assert change.status == ChangeStatus.CANCELLED
    assert "Superseded" in entries_for(change).order_by("-id")[0].message


def test_only_participants_or_change_managers_may_act_on_a_change(tech, manager):
    other = make_user("other", "technician")
    change = make_change(by=tech)
    with pytest.raises(PermissionDenied):
        services.update_change(change, by=other, title="Mine now")
    services.update_change(change, by=manager, title="Edited by the change manager")
    assert change.title == "Edited by the change manager"


def test_the_risk_override_needs_a_change_manager_and_a_reason(tech, manager):
    change = make_change(by=tech, ready=False)
    services.submit_change(change, by=tech)
    with pytest.raises(PermissionDenied):
        services.override_risk(change, by=tech, level="high", reason="Feels risky")
    with pytest.raises(ValidationError) as no_reason:
        services.override_risk(change, by=manager, level="high", reason="")
    assert "reason" in no_reason.value.message_dict
    services.override_risk(change, by=manager, level="high", reason="Payroll run this week")
    assert change.effective_risk == "high" and change.approval_path == ApprovalPath.CAB
    last = entries_for(change).order_by("-id")[0]
    assert "Payroll run this week" in last.message
    assert last.changes["risk_override"] == ["", "high"]


def test_advance_reaches_every_status_for_other_helpers(tech):
    for status in ChangeStatus:
        if status in (ChangeStatus.DRAFT, ChangeStatus.SUBMITTED):
            continue
        change = make_change(f"to {status}", status=status)
        assert change.status == status, status
    emergency = make_change(change_type=ChangeType.EMERGENCY, status=ChangeStatus.IMPLEMENTED)
    assert emergency.status == ChangeStatus.AWAITING_APPROVAL and emergency.actual_end


def test_a_form_that_resends_unchanged_plan_fields_is_not_an_edit_of_the_plan(tech):
    change = make_change(by=tech, status=ChangeStatus.AWAITING_APPROVAL)
    services.update_change(
        change,
        by=tech,
        implementation_plan=change.implementation_plan,
        planned_start=change.planned_start,
        planned_end=change.planned_end,
        nodes=list(change.nodes.all()),
        title="Upgrade PostgreSQL (weekend)",
    )
    assert change.title == "Upgrade PostgreSQL (weekend)"
    start, end = window(timedelta(days=9))
    with pytest.raises(DomainError) as refused:
        services.update_change(change, by=tech, planned_start=start, planned_end=end)
    assert "reschedule" in refused.value.message and refused.value.field == "planned_start"


def test_moving_the_window_of_an_assessed_change_checks_it_like_submit(tech):
    change = make_change(by=tech, ready=False)
    services.submit_change(change, by=tech)
    start, end = window(timedelta(days=-4))
    with pytest.raises(ValidationError) as refused:
        services.update_change(change, by=tech, planned_start=start, planned_end=end)
    assert "planned_start" in refused.value.message_dict
    start, end = window(timedelta(days=8))
    services.update_change(change, by=tech, planned_start=start, planned_end=end)
    change.refresh_from_db()
    assert change.planned_start == start and change.status == ChangeStatus.ASSESSED


def test_a_window_in_a_freeze_is_refused_but_an_emergency_passes(tech):
    from itline.transition.testing import make_freeze

    freeze_start, freeze_end = window(timedelta(days=1), timedelta(days=3))
    make_freeze("Quarter close", start=freeze_start, end=freeze_end)
    start, end = window(timedelta(days=2))
    change = make_change(by=tech, start=start, end=end)
    rows = entries_for(change).count()
    with pytest.raises(DomainError) as refused:
        services.submit_change(change, by=tech)
    assert refused.value.field == "planned_start" and "Quarter close" in refused.value.message
    change.refresh_from_db()
    assert change.status == ChangeStatus.DRAFT and entries_for(change).count() == rows
    emergency = make_change(by=tech, start=start, end=end, change_type=ChangeType.EMERGENCY)
    services.submit_change(emergency, by=tech)
    assert emergency.status == ChangeStatus.ASSESSED
    assert [c["kind"] for c in emergency.collisions] == ["freeze"]


def test_the_ecab_cannot_approve_an_emergency_before_its_checklist_is_done(tech, manager):
    change = make_change(by=tech, change_type=ChangeType.EMERGENCY, ready=False)
    services.submit_change(change, by=tech)
    services.start_implementation(change, by=tech)
    services.complete_implementation(change, by=tech, outcome=ChangeOutcome.SUCCESSFUL)
    with pytest.raises(ValidationError) as refused:
        services.decide_approval(change, by=manager, decision="approved", comment="ok")
    assert "readiness" in refused.value.message_dict
    for item in change.readiness:
        services.tick_readiness(change, by=tech, key=item["key"], done=True)
    services.decide_approval(change, by=manager, decision="approved", comment="ok")
    assert change.status == ChangeStatus.IN_REVIEW


def test_an_emergency_rejected_while_being_implemented_is_not_asked_again(tech, manager):
    change = make_change(by=tech, change_type=ChangeType.EMERGENCY)
    services.submit_change(change, by=tech)
    services.request_approval(change, by=tech)
    services.start_implementation(change, by=tech)
    services.decide_approval(change, by=manager, decision="rejected", comment="Not urgent")
    assert change.status == ChangeStatus.IMPLEMENTING
    services.complete_implementation(change, by=tech, outcome=ChangeOutcome.BACKED_OUT)
    assert change.status == ChangeStatus.IMPLEMENTED and change.approved_at is None
    assert ApprovalRequest.objects.filter(change=change).count() == 1


def test_editing_journals_each_field_and_the_nodes_before_and_after(tech):
    db = make_component("db-01")
    app = make_component("app-01")
    change = make_change(by=tech, nodes=[db], ready=False)
    services.submit_change(change, by=tech)
    services.update_change(change, by=tech, nodes=[db, app], title="Upgrade db and app")
    last = entries_for(change).order_by("-id")[0]
    assert last.verb == "updated"
    assert last.changes["nodes"] == [["db-01"], ["app-01", "db-01"]]
    assert last.changes["title"] == ["Upgrade the database", "Upgrade db and app"]
    assert change.version == 4  # created 1, submitted 2, assessed 3, edited 4
