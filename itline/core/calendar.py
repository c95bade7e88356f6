"""Business calendar engine: working hours, holidays and business-time arithmetic.

Pure Python (no Django), used by SLA clocks and maintenance windows.

Model
-----
* ``WorkingHours`` gives, per weekday (0 = Monday .. 6 = Sunday), sorted, non-overlapping
  intervals in minutes from local midnight, ``0 <= start < end <= 1440``. 1440 means 24:00, so
  a day can run to midnight and chain seamlessly into the next day's 00:00 interval.
* ``BusinessCalendar`` applies those hours in the LOCAL wall-clock time of one IANA time zone.
  A holiday removes the whole local date.
* Business time is the union of half-open instant intervals ``[start, end)``: the instant an
  interval ends is not business time.

Time zone rules (DST)
---------------------
Each interval counts its real elapsed duration between the instant of its start wall time and
the instant of its end wall time. A wall time that occurs twice (fall back) means its FIRST
occurrence; a wall time that does not exist (spring forward) means the instant the clock jumps,
i.e. the first instant after the gap. Both rules keep wall -> instant monotonic, so adjacent
intervals always chain without gaps or overlaps. In Europe/Amsterdam an interval 01:00-04:00
lasts 2 hours on the spring-forward Sunday and 4 hours on the fall-back Sunday; 02:00-03:00
lasts 0 hours and 2 hours respectively.

API conventions
---------------
* Every datetime argument must be timezone-aware (any zone); naive ones raise ``CalendarError``.
* Every datetime returned is in UTC (``tzinfo=datetime.UTC``).
* Arithmetic is exact to the microsecond (integers internally).
* ``add(t, d)`` for ``d > 0`` is the EARLIEST instant ``x`` with
  ``business_time_between(t, x) == d``. It can be an interval end (Friday 16:00 + 1 h ->
  Friday 17:00, not Monday 08:00) and ``x - 1 microsecond`` is always business time.
  ``add(t, 0) == t`` (use ``next_business_instant`` to move into working time).
  ``add(t, -d)`` is the LATEST instant ``x`` with ``business_time_between(x, t) == d``.
  These definitions make ``add`` monotonic and additive: ``add(add(t, a), b) == add(t, a + b)``
  for amounts of the same sign.
* ``business_time_between(a, b)`` is the business time in ``[a, b)``; for ``b < a`` it is the
  negative of ``business_time_between(b, a)``, so it is additive for any three instants.
* Searches look at most ``max_search_days`` (default ~10 years) ahead or back and raise
  ``CalendarError`` rather than loop forever on a calendar without working time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

__all__ = [
    "DEFAULT_MAX_SEARCH_DAYS",
    "WEEKDAY_NAMES",
    "BusinessCalendar",
    "CalendarError",
    "HolidayProvider",
    "HolidaySource",
    "Interval",
    "WorkingHours",
]

MINUTES_PER_DAY = 1440
DEFAULT_MAX_SEARCH_DAYS = 3660

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY_TITLES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

Interval = tuple[int, int]
"""``(start, end)`` in minutes from local midnight, ``0 <= start < end <= 1440``."""

HolidayProvider = Callable[[int], Iterable[date]]
"""Returns the holiday dates of one year; called at most once per year per calendar."""

HolidaySource = holidays_lib.HolidayBase | HolidayProvider | Iterable[date] | None

_US_PER_SECOND = 1_000_000
_US_PER_MINUTE = 60 * _US_PER_SECOND
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
# Bounds memory for long-running processes; a full refill costs a few milliseconds per year.
_CACHE_LIMIT = 50_000

_INTERVAL_RE = re.compile(r"\s*([0-9]{1,2}):([0-9]{2})\s*-\s*([0-9]{1,2}):([0-9]{2})\s*")

# Cached per local date: (total business microseconds, ((start_us, end_us), ...)).
_Day = tuple[int, tuple[tuple[int, int], ...]]
_EMPTY_DAY: _Day = (0, ())


class CalendarError(ValueError):
    """Invalid calendar configuration or an arithmetic request the calendar cannot answer."""


def _fmt_minute(minute: object) -> str:
    if type(minute) is int and 0 <= minute <= MINUTES_PER_DAY:
        return f"{minute // 60:02d}:{minute % 60:02d}"
    return f"{minute!r} min"


def _fmt_interval(start: object, end: object) -> str:
    return f"{_fmt_minute(start)}-{_fmt_minute(end)}"


def _validate_day(weekday: int, intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    title = _WEEKDAY_TITLES[weekday]
    if isinstance(intervals, (str, bytes)):
        raise CalendarError(
            f"{title}: expected a list of (start, end) intervals, got {intervals!r}"
        )
    result: list[Interval] = []
    for raw in intervals:
        item = tuple(raw) if isinstance(raw, (tuple, list)) else (raw,)
        # bool is an int subclass, but True/False as minutes is always a mistake.
        if len(item) != 2 or not all(type(v) is int for v in item):
            raise CalendarError(
                f"{title}: interval {raw!r} must be a pair of integer minutes (start, end)"
            )
        start, end = item
        text = _fmt_interval(start, end)
        if not (0 <= start <= MINUTES_PER_DAY and 0 <= end <= MINUTES_PER_DAY):
            raise CalendarError(f"{title}: interval {text} lies outside 00:00-24:00 (0..1440 min)")
        if start >= end:
            raise CalendarError(f"{title}: interval {text} must start before it ends")
        if result:
            prev_start, prev_end = result[-1]
            prev_text = _fmt_interval(prev_start, prev_end)
            if start < prev_start:
                raise CalendarError(
                    f"{title}: interval {text} is out of order (listed after {prev_text}); "
                    "intervals must be sorted by start time"
                )
            if start < prev_end:
                raise CalendarError(f"{title}: interval {text} overlaps {prev_text}")
        result.append((start, end))
    return tuple(result)


def _parse_clock(title: str, text: str, hours: str, minutes: str, *, is_end: bool) -> int:
    h, m = int(hours), int(minutes)
    if m > 59:
        raise CalendarError(f"{title}: invalid time in {text!r}: minutes must be 00-59")
    if h == 24 and m == 0:
        if not is_end:
            raise CalendarError(
                f"{title}: invalid interval {text!r}: 24:00 can only be an end time"
            )
        return MINUTES_PER_DAY
    if h > 23:
        raise CalendarError(
            f"{title}: invalid time in {text!r}: hours must be 00-23 (24:00 is allowed as an end)"
        )
    return h * 60 + m


def _parse_interval(title: str, text: object) -> Interval:
    if not isinstance(text, str):
        raise CalendarError(f"{title}: expected an 'HH:MM-HH:MM' string, got {text!r}")
    match = _INTERVAL_RE.fullmatch(text)
    if match is None:
        raise CalendarError(
            f"{title}: invalid interval {text!r}; expected 'HH:MM-HH:MM', e.g. '08:00-17:00'"
        )
    start = _parse_clock(title, text, match[1], match[2], is_end=False)
    end = _parse_clock(title, text, match[3], match[4], is_end=True)
    return start, end


def _weekday_from_key(key: object) -> int:
    if isinstance(key, str):
        lowered = key.strip().lower()
        for index, (short, title) in enumerate(zip(WEEKDAY_NAMES, _WEEKDAY_TITLES, strict=True)):
            if lowered in (short, title.lower()):
                return index
    raise CalendarError(
        f"unknown weekday {key!r}; expected one of {', '.join(WEEKDAY_NAMES)} "
        "(or the full English day name)"
    )


class WorkingHours:
    """Weekly working hours in local wall-clock minutes; immutable and hashable."""

    __slots__ = ("_days",)

    _days: tuple[tuple[Interval, ...], ...]

    def __init__(self, days: Mapping[int, Iterable[Interval]] | None = None) -> None:
        """``days`` maps weekday (0 = Monday) to its ``(start, end)`` minute intervals.

        Weekdays left out have no working hours. Adjacent intervals (``end == next start``)
        are allowed and behave as one.
        """
        result: list[tuple[Interval, ...]] = [() for _ in range(7)]
        for weekday, intervals in (days or {}).items():
            if type(weekday) is not int or not 0 <= weekday <= 6:
                raise CalendarError(
                    f"weekday must be an integer 0 (Monday) .. 6 (Sunday), got {weekday!r}"
                )
            result[weekday] = _validate_day(weekday, intervals)
        self._days = tuple(result)

    @classmethod
    def from_dict(cls, data: Mapping[str, Iterable[str]]) -> WorkingHours:
        """Parse ``{"mon": ["08:00-12:00", "13:00-17:00"], ...}``; "24:00" may end a day.

        Keys are ``mon``..``sun`` or full English day names, case-insensitive; missing days
        have no working hours.
        """
        if not isinstance(data, Mapping):
            raise CalendarError(
                f"working hours must be a mapping of weekday to intervals, got {data!r}"
            )
        days: dict[int, list[Interval]] = {}
        keys: dict[int, str] = {}
        for key, values in data.items():
            weekday = _weekday_from_key(key)
            title = _WEEKDAY_TITLES[weekday]
            if weekday in days:
                raise CalendarError(f"{title} is given twice (as {keys[weekday]!r} and {key!r})")
            if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
                raise CalendarError(
                    f"{title}: expected a list of 'HH:MM-HH:MM' strings, got {values!r}"
                )
            keys[weekday] = key
            days[weekday] = [_parse_interval(title, value) for value in values]
        return cls(days)

    def to_dict(self) -> dict[str, list[str]]:
        """All seven days as ``{"mon": ["08:00-12:00", ...], ...}``; ``from_dict`` inverts it."""
        return {
            name: [f"{_fmt_minute(s)}-{_fmt_minute(e)}" for s, e in intervals]
            for name, intervals in zip(WEEKDAY_NAMES, self._days, strict=True)
        }

    def intervals(self, weekday: int) -> tuple[Interval, ...]:
        """The intervals of one weekday (0 = Monday)."""
        return self._days[weekday]

    @property
    def days(self) -> tuple[tuple[Interval, ...], ...]:
        """Seven tuples of intervals, Monday first."""
        return self._days

    @property
    def weekly_minutes(self) -> int:
        """Nominal working minutes per week (ignores holidays and DST)."""
        return sum(e - s for day in self._days for s, e in day)

    def is_empty(self) -> bool:
        return not any(self._days)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WorkingHours):
            return NotImplemented
        return self._days == other._days

    def __hash__(self) -> int:
        return hash(self._days)

    def __repr__(self) -> str:
        return f"WorkingHours.from_dict({self.to_dict()!r})"


def _merged(intervals: tuple[Interval, ...]) -> tuple[Interval, ...]:
    out: list[list[int]] = []
    for start, end in intervals:
        if out and start == out[-1][1]:
            out[-1][1] = end
        else:
            out.append([start, end])
    return tuple((s, e) for s, e in out)


def _to_us(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * _US_PER_SECOND + delta.microseconds


def _from_us(us: int) -> datetime:
    try:
        return _EPOCH + timedelta(microseconds=us)
    except OverflowError:
        raise CalendarError("result lies outside the supported date range") from None


def _check_date(value: object, what: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise CalendarError(f"{what} must contain dates, got {value!r}")
    return value


def _amount_us(value: float, unit_us: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CalendarError(f"{what} must be a number, got {value!r}")
    if isinstance(value, int):
        return value * unit_us
    if not math.isfinite(value):
        raise CalendarError(f"{what} must be finite, got {value!r}")
    return round(value * unit_us)


def _holiday_provider(source: HolidaySource) -> Callable[[int], frozenset[date]]:
    if source is None:
        return lambda year: frozenset()
    if isinstance(source, holidays_lib.HolidayBase):
        library = source

        def from_library(year: int) -> frozenset[date]:
            # A membership test makes an expanding HolidayBase populate that year.
            date(year, 1, 1) in library  # noqa: B015
            return frozenset(d for d in library if d.year == year)

        return from_library
    if callable(source):
        provider = source

        def from_callable(year: int) -> frozenset[date]:
            return frozenset(_check_date(d, "holiday provider result") for d in provider(year))

        return from_callable
    by_year: dict[int, set[date]] = {}
    for value in source:
        day = _check_date(value, "holidays")
        by_year.setdefault(day.year, set()).add(day)
    frozen = {year: frozenset(days) for year, days in by_year.items()}
    return lambda year: frozen.get(year, frozenset())


def _resolve_country(country: str, subdivision: str | None) -> tuple[str, str | None]:
    code = country.strip().upper() if isinstance(country, str) else ""
    supported = holidays_lib.list_supported_countries(include_aliases=False)
    if code not in supported:
        raise CalendarError(
            f"unknown holiday country {country!r}; use an ISO 3166-1 alpha-2 code supported by "
            "the 'holidays' library, e.g. 'NL' or 'US'"
        )
    if subdivision is None:
        return code, None
    if not isinstance(subdivision, str):
        raise CalendarError(f"subdivision must be a string, got {subdivision!r}")
    subdivisions = supported[code]
    # Users type "ny" or "New York"; store the library's own code so equal settings compare
    # equal and the stored value survives alias changes in the library.
    aliases: Mapping[str, str] = (
        getattr(getattr(holidays_lib, code, None), "subdivisions_aliases", None) or {}
    )
    canonical = {name.lower(): name for name in subdivisions}
    canonical.update({alias.lower(): name for alias, name in aliases.items()})
    wanted = canonical.get(subdivision.strip().lower(), subdivision.strip())
    try:
        holidays_lib.country_holidays(code, subdiv=wanted, years=())
    except NotImplementedError:
        listing = ", ".join(subdivisions) if subdivisions else "none"
        raise CalendarError(
            f"unknown subdivision {subdivision!r} for country {code}; supported: {listing}"
        ) from None
    return code, wanted


class BusinessCalendar:
    """Working hours in a time zone minus holidays, with exact business-time arithmetic.

    Instances are immutable in behaviour; internal caches make repeated lookups cheap and are
    safe to share between threads (a race only recomputes the same value).
    """

    def __init__(
        self,
        tz: str | ZoneInfo,
        hours: WorkingHours,
        holidays: HolidaySource = None,
        *,
        max_search_days: int = DEFAULT_MAX_SEARCH_DAYS,
    ) -> None:
        """``holidays``: a ``holidays.HolidayBase``, a ``year -> dates`` callable, or dates."""
        if isinstance(tz, ZoneInfo):
            self.zone = tz
        else:
            try:
                self.zone = ZoneInfo(tz)
            except (ZoneInfoNotFoundError, ValueError, TypeError):
                raise CalendarError(
                    f"unknown time zone {tz!r}; use an IANA name such as 'Europe/Amsterdam'"
                ) from None
        if not isinstance(hours, WorkingHours):
            raise CalendarError(f"hours must be WorkingHours, got {hours!r}")
        if hours.is_empty():
            raise CalendarError("the working hours contain no working time on any weekday")
        if type(max_search_days) is not int or max_search_days < 1:
            raise CalendarError(
                f"max_search_days must be a positive integer, got {max_search_days!r}"
            )
        self.tz: str = self.zone.key
        self.hours = hours
        # Informational only (set by build()); holiday lookups go through the provider.
        self.country: str | None = None
        self.subdivision: str | None = None
        self.max_search_days = max_search_days
        self._week_spec = tuple(_merged(day) for day in hours.days)
        self._holidays_of = _holiday_provider(holidays)
        self._holiday_years: dict[int, frozenset[int]] = {}
        self._days: dict[int, _Day] = {}
        self._weeks: dict[int, int] = {}

    @classmethod
    def build(
        cls,
        *,
        tz: str = "Europe/Amsterdam",
        hours: WorkingHours | Mapping[str, Iterable[str]],
        country: str | None = "NL",
        subdivision: str | None = None,
        custom_holidays: Iterable[date] = (),
        removed_holidays: Iterable[date] = (),
        max_search_days: int = DEFAULT_MAX_SEARCH_DAYS,
    ) -> BusinessCalendar:
        """A calendar with the public holidays of ``country`` (ISO code, ``None`` for none).

        Holidays are ``(library holidays - removed_holidays) | custom_holidays``, looked up
        lazily per year. ``hours`` may be ``WorkingHours`` or a ``from_dict`` mapping.
        """
        if not isinstance(hours, WorkingHours):
            hours = WorkingHours.from_dict(hours)
        custom = frozenset(_check_date(d, "custom_holidays") for d in custom_holidays)
        removed = frozenset(_check_date(d, "removed_holidays") for d in removed_holidays)
        resolved = _resolve_country(country, subdivision) if country is not None else None

        def provider(year: int) -> frozenset[date]:
            found: frozenset[date] = frozenset()
            if resolved is not None:
                code, subdiv = resolved
                found = frozenset(holidays_lib.country_holidays(code, subdiv=subdiv, years=year))
            return (found - removed) | {d for d in custom if d.year == year}

        calendar = cls(tz, hours, provider, max_search_days=max_search_days)
        if resolved is not None:
            calendar.country, calendar.subdivision = resolved
        return calendar

    @classmethod
    def twenty_four_seven(cls, tz: str = "UTC") -> BusinessCalendar:
        """Always business time: arithmetic equals plain elapsed time."""
        return cls(tz, WorkingHours({weekday: [(0, MINUTES_PER_DAY)] for weekday in range(7)}))

    def __repr__(self) -> str:
        return f"<BusinessCalendar tz={self.tz!r} country={self.country!r} hours={self.hours!r}>"

    # ---- public API -------------------------------------------------------------------

    def is_holiday(self, day: date) -> bool:
        """Whether the local date ``day`` is a holiday (its working hours do not apply)."""
        day = _check_date(day, "is_holiday()")
        return day.toordinal() in self._holiday_ordinals(day.year)

    def intervals_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """The business intervals ``[start, end)`` of local date ``day``, in UTC."""
        day = _check_date(day, "intervals_on()")
        return [(_from_us(s), _from_us(e)) for s, e in self._day(day.toordinal())[1]]

    def is_business_time(self, moment: datetime) -> bool:
        t, ordinal = self._instant(moment)
        # The next day matters too where clocks fall back across midnight.
        for o in (ordinal, ordinal + 1):
            for s, e in self._day(o)[1]:
                if s <= t < e:
                    return True
        return False

    def next_business_instant(self, moment: datetime) -> datetime:
        """``moment`` (in UTC) if it is business time, else the start of the next interval."""
        t, ordinal = self._instant(moment)
        day = self._day
        for o in range(ordinal, ordinal + self.max_search_days + 1):
            for s, e in day(o)[1]:
                if e > t:
                    return _from_us(max(t, s))
        raise self._exhausted("any working time", "after", moment)

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The instant ``duration`` of business time after ``start`` (before, if negative)."""
        if not isinstance(duration, timedelta):
            raise CalendarError(f"duration must be a timedelta, got {duration!r}")
        amount = (
            duration.days * 86_400 + duration.seconds
        ) * _US_PER_SECOND + duration.microseconds
        return self._add(start, amount, duration)

    def add_seconds(self, start: datetime, seconds: float) -> datetime:
        """``add()`` in seconds; fractions are rounded to the microsecond."""
        amount = _amount_us(seconds, _US_PER_SECOND, "seconds")
        return self._add(start, amount, timedelta(microseconds=amount))

    def add_minutes(self, start: datetime, minutes: float) -> datetime:
        """``add()`` in minutes; fractions are rounded to the microsecond."""
        amount = _amount_us(minutes, _US_PER_MINUTE, "minutes")
        return self._add(start, amount, timedelta(microseconds=amount))

    def business_time_between(self, a: datetime, b: datetime) -> timedelta:
        """Business time in ``[a, b)``; negative when ``b < a``."""
        return timedelta(microseconds=self._between_us(a, b))

    def business_seconds_between(self, a: datetime, b: datetime) -> float:
        return self._between_us(a, b) / _US_PER_SECOND

    def business_minutes_between(self, a: datetime, b: datetime) -> float:
        return self._between_us(a, b) / _US_PER_MINUTE

    # ---- internals --------------------------------------------------------------------

    def _instant(self, moment: datetime) -> tuple[int, int]:
        """Epoch microseconds and the proleptic ordinal of the local date."""
        if not isinstance(moment, datetime):
            raise CalendarError(f"expected a timezone-aware datetime, got {moment!r}")
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise CalendarError(f"naive datetime {moment.isoformat()} is ambiguous; add a tzinfo")
        us = _to_us(moment)
        if moment.tzinfo is self.zone:
            # astimezone() to the same tzinfo keeps the wall date even for nonexistent wall
            # times, which can name a different date than the instant they denote.
            local = _from_us(us).astimezone(self.zone)
        else:
            local = moment.astimezone(self.zone)
        return us, local.toordinal()

    def _exhausted(self, what: str, direction: str, moment: datetime) -> CalendarError:
        return CalendarError(
            f"no {what} within {self.max_search_days} days {direction} {moment.isoformat()} "
            f"in calendar {self.tz}; are all working days holidays?"
        )

    def _add(self, start: datetime, amount: int, duration: timedelta) -> datetime:
        t, ordinal = self._instant(start)
        if amount > 0:
            result = self._forward(t, ordinal, amount)
            if result is None:
                raise self._exhausted(f"{duration} of working time", "after", start)
        elif amount < 0:
            result = self._backward(t, ordinal, -amount)
            if result is None:
                raise self._exhausted(f"{-duration} of working time", "before", start)
        else:
            result = t
        return _from_us(result)

    def _forward(self, t: int, ordinal: int, remaining: int) -> int | None:
        day = self._day
        # `t` can lie in the next day's first interval where clocks fall back across midnight.
        for o in (ordinal, ordinal + 1):
            for s, e in day(o)[1]:
                if e > t:
                    s = max(s, t)
                    available = e - s
                    if available >= remaining:
                        return s + remaining
                    remaining -= available
        o = ordinal + 2
        limit = ordinal + self.max_search_days
        while o <= limit:
            # Whole weeks from a Monday are skipped with one cached total, so long SLAs cost
            # one step per week instead of seven.
            if (o - 1) % 7 == 0 and o + 6 <= limit:
                week = self._week_total((o - 1) // 7)
                if week < remaining:
                    remaining -= week
                    o += 7
                    continue
            total, intervals = day(o)
            if total < remaining:
                remaining -= total
                o += 1
                continue
            for s, e in intervals:
                available = e - s
                if available >= remaining:
                    return s + remaining
                remaining -= available
        return None

    def _backward(self, t: int, ordinal: int, remaining: int) -> int | None:
        day = self._day
        for o in (ordinal + 1, ordinal):
            for s, e in reversed(day(o)[1]):
                if s < t:
                    e = min(e, t)
                    available = e - s
                    if available >= remaining:
                        return e - remaining
                    remaining -= available
        o = ordinal - 1
        limit = ordinal - self.max_search_days
        while o >= limit:
            if (o - 1) % 7 == 6 and o - 6 >= limit:
                week = self._week_total((o - 1) // 7)
                if week < remaining:
                    remaining -= week
                    o -= 7
                    continue
            total, intervals = day(o)
            if total < remaining:
                remaining -= total
                o -= 1
                continue
            for s, e in reversed(intervals):
                available = e - s
                if available >= remaining:
                    return e - remaining
                remaining -= available
        return None

    def _between_us(self, a: datetime, b: datetime) -> int:
        a_us, a_ord = self._instant(a)
        b_us, b_ord = self._instant(b)
        if b_us < a_us:
            return -self._between_sorted(b_us, b_ord, a_us, a_ord)
        return self._between_sorted(a_us, a_ord, b_us, b_ord)

    def _between_sorted(self, a: int, a_ord: int, b: int, b_ord: int) -> int:
        if a == b:
            return 0
        first, last = a_ord, b_ord + 1
        if last - first <= 4:
            return self._overlap(first, last, a, b)
        # Days strictly inside the range are fully covered, so their cached totals suffice.
        return (
            self._overlap(first, first + 1, a, b)
            + self._sum_totals(first + 2, last - 2)
            + self._overlap(last - 1, last, a, b)
        )

    def _overlap(self, first: int, last: int, a: int, b: int) -> int:
        total = 0
        for o in range(first, last + 1):
            for s, e in self._day(o)[1]:
                s = max(s, a)
                e = min(e, b)
                if e > s:
                    total += e - s
        return total

    def _sum_totals(self, first: int, last: int) -> int:
        total = 0
        o = first
        while o <= last:
            if (o - 1) % 7 == 0 and o + 6 <= last:
                total += self._week_total((o - 1) // 7)
                o += 7
            else:
                total += self._day(o)[0]
                o += 1
        return total

    def _week_total(self, week: int) -> int:
        """Business microseconds of ISO-style week ``week`` (ordinals ``7w+1 .. 7w+7``)."""
        total = self._weeks.get(week)
        if total is None:
            first = 7 * week + 1
            total = sum(self._day(o)[0] for o in range(first, first + 7))
            self._weeks[week] = total
        return total

    def _day(self, ordinal: int) -> _Day:
        cached = self._days.get(ordinal)
        if cached is None:
            if len(self._days) >= _CACHE_LIMIT:
                self._days.clear()
                self._weeks.clear()
            cached = self._days[ordinal] = self._compute_day(ordinal)
        return cached

    def _compute_day(self, ordinal: int) -> _Day:
        spec = self._week_spec[(ordinal - 1) % 7]
        if not spec:
            return _EMPTY_DAY
        try:
            local_date = date.fromordinal(ordinal)
        except (ValueError, OverflowError):
            raise CalendarError("date lies outside the supported date range") from None
        if ordinal in self._holiday_ordinals(local_date.year):
            return _EMPTY_DAY
        intervals: list[list[int]] = []
        for start_minute, end_minute in spec:
            s = self._wall_to_us(ordinal, start_minute)
            e = self._wall_to_us(ordinal, end_minute)
            if e <= s:
                continue  # swallowed by a spring-forward gap
            if intervals and s <= intervals[-1][1]:
                intervals[-1][1] = e  # a gap can make wall-separated intervals touch
            else:
                intervals.append([s, e])
        frozen = tuple((s, e) for s, e in intervals)
        return sum(e - s for s, e in frozen), frozen

    def _wall_to_us(self, ordinal: int, minute: int) -> int:
        if minute >= MINUTES_PER_DAY:
            ordinal += 1
            minute -= MINUTES_PER_DAY
        try:
            d = date.fromordinal(ordinal)
        except (ValueError, OverflowError):
            raise CalendarError("date lies outside the supported date range") from None
        wall = datetime(d.year, d.month, d.day, minute // 60, minute % 60)
        local = wall.replace(tzinfo=self.zone)  # fold=0: first occurrence of a repeated time
        first = _to_us(local)
        if _from_us(first).astimezone(self.zone).replace(tzinfo=None) == wall:
            return first
        # Nonexistent wall time: the two folds straddle the clock jump; bisect on whole
        # seconds (tzdata transitions are whole seconds) for the first instant past `wall`.
        second = _to_us(local.replace(fold=1))
        lo = min(first, second) // _US_PER_SECOND
        hi = -(-max(first, second) // _US_PER_SECOND)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            shown = _from_us(mid * _US_PER_SECOND).astimezone(self.zone).replace(tzinfo=None)
            if shown > wall:
                hi = mid
            else:
                lo = mid
        return hi * _US_PER_SECOND

    def _holiday_ordinals(self, year: int) -> frozenset[int]:
        found = self._holiday_years.get(year)
        if found is None:
            found = frozenset(d.toordinal() for d in self._holidays_of(year))
            self._holiday_years[year] = found
        return found
