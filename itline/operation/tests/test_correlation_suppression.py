"""Suppression: an alert firing on a node inside a maintenance window (the window's nodes and,
with include_dependencies, what they run on) is recorded with the window as the reason and
joins no group, opens no incident and notifies nobody; when the window ends while it still
fires, it is correlated after all. Silenced alerts likewise, with the silence named."""

from datetime import timedelta

import pytest

from itline.cmdb.testing import make_component, relate
from itline.operation import maintenance
from itline.operation.correlation import ensure_default_rules, tick
from itline.operation.models import AlertGroup, Incident
from itline.operation.services.alerts import silence_alert, unsilence_alert
from itline.operation.services.maintenance import create_window
from itline.operation.tests.correlation_world import at, decision, fire, resolve, run


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


def window(*nodes, start=-60, end=3600, **fields):
    return create_window(
        by=None,
        title=fields.pop("title", "Sunday patching"),
        starts_at=at(start),
        ends_at=at(end),
        nodes=list(nodes),
        now=at(start - 60),
        **fields,
    )


def test_an_alert_inside_a_maintenance_window_is_recorded_but_suppressed(
    db1, django_capture_on_commit_callbacks
):
    mw = window(db1)
    with django_capture_on_commit_callbacks() as callbacks:
        alert = run(fire("DatabaseDown", db1, when=at(0)))

    assert alert.suppressed_by_id == mw.pk
    assert alert.group_id is None
    assert AlertGroup.objects.count() == 0 and Incident.objects.count() == 0
    assert callbacks == [], "nothing is announced: no notification, no webhook"
    what = decision(alert, "suppressed by")
    assert what["what"] == f"suppressed by {mw.reference} 'Sunday patching'"
    assert "db-1 is covered by maintenance window" in what["why"]


def test_a_window_on_an_application_covers_what_it_runs_on(db1, app1):
    mw = window(app1, title="App upgrade")
    alert = run(fire("DatabaseDown", db1, when=at(0)))
    assert alert.suppressed_by_id == mw.pk


def test_a_window_without_dependencies_covers_only_its_own_nodes(db1, app1):
    window(app1, title="App upgrade", include_dependencies=False)
    alert = run(fire("DatabaseDown", db1, when=at(0)))
    assert alert.suppressed_by_id is None and Incident.objects.count() == 1


def test_an_alert_before_the_window_opens_its_incident_as_usual(db1):
    window(db1, start=600)
    alert = run(fire("DatabaseDown", db1, when=at(0)))
    assert alert.suppressed_by_id is None and Incident.objects.count() == 1


def test_an_alert_still_firing_when_the_window_ends_is_correlated_then(db1):
    mw = window(db1, end=600)
    alert = run(fire("DatabaseDown", db1, when=at(0)))
    assert alert.suppressed_by_id == mw.pk

    tick(now=at(599))
    assert Incident.objects.count() == 0
    tick(now=at(601))

    alert.refresh_from_db()
    assert alert.suppressed_by_id is None and alert.group_id is not None
    assert Incident.objects.count() == 1
    assert decision(alert, "no longer suppressed")


def test_an_alert_resolved_inside_the_window_leaves_no_trace_but_its_history(db1):
    window(db1)
    alert = run(fire("DatabaseDown", db1, when=at(0)))
    run(resolve(alert, when=at(60)))

    tick(now=at(4000))
    alert.refresh_from_db()
    assert alert.group_id is None and Incident.objects.count() == 0
    assert alert.history.count() == 2


def test_a_suppressed_alert_does_not_resolve_its_neighbours_incident(db1, app1):
    app = run(fire("HighErrorRate", app1, when=at(0)))
    incident = Incident.objects.get()
    window(db1, start=30, title="DB patch", include_dependencies=False)
    db = run(fire("DatabaseDown", db1, when=at(60)))

    assert db.suppressed_by_id is not None and db.group_id is None
    incident.refresh_from_db()
    assert incident.status == "new" and app.group_id is not None


# --- silences -----------------------------------------------------------------------------------


def test_a_silenced_alert_that_fires_again_joins_nothing_and_opens_nothing(db1):
    alert = run(fire("DatabaseDown", db1, when=at(0)))
    run(resolve(alert, when=at(10)))
    Incident.objects.all().delete()
    AlertGroup.objects.all().delete()
    alert.refresh_from_db()
    silence_alert(alert, by=None, until=at(0) + timedelta(days=2), reason="noisy probe")

    run(fire("DatabaseDown", db1, when=at(20)))

    alert.refresh_from_db()
    assert alert.group_id is None and Incident.objects.count() == 0
    assert "noisy probe" in decision(alert, "silenced")["why"]


def test_lifting_a_silence_correlates_a_firing_alert_at_once(db1):
    alert = fire("DatabaseDown", db1, when=at(0))
    silence_alert(alert, by=None, until=at(0) + timedelta(days=2), reason="known")
    run(alert, now=at(5))
    assert alert.group_id is None

    unsilence_alert(alert, by=None)

    alert.refresh_from_db()
    assert alert.group_id is not None and Incident.objects.count() == 1
    assert decision(alert, "silence lifted")


def test_an_expired_silence_lets_a_still_firing_alert_through(db1):
    alert = fire("DatabaseDown", db1, when=at(0))
    silence_alert(alert, by=None, until=at(0) + timedelta(hours=2), reason="deploy")
    run(alert, now=at(5))
    assert Incident.objects.count() == 0

    tick(now=at(0) + timedelta(hours=2, seconds=1))

    alert.refresh_from_db()
    assert alert.silenced_until is None and alert.group_id is not None
    assert Incident.objects.count() == 1
    assert "still fires" in decision(alert, "silence ended")["why"]
