"""Recurrence rules: validation that names the problem, bounded expansion, and the wall clock
kept across daylight saving time."""

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from itline.core.rrule import (
    MAX_OCCURRENCES,
    TooManyOccurrences,
    describe,
    ics_rrule,
    last_occurrence_end,
    normalize_rrule,
    occurrences,
    validate_rrule,
)

AMS = zoneinfo.ZoneInfo("Europe/Amsterdam")


def local(*args):
    return datetime(*args, tzinfo=AMS)


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Give a recurrence rule"),
        ("BYDAY=SU", "needs a FREQ"),
        ("FREQ=MINUTELY", "FREQ=MINUTELY is not allowed"),
        ("FREQ=SECONDLY;INTERVAL=5", "not allowed"),
        ("FREQ=WEEKLY;COUNT=20000", "COUNT must be a whole number from 1 to 10000"),
        ("FREQ=WEEKLY;INTERVAL=0", "INTERVAL must be"),
        ("FREQ=WEEKLY;COUNT=3;UNTIL=20270101T000000Z", "COUNT or UNTIL, not both"),
        ("FREQ=WEEKLY;BYDAY=XX", "not a valid recurrence rule"),
        ("FREQ=WEEKLY;FREQ=DAILY", "FREQ is given twice"),
        ("weekly please", "not a NAME=VALUE part"),
        ("DTSTART:20260101T000000\nRRULE:FREQ=DAILY", "DTSTART, EXDATE and RDATE"),
    ],
)
def test_a_bad_rule_is_refused_with_a_message_naming_the_problem(text, message):
    with pytest.raises(ValidationError) as caught:
        validate_rrule(text)
    assert message in caught.value.messages[0]


def test_a_rule_that_can_never_match_is_refused():
    # dateutil alone walks day by day to the year 9999 for this rule (seconds of CPU); the
    # probe near the end of its calendar stops after ~30 years (see the module docstring).
    with pytest.raises(ValidationError, match="never produces an occurrence"):
        validate_rrule("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30")


@pytest.mark.parametrize(
    "text",
    [
        "FREQ=WEEKLY;BYDAY=SU",
        "RRULE:freq=monthly;bymonthday=1",
        "FREQ=MONTHLY;BYDAY=1SU",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
        "FREQ=DAILY;UNTIL=20270101T000000Z",
        "FREQ=HOURLY;INTERVAL=6",
    ],
)
def test_common_rules_are_accepted(text):
    validate_rrule(text)


def test_a_rule_is_stored_upper_case_without_its_prefix():
    assert normalize_rrule(" rrule:freq=weekly; byday=su ") == "FREQ=WEEKLY;BYDAY=SU"


def test_a_one_off_window_is_one_occurrence_when_it_overlaps_the_range():
    start, end = utc(2026, 5, 1, 22), utc(2026, 5, 2, 2)
    assert occurrences(start, end, "", "UTC", utc(2026, 5, 2), utc(2026, 5, 3)) == [(start, end)]
    assert occurrences(start, end, "", "UTC", utc(2026, 5, 2, 2), utc(2026, 5, 3)) == []


def test_sunday_patching_stays_at_two_oclock_local_across_both_dst_changes():
    first = local(2026, 3, 1, 2)
    found = occurrences(
        first,
        first + timedelta(hours=2),
        "FREQ=WEEKLY;BYDAY=SU",
        "Europe/Amsterdam",
        utc(2026, 3, 20),
        utc(2026, 11, 2),
    )
    starts = [s.astimezone(AMS) for s, _ in found]
    assert {(s.hour, s.minute) for s in starts if s.day != 29 or s.month != 3} == {(2, 0)}
    # 29 March 2026 02:00 does not exist in Amsterdam: it is read as 03:00 CEST (RFC 5545)
    assert starts[1] == local(2026, 3, 29, 3)
    utc_hours = {s.astimezone(UTC).hour for s, _ in found}
    assert utc_hours == {0, 1}  # summer and winter time
    assert all(e - s == timedelta(hours=2) for s, e in found)


