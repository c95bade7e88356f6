"""Tests for the business calendar engine: properties over years of random instants, a
brute-force oracle on short windows, and worked examples for holidays, DST and validation."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from itline.core.calendar import (
    WEEKDAY_NAMES,
    BusinessCalendar,
    CalendarError,
    WorkingHours,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
ONE_MICROSECOND = timedelta(microseconds=1)

OFFICE = {day: ["08:00-12:00", "13:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")}
COMPANY_DAY = date(2024, 12, 27)  # closed between Christmas and New Year


@dataclass(frozen=True)
class Spec:
    """How a test calendar is built, kept so the oracle can recompute it independently."""

    name: str
    tz: str
    hours: dict[str, list[str]]
    country: str | None
    subdivision: str | None = None
    custom: tuple[date, ...] = ()
    calendar: BusinessCalendar = field(init=False, compare=False)

    def __post_init__(self) -> None:
        built = BusinessCalendar.build(
            tz=self.tz,
            hours=self.hours,
            country=self.country,
            subdivision=self.subdivision,
            custom_holidays=self.custom,
        )
        object.__setattr__(self, "calendar", built)


SPECS = (
    Spec("amsterdam office", "Europe/Amsterdam", OFFICE, "NL", custom=(COMPANY_DAY,)),
    Spec(
        "new york office",
        "America/New_York",
        {day: ["09:00-17:00"] for day in ("mon", "tue", "wed", "thu", "fri")},
        "US",
        "NY",
    ),
    Spec(
        "london night shift",
        "Europe/London",
        {day: ["00:00-06:00", "22:00-24:00"] for day in WEEKDAY_NAMES},
        "GB",
        "ENG",
    ),
    # Chile changes clocks at midnight, so the 24:00/00:00 edges themselves fall in a gap or
    # a repeated hour.
    Spec(
        "santiago night shift",
        "America/Santiago",
        {day: ["00:00-06:00", "22:00-24:00"] for day in WEEKDAY_NAMES},
        "CL",
    ),
)

MIN_INSTANT = datetime(2019, 1, 1)
MAX_INSTANT = datetime(2027, 12, 31)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _dst_transitions(zone: ZoneInfo) -> list[datetime]:
    """UTC instants at which ``zone`` changes offset between MIN_INSTANT and MAX_INSTANT."""
    found: list[datetime] = []
    moment = MIN_INSTANT.replace(tzinfo=UTC)
    end = MAX_INSTANT.replace(tzinfo=UTC)
    offset = moment.astimezone(zone).utcoffset()
    while moment < end:
        following = moment + timedelta(days=1)
        if following.astimezone(zone).utcoffset() != offset:
            hour = moment
            while hour.astimezone(zone).utcoffset() == offset:
                hour += timedelta(hours=1)
            found.append(hour)
            offset = hour.astimezone(zone).utcoffset()
        moment = following
    return found


TRANSITIONS = {spec.tz: _dst_transitions(ZoneInfo(spec.tz)) for spec in SPECS}
INPUT_ZONES = (UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-7)))


@st.composite
def instants(draw: st.DrawFn, spec: Spec) -> datetime:
    """Aware instants spread over years, biased towards DST changes and interval edges."""
    zone = ZoneInfo(spec.tz)
    kind = draw(st.sampled_from(("anywhere", "near a DST change", "near an interval edge")))
    if kind == "anywhere":
        moment = draw(st.datetimes(MIN_INSTANT, MAX_INSTANT, timezones=st.just(UTC)))
    elif kind == "near a DST change":
        base = draw(st.sampled_from(TRANSITIONS[spec.tz]))
        moment = base + draw(st.timedeltas(-timedelta(days=3), timedelta(days=3)))
    else:
        day = draw(st.dates(MIN_INSTANT.date(), MAX_INSTANT.date()))
        edges = sorted({minute for d in spec.calendar.hours.days for i in d for minute in i})
        minute = draw(st.sampled_from(edges))
        wall = datetime.combine(day, datetime.min.time()) + timedelta(minutes=minute)
        jitter = draw(st.sampled_from((0, 0, 1, -1, 60_000_000, -60_000_000)))
        moment = wall.replace(tzinfo=zone).astimezone(UTC) + timedelta(microseconds=jitter)
    # The engine must treat every representation of an instant alike.
    return moment.astimezone(draw(st.sampled_from((*INPUT_ZONES, zone))))


minute_amounts = st.one_of(st.integers(0, 600), st.integers(0, 250_000))
specs = st.sampled_from(SPECS)


# ---- properties ---------------------------------------------------------------------------


@PROPERTY
@given(st.data(), specs, minute_amounts)
def test_adding_then_measuring_returns_the_same_amount(
    data: st.DataObject, spec: Spec, minutes: int
) -> None:
    start = data.draw(instants(spec))
    end = spec.calendar.add_minutes(start, minutes)
    assert spec.calendar.business_minutes_between(start, end) == minutes


@PROPERTY
@given(st.data(), specs, st.timedeltas(timedelta(0), timedelta(days=400)))
def test_adding_a_duration_is_exact_to_the_microsecond(
    data: st.DataObject, spec: Spec, duration: timedelta
) -> None:
    start = data.draw(instants(spec))
    end = spec.calendar.add(start, duration)
    assert spec.calendar.business_time_between(start, end) == duration


@PROPERTY
@given(st.data(), specs, st.integers(1, 250_000))
def test_a_deadline_is_the_earliest_instant_with_enough_business_time(
    data: st.DataObject, spec: Spec, minutes: int
) -> None:
    calendar = spec.calendar
    start = data.draw(instants(spec))
    end = calendar.add_minutes(start, minutes)
    # The deadline is business time or exactly an interval end: the microsecond before it
    # is always business time, and one microsecond earlier is not enough.
    assert end > start
    assert calendar.is_business_time(end - ONE_MICROSECOND)
    assert (
        calendar.business_time_between(start, end - ONE_MICROSECOND)
        == timedelta(minutes=minutes) - ONE_MICROSECOND
    )


@PROPERTY
@given(st.data(), specs, minute_amounts, minute_amounts)
def test_adding_more_minutes_never_gives_an_earlier_deadline(
    data: st.DataObject, spec: Spec, first: int, second: int
) -> None:
    start = data.draw(instants(spec))
    small, large = sorted((first, second))
    assert spec.calendar.add_minutes(start, small) <= spec.calendar.add_minutes(start, large)


@PROPERTY
@given(st.data(), specs, minute_amounts, minute_amounts)
def test_adding_in_two_steps_equals_adding_the_sum(
    data: st.DataObject, spec: Spec, first: int, second: int
) -> None:
    calendar = spec.calendar
    start = data.draw(instants(spec))
    stepped = calendar.add_minutes(calendar.add_minutes(start, first), second)
    assert stepped == calendar.add_minutes(start, first + second)


@PROPERTY
@given(st.data(), specs)
def test_measured_time_adds_up_over_consecutive_spans(data: st.DataObject, spec: Spec) -> None:
    calendar = spec.calendar
    a, b, c = (data.draw(instants(spec)) for _ in range(3))
    between = calendar.business_time_between
    # Holds in any order because measuring backwards gives a negative amount.
    assert between(a, b) + between(b, c) == between(a, c)
    assert between(a, b) == -between(b, a)


@PROPERTY
@given(st.data(), specs)
def test_business_time_never_exceeds_wall_clock_time(data: st.DataObject, spec: Spec) -> None:
    first, second = sorted((data.draw(instants(spec)), data.draw(instants(spec))))
    measured = spec.calendar.business_time_between(first, second)
    assert timedelta(0) <= measured <= second - first


@PROPERTY
@given(st.data(), specs)
def test_the_next_business_instant_is_business_time_and_not_in_the_past(
    data: st.DataObject, spec: Spec
) -> None:
    calendar = spec.calendar
    moment = data.draw(instants(spec))
    found = calendar.next_business_instant(moment)
    assert found >= moment
    assert calendar.is_business_time(found)
    assert calendar.business_time_between(moment, found) == timedelta(0)
    if calendar.is_business_time(moment):
        assert found == moment.astimezone(UTC)
    # Time before the next business instant does not count, so the clock may start there.
    assert calendar.add_minutes(moment, 90) == calendar.add_minutes(found, 90)


@PROPERTY
@given(st.data(), specs, st.integers(1, 250_000))
def test_subtracting_is_the_latest_start_with_enough_business_time(
    data: st.DataObject, spec: Spec, minutes: int
) -> None:
    calendar = spec.calendar
    end = data.draw(instants(spec))
    start = calendar.add_minutes(end, -minutes)
    assert start < end
    assert calendar.business_minutes_between(start, end) == minutes
    assert calendar.is_business_time(start)
    assert (
        calendar.business_time_between(start + ONE_MICROSECOND, end)
        == timedelta(minutes=minutes) - ONE_MICROSECOND
    )


@PROPERTY
@given(st.data(), specs)
def test_adding_zero_minutes_leaves_the_instant_unchanged(data: st.DataObject, spec: Spec) -> None:
    moment = data.draw(instants(spec))
    result = spec.calendar.add_minutes(moment, 0)
    # Compare in UTC: `==` across zones is always False for a repeated wall time (PEP 495).
    assert result == moment.astimezone(UTC)
    assert result.tzinfo is UTC


@functools.cache
def _parsed_hours(name: str) -> WorkingHours:
    return WorkingHours.from_dict(next(spec.hours for spec in SPECS if spec.name == name))


@functools.cache
def _library_holidays(country: str | None, subdivision: str | None, year: int) -> set[date]:
    if country is None:
        return set()
    return set(holidays.country_holidays(country, subdiv=subdivision, years=year))


def _oracle_is_business(spec: Spec, moment: datetime) -> bool:
    """Business time by definition: the local wall minute lies in that weekday's hours."""
    local = moment.astimezone(ZoneInfo(spec.tz))
    if local.date() in _library_holidays(spec.country, spec.subdivision, local.year):
        return False
    if local.date() in spec.custom:
        return False
    hours = _parsed_hours(spec.name).intervals(local.weekday())
    wall = local.hour * 60 + local.minute
    return any(start <= wall < end for start, end in hours)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), specs, st.integers(0, 2 * 24 * 60))
