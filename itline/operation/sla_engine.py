"""The SLA clock engine: response and resolution clocks as a pure function (no database).

A clock is never "ticked". It is a pure function of three things:

* the incident's journal (``created`` gives the initial values; later rows give the new value
  of ``status``, ``hold_reason``, ``priority``, ``responded_at``),
* the agreement (business calendar, targets per priority, warning share, the on-hold reasons
  that pause),
* and the instant it is evaluated at (``now``).

So a clock can be recomputed exactly at any time, e.g. after a holiday is added to the
calendar, and explained as a list of running and paused periods with the business minutes
counted in each.

Rules
-----
* Both clocks start when the incident is created.
* The response clock stops at the first ``responded_at`` (its value, kept within creation and
  the moment it was recorded) or the first move to in progress, on hold, resolved or closed,
  whichever is earlier. It never pauses.
* The resolution clock stops while the incident is resolved or closed and runs again after a
  reopen (time already used is kept). It pauses while the incident is on hold for a reason in
  the agreement's pause states; other on-hold reasons keep it running.
* The target is the one of the priority in effect at the end of the clock (now, or when it
  stopped): a priority change switches the target and keeps the time used.
* Deadlines (``warn_at``, ``due_at``) are the instants the used time reaches the warning share
  and the target: computed with the calendar engine from the start of the running period in
  which that happens. A running clock's deadlines do not depend on ``now``, which is why the
  breach scan is an index lookup. A paused or stopped clock has them only when they were
  reached before it paused or stopped.
* The warning is due when the used time reaches the warning share (``warn_at <= now``); the
  target is breached when the used time exceeds it (``due_at < now``).

``compute`` works on integer microseconds with the business calendar engine
(``itline.core.calendar``); ``journal_inputs`` turns journal rows into its arguments.
``itline.operation.sla`` reads journals, stores ``SlaClock`` rows and runs the breach scan.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from itline.core.calendar import BusinessCalendar as CalendarEngine
from itline.core.calendar import CalendarError

RESPONSE = "response"
RESOLUTION = "resolution"
KINDS = (RESPONSE, RESOLUTION)

RUNNING = "running"
PAUSED = "paused"
STOPPED = "stopped"

TRACKED = frozenset({"status", "hold_reason", "priority", "responded_at", "resolved_at"})
# Moving into one of these counts as the first response.
RESPONSE_STOPS = frozenset({"in_progress", "on_hold", "resolved", "closed"})
RESOLVED_STATES = frozenset({"resolved", "closed"})
ON_HOLD = "on_hold"
DEFAULT_PRIORITY = 3

_US_PER_MINUTE = 60_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TWENTY_FOUR_SEVEN = CalendarEngine.twenty_four_seven("UTC")


# --- the pure core --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    """One journal row reduced to the new values of the tracked fields."""

    at: datetime
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Policy:
    """What an agreement says about clocks."""

    targets: Mapping[int, tuple[int, int]]  # priority -> (response, resolution) minutes
    warning_percent: int = 75
    pause_states: frozenset[str] = frozenset()

    def target(self, kind: str, priority: int) -> int | None:
        pair = self.targets.get(priority)
        if pair is None:
            return None
        return pair[0] if kind == RESPONSE else pair[1]


@dataclass(slots=True)
class Period:
    """A stretch of the clock's life with one state, status and priority."""

    state: str  # running or paused
    start: datetime
    end: datetime | None  # None: still going at the time of computation
    business_minutes: float  # business minutes in [start, end or now)
    status: str
    hold_reason: str
    priority: int

    @property
    def counted(self) -> bool:
        return self.state == RUNNING


@dataclass(slots=True)
class Clock:
    """The computed state of one clock at ``computed_at``."""

    kind: str
    state: str
    started_at: datetime
    stopped_at: datetime | None
    priority: int
    target_minutes: int
    warning_percent: int
    elapsed_minutes: float
    warn_at: datetime | None
    due_at: datetime | None
    computed_at: datetime
    periods: tuple[Period, ...] = ()

    @property
    def remaining_minutes(self) -> float:
        return self.target_minutes - self.elapsed_minutes

    @property
    def breached(self) -> bool:
        return self.elapsed_minutes > self.target_minutes

    @property
    def warned(self) -> bool:
        return self.elapsed_minutes * 100 >= self.target_minutes * self.warning_percent


