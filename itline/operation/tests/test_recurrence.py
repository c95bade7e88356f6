"""Recurring-incident detection: groups the right incidents on one component or service,
explains why, does not propose a group twice (nor a dismissed one), and acceptance raises a
problem with the incidents linked."""

from datetime import timedelta

import pytest
from django.utils import timezone

from itline.cmdb import services as cmdb
from itline.cmdb.testing import make_component
from itline.core.errors import TransitionError
from itline.core.testing import make_user
from itline.operation.choices import ProposalStatus
from itline.operation.models import Incident, RecurrenceProposal
from itline.operation.recurrence import (
    Thresholds,
    accept_proposal,
    detect_recurring_incidents,
    dismiss_proposal,
)
from itline.operation.services import create_incident

THRESHOLDS = Thresholds(min_incidents=3, window_days=14, similarity=0.3)


def incident(title, *, component=None, service=None, days_ago=0, description=""):
    inc = create_incident(
        by=None, title=title, description=description, component=component, service=service
    )
    if days_ago:
        Incident.objects.filter(pk=inc.pk).update(
            created_at=timezone.now() - timedelta(days=days_ago)
        )
    return inc


@pytest.fixture
def vpn(db):
    return make_component("vpn-gw-01", "network-device")


def test_three_similar_incidents_on_one_component_are_proposed_with_the_reasons(vpn):
    a = incident("VPN login timeout for remote users", component=vpn, days_ago=3)
    b = incident("Remote users get a timeout at VPN login", component=vpn, days_ago=2)
    c = incident("VPN logins time out (timeout after 30s)", component=vpn, days_ago=1)
    incident("Printer on floor 3 jams", component=vpn)  # same component, other fault
    other = make_component("vpn-gw-02", "network-device")
    incident("VPN login timeout", component=other)  # same fault, other component, alone

    result = detect_recurring_incidents(thresholds=THRESHOLDS)

    assert [p.pk for p in result.created] == [RecurrenceProposal.objects.get().pk]
    proposal = result.created[0]
    assert set(proposal.incidents.all()) == {a, b, c}
    assert proposal.component == vpn and proposal.status == ProposalStatus.PROPOSED
    assert {"vpn", "login", "timeout"} <= set(proposal.terms)
    assert "3 incidents on component vpn-gw-01" in proposal.reason
    for inc in (a, b, c):
        assert inc.reference in proposal.reason
    assert "% like INC-" in proposal.reason
    assert "vpn-gw-01" in proposal.title


def test_incidents_outside_the_window_or_already_under_a_problem_are_not_grouped(vpn):
    incident("VPN login timeout", component=vpn, days_ago=30)
    incident("VPN login timeout again", component=vpn, days_ago=2)
    incident("VPN login timeout for everyone", component=vpn, days_ago=1)
    assert detect_recurring_incidents(thresholds=THRESHOLDS).created == []
    wider = Thresholds(min_incidents=3, window_days=40, similarity=0.3)
    assert len(detect_recurring_incidents(thresholds=wider).created) == 1


def test_the_same_group_is_not_proposed_twice_and_a_growing_open_proposal_is_extended(vpn):
    for n in range(3):
        incident(f"VPN login timeout case {n}", component=vpn)
    first = detect_recurring_incidents(thresholds=THRESHOLDS)
    assert len(first.created) == 1
    again = detect_recurring_incidents(thresholds=THRESHOLDS)
    assert again.created == [] and again.extended == []
    fourth = incident("VPN login timeout case 4", component=vpn)
    grown = detect_recurring_incidents(thresholds=THRESHOLDS)
    assert grown.created == [] and [p.pk for p in grown.extended] == [first.created[0].pk]
    proposal = RecurrenceProposal.objects.get()
    assert fourth in proposal.incidents.all() and proposal.incidents.count() == 4
    assert fourth.reference in proposal.reason


