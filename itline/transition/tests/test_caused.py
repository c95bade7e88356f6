"""Incidents shortly after a change on what it touched are suggested as caused by it; a person
confirms (the change then counts as failed) or dismisses."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.test import override_settings
from django.utils import timezone

from itline.cmdb.testing import make_component, relate
from itline.core import journal
from itline.core.errors import TransitionError
from itline.core.testing import make_user
from itline.operation.models import Incident
from itline.operation.testing import make_incident, make_service
from itline.transition.caused import confirm_link, dismiss_link, scan, suggest_caused_incidents
from itline.transition.choices import ChangeStatus, LinkStatus
from itline.transition.models import Change, ChangeIncidentLink
from itline.transition.testing import make_change

pytestmark = pytest.mark.django_db


def implemented(nodes, *, hours_ago: float = 2, **fields):
    """A change on ``nodes`` whose 30-minute implementation ended ``hours_ago``."""
    change = make_change(nodes=nodes, status=ChangeStatus.IMPLEMENTED, **fields)
    end = timezone.now() - timedelta(hours=hours_ago)
    Change.objects.filter(pk=change.pk).update(
        actual_start=end - timedelta(minutes=30), actual_end=end
    )
    change.refresh_from_db()
    return change


def opened(incident, at):
    Incident.objects.filter(pk=incident.pk).update(created_at=at)
    incident.refresh_from_db()
    return incident


def test_an_incident_on_a_touched_component_after_the_change_is_suggested_with_the_reason():
    db = make_component("db-01")
    change = implemented([db])
    incident = opened(
        make_incident("DB slow", component=db), change.actual_end + timedelta(minutes=70)
    )
    links = suggest_caused_incidents(change)
    assert [link.incident for link in links] == [incident]
    assert links[0].status == LinkStatus.SUGGESTED
    assert links[0].reason == (
        f"{incident.reference} was opened on db-01 1 h 10 min after {change.reference} ended, "
        "which the change touched."
    )


def test_an_incident_on_what_depends_on_a_touched_component_names_the_path():
    db = make_component("db-01")
    app = make_component("app-01", "application")
    shop = make_service("Webshop")
    relate(app, db)
    relate(shop, app)
    change = implemented([db])
    incident = opened(
        make_incident("Shop down", service=shop), change.actual_end + timedelta(hours=1)
    )
    (link,) = suggest_caused_incidents(change)
    assert link.incident == incident
    assert "opened on Webshop 1 h after" in link.reason
    assert (
        "it depends on db-01, which the change touched (Webshop -> app-01 -> db-01)" in link.reason
    )


@override_settings(CHANGE_CAUSED_INCIDENT_HOURS=24)
def test_incidents_before_after_the_period_elsewhere_or_fixed_by_the_change_are_not_suggested():
    db = make_component("db-01")
    other = make_component("db-02")
    fixed = make_incident("Known slowness", component=db)
    change = implemented([db], hours_ago=30, incidents=[fixed])
    opened(fixed, change.actual_end + timedelta(hours=1))
    opened(make_incident("Before", component=db), change.actual_start - timedelta(hours=1))
    opened(make_incident("Too late", component=db), change.actual_end + timedelta(hours=25))
    opened(make_incident("Elsewhere", component=other), change.actual_end + timedelta(hours=1))
    during = opened(
        make_incident("During", component=db), change.actual_start + timedelta(minutes=5)
    )
    links = suggest_caused_incidents(change)
    assert [link.incident for link in links] == [during]
    assert "while " in links[0].reason


def test_a_second_scan_suggests_nothing_new_and_a_dismissed_link_stays_dismissed():
    carla = make_user("carla", "change_manager")
    db = make_component("db-01")
    change = implemented([db])
    opened(make_incident("DB slow", component=db), change.actual_end + timedelta(minutes=5))
    (link,) = suggest_caused_incidents(change)
    dismiss_link(link, by=carla)
    assert suggest_caused_incidents(change) == []
    assert ChangeIncidentLink.objects.get().status == LinkStatus.DISMISSED


def test_confirming_journals_on_the_change_and_the_incident():
    carla = make_user("carla", "change_manager")
    db = make_component("db-01")
    change = implemented([db])
    incident = opened(
        make_incident("DB slow", component=db), change.actual_end + timedelta(minutes=5)
    )
    (link,) = suggest_caused_incidents(change)
    confirm_link(link, by=carla)
    assert (link.status, link.decided_by) == (LinkStatus.CONFIRMED, carla.person)
    assert f"confirmed {incident.reference} as caused by this change" in [
        e.message for e in journal.entries_for(change)
    ]
    assert f"confirmed as caused by {change.reference}" in [
        e.message for e in journal.entries_for(incident)
    ]
    with pytest.raises(TransitionError, match="already confirmed"):
        confirm_link(link, by=carla)


def test_a_technician_may_not_decide_on_a_suggestion():
    db = make_component("db-01")
    change = implemented([db])
    opened(make_incident("DB slow", component=db), change.actual_end + timedelta(minutes=5))
    (link,) = suggest_caused_incidents(change)
    with pytest.raises(PermissionDenied):
        confirm_link(link, by=make_user("tom", "technician"))


def test_changes_not_yet_implemented_have_no_suggestions():
    db = make_component("db-01")
    change = make_change(nodes=[db], status=ChangeStatus.SCHEDULED)
    make_incident("DB slow", component=db)
    assert suggest_caused_incidents(change) == []


@override_settings(CHANGE_CAUSED_INCIDENT_HOURS=24)
def test_the_periodic_scan_looks_only_at_recently_implemented_changes():
    db = make_component("db-01")
    recent = implemented([db], hours_ago=2)
    old = implemented([db], hours_ago=26)  # its period ended 2 hours ago
    for_recent = opened(make_incident("DB slow", component=db), timezone.now() - timedelta(hours=1))
    for_old = opened(make_incident("DB slower", component=db), timezone.now() - timedelta(hours=3))
    assert scan() == 1
    assert [(link.change, link.incident) for link in ChangeIncidentLink.objects.all()] == [
        (recent, for_recent)
    ]
    # The old change would have matched; the scan no longer looks at it.
    assert [link.incident for link in suggest_caused_incidents(old)] == [for_old]