def _us(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _dt(us: int) -> datetime:
    # fromtimestamp is exact to the microsecond for these magnitudes and twice as fast as
    # epoch + timedelta (a test compares both over the supported range).
    return datetime.fromtimestamp(us / 1_000_000, UTC)


def _parse_instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)  # the journal stores aware values; be lenient
    return moment


def _priority(value: Any, fallback: int) -> int:
    if isinstance(value, bool):
        return fallback
    try:
        return int(value)
    except (TypeError, ValueError):
        return fallback


_US_PER_DAY = 86_400_000_000
_MISSING: Any = object()
_NEVER = 2**62
_ORDINAL_1970 = 719_163  # date(1970, 1, 1).toordinal()


class _Calc:
    """Business-time arithmetic on epoch microseconds over one calendar engine.

    It keeps a running total of business time per local day (a prefix sum over the engine's
    cached days), so the business time before an instant is one lookup plus that day's few
    intervals, the time between two instants a difference of two of those, and "N business
    minutes after t" a binary search. The local date of an instant comes from a per-day
    offset cache instead of a time zone conversion. Each clock then costs a few microseconds,
    so recomputing every open incident is cheap. Results equal the engine's public
    ``business_time_between``/``add`` (a property test holds them together)."""

    __slots__ = ("_base", "_days", "_engine", "_limit", "_offsets", "_prefix", "zone")

    def __init__(self, engine: CalendarEngine) -> None:
        self._engine = engine
        self._limit = engine.max_search_days
        self.zone = engine.zone
        # UTC day number -> the zone's UTC offset (us) through that whole day, or None when
        # the offset changes during the day (then the engine's exact conversion answers).
        self._offsets: dict[int, int | None] = {}
        # _prefix[i]: business us of the local days _base .. _base + i - 1.
        self._base = 0
        self._prefix: list[int] = []
        # ordinal -> (business us before the day, its intervals, next day's first start)
        self._days: dict[int, tuple[int, tuple[tuple[int, int], ...], int]] = {}

    def ordinal(self, us: int) -> int:
        """The proleptic ordinal of the local date of instant ``us``."""
        day = us // _US_PER_DAY
        offset = self._offsets.get(day, _MISSING)
        if offset is _MISSING:
            offset = self._offset(day)
        if offset is None:
            return int(self._engine._instant(_dt(us))[1])
        return (us + offset) // _US_PER_DAY + _ORDINAL_1970

    def _offset(self, day: int) -> int | None:
        if len(self._offsets) > 100_000:
            self._offsets.clear()
        zone = self.zone
        first = _dt(day * _US_PER_DAY).astimezone(zone).utcoffset()
        last = _dt((day + 1) * _US_PER_DAY - 1).astimezone(zone).utcoffset()
        offset = None
        if first == last and first is not None:
            offset = (first.days * 86_400 + first.seconds) * 1_000_000 + first.microseconds
        self._offsets[day] = offset
        return offset

    def _cover(self, first: int, last: int) -> None:
        """Make the prefix sums reach from ordinal ``first`` to ``last + 1``. Growing at the
        end keeps every stored value; starting earlier rebuilds (and forgets the days)."""
        prefix = self._prefix
        day = self._engine._day
        if not prefix or first < self._base:
            start = first - 31
            end = max(last + 2, self._base + len(prefix)) if prefix else last + 366
            total = 0
            fresh = [0]
            for o in range(start, end):
                total += day(o)[0]
                fresh.append(total)
            self._base, self._prefix = start, fresh
            self._days = {}
            return
        end = self._base + len(prefix) - 1  # the prefix reaches the start of this ordinal
        if last + 1 > end:
            total = prefix[-1]
            for o in range(end, max(last + 1, end + 366)):
                total += day(o)[0]
                prefix.append(total)

    def _entry(self, o: int) -> tuple[int, tuple[tuple[int, int], ...], int]:
        if len(self._days) > 50_000:
            self._days.clear()
        day = self._engine._day
        following = day(o + 1)[1]
        entry = (
            self._prefix[o - self._base],
            day(o)[1],
            following[0][0] if following else _NEVER,
        )
        self._days[o] = entry
        return entry

    def before(self, us: int, o: int) -> int:
        """Business us from the start of the prefix to instant ``us`` (local date ``o``);
        the prefix must cover ``o + 1``."""
        entry = self._days.get(o) or self._entry(o)
        total = entry[0]
        for s, e in entry[1]:
            if s >= us:
                return total
            total += (e if e < us else us) - s
        if us > entry[2]:
            # The next day's first interval starts before ``us`` where clocks fall back across
            # midnight; the intervals are in instant order all the same.
            for s, e in self._engine._day(o + 1)[1]:
                if s >= us:
                    break
                total += (e if e < us else us) - s
        return total

    def between(self, a: int, ao: int, b: int, bo: int) -> int:
        """Business us in ``[a, b)`` for ``a <= b``."""
        if b <= a:
            return 0
        days = self._days
        if ao not in days or bo not in days:
            base = self._base
            if not self._prefix or ao < base or bo + 2 >= base + len(self._prefix):
                self._cover(ao, bo + 1)
        return self.before(b, bo) - self.before(a, ao)

    def forward(self, t: int, o: int, remaining: int) -> int | None:
        """The earliest instant with ``remaining`` business us after ``t`` (None beyond the
        engine's search horizon)."""
        if o not in self._days:
            base = self._base
            if not self._prefix or o < base or o + 2 >= base + len(self._prefix):
                self._cover(o, o + 1)
        target = self.before(t, o) + remaining
        prefix = self._prefix
        limit = o + self._limit
        while prefix[-1] < target:
            end = self._base + len(prefix) - 1
            if end > limit:
                return None
            self._cover(end, min(end + 366, limit + 1))
            prefix = self._prefix
        j = bisect_left(prefix, target)
        rest = target - prefix[j - 1]
        for s, e in self._engine._day(self._base + j - 1)[1]:
            if e - s >= rest:
                return s + rest
            rest -= e - s
        return None  # unreachable while the prefix matches the days


