"""The clock engine as a pure function: journal changes + agreement terms + now -> clocks.
No database; calendars are built with the business calendar engine."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from itline.core.calendar import BusinessCalendar
from itline.operation.sla_engine import (
    PAUSED,
    RESOLUTION,
    RESPONSE,
    RUNNING,
    STOPPED,
    Change,
    Policy,
    compute,
    journal_inputs,
)

AMS = ZoneInfo("Europe/Amsterdam")
OFFICE = {d: ["08:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
POLICY = Policy(
    targets={1: (15, 240), 2: (60, 480), 3: (120, 960), 4: (480, 2700)},
    warning_percent=75,
    pause_states=frozenset({"waiting_for_customer"}),
)


def office(**extra):
    return BusinessCalendar.build(tz="Europe/Amsterdam", hours=OFFICE, country=None, **extra)


def local(*args):
    return datetime(*args, tzinfo=AMS)


def run(start, changes, now, *, calendar=None, policy=POLICY, initial=None, explain=False):
    initial = {"status": "new", "priority": 3, **(initial or {})}
    changes = [Change(at, values) for at, values in changes]
    return compute(
        start,
        initial,
        changes,
        policy=policy,
        calendar=calendar,
        now=now,
        explain=explain,
    )


# --- response ---------------------------------------------------------------------------------


def test_the_response_clock_counts_only_support_hours_and_gives_its_deadline():
    # Friday 16:30, P2: 60 business minutes -> 30 minutes Friday, 30 on Monday morning.
    clocks = run(local(2026, 3, 20, 16, 30), [], local(2026, 3, 20, 18, 0), calendar=office())
    response = clocks[RESPONSE]
    assert response.state == RUNNING
    assert response.elapsed_minutes == 30
    assert response.target_minutes == 120  # P3
    assert response.due_at == local(2026, 3, 23, 9, 30)
    assert response.warn_at == local(2026, 3, 23, 9, 0)  # 75 % of 120 = 90 minutes


def test_the_response_clock_stops_at_the_first_move_to_in_progress():
    start = local(2026, 3, 16, 9, 0)
    clocks = run(
        start,
        [
            (start + timedelta(minutes=20), {"status": "assigned"}),
            (start + timedelta(minutes=45), {"status": "in_progress"}),
            (start + timedelta(minutes=90), {"status": "assigned"}),
        ],
        start + timedelta(hours=5),
        calendar=office(),
    )
    response = clocks[RESPONSE]
    assert response.state == STOPPED
    assert response.elapsed_minutes == 45
    assert response.stopped_at == start + timedelta(minutes=45)
    assert response.due_at is None and not response.breached


def test_a_recorded_response_time_stops_the_response_clock_at_that_time():
    start = local(2026, 3, 16, 9, 0)
    answered = start + timedelta(minutes=10)
    clocks = run(
        start,
        [(start + timedelta(minutes=30), {"responded_at": answered.isoformat()})],
        start + timedelta(hours=1),
        calendar=office(),
    )
    assert clocks[RESPONSE].state == STOPPED
    assert clocks[RESPONSE].elapsed_minutes == 10


def test_a_response_time_before_creation_counts_as_answered_on_the_spot():
    start = local(2026, 3, 16, 9, 0)
    clocks = run(
        start,
        [(start + timedelta(minutes=30), {"responded_at": "2020-01-01T00:00:00+00:00"})],
        start + timedelta(hours=1),
    )
    assert clocks[RESPONSE].elapsed_minutes == 0


def test_a_late_response_is_a_breach_with_the_instant_it_was_due():
    start = local(2026, 3, 16, 9, 0)
    clocks = run(
        start,
        [(start + timedelta(hours=3), {"status": "in_progress"})],
        start + timedelta(hours=4),
        calendar=office(),
    )
    response = clocks[RESPONSE]
    assert response.state == STOPPED and response.breached
    assert response.due_at == start + timedelta(minutes=120)
    assert response.warn_at == start + timedelta(minutes=90)


# --- resolution, pauses, reopen, priority ------------------------------------------------------


def test_on_hold_waiting_for_the_customer_pauses_the_resolution_clock():
    start = local(2026, 3, 16, 9, 0)
    clocks = run(
        start,
        [
            (
                start + timedelta(hours=1),
                {"status": "on_hold", "hold_reason": "waiting_for_customer"},
            ),
            (start + timedelta(hours=4), {"status": "in_progress", "hold_reason": ""}),
        ],
        start + timedelta(hours=6),
        calendar=office(),
    )
    resolution = clocks[RESOLUTION]
    assert resolution.state == RUNNING
    assert resolution.elapsed_minutes == 60 + 120
    # 960 - 180 = 780 minutes left from 15:00 Monday: 120 Monday, 540 Tuesday, 120 Wednesday.
    assert resolution.due_at == local(2026, 3, 18, 10, 0)


def test_an_on_hold_reason_outside_the_pause_states_keeps_the_clock_running():
    start = local(2026, 3, 16, 9, 0)
    clocks = run(
        start,
        [
            (
                start + timedelta(hours=1),
                {"status": "on_hold", "hold_reason": "waiting_for_supplier"},
            )
        ],
        start + timedelta(hours=3),
        calendar=office(),
    )
    assert clocks[RESOLUTION].state == RUNNING
    assert clocks[RESOLUTION].elapsed_minutes == 180


def test_a_paused_clock_has_no_deadline_until_it_runs_again():
    start = local(2026, 3, 16, 9, 0)
    clocks = run(
        start,
        [
            (
                start + timedelta(hours=1),
                {"status": "on_hold", "hold_reason": "waiting_for_customer"},
            )
        ],
        start + timedelta(days=3),
        calendar=office(),
    )
    resolution = clocks[RESOLUTION]
    assert resolution.state == PAUSED
    assert resolution.elapsed_minutes == 60
    assert resolution.due_at is None and resolution.warn_at is None


def test_resolving_stops_the_clock_and_a_reopen_keeps_the_time_already_used():
    start = local(2026, 3, 16, 9, 0)
    changes = [
        (start + timedelta(hours=2), {"status": "resolved"}),
        (start + timedelta(hours=5), {"status": "in_progress"}),  # reopened
    ]
    resolved = run(start, changes[:1], start + timedelta(hours=4), calendar=office())
    assert resolved[RESOLUTION].state == STOPPED
    assert resolved[RESOLUTION].stopped_at == start + timedelta(hours=2)
    assert resolved[RESOLUTION].elapsed_minutes == 120

    reopened = run(start, changes, start + timedelta(hours=6), calendar=office())
    resolution = reopened[RESOLUTION]
    assert resolution.state == RUNNING and resolution.stopped_at is None
    assert resolution.elapsed_minutes == 120 + 60
    # due: the remaining 840 minutes counted from the reopen at 14:00 Monday
    assert resolution.due_at == local(2026, 3, 18, 10, 0)


def test_a_priority_change_switches_the_target_and_keeps_the_time_used():
    start = local(2026, 3, 16, 9, 0)
    clocks = run(
        start,
        [(start + timedelta(hours=2), {"priority": 1})],
        start + timedelta(hours=3),
        calendar=office(),
    )
    resolution = clocks[RESOLUTION]
    assert resolution.priority == 1
    assert resolution.target_minutes == 240
    assert resolution.elapsed_minutes == 180
    assert resolution.due_at == start + timedelta(minutes=240)
    assert resolution.warn_at == start + timedelta(minutes=180)


def test_the_response_target_is_the_priority_in_force_when_it_was_answered():
    start = local(2026, 3, 16, 9, 0)
    clocks = run(
        start,
        [
            (start + timedelta(minutes=10), {"status": "in_progress"}),
            (start + timedelta(minutes=30), {"priority": 1}),
        ],
        start + timedelta(hours=1),
    )
    assert clocks[RESPONSE].priority == 3
    assert clocks[RESPONSE].target_minutes == 120


def test_a_priority_without_a_target_has_no_clock():
    policy = Policy(targets={1: (15, 240)}, warning_percent=75)
    clocks = run(local(2026, 3, 16, 9, 0), [], local(2026, 3, 16, 10, 0), policy=policy)
    assert clocks == {}


def test_without_a_calendar_the_clock_runs_around_the_clock():
    start = datetime(2026, 3, 21, 22, 0, tzinfo=UTC)  # Saturday night
    clocks = run(start, [], start + timedelta(hours=3))
    assert clocks[RESOLUTION].elapsed_minutes == 180
    assert clocks[RESOLUTION].due_at == start + timedelta(minutes=960)


def test_changes_after_now_are_not_seen_yet():
    start = local(2026, 3, 16, 9, 0)
    clocks = run(
        start, [(start + timedelta(hours=2), {"status": "resolved"})], start + timedelta(hours=1)
    )
    assert clocks[RESOLUTION].state == RUNNING
    assert clocks[RESOLUTION].elapsed_minutes == 60


# --- calendars: holidays and daylight saving time ---------------------------------------------


def test_a_holiday_is_not_counted():
    start = local(2026, 3, 16, 16, 0)  # Monday
    plain = run(start, [], start + timedelta(days=2), calendar=office())
    holiday = run(
        start, [], start + timedelta(days=2), calendar=office(custom_holidays=[date(2026, 3, 17)])
    )
    assert plain[RESOLUTION].elapsed_minutes == 60 + 540 + 480
    assert holiday[RESOLUTION].elapsed_minutes == 60 + 480
    assert holiday[RESPONSE].due_at == local(2026, 3, 18, 9, 0)


def test_public_holidays_of_the_country_are_not_counted():
    calendar = BusinessCalendar.build(tz="Europe/Amsterdam", hours=OFFICE, country="NL")
    start = local(2026, 4, 24, 16, 0)  # Friday before King's Day (Monday 27 April)
    clocks = run(start, [], start + timedelta(hours=1), calendar=calendar)
    # 120 response minutes: one hour on Friday, the next on Tuesday (Monday is King's Day).
    assert clocks[RESPONSE].due_at == local(2026, 4, 28, 9, 0)


def test_a_night_shift_across_the_spring_forward_counts_real_elapsed_time():
    # A 24x7 calendar in Amsterdam: the night of 28-29 March 2026 is one hour short.
    calendar = BusinessCalendar.build(
        tz="Europe/Amsterdam",
        hours={d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        country=None,
    )
    start = local(2026, 3, 28, 22, 0)
    now = local(2026, 3, 29, 6, 0)
    clocks = run(start, [], now, calendar=calendar)
    assert clocks[RESOLUTION].elapsed_minutes == 7 * 60  # 22:00 to 06:00 wall, one hour skipped
    # 16 real hours after 22:00 CET (21:00 UTC); wall-clock arithmetic would be an hour early
    assert clocks[RESOLUTION].due_at == datetime(2026, 3, 29, 13, 0, tzinfo=UTC)


def test_office_hours_across_the_autumn_change_keep_their_wall_clock_times():
    start = local(2026, 10, 23, 16, 0)  # Friday; clocks go back on Sunday 25 October
    clocks = run(start, [], local(2026, 10, 26, 9, 0), calendar=office())
    assert clocks[RESOLUTION].elapsed_minutes == 120
    assert clocks[RESPONSE].due_at == local(2026, 10, 26, 9, 0)
    assert clocks[RESPONSE].due_at.utcoffset() is not None
    assert clocks[RESPONSE].due_at == datetime(2026, 10, 26, 8, 0, tzinfo=UTC)


# --- explanation ------------------------------------------------------------------------------


def test_the_explanation_lists_running_and_paused_periods_with_their_minutes():
    start = local(2026, 3, 20, 15, 0)  # Friday
    clocks = run(
        start,
        [
            (start + timedelta(minutes=30), {"status": "assigned"}),
            (start + timedelta(minutes=90), {"status": "in_progress"}),
            (
                local(2026, 3, 23, 9, 0),
                {"status": "on_hold", "hold_reason": "waiting_for_customer"},
            ),
            (local(2026, 3, 23, 11, 0), {"status": "in_progress", "hold_reason": ""}),
        ],
        local(2026, 3, 23, 12, 0),
        calendar=office(),
        explain=True,
    )
    periods = [
        (p.state, p.status, p.business_minutes, p.end is None) for p in clocks[RESOLUTION].periods
    ]
    assert periods == [
        ("running", "new", 30, False),
        ("running", "assigned", 60, False),
        ("running", "in_progress", 90, False),  # Friday 16:30-17:00 and Monday 08:00-09:00
        ("paused", "on_hold", 120, False),
        ("running", "in_progress", 60, True),
    ]
    assert [(p.status, p.business_minutes) for p in clocks[RESPONSE].periods] == [
        ("new", 30),
        ("assigned", 60),
    ]


# --- journal rows -> inputs -------------------------------------------------------------------


def test_journal_rows_give_the_start_the_initial_values_and_the_later_changes():
    t = datetime(2026, 3, 16, 8, 0, tzinfo=UTC)
    rows = [
        (t, "created", {"status": [None, "assigned"], "priority": [None, 2], "title": [None, "x"]}),
        (t + timedelta(minutes=5), "updated", {"title": ["x", "y"]}),
        (t + timedelta(minutes=9), "state_changed", {"status": ["assigned", "in_progress"]}),
        (t + timedelta(minutes=9), "commented", "not a dict"),
    ]
    start, initial, changes = journal_inputs(rows, created_at=t, current={})
    assert start == t
    assert initial == {"status": "assigned", "priority": 2, "hold_reason": ""}
    assert changes == [Change(t + timedelta(minutes=9), {"status": "in_progress"})]


def test_without_a_creation_row_the_first_before_values_stand_in():
    t = datetime(2026, 3, 16, 8, 0, tzinfo=UTC)
    rows = [(t + timedelta(hours=1), "state_changed", {"status": ["assigned", "resolved"]})]
    start, initial, _ = journal_inputs(
        rows, created_at=t, current={"status": "resolved", "priority": 4, "hold_reason": ""}
    )
    assert start == t
    assert initial["status"] == "assigned" and initial["priority"] == 4


# --- properties -------------------------------------------------------------------------------

STATUSES = ["new", "assigned", "in_progress", "on_hold", "resolved", "closed"]
REASONS = ["", "waiting_for_customer", "waiting_for_supplier", "waiting_for_change"]
CALENDARS = {
    "office": office(),
    "office-nl": BusinessCalendar.build(tz="Europe/Amsterdam", hours=OFFICE, country="NL"),
    "24x7": None,
    "split-ny": BusinessCalendar.build(
        tz="America/New_York",
        hours={
            d: ["07:30-12:00", "13:00-19:15"] for d in ("mon", "tue", "wed", "thu", "fri", "sat")
        },
        country="US",
    ),
}

change_strategy = st.tuples(
    st.integers(min_value=0, max_value=60 * 24 * 20),  # minutes after creation
    st.fixed_dictionaries(
        {},
        optional={
            "status": st.sampled_from(STATUSES),
            "hold_reason": st.sampled_from(REASONS),
            "priority": st.integers(min_value=1, max_value=4),
        },
    ),
)


@st.composite
def histories(draw):
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(
        minutes=draw(st.integers(min_value=0, max_value=60 * 24 * 365))
    )
    raw = draw(st.lists(change_strategy, max_size=8))
    changes = sorted(
        ((start + timedelta(minutes=m), values) for m, values in raw), key=lambda c: c[0]
    )
    now = start + timedelta(minutes=draw(st.integers(min_value=0, max_value=60 * 24 * 30)))
    calendar = CALENDARS[draw(st.sampled_from(sorted(CALENDARS)))]
    return start, changes, now, calendar


PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(histories())
def test_elapsed_time_never_exceeds_the_wall_time(history):
    start, changes, now, calendar = history
    for clock in run(start, changes, now, calendar=calendar).values():
        assert 0 <= clock.elapsed_minutes <= (now - start).total_seconds() / 60 + 1e-9


@PROPERTY
@given(histories())
def test_the_periods_explain_the_elapsed_time(history):
    start, changes, now, calendar = history
    for clock in run(start, changes, now, calendar=calendar, explain=True).values():
        counted = sum(p.business_minutes for p in clock.periods if p.counted)
        assert counted == pytest.approx(clock.elapsed_minutes, abs=1e-6)


@PROPERTY
@given(histories(), st.integers(min_value=0, max_value=60 * 24 * 20), st.integers(1, 60 * 24 * 5))
def test_pausing_never_increases_the_elapsed_time(history, pause_at, pause_for):
    start, changes, now, calendar = history
    assume(all(values.get("status") != "on_hold" for _, values in changes))
    hold_start = start + timedelta(minutes=pause_at)
    hold_end = hold_start + timedelta(minutes=pause_for)
    # Where the incident stands at the end of the window, from all changes.
    status, priority = "new", 3
    for at, values in changes:
        if at <= hold_end:
            status = values.get("status", status)
            priority = values.get("priority", priority)
    outside = [c for c in changes if not hold_start < c[0] < hold_end]
    back = {"status": status, "hold_reason": "", "priority": priority}
    # The same history, once as it is and once on hold (pausing) through the window.
    plain = sorted([*outside, (hold_end, back)], key=lambda c: c[0])
    paused = sorted(
        [
            *outside,
            (hold_start, {"status": "on_hold", "hold_reason": "waiting_for_customer"}),
            (hold_end, back),
        ],
        key=lambda c: c[0],
    )
    without = run(start, plain, now, calendar=calendar)
    with_pause = run(start, paused, now, calendar=calendar)
    if RESOLUTION in without and RESOLUTION in with_pause:
        assert with_pause[RESOLUTION].elapsed_minutes <= without[RESOLUTION].elapsed_minutes + 1e-9


@PROPERTY
@given(histories())
def test_a_running_clock_reaches_its_target_exactly_at_its_due_instant(history):
    start, changes, now, calendar = history
    changes = [c for c in changes if c[0] <= now]  # nothing happens after now
    clocks = run(start, changes, now, calendar=calendar)
    for clock in clocks.values():
        if clock.state != RUNNING:
            continue
        assert clock.due_at is not None and clock.warn_at is not None
        assert clock.warn_at <= clock.due_at
        if clock.due_at < now:
            continue  # already past due: that instant lies behind
        later = run(start, changes, clock.due_at, calendar=calendar)[clock.kind]
        assert later.elapsed_minutes == pytest.approx(clock.target_minutes, abs=1e-6)
        assert later.due_at == clock.due_at
        assert later.warn_at == clock.warn_at


@PROPERTY
@given(histories())
def test_time_only_moves_a_clock_forward(history):
    start, changes, now, calendar = history
    earlier = run(start, changes, now, calendar=calendar)
    later = run(start, changes, now + timedelta(hours=7), calendar=calendar)
    for kind, clock in earlier.items():
        if kind in later and later[kind].priority == clock.priority:
            assert later[kind].elapsed_minutes >= clock.elapsed_minutes - 1e-9


@PROPERTY
@given(histories())
def test_the_breach_flag_agrees_with_the_due_instant(history):
    start, changes, now, calendar = history
    for clock in run(start, changes, now, calendar=calendar).values():
        if clock.breached:
            assert clock.due_at is not None and clock.due_at < now
        elif clock.state == RUNNING:
            assert clock.due_at >= now


# --- the fast business-time arithmetic agrees with the calendar engine -------------------------

ENGINES = [
    office(),
    CALENDARS["office-nl"],
    CALENDARS["split-ny"],
    # Cuba moves its clocks at midnight: the next day's first interval can start before an
    # instant whose local date is still the day before.
    BusinessCalendar.build(
        tz="America/Havana",
        hours={
            d: ["00:00-02:00", "22:30-24:00"]
            for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        },
        country=None,
    ),
    BusinessCalendar.build(
        tz="Australia/Lord_Howe",
        hours={"mon": ["01:00-03:00"], "sun": ["00:00-24:00"]},
        country=None,
    ),
]


@PROPERTY
@given(
    st.sampled_from(range(len(ENGINES))),
    st.integers(min_value=0, max_value=3 * 366 * 24 * 3600),
    st.integers(min_value=0, max_value=40 * 24 * 3600),
    st.integers(min_value=1, max_value=60 * 24 * 3600),
)
def test_the_clock_arithmetic_equals_the_calendar_engine(index, offset, span, amount):
    from itline.operation.sla_engine import _calc, _dt, _us

    engine = ENGINES[index]
    calc = _calc(engine)
    a = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=offset, microseconds=offset % 997)
    b = a + timedelta(seconds=span)
    a_us, b_us = _us(a), _us(b)
    assert calc.ordinal(a_us) == engine._instant(a)[1]
    expected = engine.business_time_between(a, b)
    got = calc.between(a_us, calc.ordinal(a_us), b_us, calc.ordinal(b_us))
    assert got == expected // timedelta(microseconds=1)
    found = calc.forward(a_us, calc.ordinal(a_us), amount * 1_000_000)
    assert _dt(found) == engine.add(a, timedelta(seconds=amount))


def test_microsecond_instants_convert_exactly_both_ways():
    from itline.operation.sla_engine import _dt, _us

    for us in (0, 1, 999_999, 1_774_018_800_123_457, 4_102_444_799_999_999, 1_000_000_000_000_001):
        assert _us(_dt(us)) == us
        assert _dt(us) == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