def test_measuring_matches_counting_minute_by_minute(
    data: st.DataObject, spec: Spec, length: int
) -> None:
    # Counting wall-clock minutes is the definition. It agrees with the engine's instant rules
    # unless an interval edge lies strictly inside a skipped or repeated hour, which none of
    # these calendars has (Santiago's midnight edges sit exactly on its clock changes).
    start = data.draw(instants(spec)).astimezone(UTC).replace(second=0, microsecond=0)
    end = start + timedelta(minutes=length)
    counted = sum(_oracle_is_business(spec, start + timedelta(minutes=i)) for i in range(length))
    assert spec.calendar.business_minutes_between(start, end) == counted


@PROPERTY
@given(st.data(), specs)
def test_business_time_matches_the_wall_clock_definition(data: st.DataObject, spec: Spec) -> None:
    moment = data.draw(instants(spec))
    assert spec.calendar.is_business_time(moment) == _oracle_is_business(spec, moment)


ALWAYS_OPEN = BusinessCalendar.twenty_four_seven("Europe/Amsterdam")


@PROPERTY
@given(
    st.datetimes(MIN_INSTANT, MAX_INSTANT, timezones=st.just(UTC)),
    st.timedeltas(timedelta(0), timedelta(days=3000)),
)
def test_a_twenty_four_seven_calendar_counts_plain_elapsed_time(
    start: datetime, duration: timedelta
) -> None:
    calendar = ALWAYS_OPEN
    assert calendar.add(start, duration) == start + duration
    assert calendar.business_time_between(start, start + duration) == duration