_CALCS: dict[int, tuple[CalendarEngine, _Calc]] = {}


def _calc(engine: CalendarEngine) -> _Calc:
    hit = _CALCS.get(id(engine))
    if hit is None or hit[0] is not engine:
        if len(_CALCS) > 256:
            _CALCS.clear()
        hit = _CALCS[id(engine)] = (engine, _Calc(engine))
    return hit[1]


def _is_running(status: str, hold: str, pauses: frozenset[str]) -> bool:
    """Whether the resolution clock runs in this status (and on-hold reason)."""
    if status in RESOLVED_STATES:
        return False
    return not (status == ON_HOLD and hold in pauses)


def compute(
    start: datetime,
    initial: Mapping[str, Any],
    changes: Iterable[Change],
    *,
    policy: Policy,
    calendar: CalendarEngine | None,
    now: datetime,
    explain: bool = False,
) -> dict[str, Clock]:
    """The clocks of one incident at ``now``.

    ``start`` is the creation instant, ``initial`` the tracked values at creation,
    ``changes`` the later journal rows in journal order (rows after ``now`` are ignored, rows
    before ``start`` count at ``start``). ``calendar`` None means around the clock. Only
    kinds with a target for their priority are returned. With ``explain`` each clock carries
    its periods. All datetimes must be timezone-aware.

    One pass over the changes builds the resolution clock's running periods and finds the
    response; business time is then counted once per running period."""
    calc = _calc(calendar or TWENTY_FOUR_SEVEN)
    pauses = policy.pause_states
    t0 = _us(start)
    now_us = _us(now)
    if now_us < t0:
        now, now_us = start, t0

    status = str(initial.get("status") or "new")
    hold = str(initial.get("hold_reason") or "")
    prio = _priority(initial.get("priority"), DEFAULT_PRIORITY)
    # Response: stopped at creation when created answered or already being worked on.
    r_stop: int | None = t0 if initial.get("responded_at") or status in RESPONSE_STOPS else None
    r_prio = prio
    running = _is_running(status, hold, pauses)
    run_start = t0 if running else -1
    runs: list[tuple[int, int]] = []
    stopped_at: datetime | None = start if status in RESOLVED_STATES else None
    last_us = t0
    segments: list[tuple[int, str, str, int]] | None = (
        [(t0, status, hold, prio)] if explain else None
    )

    epoch = _EPOCH
    for change in changes:
        at = change.at
        delta = at - epoch  # inlined _us(): this loop is the hot path of bulk recomputes
        at_us = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        if at_us > now_us:
            break
        if at_us < last_us:
            at_us = last_us  # the journal is ordered; equal instants keep their order
        last_us = at_us
        for name, value in change.values.items():
            if name == "status":
                status = str(value or "new")
            elif name == "hold_reason":
                hold = str(value or "")
            elif name == "priority":
                prio = _priority(value, prio)
            elif name == "responded_at" and r_stop is None and value is not None:
                moment = _parse_instant(value)
                if moment is not None:
                    r_stop = min(max(_us(moment), t0), at_us)
        if r_stop is None:
            r_prio = prio
            if status in RESPONSE_STOPS:
                r_stop = at_us
        elif r_stop == at_us:
            r_prio = prio  # the change that answered also set the priority it runs under
        now_running = status not in RESOLVED_STATES and not (status == ON_HOLD and hold in pauses)
        if now_running != running:
            if now_running:
                run_start = at_us
            else:
                if at_us > run_start:
                    runs.append((run_start, at_us))
                run_start = -1
            running = now_running
        if status in RESOLVED_STATES:
            if stopped_at is None:
                stopped_at = at
        else:
            stopped_at = None
        if segments is not None and segments[-1][1:] != (status, hold, prio):
            if segments[-1][0] == at_us:
                segments[-1] = (at_us, status, hold, prio)
            else:
                segments.append((at_us, status, hold, prio))

    clocks: dict[str, Clock] = {}
    warning = policy.warning_percent

    # --- response -----------------------------------------------------------------------
    target = policy.target(RESPONSE, r_prio if r_stop is not None else prio)
    if target is not None:
        if r_stop is None:
            state, r_end, r_runs = RUNNING, now_us, [(t0, now_us)]
        else:
            state, r_end = STOPPED, min(r_stop, now_us)
            r_runs = [(t0, r_end)] if r_end > t0 else []
        clocks[RESPONSE] = _finish(
            calc,
            RESPONSE,
            state,
            r_runs,
            target,
            warning,
            r_prio if r_stop is not None else prio,
            start,
            None if r_stop is None else _dt(r_stop),
            now,
            _periods(calc, segments, t0, r_end, r_stop is None, pauses, RESPONSE)
            if segments is not None
            else (),
        )

    # --- resolution ---------------------------------------------------------------------
    target = policy.target(RESOLUTION, prio)
    if target is not None:
        if running:
            runs.append((run_start, now_us))
            state = RUNNING
        elif status in RESOLVED_STATES:
            state = STOPPED
        else:
            state = PAUSED
        clocks[RESOLUTION] = _finish(
            calc,
            RESOLUTION,
            state,
            runs,
            target,
            warning,
            prio,
            start,
            stopped_at if state == STOPPED else None,
            now,
            _periods(calc, segments, t0, now_us, True, pauses, RESOLUTION)
            if segments is not None
            else (),
        )
    return clocks


