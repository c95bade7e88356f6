"""Change metrics and the DORA figures, with exact numbers on data built here (the
definitions are in itline/transition/metrics.py and docs/deployments.md)."""

from datetime import UTC, datetime, timedelta

import pytest

from itline.cmdb.testing import make_component, relate
from itline.operation.models import Incident
from itline.operation.testing import make_incident, make_service
from itline.transition.metrics import change_metrics
from itline.transition.models import Change, ChangeIncidentLink, Deployment
from itline.transition.testing import make_template

pytestmark = pytest.mark.django_db

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 1, 11, tzinfo=UTC)


def at(day: int, hour: float = 0) -> datetime:
    return datetime(2026, 1, day, tzinfo=UTC) + timedelta(hours=hour)


def change(
    nodes, *, kind="normal", status="closed", outcome="successful", created, submitted, ended, **f
):
    c = Change(
        title=f"Change {Change.objects.count() + 1}",
        change_type=kind,
        status=status,
        outcome=outcome,
        created_at=created,
        submitted_at=submitted,
        actual_start=ended - timedelta(minutes=30) if ended else None,
        actual_end=ended,
        **f,
    )
    c.save()
    c.nodes.set(nodes)
    return c


def deploy(
    node,
    version,
    environment,
    started,
    *,
    status="succeeded",
    finished=None,
    commit="",
    change=None,
):
    d = Deployment(
        node=node,
        version=version,
        environment=environment,
        status=status,
        started_at=started,
        finished_at=finished or started,
        commit=commit,
        change=change,
    )
    d.save()
    return d


def caused(c, incident, *, created, resolved=None, status="confirmed"):
    Incident.objects.filter(pk=incident.pk).update(created_at=created, resolved_at=resolved)
    ChangeIncidentLink.objects.create(change=c, incident=incident, status=status)


@pytest.fixture
def world():
    shop = make_service("Webshop")
    app = make_component("shop-app", "application")
    db = make_component("db-01")
    other = make_component("crm-db")
    relate(shop, app)
    relate(app, db)
    template = make_template("Patch", nodes=[db])
    c1 = change([db], created=at(1), submitted=at(1, 12), ended=at(2))
    c2 = change([db], outcome="failed", created=at(2), submitted=at(3), ended=at(4))
    change(
        [other],
        kind="emergency",
        status="implemented",
        outcome="successful_with_issues",
        created=at(5),
        submitted=at(5),
        ended=at(5, 6),
    )
    c4 = change(
        [db], kind="standard", template=template, created=at(6), submitted=None, ended=at(6, 1)
    )
    change(
        [db],
        created=datetime(2025, 12, 1, tzinfo=UTC),
        submitted=None,
        ended=datetime(2025, 12, 31, tzinfo=UTC),
    )
    change([db], status="implementing", outcome="", created=at(7), submitted=at(7), ended=None)
    caused(c4, make_incident("Slow", component=db), created=at(6, 2), resolved=at(6, 5.5))
    caused(c2, make_incident("Down", component=db), created=at(4, 1))
    caused(c1, make_incident("Noise", component=db), created=at(2, 1), status="dismissed")
    deploy(app, "v1", "staging", at(1, 10), commit="abc")
    deploy(app, "v1", "production", at(2, 10), finished=at(2, 10.5), commit="abc")
    deploy(app, "v2", "staging", at(3))
    deploy(app, "v2", "production", at(3, 12))
    deploy(db, "v9", "production", at(4), finished=at(4, 2), change=c2)
    deploy(db, "v10", "production", at(4, 3), status="failed")
    deploy(other, "v1", "production", at(4, 5))
    deploy(app, "v3", "production", datetime(2025, 12, 30, tzinfo=UTC))
    return {"shop": shop}


def test_change_figures_count_failed_outcomes_and_confirmed_caused_incidents(world):
    figures = change_metrics(START, END)["changes"]
    assert figures["implemented"] == 4
    assert figures["by_type"] == {"standard": 1, "normal": 2, "emergency": 1}
    assert figures["by_outcome"] == {"successful": 2, "failed": 1, "successful_with_issues": 1}
    assert (
        figures["failed"],
        figures["failed_by_outcome"],
        figures["failed_by_caused_incident_only"],
    ) == (2, 1, 1)
    assert (figures["success_rate"], figures["emergency_ratio"]) == (0.5, 0.25)
    assert figures["lead_time_hours"] == {
        "from_created": {"mean": 19.75, "median": 15.0, "count": 4},
        "from_submitted": {"mean": 14.0, "median": 12.0, "count": 3},
    }


def test_the_dora_figures(world):
    result = change_metrics(START, END)
    dora = result["dora"]
    assert dora["deployment_frequency"] == {
        "deployments": 4,
        "per_day": 0.4,
        "per_week": 2.8,
        "days_with_deployments": 3,
    }
    # 24.5 h from the commit's staging run, 12 h from the version's, 26 h from the change
    assert dora["lead_time_for_changes_hours"] == {
        "mean": 20.83,
        "median": 24.5,
        "count": 3,
        "basis": {"commit": 1, "version": 1, "change": 1},
    }
    assert dora["change_failure_rate"] == 0.5
    assert dora["time_to_restore_hours"] == {
        "mean": 3.5,
        "median": 3.5,
        "count": 1,
        "unresolved": 1,
    }
    assert result["deployments"] == {"production": 5, "succeeded": 4, "failed": 1, "unplanned": 4}


def test_a_service_narrows_everything_to_what_it_runs_on(world):
    result = change_metrics(START, END, [world["shop"].pk])
    assert result["changes"]["implemented"] == 3
    assert (result["changes"]["failed"], result["changes"]["emergency_ratio"]) == (2, 0.0)
    assert result["dora"]["deployment_frequency"]["deployments"] == 3
    assert result["deployments"]["production"] == 4


def test_an_empty_period_has_no_rates_rather_than_zero():
    result = change_metrics(START, END)
    assert result["changes"]["success_rate"] is None
    assert result["dora"]["change_failure_rate"] is None
    assert result["dora"]["lead_time_for_changes_hours"]["mean"] is None


def test_a_period_must_end_after_it_starts():
    with pytest.raises(ValueError, match="end must be after start"):
        change_metrics(END, START)
