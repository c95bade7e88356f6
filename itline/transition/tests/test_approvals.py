"""Approvals: a round per approval path with one vote per approver of its policy; any / all /
quorum; a rejection rejects the round; delegates decide while the approver is away;
self-approval is refused where the policy forbids it; the approver inbox."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from itline.core.errors import ConflictError, DomainError
from itline.core.testing import make_user
from itline.operation.testing import make_function
from itline.org.models import person_of
from itline.transition import services
from itline.transition.apps import DEFAULT_POLICIES
from itline.transition.choices import ApprovalPath, ApprovalStatus, ChangeStatus, Decision
from itline.transition.models import Approval, ApprovalPolicy, ApprovalRequest, Delegation
from itline.transition.services.approvals import pending_for, policy_for
from itline.transition.testing import make_change, make_delegation

pytestmark = pytest.mark.django_db


@pytest.fixture
def tech(db):
    return make_user("tech", "technician", name="Tom Tech")


@pytest.fixture
def managers(db):
    return [make_user(f"cm{n}", "change_manager", name=f"Manager {n}") for n in (1, 2, 3)]


def cab_change(tech):
    """A change sent to the CAB (risk overridden to high by a change manager)."""
    change = make_change(by=tech)
    services.submit_change(change, by=tech, send_for_approval=False)
    services.override_risk(change, by=None, level="high", reason="Touches payroll")
    services.request_approval(change, by=tech)
    return change


def test_default_policies_exist_for_every_path_after_migrate():
    paths = dict(ApprovalPolicy.objects.values_list("path", "rule"))
    assert paths == {path: rule for path, rule, _ in DEFAULT_POLICIES}
    assert policy_for(ApprovalPath.CAB).quorum == 2


def test_the_change_managers_get_one_vote_each_and_any_one_decides(tech, managers):
    change = make_change(by=tech)
    services.submit_change(change, by=tech)
    round_ = ApprovalRequest.objects.get(change=change)
    assert round_.path == ApprovalPath.CHANGE_MANAGER and round_.rule == "any"
    assert sorted(round_.votes.values_list("approver__name", flat=True)) == [
        "Manager 1",
        "Manager 2",
        "Manager 3",
    ]
    services.decide_approval(change, by=managers[1], decision="approved", comment="ok")
    round_.refresh_from_db()
    assert round_.status == ApprovalStatus.APPROVED
    assert change.status == ChangeStatus.APPROVED
    # the others' votes left their inbox with the decided round
    assert not pending_for(person_of(managers[0])).exists()


def test_the_cab_decides_by_quorum_from_the_members_of_its_function(tech, managers):
    members = [make_user(f"cab{n}", "technician", name=f"Board {n}") for n in (1, 2, 3)]
    make_function("Change Advisory Board", *members)
    change = cab_change(tech)
    round_ = ApprovalRequest.objects.get(change=change, status="pending")
    assert round_.path == ApprovalPath.CAB and round_.rule == "quorum" and round_.quorum == 2
    assert round_.votes.count() == 3
    services.decide_approval(change, by=members[0], decision="approved", comment="fine")
    assert change.status == ChangeStatus.AWAITING_APPROVAL
    services.decide_approval(change, by=members[2], decision="approved", comment="agreed")
    assert change.status == ChangeStatus.APPROVED
    with pytest.raises(ConflictError):
        services.decide_approval(change, by=members[1], decision="approved", comment="late")


def test_with_the_all_rule_every_approver_must_approve(tech, managers):
    services.update_policy(policy_for(ApprovalPath.CHANGE_MANAGER), by=None, rule="all")
    change = make_change(by=tech)
    services.submit_change(change, by=tech)
    for user in managers[:2]:
        services.decide_approval(change, by=user, decision="approved", comment="ok")
        assert change.status == ChangeStatus.AWAITING_APPROVAL
    services.decide_approval(change, by=managers[2], decision="approved", comment="ok")
    assert change.status == ChangeStatus.APPROVED


def test_one_rejection_rejects_the_round_and_needs_a_reason(tech, managers):
    services.update_policy(policy_for(ApprovalPath.CHANGE_MANAGER), by=None, rule="all")
    change = make_change(by=tech)
    services.submit_change(change, by=tech)
    services.decide_approval(change, by=managers[0], decision="approved", comment="ok")
    with pytest.raises(ValidationError) as no_reason:
        services.decide_approval(change, by=managers[1], decision="rejected")
    assert "comment" in no_reason.value.message_dict
    services.decide_approval(change, by=managers[1], decision="rejected", comment="No backout")
    assert change.status == ChangeStatus.REJECTED
    assert ApprovalRequest.objects.get(change=change).status == ApprovalStatus.REJECTED
    # resubmitting opens a new round
    services.submit_change(change, by=tech)
    assert change.status == ChangeStatus.AWAITING_APPROVAL
    assert ApprovalRequest.objects.filter(change=change).count() == 2


def test_approving_ones_own_change_is_refused_where_the_policy_forbids_it(managers):
    author = managers[0]
    change = make_change(by=author)
    services.submit_change(change, by=author)
    round_ = ApprovalRequest.objects.get(change=change)
    # the requester is not even asked
    assert person_of(author).pk not in set(round_.votes.values_list("approver_id", flat=True))
    with pytest.raises(PermissionDenied) as refused:
        services.decide_approval(change, by=author, decision="approved", comment="mine")
    assert "forbids approving your own change" in str(refused.value)
    assert not Approval.objects.filter(request=round_).exclude(decision="pending").exists()


def test_self_approval_is_allowed_where_the_policy_permits_it(managers):
    services.update_policy(
        policy_for(ApprovalPath.CHANGE_MANAGER), by=None, forbid_self_approval=False
    )
    author = managers[0]
    change = make_change(by=author)
    services.submit_change(change, by=author)
    services.decide_approval(change, by=author, decision="approved", comment="trivial")
    assert change.status == ChangeStatus.APPROVED


def test_someone_who_is_no_approver_cannot_decide(tech, managers):
    change = make_change(by=tech)
    services.submit_change(change, by=tech)
    stranger = make_user("stranger", "technician")
    with pytest.raises(PermissionDenied) as refused:
        services.decide_approval(change, by=stranger, decision="approved", comment="sure")
    assert "not an approver" in str(refused.value)


def test_a_delegate_decides_while_the_approver_is_away(tech):
    boss = make_user("boss", "change_manager", name="Boss")
    deputy = make_user("deputy", "technician", name="Deputy")
    change = make_change(by=tech)
    services.submit_change(change, by=tech)
    with pytest.raises(PermissionDenied):
        services.decide_approval(change, by=deputy, decision="approved", comment="early")
    make_delegation(person_of(boss), person_of(deputy))
    inbox = pending_for(person_of(deputy))
    assert [a.request.change_id for a in inbox] == [change.pk]
    vote = services.decide_approval(change, by=deputy, decision="approved", comment="for Boss")
    assert vote.approver == person_of(boss) and vote.decided_by == person_of(deputy)
    assert change.status == ChangeStatus.APPROVED


def test_an_expired_delegation_gives_no_rights(tech):
    boss = make_user("boss", "change_manager", name="Boss")
    deputy = make_user("deputy", "technician", name="Deputy")
    make_delegation(
        person_of(boss), person_of(deputy), start=timezone.now() - timedelta(days=10), days=2
    )
    change = make_change(by=tech)
    services.submit_change(change, by=tech)
    assert not pending_for(person_of(deputy)).exists()
    with pytest.raises(PermissionDenied):
        services.decide_approval(change, by=deputy, decision="approved", comment="late")


def test_the_inbox_lists_only_pending_votes_of_open_rounds(tech, managers):
    first = make_change("First", by=tech)
    second = make_change("Second", by=tech)
    services.submit_change(first, by=tech)
    services.submit_change(second, by=tech)
    me = person_of(managers[0])
    assert [a.request.change.title for a in pending_for(me)] == ["First", "Second"]
    services.decide_approval(first, by=managers[1], decision="approved", comment="ok")
    assert [a.request.change.title for a in pending_for(me)] == ["Second"]


def test_a_quorum_larger_than_the_approvers_is_refused_with_the_reason(tech):
    make_user("only", "change_manager")
    services.update_policy(
        policy_for(ApprovalPath.CHANGE_MANAGER), by=None, rule="quorum", quorum=3
    )
    change = make_change(by=tech)
    services.submit_change(change, by=tech, send_for_approval=False)
    with pytest.raises(DomainError) as refused:
        services.request_approval(change, by=tech)
    assert "quorum of 3" in refused.value.message
    assert not ApprovalRequest.objects.filter(change=change).exists()


def test_overriding_the_risk_of_a_change_awaiting_approval_moves_it_to_the_new_path(tech, managers):
    make_function("Change Advisory Board", *[make_user(f"b{n}", "technician") for n in (1, 2)])
    change = make_change(by=tech)
    services.submit_change(change, by=tech)
    services.override_risk(change, by=managers[0], level="high", reason="Month end")
    rounds = list(ApprovalRequest.objects.filter(change=change).order_by("id"))
    assert [(r.path, r.status) for r in rounds] == [
        (ApprovalPath.CHANGE_MANAGER, ApprovalStatus.WITHDRAWN),
        (ApprovalPath.CAB, ApprovalStatus.PENDING),
    ]
    assert change.status == ChangeStatus.AWAITING_APPROVAL


def test_a_delegation_must_end_after_it_starts_and_not_be_to_oneself(tech):
    me = person_of(tech)
    other = person_of(make_user("other", "technician"))
    now = timezone.now()
    with pytest.raises(ValidationError) as backwards:
        services.create_delegation(
            by=tech, person=me, delegate=other, starts_at=now, ends_at=now - timedelta(days=1)
        )
    assert "ends_at" in backwards.value.message_dict
    with pytest.raises(ValidationError) as self_:
        services.create_delegation(
            by=tech, person=me, delegate=me, starts_at=now, ends_at=now + timedelta(days=1)
        )
    assert "delegate" in self_.value.message_dict
    with pytest.raises(PermissionDenied):
        services.create_delegation(
            by=tech, person=other, delegate=me, starts_at=now, ends_at=now + timedelta(days=1)
        )
    assert Delegation.objects.count() == 0


def test_the_system_decides_a_whole_round(tech, managers):
    change = make_change(by=tech)
    services.submit_change(change, by=tech)
    services.decide_approval(change, by=None, decision=Decision.APPROVED, comment="import")
    assert change.status == ChangeStatus.APPROVED
