"""Correlation on the service structure: related alerts within the depth and the time window
form one group with the most upstream failing component as probable cause; unrelated,
too distant or too late alerts do not; groups merge when a common cause shows up; unmapped
alerts stay alone; running correlation twice changes nothing."""

import pytest
from django.test import override_settings

from itline.cmdb.testing import make_component, relate
from itline.operation import maintenance
from itline.operation.correlation import correlate, ensure_default_rules
from itline.operation.models import AlertGroup, Incident
from itline.operation.testing import make_service
from itline.operation.tests.correlation_world import at, decision, fire, run, whats


@pytest.fixture(autouse=True)
def _rules(db):
    ensure_default_rules()
    maintenance.forget()
    yield
    maintenance.forget()


@pytest.fixture
def shop(db):
    """The shop service depends on app-1 and app-2, which both depend on db-1 (on vm-1)."""
    vm = make_component("vm-1", "virtual-machine")
    db = make_component("db-1", "database")
    app1 = make_component("app-1", "application")
    app2 = make_component("app-2", "application")
    service = make_service("Shop", criticality=4)
    relate(db, vm, "runs-on")
    relate(app1, db)
    relate(app2, db)
    relate(service, app1)
    relate(service, app2)
    return {"vm": vm, "db": db, "app1": app1, "app2": app2, "shop": service}


def test_a_dependent_alert_arriving_after_its_cause_joins_the_causes_group(shop):
    db = run(fire("DatabaseDown", shop["db"], when=at(0)))
    app = run(fire("HighErrorRate", shop["app1"], when=at(60)))

    assert app.group_id == db.group_id
    group = AlertGroup.objects.get()
    assert group.probable_cause_id == shop["db"].pk
    assert (group.alert_count, group.firing_count) == (2, 2)
    assert Incident.objects.count() == 1
    why = decision(app, "grouped into")["why"]
    assert "app-1 depends on db-1" in why and "app-1 → db-1" in why


def test_a_cause_arriving_after_its_dependents_takes_over_as_probable_cause(shop):
    app = run(fire("HighErrorRate", shop["app1"], when=at(0)))
    incident = Incident.objects.get()
    assert incident.component_id == shop["app1"].pk

    run(fire("DatabaseDown", shop["db"], when=at(30)))

    group = AlertGroup.objects.get()
    assert group.probable_cause_id == shop["db"].pk
    assert group.title == "DatabaseDown on db-1"
    assert "probable cause is now db-1" in whats(group)
    incident.refresh_from_db()
    assert incident.component_id == shop["db"].pk, "the incident follows the probable cause"
    assert Incident.objects.count() == 1
    assert app.group_id == group.pk


def test_a_failure_two_steps_down_is_found_through_the_structure(shop):
    vm = run(fire("HostDown", shop["vm"], when=at(0)))
    app = run(fire("HighErrorRate", shop["app1"], when=at(10)))

    assert app.group_id == vm.group_id
    assert "app-1 → db-1 → vm-1" in decision(app, "grouped into")["why"]


def test_an_alert_on_a_service_relates_to_the_components_it_depends_on(shop):
    db = run(fire("DatabaseDown", shop["db"], when=at(0)))
    checkout = run(fire("CheckoutSlow", shop["shop"], when=at(20)))

    assert checkout.group_id == db.group_id
    assert AlertGroup.objects.get().probable_cause_id == shop["db"].pk


def test_unrelated_alerts_open_separate_groups_and_incidents(shop):
    mail = make_component("mail-1", "server")
    db = run(fire("DatabaseDown", shop["db"], when=at(0)))
    other = run(fire("DiskFull", mail, when=at(5)))

    assert db.group_id != other.group_id
    assert Incident.objects.count() == 2
    assert (
        "No alert group has an alert on a node related to mail-1"
        in (decision(other, "opened group")["why"])
    )