@st.composite
def working_hours(draw: st.DrawFn) -> WorkingHours:
    days = {}
    for weekday in range(7):
        edges = draw(st.lists(st.integers(0, 1440), max_size=8, unique=True).map(sorted))
        edges = edges[: len(edges) // 2 * 2]
        days[weekday] = list(zip(edges[::2], edges[1::2], strict=True))
    return WorkingHours(days)


@settings(max_examples=100, deadline=None)
@given(working_hours())
def test_working_hours_survive_a_round_trip_through_a_dict(hours: WorkingHours) -> None:
    as_dict = hours.to_dict()
    assert WorkingHours.from_dict(as_dict) == hours
    assert WorkingHours.from_dict(as_dict).to_dict() == as_dict


# ---- worked examples ----------------------------------------------------------------------

OFFICE_NL = SPECS[0].calendar
NIGHTS_UK = SPECS[2].calendar


def ams(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=AMSTERDAM)


def test_friday_afternoon_plus_an_hour_lands_on_monday_morning() -> None:
    assert OFFICE_NL.add_minutes(ams(2024, 3, 8, 16, 30), 60) == ams(2024, 3, 11, 8, 30)


def test_a_deadline_at_closing_time_stays_on_the_same_day() -> None:
    assert OFFICE_NL.add_minutes(ams(2024, 3, 8, 16, 0), 60) == ams(2024, 3, 8, 17, 0)


def test_the_lunch_break_does_not_count() -> None:
    assert OFFICE_NL.add_minutes(ams(2024, 3, 7, 11, 30), 60) == ams(2024, 3, 7, 13, 30)
    assert not OFFICE_NL.is_business_time(ams(2024, 3, 7, 12, 30))
    assert OFFICE_NL.next_business_instant(ams(2024, 3, 7, 12, 30)) == ams(2024, 3, 7, 13, 0)


def test_kings_day_is_skipped() -> None:
    # 27 April 2023 was a Thursday.
    assert OFFICE_NL.is_holiday(date(2023, 4, 27))
    assert OFFICE_NL.add_minutes(ams(2023, 4, 26, 16, 30), 60) == ams(2023, 4, 28, 8, 30)


def test_christmas_and_a_custom_closing_day_are_skipped() -> None:
    # 25 and 26 December 2024 are public holidays, 27 December is the company's own.
    assert OFFICE_NL.add_minutes(ams(2024, 12, 24, 16, 30), 60) == ams(2024, 12, 30, 8, 30)
    without_custom = BusinessCalendar.build(hours=OFFICE)
    assert without_custom.add_minutes(ams(2024, 12, 24, 16, 30), 60) == ams(2024, 12, 27, 8, 30)


def test_a_removed_holiday_is_an_ordinary_working_day() -> None:
    calendar = BusinessCalendar.build(hours=OFFICE, removed_holidays=[date(2023, 4, 27)])
    assert not calendar.is_holiday(date(2023, 4, 27))
    assert calendar.add_minutes(ams(2023, 4, 26, 16, 30), 60) == ams(2023, 4, 27, 8, 30)


def test_us_holidays_are_skipped_in_new_york() -> None:
    calendar = SPECS[1].calendar
    # Thanksgiving 2024 was Thursday 28 November.
    start = datetime(2024, 11, 27, 16, 30, tzinfo=NEW_YORK)
    assert calendar.add_minutes(start, 60) == datetime(2024, 11, 29, 9, 30, tzinfo=NEW_YORK)


def _sunday_calendar(interval: str) -> BusinessCalendar:
    return BusinessCalendar.build(hours={"sun": [interval]}, country=None)


def test_spring_forward_shortens_an_interval_spanning_the_gap() -> None:
    calendar = _sunday_calendar("01:00-04:00")
    day = ams(2024, 3, 31)  # clocks jump from 02:00 to 03:00
    assert calendar.business_minutes_between(day, day + timedelta(days=1)) == 120
    assert calendar.add_minutes(day, 120) == ams(2024, 3, 31, 4, 0)
    assert calendar.business_minutes_between(ams(2024, 4, 7), ams(2024, 4, 8)) == 180


def test_fall_back_lengthens_an_interval_spanning_the_repeated_hour() -> None:
    calendar = _sunday_calendar("01:00-04:00")
    day = ams(2024, 10, 27)  # clocks go back from 03:00 to 02:00
    assert calendar.business_minutes_between(day, day + timedelta(days=1)) == 240
    assert calendar.add_minutes(day, 240) == ams(2024, 10, 27, 4, 0)


def test_an_interval_inside_the_skipped_hour_is_empty_and_the_repeated_hour_counts_twice() -> None:
    calendar = _sunday_calendar("02:00-03:00")
    assert calendar.intervals_on(date(2024, 3, 31)) == []
    assert calendar.business_minutes_between(ams(2024, 10, 27), ams(2024, 10, 28)) == 120


def test_a_nonexistent_wall_time_means_the_moment_the_clock_jumps() -> None:
    calendar = _sunday_calendar("02:30-04:00")
    [(start, end)] = calendar.intervals_on(date(2024, 3, 31))
    assert start == ams(2024, 3, 31, 3, 0)
    assert end - start == timedelta(hours=1)


def test_a_night_shift_chains_across_midnight() -> None:
    monday_late = datetime(2024, 3, 4, 23, 30, tzinfo=LONDON)
    assert NIGHTS_UK.add_minutes(monday_late, 60) == datetime(2024, 3, 5, 0, 30, tzinfo=LONDON)
    assert NIGHTS_UK.is_business_time(datetime(2024, 3, 5, 0, 0, tzinfo=LONDON))
    shift = NIGHTS_UK.business_minutes_between(
        datetime(2024, 3, 4, 22, 0, tzinfo=LONDON), datetime(2024, 3, 5, 6, 0, tzinfo=LONDON)
    )
    assert shift == 480


def test_a_night_shift_over_the_spring_change_is_an_hour_shorter() -> None:
    saturday_night = datetime(2024, 3, 30, 22, 0, tzinfo=LONDON)
    sunday_morning = datetime(2024, 3, 31, 6, 0, tzinfo=LONDON)
    assert NIGHTS_UK.business_minutes_between(saturday_night, sunday_morning) == 420


def test_results_are_in_utc_whatever_the_input_zone() -> None:
    start = ams(2024, 3, 8, 16, 30)
    for zone in (AMSTERDAM, NEW_YORK, UTC, timezone(timedelta(hours=9))):
        result = OFFICE_NL.add_minutes(start.astimezone(zone), 60)
        assert result.tzinfo is UTC
        assert result == ams(2024, 3, 11, 8, 30)


def test_subtracting_minutes_counts_backwards() -> None:
    assert OFFICE_NL.add_minutes(ams(2024, 3, 11, 8, 30), -60) == ams(2024, 3, 8, 16, 30)
    assert OFFICE_NL.business_minutes_between(ams(2024, 3, 11, 8, 30), ams(2024, 3, 8, 16, 30)) == (
        -60
    )


def test_amounts_in_seconds_and_fractions_of_minutes_are_supported() -> None:
    start = ams(2024, 3, 8, 16, 59)
    assert OFFICE_NL.add_seconds(start, 90) == ams(2024, 3, 11, 8, 0, 30)
    assert OFFICE_NL.add_minutes(start, 1.5) == ams(2024, 3, 11, 8, 0, 30)
    assert OFFICE_NL.business_seconds_between(start, ams(2024, 3, 11, 8, 0, 30)) == 90


def test_the_intervals_of_a_day_are_listed_in_utc() -> None:
    assert OFFICE_NL.intervals_on(date(2024, 3, 8)) == [
        (ams(2024, 3, 8, 8, 0), ams(2024, 3, 8, 12, 0)),
        (ams(2024, 3, 8, 13, 0), ams(2024, 3, 8, 17, 0)),
    ]
    assert OFFICE_NL.intervals_on(date(2024, 3, 9)) == []


@pytest.mark.parametrize(
    "call",
    [
        lambda c, t: c.add_minutes(t, 5),
        lambda c, t: c.add(t, timedelta(minutes=5)),
        lambda c, t: c.business_minutes_between(t, ams(2024, 1, 1)),
        lambda c, t: c.business_minutes_between(ams(2024, 1, 1), t),
        lambda c, t: c.next_business_instant(t),
        lambda c, t: c.is_business_time(t),
    ],
    ids=["add_minutes", "add", "between start", "between end", "next", "is_business_time"],
)
def test_naive_datetimes_are_rejected(call: Callable[[BusinessCalendar, datetime], object]) -> None:
    with pytest.raises(CalendarError, match="naive"):
        call(OFFICE_NL, datetime(2024, 3, 8, 16, 30))


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        (
            {"mon": ["08:00-12:00", "11:00-14:00"]},
            "Monday: interval 11:00-14:00 overlaps 08:00-12:00",
        ),
        ({"tue": ["13:00-17:00", "08:00-12:00"]}, "Tuesday: interval 08:00-12:00 is out of order"),
        ({"wed": ["17:00-08:00"]}, "Wednesday: interval 17:00-08:00 must start before it ends"),
        ({"thu": ["08:00-25:00"]}, "Thursday: invalid time in '08:00-25:00'"),
        ({"fri": ["24:00-24:00"]}, "24:00 can only be an end time"),
        ({"sat": ["08:60-09:00"]}, "minutes must be 00-59"),
        ({"sun": ["8am-5pm"]}, "Sunday: invalid interval '8am-5pm'"),
        ({"mon": "08:00-17:00"}, "Monday: expected a list"),
        ({"funday": ["08:00-17:00"]}, "unknown weekday 'funday'"),
        ({"mon": [], "Monday": []}, "Monday is given twice"),
    ],
)
def test_invalid_working_hours_are_rejected_with_a_message_naming_the_problem(
    hours: dict[str, object], message: str
) -> None:
    with pytest.raises(CalendarError, match=message.replace("(", r"\(")):
        WorkingHours.from_dict(hours)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("days", "message"),
    [
        ({0: [(480, 1500)]}, "Monday: interval 08:00-1500 min lies outside 00:00-24:00"),
        ({1: [(-5, 60)]}, "Tuesday: interval -5 min-01:00 lies outside"),
        ({2: [(600, 600)]}, "Wednesday: interval 10:00-10:00 must start before it ends"),
        ({3: [(True, 60)]}, "Thursday: interval .* must be a pair of integer minutes"),
        ({7: [(0, 60)]}, "weekday must be an integer 0"),
    ],
)
def test_invalid_minute_intervals_are_rejected(days: dict[int, object], message: str) -> None:
    with pytest.raises(CalendarError, match=message):
        WorkingHours(days)  # type: ignore[arg-type]


