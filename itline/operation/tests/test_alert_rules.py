"""Alert rules turn groups into incidents: the first matching rule decides by severity
threshold and minimum duration; flapping alerts neither open nor resolve incidents; an
incident resolves itself when every alert of its group has resolved (if its rules say
so) and is reopened, not duplicated, when the group fires again soon after. A fresh
install has a rule for error and worse."""

from datetime import timedelta

import pytest
from django.test import override_settings

from itline.cmdb.testing import make_component, relate
from itline.core.models import JournalEntry
from itline.operation import maintenance
from itline.operation.correlation import ensure_default_rules, tick
from itline.operation.models import AlertGroup, AlertRule, Incident
from itline.operation.services import close_incident
from itline.operation.tests.correlation_world import (
    at,
    decision,
    fire,
    resolve,
    run,
    source,
    whats,
)


@pytest.fixture(autouse=True)
def _rules(db):
    ensure_default_rules()
    maintenance.forget()
    yield
    maintenance.forget()


@pytest.fixture
def db1(db):
    return make_component("db-1", "database")


@pytest.fixture
def app1(db1):
    app = make_component("app-1", "application")
    relate(app, db1)
    return app


def rule(**fields):
    AlertRule.objects.all().delete()
    defaults = {"name": "only rule", "position": 10}
    return AlertRule.objects.create(**{**defaults, **fields})


def journal_messages(incident):
    return list(
        JournalEntry.objects.filter(object_id=str(incident.pk), content_type__model="incident")
        .exclude(message="")
        .values_list("message", flat=True)
    )


# --- the default rule -------------------------------------------------------------------------


def test_a_fresh_install_opens_incidents_for_errors_and_worse(db1):
    assert list(AlertRule.objects.values_list("min_severity", "open_incident")) == [("error", True)]
    run(fire("Slow", db1, severity="warning", when=at(0)))
    assert Incident.objects.count() == 0
    run(fire("Down", db1, severity="error", when=at(1)))
    assert Incident.objects.count() == 1


def test_the_default_rule_is_not_recreated_once_rules_exist(db):
    AlertRule.objects.all().delete()
    AlertRule.objects.create(name="mine", min_severity="critical")
    ensure_default_rules()
    assert list(AlertRule.objects.values_list("name", flat=True)) == ["mine"]


# --- which rule decides -------------------------------------------------------------------------


def test_below_the_threshold_no_incident_is_opened_and_the_alert_says_why(db1):
    alert = run(fire("Slow", db1, severity="warning", when=at(0)))

    assert Incident.objects.count() == 0
    why = decision(alert, "no incident")["why"]
    assert "severity warning is below the threshold error" in why


def test_the_first_matching_rule_decides(db1):
    AlertRule.objects.create(
        name="staging is recorded only",
        position=1,
        matchers={"env": "staging"},
        open_incident=False,
    )
    staging = run(fire("Down", db1, labels={"env": "staging"}, when=at(0)))
    assert Incident.objects.count() == 0
    assert (
        "'staging is recorded only' records alerts only" in decision(staging, "no incident")["why"]
    )

    run(fire("Down", db1, labels={"env": "prod"}, when=at(1)))
    assert Incident.objects.count() == 1


def test_a_rule_for_another_source_does_not_match(db1):
    rule(source=source("pagerduty", "pagerduty"), min_severity="info")
    alert = run(fire("Down", db1, when=at(0)))

    assert Incident.objects.count() == 0
    assert "No active alert rule matches" in decision(alert, "no incident")["why"]


def test_the_incident_carries_the_alerts_story(db1):
    run(fire("DatabaseDown", db1, severity="critical", when=at(0)))

    incident = Incident.objects.get()
    group = AlertGroup.objects.get()
    assert incident.title == "DatabaseDown on db-1"
    assert incident.component_id == db1.pk and incident.urgency == 1
    assert group.reference in incident.description and "instance=db-1" in incident.description
    assert group.incident_id == incident.pk
    assert decision(group, "opened incident")["what"] == f"opened incident {incident.reference}"


# --- minimum duration ----------------------------------------------------------------------------


def test_an_incident_waits_for_the_minimum_duration_and_opens_on_the_tick(db1):
    rule(min_duration_seconds=300)
    alert = run(fire("Down", db1, when=at(0)))

    assert Incident.objects.count() == 0
    assert decision(alert, "waiting 300 s minimum duration")

    tick(now=at(299))
    assert Incident.objects.count() == 0
    tick(now=at(301))
    assert Incident.objects.count() == 1
    assert "opened incident" in whats(alert)[-1]


def test_an_alert_that_resolves_within_the_minimum_duration_opens_nothing(db1):
    rule(min_duration_seconds=300)
    alert = run(fire("Down", db1, when=at(0)))
    run(resolve(alert, when=at(100)))

    tick(now=at(400))
    assert Incident.objects.count() == 0
    assert AlertGroup.objects.get().status == "resolved"


def test_the_tick_repeats_no_decision(db1):
    rule(min_duration_seconds=600)
    alert = run(fire("Down", db1, when=at(0)))
    before = len(whats(alert))
    tick(now=at(60))
    tick(now=at(120))
    assert len(whats(alert)) == before


# --- auto-resolve ----------------------------------------------------------------------------


def test_the_incident_resolves_when_every_alert_of_its_group_has_resolved(db1, app1):
    db = run(fire("DatabaseDown", db1, when=at(0)))
    app = run(fire("HighErrorRate", app1, when=at(10)))
    incident = Incident.objects.get()

    run(resolve(app, when=at(100)))
    incident.refresh_from_db()
    assert incident.status != "resolved"
    assert any(
        "HighErrorRate on app-1 resolved; 1 alert(s)" in m for m in journal_messages(incident)
    )

    run(resolve(db, when=at(200)))
    incident.refresh_from_db()
    group = AlertGroup.objects.get()
    assert incident.status == "resolved" and incident.resolution_category == "fixed"
    assert "DatabaseDown on db-1" in incident.resolution
    assert "HighErrorRate on app-1" in incident.resolution
    assert group.status == "resolved" and group.firing_count == 0
    assert any("joined" in m for m in journal_messages(incident)), "history is kept"