def _finish(
    calc: _Calc,
    kind: str,
    state: str,
    runs: Sequence[tuple[int, int]],
    target: int,
    warning: int,
    priority: int,
    started_at: datetime,
    stopped_at: datetime | None,
    computed_at: datetime,
    periods: tuple[Period, ...],
) -> Clock:
    """Count the business time of the running periods and find the deadlines."""
    ordinal = calc.ordinal
    between = calc.between
    forward = calc.forward
    target_us = target * _US_PER_MINUTE
    warn_us = target_us * warning // 100
    last_open = state == RUNNING
    warn_at = due_at = None
    if len(runs) == 1:
        # The common case (no pause, no reopen): one period, counted once.
        s, e = runs[0]
        so = ordinal(s)
        elapsed = between(s, so, e, ordinal(e)) if e > s else 0
        try:
            if last_open or elapsed >= warn_us:
                found = forward(s, so, warn_us)
                warn_at = None if found is None else _dt(found)
                if last_open or elapsed >= target_us:
                    found = forward(s, so, target_us)
                    due_at = None if found is None else _dt(found)
        except CalendarError:
            pass  # no working time within the engine's search horizon: no deadline
    else:
        starts: list[tuple[int, int]] = []
        used: list[int] = []
        for s, e in runs:
            so = ordinal(s)
            starts.append((s, so))
            used.append(between(s, so, e, ordinal(e)) if e > s else 0)
        elapsed = sum(used)
        last = len(runs) - 1

        def reached(threshold: int) -> datetime | None:
            """When the used time reaches ``threshold``: within a finished run, or ahead
            in the open one."""
            before = 0
            for index in range(last + 1):
                if before + used[index] >= threshold or (last_open and index == last):
                    s, so = starts[index]
                    remaining = threshold - before
                    if remaining <= 0:
                        return _dt(s)
                    found = forward(s, so, remaining)
                    return None if found is None else _dt(found)
                before += used[index]
            return None

        if last_open or elapsed >= warn_us:
            try:
                warn_at = reached(warn_us)
                if last_open or elapsed >= target_us:
                    due_at = reached(target_us)
            except CalendarError:
                pass
    return Clock(
        kind,
        state,
        started_at,
        stopped_at,
        priority,
        target,
        warning,
        elapsed / _US_PER_MINUTE,
        warn_at,
        due_at,
        computed_at,
        periods,
    )