def test_a_day_may_end_at_midnight_and_adjacent_intervals_are_allowed() -> None:
    hours = WorkingHours.from_dict({"Mon": ["00:00-12:00", "12:00-24:00"]})
    assert hours.intervals(0) == ((0, 720), (720, 1440))
    assert hours.weekly_minutes == 1440


def test_an_unknown_country_is_rejected() -> None:
    with pytest.raises(CalendarError, match="unknown holiday country 'XX'"):
        BusinessCalendar.build(hours=OFFICE, country="XX")


def test_an_unknown_subdivision_is_rejected_listing_the_known_ones() -> None:
    with pytest.raises(CalendarError, match=r"unknown subdivision 'Atlantis' for country NL.*Zuid"):
        BusinessCalendar.build(hours=OFFICE, country="NL", subdivision="Atlantis")


@pytest.mark.parametrize("subdivision", ["NY", "ny", "New York", "new york"])
def test_subdivisions_are_matched_by_code_or_name_in_any_case(subdivision: str) -> None:
    calendar = BusinessCalendar.build(
        tz="America/New_York", hours=OFFICE, country="us", subdivision=subdivision
    )
    assert (calendar.country, calendar.subdivision) == ("US", "NY")


def test_an_unknown_time_zone_is_rejected() -> None:
    with pytest.raises(CalendarError, match="unknown time zone 'Mars/Olympus_Mons'"):
        BusinessCalendar.build(tz="Mars/Olympus_Mons", hours=OFFICE)