def test_a_dismissed_group_is_not_proposed_again_until_enough_new_incidents_join(vpn):
    manager = make_user("pm", "problem_manager")
    for n in range(3):
        incident(f"VPN login timeout case {n}", component=vpn)
    proposal = detect_recurring_incidents(thresholds=THRESHOLDS).created[0]
    dismiss_proposal(proposal, by=manager, reason="Users typed the wrong password.")
    assert proposal.status == ProposalStatus.DISMISSED
    assert proposal.decision_note == "Users typed the wrong password."

    assert detect_recurring_incidents(thresholds=THRESHOLDS).created == []
    incident("VPN login timeout case 3", component=vpn)
    incident("VPN login timeout case 4", component=vpn)
    assert detect_recurring_incidents(thresholds=THRESHOLDS).created == []
    incident("VPN login timeout case 5", component=vpn)
    renewed = detect_recurring_incidents(thresholds=THRESHOLDS).created
    assert len(renewed) == 1
    assert renewed[0].incidents.count() == 6
    assert f"3 of them are new since proposal #{proposal.pk} (dismissed" in renewed[0].reason


def test_a_service_group_does_not_repeat_incidents_grouped_on_their_component(db):
    mail = cmdb.create_service(by=None, name="E-mail")
    exch = make_component("exch-01", "server")
    on_component = [
        incident(f"Outlook cannot send mail, queue stuck {n}", component=exch, service=mail)
        for n in range(3)
    ]
    only_service = [
        incident(f"Outlook cannot send mail, queue stuck {n}", service=mail) for n in range(2)
    ]
    result = detect_recurring_incidents(thresholds=THRESHOLDS)
    assert len(result.created) == 1
    assert set(result.created[0].incidents.all()) == set(on_component)
    assert result.created[0].service == mail  # all incidents agree on it
    assert not set(only_service) & set(result.created[0].incidents.all())


def test_accepting_raises_a_problem_with_the_incidents_linked_and_decides_once(vpn):
    manager = make_user("pm", "problem_manager")
    incidents = [incident(f"VPN login timeout case {n}", component=vpn) for n in range(3)]
    proposal = detect_recurring_incidents(thresholds=THRESHOLDS).created[0]

    problem = accept_proposal(proposal, by=manager)

    assert problem.reference.startswith("PRB-")
    assert problem.component == vpn
    assert set(problem.incidents.all()) == set(incidents)
    assert proposal.status == ProposalStatus.ACCEPTED and proposal.problem == problem
    assert f"recurrence proposal #{proposal.pk}" in problem.description
    with pytest.raises(TransitionError) as refused:
        dismiss_proposal(proposal, by=manager, reason="changed my mind")
    assert refused.value.allowed == []
    # linked incidents are no longer candidates
    assert detect_recurring_incidents(thresholds=THRESHOLDS).created == []


def test_only_problem_managers_decide_and_a_dismissal_needs_a_reason(vpn):
    from django.core.exceptions import PermissionDenied, ValidationError

    for n in range(3):
        incident(f"VPN login timeout case {n}", component=vpn)
    proposal = detect_recurring_incidents(thresholds=THRESHOLDS).created[0]
    with pytest.raises(PermissionDenied):
        accept_proposal(proposal, by=make_user("desk", "service_desk_agent"))
    with pytest.raises(ValidationError) as missing:
        dismiss_proposal(proposal, by=make_user("pm", "problem_manager"), reason="  ")
    assert "reason" in missing.value.message_dict
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.PROPOSED


def test_the_periodic_task_scans_with_the_configured_thresholds(vpn, settings):
    from itline.operation.recurrence import detect_recurrence

    settings.RECURRENCE_MIN_INCIDENTS = 2
    settings.RECURRENCE_SIMILARITY_PERCENT = 30
    incident("Mail queue stuck on exch-01", component=vpn)
    incident("Mail queue stuck again", component=vpn)
    result = detect_recurrence.enqueue()
    assert result.return_value == {"scanned": 2, "created": 1, "extended": 0, "skipped": 0}
    settings.RECURRENCE_MIN_INCIDENTS = 3
    assert detect_recurrence.enqueue().return_value["created"] == 0
