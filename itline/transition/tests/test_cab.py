"""CAB meetings: the agenda is generated from changes awaiting CAB approval, high risk first
then by window, each with its impact summary; the board's decision per item closes the
approval round; the minutes are exported as Markdown."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from itline.cmdb.testing import make_component, relate
from itline.core.errors import ConflictError
from itline.core.testing import bearer, make_user
from itline.operation.testing import make_function, make_service
from itline.org.models import person_of
from itline.transition import services
from itline.transition.choices import ApprovalStatus, ChangeStatus, ChangeType, Decision
from itline.transition.models import ApprovalRequest, CabItem
from itline.transition.testing import make_change, window

pytestmark = pytest.mark.django_db


@pytest.fixture
def board(db):
    members = [make_user(f"cab{n}", "technician", name=f"Board member {n}") for n in (1, 2, 3)]
    make_function("Change Advisory Board", *members)
    return members


@pytest.fixture
def chair(db):
    return make_user("chair", "change_manager", name="Carla Chair")


def to_cab(title, *, level="high", days=2, nodes=None, by=None):
    """A change awaiting the CAB (a change manager raised the risk)."""
    start, end = window(timedelta(days=days))
    change = make_change(title, start=start, end=end, nodes=nodes)
    services.submit_change(change, by=by, send_for_approval=False)
    services.override_risk(change, by=None, level=level, reason="Needs the board")
    if change.approval_path != "cab":  # medium stays with the change manager by default
        return change
    services.request_approval(change, by=None)
    return change


def test_the_agenda_lists_changes_awaiting_the_cab_high_risk_first_then_by_window(board, chair):
    later = to_cab("Later high", days=5)
    sooner = to_cab("Sooner high", days=2)
    make_change("Low risk to the change manager", status=ChangeStatus.AWAITING_APPROVAL)
    meeting = services.create_meeting(by=chair, starts_at=timezone.now(), kind="cab")
    agenda = [i.change.title for i in meeting.items.select_related("change")]
    assert agenda == [sooner.title, later.title]
    assert meeting.chair == person_of(chair)
    assert {p.name for p in meeting.attendees.all()} == {
        "Board member 1",
        "Board member 2",
        "Board member 3",
    }
    assert meeting.title.startswith("CAB ")


def test_the_board_decision_closes_the_round_and_records_the_attendees_votes(board, chair):
    change = to_cab("Migrate payroll database")
    meeting = services.create_meeting(
        by=chair,
        starts_at=timezone.now(),
        kind="cab",
        attendees=[person_of(board[0]), person_of(board[1])],
    )
    item = meeting.items.get()
    services.record_cab_decision(item, by=chair, decision="approved", notes="Do it Sunday")
    change.refresh_from_db()
    assert change.status == ChangeStatus.APPROVED and change.approved_at
    round_ = ApprovalRequest.objects.get(change=change)
    assert round_.status == ApprovalStatus.APPROVED
    votes = {v.approver.name: v for v in round_.votes.select_related("approver")}
    assert votes["Board member 1"].decision == Decision.APPROVED
    assert votes["Board member 1"].decided_by == person_of(chair)
    assert "Do it Sunday" in votes["Board member 1"].comment
    # absent: not decided for them, but out of their inbox
    assert votes["Board member 3"].decision == Decision.PENDING
    assert not services.pending_for(person_of(board[2])).exists()
    with pytest.raises(ConflictError):
        services.record_cab_decision(item, by=chair, decision="rejected", notes="changed mind")


def test_a_board_rejection_needs_notes_and_rejects_the_change(board, chair):
    change = to_cab("Risky")
    meeting = services.create_meeting(by=chair, starts_at=timezone.now(), kind="cab")
    item = meeting.items.get()
    with pytest.raises(ValidationError) as no_notes:
        services.record_cab_decision(item, by=chair, decision="rejected")
    assert "notes" in no_notes.value.message_dict
    services.record_cab_decision(item, by=chair, decision="rejected", notes="No backout tested")
    change.refresh_from_db()
    assert change.status == ChangeStatus.REJECTED


def test_only_change_managers_record_board_decisions(board, chair):
    to_cab("Anything")
    meeting = services.create_meeting(by=chair, starts_at=timezone.now(), kind="cab")
    with pytest.raises(PermissionDenied):
        services.record_cab_decision(
            meeting.items.get(), by=board[0], decision="approved", notes=""
        )


def test_a_round_decided_in_the_inbox_before_the_meeting_cannot_be_decided_again(board, chair):
    change = to_cab("Decided early")
    meeting = services.create_meeting(by=chair, starts_at=timezone.now(), kind="cab")
    for member in board[:2]:
        services.decide_approval(change, by=member, decision="approved", comment="ok")
    with pytest.raises(ConflictError) as refused:
        services.record_cab_decision(meeting.items.get(), by=chair, decision="approved")
    assert "no Change Advisory Board approval is pending" in refused.value.message


def test_the_ecab_meeting_takes_implemented_emergencies(board, chair):
    hotfix = make_change(
        "Hotfix", change_type=ChangeType.EMERGENCY, status=ChangeStatus.IMPLEMENTED
    )
    to_cab("Normal high risk")
    meeting = services.create_meeting(by=chair, starts_at=timezone.now(), kind="ecab")
    assert [i.change_id for i in meeting.items.all()] == [hotfix.pk]
    services.record_cab_decision(meeting.items.get(), by=chair, decision="approved")
    hotfix.refresh_from_db()
    assert hotfix.status == ChangeStatus.IN_REVIEW and hotfix.approved_at


def test_the_impact_summary_names_the_services_and_customers_reached(board, chair):
    payroll = make_service("Payroll", criticality=5)
    db = make_component("payroll-db")
    relate(payroll, db)
    change = to_cab("Patch the payroll database", nodes=[db])
    summary = services.impact_summary(change)
    assert summary["touched"] == ["payroll-db"]
    assert [s["name"] for s in summary["services"]] == ["Payroll"]


def test_the_minutes_list_attendees_and_each_decision_with_notes(board, chair):
    payroll = make_service("Payroll")
    db = make_component("payroll-db")
    relate(payroll, db)
    first = to_cab("Patch the payroll database", nodes=[db])
    second = to_cab("Replace the core switch", days=4)
    meeting = services.create_meeting(
        by=chair, starts_at=timezone.now(), kind="cab", title="Weekly CAB"
    )
    items = {i.change_id: i for i in CabItem.objects.filter(meeting=meeting)}
    services.record_cab_decision(items[first.pk], by=chair, decision="approved", notes="Sunday")
    text = services.minutes_markdown(meeting)
    assert text.startswith("# Weekly CAB\n")
    assert "Attendees: Board member 1, Board member 2, Board member 3" in text
    assert f"### 1. {first.reference} Patch the payroll database" in text
    assert "Impact: services Payroll" in text
    assert "Decision: **Approved**" in text and "Notes: Sunday" in text
    assert f"{second.reference} Replace the core switch" in text
    assert "(not decided in this meeting)" in text
    services.close_meeting(meeting, by=chair)
    meeting.refresh_from_db()
    assert meeting.closed_at and meeting.minutes.startswith("# Weekly CAB")
    with pytest.raises(ConflictError):
        services.record_cab_decision(items[second.pk], by=chair, decision="approved")


def test_the_cab_api_plans_a_meeting_records_decisions_and_exports_minutes(client, board, chair):
    change = to_cab("Upgrade the ERP")
    headers = bearer(chair)
    made = client.post(
        "/api/v1/cab-meetings",
        {"starts_at": timezone.now().isoformat(), "kind": "cab"},
        content_type="application/json",
        headers=headers,
    )
    assert made.status_code == 201, made.content
    ref = made.json()["reference"]
    assert [i["change"] for i in made.json()["items"]] == [change.reference]
    decided = client.post(
        f"/api/v1/cab-meetings/{ref}/items/{change.reference}/decision",
        {"decision": "approved", "notes": "Agreed"},
        content_type="application/json",
        headers=headers,
    )
    assert decided.status_code == 200, decided.content
    assert decided.json()["items"][0]["decision"] == "approved"
    minutes = client.get(f"/api/v1/cab-meetings/{ref}/minutes.md", headers=headers)
    assert minutes.status_code == 200
    assert minutes["Content-Type"].startswith("text/markdown")
    assert "Notes: Agreed" in minutes.content.decode()
    bad = client.post(
        "/api/v1/cab-meetings",
        {"starts_at": "tomorrow", "kind": "cab"},
        content_type="application/json",
        headers=headers,
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "starts_at"
    listed = client.get("/api/v1/cab-meetings", headers=headers).json()["items"]
    assert [m["reference"] for m in listed] == [ref]