def test_a_calendar_without_working_hours_is_rejected() -> None:
    with pytest.raises(CalendarError, match="no working time"):
        BusinessCalendar("UTC", WorkingHours({}))


def test_a_calendar_where_every_day_is_a_holiday_raises_instead_of_hanging() -> None:
    def every_day(year: int) -> list[date]:
        first = date(year, 1, 1)
        return [first + timedelta(days=i) for i in range((date(year + 1, 1, 1) - first).days)]

    calendar = BusinessCalendar("UTC", WorkingHours({0: [(0, 60)]}), every_day)
    started = time.perf_counter()
    with pytest.raises(CalendarError, match="within 3660 days"):
        calendar.add_minutes(ams(2024, 1, 1), 1)
    with pytest.raises(CalendarError, match="within 3660 days"):
        calendar.add_minutes(ams(2024, 1, 1), -1)
    with pytest.raises(CalendarError, match="within 3660 days"):
        calendar.next_business_instant(ams(2024, 1, 1))
    assert time.perf_counter() - started < 5


def test_holidays_are_looked_up_once_per_year_and_only_when_needed() -> None:
    asked: list[int] = []

    def provider(year: int) -> list[date]:
        asked.append(year)
        return [date(year, 1, 1), date(year, 1, 2)]

    calendar = BusinessCalendar("Europe/Amsterdam", WorkingHours.from_dict(OFFICE), provider)
    assert asked == []
    for _ in range(3):
        assert calendar.add_minutes(ams(2025, 12, 31, 9), 8 * 60) == ams(2026, 1, 5, 9, 0)
    assert calendar.add_minutes(ams(2025, 12, 31, 17), 60) == ams(2026, 1, 5, 9, 0)
    assert asked == [2025, 2026]


def test_holidays_can_be_a_holidays_object_or_a_set_of_dates() -> None:
    hours = WorkingHours.from_dict(OFFICE)
    from_library = BusinessCalendar("Europe/Amsterdam", hours, holidays.country_holidays("NL"))
    from_set = BusinessCalendar("Europe/Amsterdam", hours, {date(2023, 4, 28)})
    assert from_library.is_holiday(date(2023, 4, 27))
    assert not from_library.is_holiday(date(2023, 4, 28))
    assert from_set.is_holiday(date(2023, 4, 28))
    assert not from_set.is_holiday(date(2023, 4, 27))


def test_deadlines_are_fast_enough_for_sla_clocks() -> None:
    # Loose bound (the engine does >100k/s on a laptop); catches accidental per-minute loops.
    start = ams(2024, 3, 8, 10, 30)
    OFFICE_NL.add_minutes(start, 10 * 480)
    count = 20_000
    began = time.perf_counter()
    for i in range(count):
        OFFICE_NL.add_minutes(start, 240 + i % 5000)
    assert time.perf_counter() - began < 2.0