def test_siblings_are_not_related_until_their_common_cause_fires(shop):
    app1 = run(fire("HighErrorRate", shop["app1"], when=at(0)))
    app2 = run(fire("HighErrorRate", shop["app2"], when=at(5)))
    assert app1.group_id != app2.group_id
    first, second = Incident.objects.order_by("pk")

    db = run(fire("DatabaseDown", shop["db"], when=at(10)))

    app1.refresh_from_db()
    app2.refresh_from_db()
    assert app1.group_id == app2.group_id == db.group_id
    survivor = AlertGroup.objects.get(pk=db.group_id)
    assert survivor.probable_cause_id == shop["db"].pk
    assert survivor.alert_count == 3
    merged = AlertGroup.objects.exclude(pk=survivor.pk).get()
    assert merged.status == "resolved"
    assert f"merged into {survivor.reference}" in whats(merged)
    second.refresh_from_db()
    assert second.status == "closed" and second.merged_into_id == first.pk
    assert survivor.incident_id == first.pk


@override_settings(CORRELATION_DEPTH=1)
def test_alerts_further_apart_than_the_depth_are_not_grouped(shop):
    vm = run(fire("HostDown", shop["vm"], when=at(0)))
    app = run(fire("HighErrorRate", shop["app1"], when=at(10)))

    assert app.group_id != vm.group_id


@override_settings(CORRELATION_WINDOW_SECONDS=600)
def test_an_alert_after_the_time_window_starts_a_new_group(shop):
    db = run(fire("DatabaseDown", shop["db"], when=at(0)))
    app = run(fire("HighErrorRate", shop["app1"], when=at(601)))

    assert app.group_id != db.group_id
    assert "in the last 600 s" in decision(app, "opened group")["why"]


def test_alerts_of_one_webhook_form_one_group_with_the_cause_found(shop):
    app = fire("HighErrorRate", shop["app1"], when=at(0))
    db = fire("DatabaseDown", shop["db"], when=at(1))
    run(app, db)

    assert app.group_id == db.group_id
    group = AlertGroup.objects.get()
    assert group.probable_cause_id == shop["db"].pk
    incident = Incident.objects.get()
    assert incident.component_id == shop["db"].pk
    assert incident.channel == "monitoring"


def test_two_alerts_on_one_component_share_a_group(shop):
    one = run(fire("DatabaseDown", shop["db"], when=at(0)))
    two = run(fire("ReplicationLag", shop["db"], when=at(3)))

    assert one.group_id == two.group_id
    assert "already has an alert on db-1" in decision(two, "grouped into")["why"]


def test_unmapped_alerts_are_grouped_alone_and_open_no_incident(shop):
    one = run(fire("Mystery", None, when=at(0), labels={"host": "x"}))
    two = run(fire("Mystery", None, when=at(1), labels={"host": "y"}))

    assert one.group_id and two.group_id and one.group_id != two.group_id
    assert Incident.objects.count() == 0
    assert "not mapped" in decision(one, "no incident")["why"]
    assert AlertGroup.objects.get(pk=one.group_id).probable_cause_id is None


def test_correlating_again_changes_nothing(shop):
    db = run(fire("DatabaseDown", shop["db"], when=at(0)))
    before = (db.group_id, list(db.decisions))

    again = correlate([db.pk], now=at(5))

    db.refresh_from_db()
    assert again.processed == 0
    assert (db.group_id, db.decisions) == before
    assert AlertGroup.objects.count() == 1 and Incident.objects.count() == 1


def test_a_new_group_is_announced_after_commit(
    shop, django_capture_on_commit_callbacks, monkeypatch
):
    from itline.core import webhooks

    seen = []

    def emit_for(label, pk, event, **kwargs):
        seen.append((label, event))
        return []

    monkeypatch.setattr(webhooks, "emit_for", emit_for)
    with django_capture_on_commit_callbacks(execute=True):
        run(fire("DatabaseDown", shop["db"], when=at(0)))
    assert ("operation.alertgroup", "alert_group.opened") in seen
    assert ("operation.incident", "incident.created") in seen
