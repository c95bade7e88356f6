"""The incident verbs: routing, priority, the transition table, concurrency, merge, reopen."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from itline.cmdb.testing import make_component, relate
from itline.core.errors import ConflictError, TransitionError
from itline.core.journal import entries_for
from itline.core.testing import make_person, make_user
from itline.operation import services
from itline.operation.choices import IncidentStatus
from itline.operation.models import Incident, PriorityRule
from itline.operation.testing import make_function, make_incident, make_service

pytestmark = pytest.mark.django_db


@pytest.fixture
def tom():
    return make_user("tom", "technician")


def test_a_new_incident_is_routed_to_the_owner_function_of_its_component(tom):
    ops = make_function("Operations", tom)
    db = make_component("db-1")
    db.owner_function = ops
    db.save()
    incident = make_incident(component=db, by=tom)
    assert incident.assigned_function == ops
    assert incident.status == IncidentStatus.ASSIGNED
    assert incident.reference.startswith("INC-")


def test_an_incident_needs_a_service_or_a_component(tom):
    with pytest.raises(ValidationError) as err:
        services.create_incident(by=tom, title="Something")
    assert "service" in err.value.message_dict


def test_priority_comes_from_the_configured_matrix(tom):
    incident = make_incident(by=tom, impact=1, urgency=1)
    assert incident.priority == 1
    PriorityRule.objects.filter(impact=3, urgency=3).update(priority=3)
    services.update_incident(incident, by=tom, impact=3, urgency=3)
    assert incident.priority == 3


def test_impact_is_proposed_from_the_criticality_of_the_impacted_services(tom):
    payroll = make_service("Payroll", criticality=5)
    db = make_component("payroll-db")
    relate(payroll, db)
    impact, why = services.propose_impact(component=db)
    assert impact == 1
    assert "Payroll" in why
    lonely = make_component("spare")
    assert services.propose_impact(component=lonely)[0] == 3


def test_on_hold_needs_a_reason_and_illegal_moves_list_the_allowed_ones(tom):
    incident = make_incident(by=tom)
    with pytest.raises(ValidationError):
        services.transition_incident(incident, by=tom, status="on_hold")
    services.transition_incident(
        incident, by=tom, status="on_hold", hold_reason="waiting_for_customer"
    )
    services.resolve_incident(incident, by=tom, resolution="Restarted")
    services.close_incident(incident, by=tom)
    with pytest.raises(TransitionError) as err:
        services.transition_incident(incident, by=tom, status="in_progress")
    assert err.value.allowed == []


def test_a_stale_version_is_refused_and_nothing_is_lost(tom):
    incident = make_incident(by=tom)
    first_version = incident.version
    other = Incident.objects.get(pk=incident.pk)
    services.update_incident(other, by=tom, title="Mail is down for Finance")
    with pytest.raises(ConflictError) as err:
        services.update_incident(
            incident, by=tom, expected_version=first_version, description="more"
        )
    assert "changed by someone else" in err.value.message
    incident.refresh_from_db()
    assert incident.title == "Mail is down for Finance"
    assert incident.description == ""


def test_two_writers_without_versions_do_not_overwrite_each_other(tom):
    incident = make_incident(by=tom)
    a = Incident.objects.get(pk=incident.pk)
    b = Incident.objects.get(pk=incident.pk)
    services.update_incident(a, by=tom, title="New title")
    services.update_incident(b, by=tom, workaround="Use webmail")
    incident.refresh_from_db()
    assert (incident.title, incident.workaround) == ("New title", "Use webmail")


def test_reopen_only_within_the_reopen_period(tom, settings):
    settings.INCIDENT_REOPEN_DAYS = 5
    incident = make_incident(by=tom)
    services.resolve_incident(incident, by=tom, resolution="Fixed")
    services.reopen_incident(incident, by=tom, reason="still broken")
    assert incident.status == IncidentStatus.IN_PROGRESS
    services.resolve_incident(incident, by=tom, resolution="Fixed again")
    Incident.objects.filter(pk=incident.pk).update(resolved_at=timezone.now() - timedelta(days=6))
    incident.refresh_from_db()
    with pytest.raises(TransitionError) as err:
        services.reopen_incident(incident, by=tom)
    assert "more than 5 days" in err.value.message


def test_merging_closes_the_duplicate_and_moves_its_requests(tom):
    rita = make_person("Rita")
    survivor = make_incident("Mail down", by=tom)
    req = services.create_request(
        by=None, requester=rita, title="No mail", request_type="fault_report"
    )
    duplicate = services.convert_request_to_incident(
        req, by=tom, service=None, component=survivor.component
    )
    services.merge_incident(duplicate, into=survivor, by=tom)
    duplicate.refresh_from_db()
    req.refresh_from_db()
    assert duplicate.status == IncidentStatus.CLOSED
    assert duplicate.merged_into == survivor
    assert req.incident == survivor
    assert "merged into this incident" in entries_for(survivor).last().message


def test_assignee_must_belong_to_the_function(tom):
    ana = make_user("ana", "technician")
    desk = make_function("Desk", tom)
    incident = make_incident(by=tom)
    with pytest.raises(ValidationError) as err:
        services.assign_incident(incident, by=tom, function=desk, assignee=ana.person)
    assert "not a member" in str(err.value)
    services.assign_incident(incident, by=tom, function=desk, assignee=tom.person)
    assert [e.verb for e in entries_for(incident)][-1] == "assigned"


def test_a_requester_cannot_change_incidents():
    rita = make_user("rita", "requester")
    incident = make_incident()
    with pytest.raises(PermissionDenied):
        services.update_incident(incident, by=rita, title="x")


def test_resolving_an_incident_resolves_the_requests_that_follow_it_and_closing_the_request_closes_it(
    tom,
):
    rita = make_user("rita", "requester")
    svc = make_service("Mail", catalogue_visible=True)
    req = services.create_request(
        by=rita, title="Mail broken", request_type="fault_report", service=svc
    )
    incident = services.convert_request_to_incident(req, by=tom)
    assert req.status == "in_progress"
    services.resolve_incident(incident, by=tom, resolution="Queue flushed")
    req.refresh_from_db()
    assert (req.status, req.answer) == ("resolved", "Queue flushed")
    services.close_request(req, by=rita)
    incident.refresh_from_db()
    assert incident.status == IncidentStatus.CLOSED


def test_a_requester_only_files_requests_for_themselves():
    rita = make_user("rita", "requester")
    other = make_person("Other")
    with pytest.raises(PermissionDenied):
        services.create_request(by=rita, requester=other, title="x")


def test_a_reply_of_the_requester_resumes_a_waiting_request_and_an_incident_on_hold(tom):
    rita = make_user("rita", "requester")
    req = services.create_request(by=rita, title="VPN", request_type="fault_report")
    services.set_request_status(req, by=tom, status="waiting_for_requester")
    services.add_message(req, by=rita, kind="reply", body="Here is the log")
    req.refresh_from_db()
    assert req.status == "in_progress"
    incident = make_incident(by=tom, caller=rita.person)
    services.transition_incident(
        incident, by=tom, status="on_hold", hold_reason="waiting_for_customer"
    )
    services.add_message(incident, by=rita, kind="reply", body="Done, try now")
    incident.refresh_from_db()
    assert (incident.status, incident.hold_reason) == ("in_progress", "")
    services.transition_incident(
        incident, by=tom, status="on_hold", hold_reason="waiting_for_supplier"
    )
    services.add_message(incident, by=rita, kind="reply", body="Any news?")
    incident.refresh_from_db()
    assert incident.status == "on_hold"
