"""Freeze windows: when they occur (one-off or recurring in a time zone) and what they cover
(global, or a service and everything it runs on)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from itline.cmdb.testing import make_component, relate
from itline.operation.testing import make_service
from itline.transition.freeze import freezes_between, frozen
from itline.transition.models import FreezeWindow
from itline.transition.tests.t2_builders import at, freeze

pytestmark = pytest.mark.django_db


def test_a_one_off_freeze_occurs_once_within_its_dates():
    window = freeze(start=at(), end=at(days=2))
    found = freezes_between(at(days=-7), at(days=7))
    assert [(o.window, o.starts_at, o.ends_at) for o in found] == [(window, at(), at(days=2))]
    assert freezes_between(at(days=2), at(days=3)) == []


def test_a_recurring_freeze_keeps_its_local_time_across_daylight_saving():
    # Every Friday 18:00 to Monday 06:00 in Amsterdam; clocks go forward on 30 March 2031.
    first = datetime(2031, 3, 21, 17, 0, tzinfo=UTC)  # 18:00 CET
    freeze(
        "Weekend freeze",
        first,
        first + timedelta(hours=60),
        rrule="FREQ=WEEKLY;BYDAY=FR",
        time_zone="Europe/Amsterdam",
    )
    starts = [o.starts_at for o in freezes_between(first, first + timedelta(days=15))]
    assert starts == [
        datetime(2031, 3, 21, 17, 0, tzinfo=UTC),
        datetime(2031, 3, 28, 17, 0, tzinfo=UTC),
        datetime(2031, 4, 4, 16, 0, tzinfo=UTC),  # 18:00 CEST
    ]


def test_a_service_freeze_covers_the_service_and_what_it_runs_on_but_nothing_else():
    payroll = make_service("Payroll", criticality=5)
    app = make_component("payroll-app")
    db = make_component("payroll-db", "database")
    other = make_component("mail-01")
    relate(payroll, app, "runs-on")
    relate(app, db)
    freeze(services=[payroll])
    assert {w.title for w in frozen([db.pk], at(hours=1))} == {"Month-end freeze"}
    assert frozen([payroll.pk], at(hours=1))
    assert frozen([other.pk], at(hours=1)) == []
    (occurrence,) = freezes_between(at(), at(days=1))
    assert occurrence.node_ids == {payroll.pk, app.pk, db.pk}


def test_a_global_freeze_covers_every_node():
    node = make_component("anything-01")
    window = freeze("Year-end freeze")
    (occurrence,) = freezes_between(at(), at(hours=1), [node.pk])
    assert occurrence.is_global and occurrence.covers(node.pk)
    assert frozen([node.pk], at(hours=1)) == [window]


def test_nothing_is_frozen_before_or_after_the_window_or_when_it_is_inactive():
    node = make_component("app-01")
    freeze(start=at(), end=at(days=1))
    freeze("Old freeze", start=at(), end=at(days=1), active=False)
    assert frozen([node.pk], at(hours=-1)) == []
    assert frozen([node.pk], at(days=1)) == []  # the end is excluded
    assert [w.title for w in frozen([node.pk], at(hours=23))] == ["Month-end freeze"]


def test_a_freeze_window_that_ends_before_it_starts_is_refused_on_its_end():
    window = FreezeWindow(title="Backwards", starts_at=at(days=1), ends_at=at())
    with pytest.raises(ValidationError) as caught:
        window.full_clean()
    assert "ends_at" in caught.value.message_dict


def test_a_freeze_window_with_a_broken_rule_is_refused_on_its_rule():
    window = FreezeWindow(
        title="Broken", starts_at=at(), ends_at=at(days=1), rrule="FREQ=SOMETIMES"
    )
    with pytest.raises(ValidationError) as caught:
        window.full_clean()
    assert "FREQ=SOMETIMES" in caught.value.message_dict["rrule"][0]


def test_a_valid_rule_is_stored_in_its_normal_form():
    window = freeze(rrule="rrule:freq=monthly;bymonthday=-3")
    assert window.rrule == "FREQ=MONTHLY;BYMONTHDAY=-3"