def test_an_occurrence_that_started_before_the_range_but_still_runs_is_included():
    first = utc(2026, 1, 1, 22)
    found = occurrences(
        first,
        first + timedelta(hours=4),
        "FREQ=DAILY",
        "UTC",
        utc(2026, 1, 5, 1),
        utc(2026, 1, 5, 2),
    )
    assert found == [(utc(2026, 1, 4, 22), utc(2026, 1, 5, 2))]


def test_a_utc_until_ends_the_series_and_gives_the_last_occurrence_end():
    first = local(2026, 1, 4, 2)
    rule = "FREQ=WEEKLY;UNTIL=20260125T010000Z"
    found = occurrences(
        first,
        first + timedelta(hours=2),
        rule,
        "Europe/Amsterdam",
        utc(2026, 1, 1),
        utc(2026, 3, 1),
    )
    assert [s.astimezone(AMS).day for s, _ in found] == [4, 11, 18, 25]
    assert last_occurrence_end(first, first + timedelta(hours=2), rule, "Europe/Amsterdam") == (
        local(2026, 1, 25, 4)
    )
    assert last_occurrence_end(first, first + timedelta(hours=2), "FREQ=WEEKLY", "UTC") is None


def test_an_expansion_that_is_too_large_is_refused():
    first = utc(2020, 1, 1)
    with pytest.raises(TooManyOccurrences):
        occurrences(
            first,
            first + timedelta(minutes=30),
            "FREQ=HOURLY",
            "UTC",
            utc(2020, 1, 1),
            utc(2020, 1, 1) + timedelta(hours=MAX_OCCURRENCES + 5),
        )


def test_the_calendar_form_of_a_local_until_is_utc():
    recur = ics_rrule("FREQ=WEEKLY;BYDAY=SU;UNTIL=20260705T020000", "Europe/Amsterdam")
    assert recur["UNTIL"] == [utc(2026, 7, 5, 0)]
    assert recur["BYDAY"] == ["SU"]


def test_rules_are_described_in_words():
    assert describe("FREQ=WEEKLY;BYDAY=SU") == "weekly on Sun"
    assert describe("FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=1") == "every 3 months on day 1"
    assert describe("") == "once"


ZONES = ["Europe/Amsterdam", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "UTC"]
RULES = ["FREQ=DAILY", "FREQ=WEEKLY;BYDAY=SU", "FREQ=WEEKLY;BYDAY=MO,TH", "FREQ=MONTHLY;BYDAY=1SU"]


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    rule=st.sampled_from(RULES),
    day=st.dates(min_value=datetime(2024, 1, 1).date(), max_value=datetime(2030, 1, 1).date()),
    hour=st.integers(min_value=0, max_value=23),
    minute=st.sampled_from([0, 15, 30, 45]),
    minutes=st.integers(min_value=15, max_value=600),
)
def test_every_occurrence_starts_at_the_same_local_wall_time_and_lasts_as_long(
    zone, rule, day, hour, minute, minutes
):
    tz = zoneinfo.ZoneInfo(zone)
    wall = datetime(day.year, day.month, day.day, hour, minute)
    first = wall.replace(tzinfo=tz)
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wall:
        return  # the first start itself falls in a DST gap
    length = timedelta(minutes=minutes)
    found = occurrences(first, first + length, rule, zone, first, first + timedelta(days=400))
    assert found
    assert found[0][0] >= first  # dtstart counts only when the rule matches it
    for begins, ends in found:
        assert ends - begins == length
        shown = begins.astimezone(tz)
        exists = shown.replace(tzinfo=None).replace(hour=hour, minute=minute)
        if exists.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == exists:
            assert (shown.hour, shown.minute) == (hour, minute)
        else:  # the wall time does not exist that day: it starts after the gap instead
            assert shown.replace(tzinfo=None) > exists
    assert [b for b, _ in found] == sorted(b for b, _ in found)