def test_a_rule_without_auto_resolve_leaves_the_incident_open(db1):
    rule(auto_resolve=False)
    alert = run(fire("Down", db1, when=at(0)))
    run(resolve(alert, when=at(60)))

    incident = Incident.objects.get()
    assert incident.status == "new"
    group = AlertGroup.objects.get()
    assert group.status == "resolved"
    assert "does not resolve incidents automatically" in decision(group, "left incident")["why"]


# --- re-fire -------------------------------------------------------------------------------------


@override_settings(CORRELATION_WINDOW_SECONDS=600)
def test_a_refire_within_the_window_reopens_the_group_and_its_incident(db1):
    alert = run(fire("Down", db1, when=at(0)))
    run(resolve(alert, when=at(60)))
    incident = Incident.objects.get()
    assert incident.status == "resolved"

    run(fire("Down", db1, when=at(200)))

    incident.refresh_from_db()
    assert incident.status == "in_progress"
    assert AlertGroup.objects.count() == 1 and Incident.objects.count() == 1
    group = AlertGroup.objects.get()
    assert group.status == "open"
    assert "reopened" in whats(group)
    assert f"reopened incident {incident.reference}" in whats(group)


@override_settings(CORRELATION_WINDOW_SECONDS=600)
def test_a_refire_after_the_window_is_a_new_group_and_incident(db1):
    alert = run(fire("Down", db1, when=at(0)))
    run(resolve(alert, when=at(60)))

    run(fire("Down", db1, when=at(60 + 601)))

    assert AlertGroup.objects.count() == 2 and Incident.objects.count() == 2


def test_a_refire_of_a_group_whose_incident_is_closed_opens_a_new_incident(db1):
    alert = run(fire("Down", db1, when=at(0)))
    run(resolve(alert, when=at(60)))
    first = Incident.objects.get()
    close_incident(first, by=None)

    run(fire("Down", db1, when=at(120)))

    assert AlertGroup.objects.count() == 1 and Incident.objects.count() == 2
    group = AlertGroup.objects.get()
    assert group.incident_id != first.pk
    assert f"replaced incident {first.reference}" in whats(group)


# --- flapping -----------------------------------------------------------------------------------


def test_a_flapping_alert_is_marked_and_neither_resolves_nor_reopens_the_incident(db1):
    rule(flap_threshold=4, flap_window_seconds=900)
    alert = run(fire("Down", db1, when=at(0)))
    incident = Incident.objects.get()
    run(resolve(alert, when=at(30)))
    run(fire("Down", db1, when=at(60)))
    run(resolve(alert, when=at(90)))  # the 4th state change within 900 s

    alert.refresh_from_db()
    assert alert.flapping
    assert "4 state changes within 900 s" in decision(alert, "flapping")["why"]
    incident.refresh_from_db()
    assert incident.status == "in_progress", "reopened by the 3rd change, then left alone"
    group = AlertGroup.objects.get()
    assert group.status == "open", "a flapping alert keeps its group open"

    run(fire("Down", db1, when=at(120)))
    run(resolve(alert, when=at(150)))
    incident.refresh_from_db()
    assert incident.status == "in_progress"
    assert Incident.objects.count() == 1

    tick(now=at(150 + 899))
    alert.refresh_from_db()
    assert alert.flapping

    tick(now=at(150 + 900))
    alert.refresh_from_db()
    incident.refresh_from_db()
    assert not alert.flapping and "stopped flapping" in whats(alert)
    assert incident.status == "resolved"
    assert AlertGroup.objects.get().status == "resolved"


def test_a_new_flapping_alert_opens_no_incident_until_it_is_quiet(db1):
    rule(flap_threshold=3, flap_window_seconds=600, min_severity="critical")
    alert = run(fire("Down", db1, severity="warning", when=at(0)))
    run(resolve(alert, when=at(10)))
    run(fire("Down", db1, when=at(20)))  # critical now, but the 3rd change: flapping

    alert.refresh_from_db()
    assert alert.flapping and Incident.objects.count() == 0
    assert "It is flapping" in decision(alert, "no incident")["why"]

    tick(now=at(20 + 600))
    assert Incident.objects.count() == 1, "still firing after the quiet period: now it counts"


def test_flap_detection_can_be_switched_off(db1):
    rule(flap_threshold=0)
    alert = run(fire("Down", db1, when=at(0)))
    for k in range(1, 6):
        run(resolve(alert, when=at(20 * k)) if k % 2 else fire("Down", db1, when=at(20 * k)))
    alert.refresh_from_db()
    assert not alert.flapping


def test_rules_refuse_a_flap_threshold_of_one(db):
    from django.core.exceptions import ValidationError

    bad = AlertRule(name="bad", flap_threshold=1)
    with pytest.raises(ValidationError) as caught:
        bad.full_clean()
    assert "flap_threshold" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        AlertRule(name="bad", matchers={"env": 3}).full_clean()
    assert "matchers" in caught.value.message_dict


def test_min_duration_is_measured_from_when_the_alert_fired(db1):
    rule(min_duration_seconds=120)
    alert = run(fire("Down", db1, when=at(0)), now=at(0) + timedelta(seconds=130))
    assert Incident.objects.count() == 1, "processed late: its duration has already passed"
    assert alert.group_id is not None
