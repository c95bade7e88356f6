"""Collisions: other changes, maintenance windows and freeze windows that clash with a change
window on the same or related nodes, each named with the path that relates it."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from itline.cmdb.testing import make_component, relate
from itline.operation import maintenance
from itline.operation.models import MaintenanceWindow
from itline.operation.testing import make_service
from itline.transition import collisions
from itline.transition.choices import ChangeStatus, ChangeType
from itline.transition.collisions import check, sync_change_nodes
from itline.transition.models import ChangeNode
from itline.transition.tests.t2_builders import at, chain, change_on, freeze

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_maintenance_snapshot():
    maintenance.forget()
    yield
    maintenance.forget()


def _check(nodes, start=None, end=None, **kw):
    start = start or at()
    return check(
        nodes=[n.pk for n in nodes], start=start, end=end or start + timedelta(hours=2), **kw
    )


def test_an_overlapping_change_on_the_same_component_is_a_warning_that_names_it():
    db = make_component("db-01", "database")
    other = change_on([db], at(hours=1), at(hours=3), title="Patch the database")
    (found,) = _check([db])
    assert found["kind"] == "change" and found["ref"] == other.reference
    assert found["blocking"] is False
    assert found["path"] == ["db-01"]
    assert other.reference in found["message"] and "Patch the database" in found["message"]
    assert "db-01, which this change touches too" in found["message"]


def test_a_change_that_ends_before_the_window_starts_does_not_collide():
    db = make_component("db-01", "database")
    change_on([db], at(hours=-2), at())
    change_on([db], at(hours=2), at(hours=3))
    assert _check([db]) == []


def test_a_change_on_what_ours_depends_on_collides_with_the_path_explained():
    app, db = chain("app-01", "db-01")
    other = change_on([db], title="Upgrade PostgreSQL")
    (found,) = _check([app])
    assert found["ref"] == other.reference
    assert found["path"] == ["app-01", "db-01"]
    assert found["message"].endswith("on db-01: app-01 depends on db-01.")


def test_a_change_on_what_depends_on_ours_collides_the_other_way_round():
    app, db = chain("app-01", "db-01")
    change_on([app], title="Deploy the app")
    (found,) = _check([db])
    assert found["path"] == ["db-01", "app-01"]
    assert found["message"].endswith("on app-01: app-01 depends on db-01.")


def test_relations_further_than_the_collision_depth_do_not_collide(settings):
    a, _b, _c, d = chain("web-01", "app-01", "db-01", "san-01")
    change_on([d])
    settings.CHANGE_COLLISION_DEPTH = 2
    assert _check([a]) == []
    settings.CHANGE_COLLISION_DEPTH = 3
    (found,) = _check([a])
    assert found["path"] == ["web-01", "app-01", "db-01", "san-01"]


def test_relations_that_do_not_propagate_impact_do_not_relate_changes():
    a, b = chain("switch-01", "switch-02", slug="connects-to")
    change_on([b])
    assert _check([a]) == []


def test_changes_off_the_calendar_do_not_collide():
    db = make_component("db-01", "database")
    change_on([db], status=ChangeStatus.DRAFT)
    cancelled = change_on([db])
    cancelled.status = ChangeStatus.CANCELLED
    cancelled.save()
    sync_change_nodes(cancelled)
    assert _check([db]) == []


def test_a_change_does_not_collide_with_itself():
    db = make_component("db-01", "database")
    own = change_on([db])
    assert _check([db], exclude_change_id=own.pk) == []


def test_sync_follows_the_nodes_the_window_and_the_status():
    a, b = make_component("a-01"), make_component("b-01")
    change = change_on([a], at(), at(hours=1))
    change.nodes.set([b])
    change.planned_start, change.planned_end = at(days=1), at(days=1, hours=1)
    change.save()
    sync_change_nodes(change)
    rows = list(ChangeNode.objects.filter(change=change).values_list("node_id", "starts_at"))
    assert rows == [(b.pk, at(days=1))]
    change.status = ChangeStatus.CANCELLED
    change.save()
    sync_change_nodes(change)
    assert not ChangeNode.objects.filter(change=change).exists()


def test_a_maintenance_window_on_a_related_node_is_a_warning():
    app, db = chain("app-01", "db-01")
    window = MaintenanceWindow(title="Storage firmware", starts_at=at(hours=1), ends_at=at(hours=4))
    window.save()
    window.nodes.set([db])
    (found,) = _check([app])
    assert (found["kind"], found["ref"], found["blocking"]) == (
        "maintenance",
        window.reference,
        False,
    )
    assert "Storage firmware" in found["message"] and "app-01 depends on db-01" in found["message"]


def test_a_service_freeze_blocks_a_normal_change_on_what_the_service_runs_on():
    payroll = make_service("Payroll", criticality=5)
    app = make_component("payroll-app")
    relate(payroll, app, "runs-on")
    window = freeze("Payroll month-end", at(days=-1), at(days=1), services=[payroll])
    (found,) = _check([app], change_type=ChangeType.NORMAL)
    assert (found["kind"], found["ref"], found["blocking"]) == ("freeze", window.reference, True)
    assert found["path"] == ["Payroll", "payroll-app"]
    assert "Payroll is frozen and Payroll runs on payroll-app" in found["message"]
    assert "only emergency changes may proceed" in found["message"]


def test_a_freeze_only_warns_an_emergency_change():
    node = make_component("app-01")
    freeze("Year-end freeze", at(days=-1), at(days=1))
    (found,) = _check([node], change_type=ChangeType.EMERGENCY)
    assert found["blocking"] is False and "global freeze" in found["message"]


def test_a_freeze_on_an_unrelated_service_does_not_collide():
    mail = make_service("Mail")
    freeze(services=[mail])
    assert _check([make_component("app-01")]) == []


def test_blocking_collisions_come_first():
    db = make_component("db-01", "database")
    change_on([db])
    freeze("Year-end freeze", at(days=-1), at(days=1))
    assert [c["kind"] for c in _check([db])] == ["freeze", "change"]


def test_the_check_costs_the_same_queries_for_one_or_many_colliding_changes():
    hub = make_component("san-01", "storage")
    apps = [make_component(f"app-{k:02}") for k in range(12)]
    for app in apps:
        relate(app, hub)
    change_on([apps[0]])
    _check([hub])  # warm the maintenance snapshot
    with CaptureQueriesContext(connection) as one:
        assert len(_check([hub])) == 1
    for app in apps[1:]:
        change_on([app])
    with CaptureQueriesContext(connection) as many:
        assert len(_check([hub])) == 12
    assert len(many) == len(one)


def test_a_very_large_related_set_is_matched_by_time_with_the_same_answer(monkeypatch):
    app, db = chain("app-01", "db-01")
    other = change_on([db])
    change_on([make_component("elsewhere")])
    by_node = _check([app])
    monkeypatch.setattr(collisions, "NODE_QUERY_LIMIT", 0)
    assert _check([app]) == by_node and by_node[0]["ref"] == other.reference


def test_no_nodes_or_no_window_means_no_collisions():
    assert check(nodes=[], start=at(), end=at(hours=1)) == []
    assert check(nodes=[make_component("x").pk], start=at(hours=1), end=at()) == []