def _periods(
    calc: _Calc,
    segments: list[tuple[int, str, str, int]],
    t0: int,
    end_us: int,
    still_open: bool,
    pauses: frozenset[str],
    kind: str,
) -> tuple[Period, ...]:
    """The explanation: one period per stretch of equal status, hold reason and priority up
    to ``end_us`` (resolved stretches left out of the resolution clock). The last period has
    no end while the clock is still going."""
    out: list[Period] = []
    count = len(segments)
    ordinal = calc.ordinal
    for i, (s, st, hr, pr) in enumerate(segments):
        if s > end_us or (s == end_us and not still_open and s > t0):
            break
        if i + 1 < count and segments[i + 1][0] <= end_us:
            e, end = segments[i + 1][0], True
        else:
            e, end = end_us, not still_open
        if kind == RESOLUTION:
            if st in RESOLVED_STATES:
                continue
            state = PAUSED if st == ON_HOLD and hr in pauses else RUNNING
        else:
            state = RUNNING
        minutes = calc.between(s, ordinal(s), e, ordinal(e)) if e > s else 0
        out.append(
            Period(
                state=state,
                start=_dt(s),
                end=_dt(e) if end else None,
                business_minutes=minutes / _US_PER_MINUTE,
                status=st,
                hold_reason=hr,
                priority=pr,
            )
        )
    return tuple(out)


# --- from the journal -----------------------------------------------------------------------


def journal_inputs(
    rows: Iterable[tuple[datetime, str, Any]],
    *,
    created_at: datetime,
    current: Mapping[str, Any],
) -> tuple[datetime, dict[str, Any], list[Change]]:
    """``(start, initial, changes)`` for ``compute`` from journal rows ``(at, verb, changes)``
    in journal order. The ``created`` row gives the start and the initial values; without
    one (an imported incident) the creation time and the first "before" value of each field
    stand in, then the incident's current values."""
    start: datetime | None = None
    initial: dict[str, Any] = {}
    befores: dict[str, Any] = {}
    changes: list[Change] = []
    for at, verb, raw in rows:
        if not isinstance(raw, dict):
            continue
        tracked: dict[str, Any] = {}
        for name, pair in raw.items():
            if name in TRACKED and isinstance(pair, (list, tuple)) and len(pair) == 2:
                tracked[name] = pair[1]
                befores.setdefault(name, pair[0])
        if verb == "created" and start is None and not changes:
            start = at
            initial.update(tracked)
            continue
        if tracked:
            changes.append(Change(at, tracked))
    if start is None:
        # No creation row (an imported incident): the first "before" of each field, else the
        # current value, held from the creation time; a response time becomes a change.
        start = created_at
        for name in ("status", "hold_reason", "priority"):
            initial[name] = befores[name] if name in befores else current.get(name)
        responded = current.get("responded_at")
        if "responded_at" not in befores and responded is not None:
            changes.append(Change(max(responded, start), {"responded_at": responded}))
            changes.sort(key=lambda c: c.at)
    initial.setdefault("status", "new")
    initial.setdefault("hold_reason", "")
    if initial.get("priority") is None:
        initial["priority"] = befores.get("priority", current.get("priority", DEFAULT_PRIORITY))
    return start, initial, changes
