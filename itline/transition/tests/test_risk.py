"""Change risk: weighted factors with their reasons, the score and level, and the approval
path that follows from the level and the type."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from itline.cmdb.testing import make_component, relate
from itline.core.testing import make_unit
from itline.operation.models import Problem
from itline.operation.testing import make_incident, make_service
from itline.org.models import Customer
from itline.transition.choices import (
    ApprovalPath,
    ChangeOutcome,
    ChangeStatus,
    ChangeType,
    LinkStatus,
    RiskLevel,
)
from itline.transition.models import Change, ChangeIncidentLink
from itline.transition.risk import approval_path_for, assess, preview
from itline.transition.testing import make_template
from itline.transition.tests.t2_builders import change_on, closed_change, freeze

pytestmark = pytest.mark.django_db


def _draft(nodes, *, change_type=ChangeType.NORMAL, start=None, hours=2, **fields):
    """An unsaved change on ``nodes``, its window starting ``start`` (default: in 10 days)."""
    start = start or timezone.now() + timedelta(days=10)
    change = Change(
        title="Change",
        change_type=change_type,
        planned_start=start,
        planned_end=start + timedelta(hours=hours),
        **fields,
    )
    return assess(change, node_ids=[n.pk for n in nodes])


def _factor(assessment, key):
    return next(f for f in assessment.factors if f["key"] == key)


def test_a_normal_change_on_an_isolated_component_well_ahead_is_low_risk():
    result = _draft([make_component("lab-01")])
    assert result.level == RiskLevel.LOW
    assert result.approval_path == ApprovalPath.CHANGE_MANAGER
    assert [f["key"] for f in result.factors] == [
        "breadth",
        "criticality",
        "change_type",
        "history",
        "open_work",
        "collisions",
        "lead_time",
    ]
    assert result.score == round(sum(f["points"] for f in result.factors))
    for factor in result.factors:
        assert factor["points"] == round(factor["weight"] * factor["value"], 1)
        assert factor["why"].endswith(".")


def test_every_factor_explains_itself_in_a_sentence():
    result = _draft([make_component("lab-01")])
    assert _factor(result, "breadth")["why"] == "No service depends on what it touches."
    assert "no track record" in _factor(result, "history")["why"]
    assert _factor(result, "lead_time")["value"] == 0


def test_breadth_and_criticality_come_from_the_services_and_customers_impacted():
    payroll = make_service("Payroll", criticality=5)
    hr = make_service("HR portal", criticality=2)
    db = make_component("hr-db", "database")
    relate(payroll, db)
    relate(hr, db)
    for name in ("Finance", "Sales"):
        Customer(business_unit=make_unit(name)).save()
    payroll.customers.set(Customer.objects.all())
    result = _draft([db])
    breadth = _factor(result, "breadth")
    assert "2 services (Payroll, HR portal) serving 2 customers" in breadth["why"]
    assert breadth["value"] == 0.4  # 2 of 5 customers
    criticality = _factor(result, "criticality")
    assert criticality["value"] == 1.0
    assert "Payroll (very high criticality)" in criticality["why"]


def test_the_change_type_orders_emergency_above_normal_above_standard():
    node = make_component("app-01")
    template = make_template(nodes=[node])
    values = {
        t: _factor(_draft([node], change_type=t, template=template), "change_type")["value"]
        for t in ChangeType
    }
    assert values[ChangeType.EMERGENCY] > values[ChangeType.NORMAL] > values[ChangeType.STANDARD]


def test_failed_changes_on_the_same_component_raise_the_risk():
    db = make_component("db-01", "database")
    for outcome in (ChangeOutcome.FAILED, ChangeOutcome.BACKED_OUT, ChangeOutcome.SUCCESSFUL):
        closed_change([db], outcome=outcome)
    history = _factor(_draft([db]), "history")
    assert history["value"] == 0.67
    assert history["why"].startswith("2 of 3 closed changes on these nodes")


def test_a_confirmed_change_caused_incident_counts_as_a_failure():
    db = make_component("db-01", "database")
    changes = [closed_change([db]) for _ in range(3)]
    incident = make_incident(component=db)
    ChangeIncidentLink(change=changes[0], incident=incident, status=LinkStatus.CONFIRMED).save()
    ChangeIncidentLink(change=changes[1], incident=incident, status=LinkStatus.SUGGESTED).save()
    assert _factor(_draft([db]), "history")["value"] == 0.33


def test_failures_of_the_same_template_count_even_on_other_components():
    template = make_template()
    closed_change([make_component("old-01")], outcome=ChangeOutcome.FAILED, template=template)
    alone = _factor(_draft([make_component("new-01")]), "history")
    same = _factor(_draft([make_component("new-02")], template=template), "history")
    assert alone["value"] == 0.2  # no track record
    assert same["value"] == 0.33  # 1 of 1, damped to a third
    assert "or from this template" in same["why"] and "too few changes" in same["why"]


def test_old_closed_changes_do_not_count(settings):
    db = make_component("db-01", "database")
    old = closed_change([db], outcome=ChangeOutcome.FAILED)
    Change.objects.filter(pk=old.pk).update(closed_at=timezone.now() - timedelta(days=400))
    settings.CHANGE_RISK_HISTORY_DAYS = 365
    assert "no track record" in _factor(_draft([db]), "history")["why"]


def test_open_incidents_and_problems_on_the_touched_component_raise_the_risk():
    db = make_component("db-01", "database")
    make_incident(component=db)
    Problem(title="Slow queries", component=db).save()
    open_work = _factor(_draft([db]), "open_work")
    assert open_work["value"] == 0.67
    assert open_work["why"].startswith("1 open incident and 1 open problem")


def test_a_freeze_counts_fully_as_a_blocking_collision():
    node = make_component("app-01")
    start = timezone.now() + timedelta(days=10)
    freeze("Year-end freeze", start - timedelta(days=1), start + timedelta(days=1))
    collisions = _factor(_draft([node], start=start), "collisions")
    assert collisions["value"] == 1.0 and "blocking" in collisions["why"]


def test_overlapping_changes_count_partly():
    node = make_component("app-01")
    start = timezone.now().replace(microsecond=0) + timedelta(days=10)
    other = change_on([node], start, start + timedelta(hours=1))
    collisions = _factor(_draft([node], start=start), "collisions")
    assert collisions["value"] == 0.25 and other.reference in collisions["why"]


def test_a_short_lead_time_counts_fully_and_a_long_one_not_at_all():
    node = make_component("app-01")
    soon = _factor(_draft([node], start=timezone.now() + timedelta(hours=3)), "lead_time")
    later = _factor(_draft([node], start=timezone.now() + timedelta(days=3)), "lead_time")
    assert soon["value"] == 1.0 and later["value"] == 0.5  # 72 h between 24 h and 120 h
    assert "3.0 days before the window" in later["why"]


def test_lead_time_is_measured_from_submission_once_submitted():
    node = make_component("app-01")
    start = timezone.now() + timedelta(days=10)
    late = _draft([node], start=start, submitted_at=start - timedelta(hours=2))
    assert _factor(late, "lead_time")["value"] == 1.0
    assert "submitted 2 hours before" in _factor(late, "lead_time")["why"]


def test_weights_and_thresholds_come_from_settings(settings):
    node = make_component("lab-01")
    settings.CHANGE_RISK_WEIGHTS = {"change_type": 80}
    settings.CHANGE_RISK_HIGH_AT = 40
    result = _draft([node], change_type=ChangeType.NORMAL)
    assert _factor(result, "change_type")["points"] == 40.0
    assert result.level == RiskLevel.HIGH
    assert result.approval_path == ApprovalPath.CAB


def test_high_risk_goes_to_the_cab_and_emergencies_to_the_emergency_cab():
    assert approval_path_for(RiskLevel.HIGH, ChangeType.NORMAL) == ApprovalPath.CAB
    assert approval_path_for(RiskLevel.LOW, ChangeType.NORMAL) == ApprovalPath.CHANGE_MANAGER
    assert approval_path_for(RiskLevel.LOW, ChangeType.EMERGENCY) == ApprovalPath.ECAB


def test_the_approval_path_per_level_is_configurable(settings):
    settings.CHANGE_APPROVAL_PATHS = {"medium": "cab"}
    assert approval_path_for(RiskLevel.MEDIUM, ChangeType.NORMAL) == ApprovalPath.CAB
    assert approval_path_for(RiskLevel.LOW, ChangeType.NORMAL) == ApprovalPath.CHANGE_MANAGER


def test_a_standard_change_within_its_template_needs_no_approval():
    node = make_component("web-01")
    template = make_template(nodes=[node], max_duration_minutes=60)
    result = _draft([node], change_type=ChangeType.STANDARD, template=template, hours=1)
    assert result.approval_path == ApprovalPath.NONE and result.outside_template == []


def test_a_standard_change_outside_its_template_follows_the_risk_path():
    node, stranger = make_component("web-01"), make_component("db-09")
    template = make_template(nodes=[node], max_duration_minutes=60)
    result = _draft([node, stranger], change_type=ChangeType.STANDARD, template=template, hours=3)
    assert result.approval_path == ApprovalPath.CHANGE_MANAGER
    assert result.outside_template == [
        "The window lasts 180 minutes; the template allows 60.",
        "The template does not cover db-09.",
    ]


def test_a_template_by_component_type_covers_components_of_that_type():
    from itline.cmdb.models import ComponentType

    node = make_component("web-01", "server")
    template = make_template(component_types=[ComponentType.objects.get(slug="server")])
    result = _draft([node], change_type=ChangeType.STANDARD, template=template)
    assert result.outside_template == []


def test_assessing_a_saved_change_reads_its_nodes_and_ignores_its_own_window():
    node = make_component("app-01")
    start = timezone.now().replace(microsecond=0) + timedelta(days=10)
    change = change_on([node], start, start + timedelta(hours=1), status=ChangeStatus.SUBMITTED)
    assert _factor(assess(change), "collisions")["value"] == 0


def test_assessing_writes_nothing_and_its_queries_do_not_grow_with_the_nodes():
    service = make_service("Shop", criticality=4)
    few = [make_component(f"app-{k}") for k in range(5)]
    many = few + [make_component(f"web-{k}") for k in range(45)]
    for node in many:
        relate(service, node)
    _draft(few)  # warm the per-process snapshots
    with CaptureQueriesContext(connection) as small:
        _draft(few)
    with CaptureQueriesContext(connection) as large:
        _draft(many)
    assert len(large) == len(small)
    sql = " ".join(q["sql"] for q in large.captured_queries).upper()
    assert "INSERT" not in sql and "UPDATE " not in sql and "DELETE" not in sql


def test_the_preview_of_an_unsaved_change_gives_risk_and_collisions_together():
    node = make_component("app-01")
    start = timezone.now().replace(microsecond=0) + timedelta(days=10)
    other = change_on([node], start, start + timedelta(hours=1))
    shown = preview(
        node_ids=[node.pk],
        start=start,
        end=start + timedelta(hours=1),
        change_type=ChangeType.NORMAL,
    )
    assert [c["ref"] for c in shown.collisions] == [other.reference]
    assert shown.blocking is False
    assert _factor(shown.assessment, "collisions")["value"] == 0.25
    edited = preview(
        node_ids=[node.pk],
        start=start,
        end=start + timedelta(hours=1),
        change_type=ChangeType.NORMAL,
        change=other,
    )
    assert edited.collisions == []


def test_no_window_yet_is_half_the_lead_time_risk():
    change = Change(title="Someday", change_type=ChangeType.NORMAL)
    result = assess(change, node_ids=[make_component("app-01").pk])
    assert _factor(result, "lead_time")["value"] == 0.5
