"""``ingest()``: a batch of normalized events into alerts and alert history, in one transaction.

This is the hot path of event management, so it is written as bulk SQL, not per-alert ORM:

1. one SELECT of the existing alerts by fingerprint;
2. the events are applied in order to a small in-memory state per fingerprint (so a batch
   holding "firing" then "resolved" of one alert records both transitions);
3. mapping (two queries at most, ``mapping.map_many``) only for new alerts and re-fired ones;
4. writes, each one statement per batch: INSERT of new alerts (RETURNING their ids), UPDATE of
   changed ones, INSERT of the transition rows, and for re-posts of an alert in the same
   state (Prometheus re-sends every firing alert each evaluation) one UPDATE of
   ``last_seen_at`` -- no transition, no notification, no correlation.

Alerts that are new, changed status or changed severity get ``pending = true`` in the same
transaction; after the commit they are handed to the process's correlator thread
(``correlation.runner``; or correlated right here with ``EVENTS_CORRELATE_INLINE``, as tests
do), and the minute sweep picks up whatever a crash between commit and correlation leaves
pending.

Concurrency. SQLite serialises writers (IMMEDIATE transactions), so the SELECT inside the
transaction sees the latest state. On PostgreSQL two requests may race on one fingerprint:
new alerts are inserted with ``ON CONFLICT DO NOTHING`` and changed ones updated only if
their status and transition count are still what was read; if either finds a row moved, the
transaction is rolled back and the batch applied again (a few times, then 503)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import orjson
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connections, transaction
from django.utils import timezone

from itline.operation.ingest import events as ev
from itline.operation.ingest.events import NormalizedEvent
from itline.operation.ingest.mapping import map_many

logger = logging.getLogger(__name__)

ATTEMPTS = 5
SOURCE_TOUCH_SECONDS = 60
SQLITE_IN_CHUNK = 10000
LAST_SEEN_STEP = timedelta(seconds=5)


class Busy(Exception):
    """The batch kept colliding with concurrent writers; the sender should retry (503)."""


class _Collision(Exception):
    pass


@dataclass
class IngestResult:
    """What one ``ingest`` call did. ``new``/``updated``/``unchanged`` count alerts (distinct
    fingerprints), ``accepted``/``ignored`` events; ``changed_alert_ids`` are the alerts handed
    to correlation."""

    accepted: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    ignored: int = 0
    changed_alert_ids: list[int] = field(default_factory=list)
    fingerprints: list[str] = field(default_factory=list)


class _State:
    """One alert while a batch is applied: as read from the database, then changed."""

    __slots__ = (
        "ack_cleared",
        "acknowledged_at",
        "annotations",
        "changed_at",
        "component_hint",
        "component_id",
        "dirty",
        "ends_at",
        "generator_url",
        "id",
        "labels",
        "labels_json",
        "last_seen",
        "name",
        "needs_mapping",
        "old_status",
        "old_transitions",
        "pending",
        "rule_id",
        "service_hint",
        "service_id",
        "severity",
        "starts_at",
        "status",
        "summary",
        "trans",
        "transitions",
    )

    status: str
    old_status: str
    severity: str
    name: str
    summary: str
    labels: dict[str, str]
    annotations: dict[str, Any]
    generator_url: str
    starts_at: datetime
    changed_at: datetime
    transitions: int
    old_transitions: int

    def __init__(self) -> None:
        self.id: int | None = None
        self.dirty = False
        self.pending = False
        self.needs_mapping = False
        self.ack_cleared = False
        self.trans: list[tuple[str, datetime]] = []
        self.labels_json: str | None = None
        self.component_hint = ""
        self.service_hint = ""
        self.component_id: int | None = None
        self.service_id: int | None = None
        self.rule_id: int | None = None
        self.acknowledged_at: datetime | None = None
        self.ends_at: datetime | None = None
        self.last_seen: Any = None

    def take(self, event: NormalizedEvent) -> None:
        """The descriptive fields of a full event (one with a severity)."""
        self.severity = event.severity
        self.name = event.name
        self.summary = event.summary
        self.labels = event.labels
        self.labels_json = None
        self.annotations = event.annotations
        self.generator_url = event.generator_url
        # A later event without hints (a resolve) keeps those of the event that mapped it.
        self.component_hint = event.component_hint or self.component_hint
        self.service_hint = event.service_hint or self.service_hint


def fingerprint_for(source_id: int, event: NormalizedEvent) -> str:
    return event.fingerprint or ev.computed_fingerprint(source_id, event)


def ingest(
    source: Any,
    events: list[NormalizedEvent],
    *,
    received_at: datetime | None = None,
    using: str = "default",
) -> IngestResult:
    """Store ``events`` of ``source``: deduplicated by fingerprint, every status change kept
    as an ``AlertTransition``. One transaction; the data is committed when this returns
    (unless the caller holds an outer transaction). Raises ``Busy`` when concurrent writers
    kept colliding."""
    now = received_at or timezone.now()
    source_id = source.pk
    fingerprints = [e.fingerprint or ev.computed_fingerprint(source_id, e) for e in events]
    quiet = _only_reposts(source, events, fingerprints, now, using)
    if quiet is not None:
        return quiet
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with transaction.atomic(using=using):
                result = _apply(source, events, fingerprints, now, using)
                if result.changed_alert_ids:
                    transaction.on_commit(
                        partial(_correlate, list(result.changed_alert_ids)),
                        using=using,
                        robust=True,
                    )
            result.fingerprints = fingerprints
            return result
        except _Collision:
            logger.info("ingest: concurrent write on the same alerts, attempt %s", attempt)
        except IntegrityError:
            # Only if SQLite runs without IMMEDIATE transactions (ids taken twice), or two
            # PostgreSQL writers inserted one fingerprint at once.
            if attempt == ATTEMPTS:
                raise
            logger.info("ingest: duplicate key, attempt %s", attempt)
        except DatabaseError as exc:
            if not _is_deadlock(exc) or attempt == ATTEMPTS:
                raise
            logger.info("ingest: deadlock, attempt %s", attempt)
    raise Busy("the alerts of this batch are being written by another request; retry")


def _only_reposts(
    source: Any, events: list[NormalizedEvent], fingerprints: list[str], now: datetime, using: str
) -> IngestResult | None:
    """The steady state of Prometheus: a batch of firing alerts re-sent unchanged, each seen
    less than LAST_SEEN_STEP ago. Such a batch writes nothing, so it is answered from one
    SELECT without a transaction -- it never waits for SQLite's write lock (held by other
    requests or the correlator). None: something is to be written; take the normal path."""
    last = getattr(source, "last_event_at", None)
    if not events or last is None or (now - last).total_seconds() > SOURCE_TOUCH_SECONDS:
        return None
    connection = connections[using]
    postgres = connection.vendor == "postgresql"
    states = _existing(connection, set(fingerprints), postgres)
    if len(states) < len(states.keys() | set(fingerprints)):
        return None
    stale = (_Postgres if postgres else _SQLite)(connection, now).stale_before(now)
    for event, fp in zip(events, fingerprints, strict=True):
        st = states[fp]
        if event.status != st.status or st.last_seen is None or st.last_seen < stale:
            return None
        if event.severity and (event.severity != st.severity or event.summary != st.summary):
            return None
    return IngestResult(accepted=len(events), unchanged=len(states), fingerprints=fingerprints)


def _is_deadlock(exc: DatabaseError) -> bool:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) in {"40P01", "40001"}


def _correlate(alert_ids: list[int]) -> None:
    """After the commit: correlate in this thread (``EVENTS_CORRELATE_INLINE``, tests), or
    wake the process's correlator thread (``EVENTS_CORRELATOR_THREAD``, the default), or
    leave the alerts pending for the minute sweep."""
    from itline.operation import correlation

    if getattr(settings, "EVENTS_CORRELATE_INLINE", False):
        correlation.alerts_changed(alert_ids)
    elif getattr(settings, "EVENTS_CORRELATOR_THREAD", True):
        from itline.operation.correlation import runner

        runner.wake(alert_ids)


# --- applying a batch ----------------------------------------------------------------------------

_SELECT = (
    "SELECT id, fingerprint, status, severity, summary, component_id, service_id, "
    "mapping_rule_id, transitions, acknowledged_at, starts_at, ends_at, changed_at, "
    "last_seen_at FROM operation_alert WHERE "
)
# SQLite: the times as the stored text (an expression has no declared type, so no converter
# runs): a re-post never needs them as datetimes, and a change writes them back as they are.
_SELECT_SQLITE = (
    "SELECT id, fingerprint, status, severity, summary, component_id, service_id, "
    "mapping_rule_id, transitions, acknowledged_at || '', starts_at || '', ends_at || '', "
    "changed_at || '', last_seen_at || '' FROM operation_alert WHERE "
)


def _apply(
    source: Any, events: list[NormalizedEvent], fingerprints: list[str], now: datetime, using: str
) -> IngestResult:
    connection = connections[using]
    postgres = connection.vendor == "postgresql"
    result = IngestResult()
    states = _existing(connection, set(fingerprints), postgres)
    existing_ids = {fp: st.id for fp, st in states.items()}
    seen: set[str] = set()
    for event, fp in zip(events, fingerprints, strict=True):
        st = states.get(fp)
        if st is None:
            if not event.severity:  # resolve/acknowledge of an alert never seen: dropped
                result.ignored += 1
                continue
            st = _new_state(event, now)
            states[fp] = st
        elif event.status == ev.ACKNOWLEDGED:
            if st.status == ev.FIRING and st.acknowledged_at is None:
                st.acknowledged_at = now
                st.dirty = True
        elif event.status == st.status:
            if event.severity and (event.severity != st.severity or event.summary != st.summary):
                if event.severity != st.severity:
                    st.pending = True
                st.take(event)
                st.dirty = True
        else:
            if event.status == ev.FIRING:
                at = event.starts_at or now
                st.starts_at, st.ends_at = at, None
                st.acknowledged_at, st.ack_cleared = None, True
            else:
                at = event.ends_at or now
                st.ends_at = at
            if event.severity:
                st.take(event)
                if event.status == ev.FIRING:  # a re-fire maps with today's rules
                    st.needs_mapping = True
            st.status = event.status
            st.trans.append((event.status, at))
            st.changed_at = at
            st.transitions += 1
            st.dirty = st.pending = True
        seen.add(fp)
    result.accepted = len(events) - result.ignored
    if not seen:
        return result

    todo = [st for st in states.values() if st.needs_mapping]
    if todo:
        mapped = map_many(
            source.pk, [(st.labels, st.component_hint, st.service_hint) for st in todo], using=using
        )
        for st, m in zip(todo, mapped, strict=True):
            st.component_id, st.service_id, st.rule_id = m.component_id, m.service_id, m.rule_id

    new = {fp: st for fp, st in states.items() if fp not in existing_ids}
    changed = [st for fp, st in states.items() if fp in existing_ids and st.dirty]
    write = _Postgres(connection, now) if postgres else _SQLite(connection, now)
    # Re-posts move last_seen_at only when it is LAST_SEEN_STEP or more behind: Prometheus
    # re-sends every firing alert each evaluation, and a write per re-post buys nothing.
    stale = write.stale_before(now)
    unchanged = [fp for fp in seen if fp in existing_ids and not states[fp].dirty]
    touched = [
        int(existing_ids[fp] or 0)
        for fp in unchanged
        if states[fp].last_seen is None or states[fp].last_seen < stale
    ]
    if new:
        ids = write.insert_alerts(source.pk, new)
        if len(ids) != len(new):
            raise _Collision
        for fp, alert_id in ids.items():
            new[fp].id = alert_id
    if changed and write.update_alerts(changed) != len(changed):
        raise _Collision
    if touched:
        write.touch(touched)
    rows = [
        (st.id, status, st.severity, at, st.component_id, st.service_id, st.summary)
        for st in states.values()
        if st.trans
        for status, at in st.trans
    ]
    if rows:
        write.insert_transitions(rows)
    last = getattr(source, "last_event_at", None)
    if last is None or (now - last).total_seconds() > SOURCE_TOUCH_SECONDS:
        write.touch_source(source.pk)
        source.last_event_at = now

    result.new = len(new)
    result.updated = len(changed)
    result.unchanged = len(unchanged)
    result.changed_alert_ids = [
        int(st.id) for st in (*new.values(), *changed) if st.pending and st.id is not None
    ]
    return result


def _new_state(event: NormalizedEvent, now: datetime) -> _State:
    st = _State()
    st.take(event)
    st.status = ev.FIRING if event.status == ev.ACKNOWLEDGED else event.status
    st.starts_at = event.starts_at or now
    st.trans.append((ev.FIRING, st.starts_at))
    st.changed_at = st.starts_at
    if event.status == ev.RESOLVED:
        st.ends_at = max(event.ends_at or now, st.starts_at)
        st.trans.append((ev.RESOLVED, st.ends_at))
        st.changed_at = st.ends_at
    st.transitions = len(st.trans)
    st.old_transitions = 0
    st.old_status = ""
    st.needs_mapping = st.pending = st.dirty = True
    return st


def _existing(connection: Any, fingerprints: set[str], postgres: bool) -> dict[str, _State]:
    states: dict[str, _State] = {}
    with connection.cursor() as cursor:
        if postgres:
            cursor.execute(_SELECT + "fingerprint = ANY(%s)", [list(fingerprints)])
            rows = cursor.fetchall()
        else:
            rows = []
            listed = list(fingerprints)
            for i in range(0, len(listed), SQLITE_IN_CHUNK):
                chunk = listed[i : i + SQLITE_IN_CHUNK]
                cursor.execute(
                    _SELECT_SQLITE + f"fingerprint IN ({', '.join(['%s'] * len(chunk))})", chunk
                )
                rows += cursor.fetchall()
    for row in rows:
        st = _State()
        (
            st.id,
            fp,
            st.status,
            st.severity,
            st.summary,
            st.component_id,
            st.service_id,
            st.rule_id,
            st.transitions,
            st.acknowledged_at,
            st.starts_at,
            st.ends_at,
            st.changed_at,
            st.last_seen,
        ) = row
        st.old_status, st.old_transitions = st.status, st.transitions
        states[fp] = st
    return states


def _labels_json(st: _State) -> str:
    if st.labels_json is None:
        st.labels_json = orjson.dumps(st.labels, option=orjson.OPT_SORT_KEYS).decode()
    return st.labels_json


# --- the two dialects of the writes -------------------------------------------------------------

_INSERT_COLUMNS = (
    "fingerprint, source_id, name, status, severity, summary, labels, annotations, "
    "component_id, service_id, mapping_rule_id, starts_at, ends_at, first_seen_at, "
    "last_seen_at, changed_at, transitions, flapping, silence_reason, generator_url, pending, "
    "decisions"
)
_TRANSITION_COLUMNS = (
    "alert_id, status, severity, at, received_at, component_id, service_id, summary"
)


class _SQLite:
    """Multi-row INSERT … RETURNING for new alerts, executemany (one prepared statement) for
    the rest. Datetimes as Django stores them: naive UTC text."""

    def __init__(self, connection: Any, now: datetime) -> None:
        self.connection = connection
        self.now = now
        self._texts: dict[datetime, str] = {}
        self.now_text = self.dt(now)

    def dt(self, value: datetime | str | None) -> str | None:
        """A datetime as Django stores it on SQLite; a value read back as text (see
        ``_existing``) is already in that form. Memoised: a batch has few distinct times."""
        if value is None or isinstance(value, str):
            return value
        found = self._texts.get(value)
        if found is None:
            found = self._texts[value] = self._text(value)
        return found

    @staticmethod
    def _text(value: datetime) -> str:
        tz = value.tzinfo
        if tz is UTC:
            return str(value)[:-6]  # "… +00:00" off: what Django writes for UTC
        if tz is None:
            return str(value)
        return str(value.astimezone(UTC).replace(tzinfo=None))

    def stale_before(self, now: datetime) -> Any:
        return self.dt(now - LAST_SEEN_STEP)  # text compares as time: one fixed format

    def insert_alerts(self, source_id: int, new: dict[str, _State]) -> dict[str, int]:
        """One prepared INSERT for all rows, with ids handed out here: the transaction holds
        SQLite's write lock from its start (IMMEDIATE), so nobody else can take them. The
        high-water mark of AUTOINCREMENT is respected, so ids are never reused."""
        dt, now = self.dt, self.now_text
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = "
                "'operation_alert'), 0), COALESCE((SELECT MAX(id) FROM operation_alert), 0))"
            )
            first = int(cursor.fetchone()[0]) + 1
            ids = {fp: first + n for n, fp in enumerate(new)}
            rows = [
                (
                    ids[fp],
                    fp,
                    source_id,
                    st.name,
                    st.status,
                    st.severity,
                    st.summary,
                    _labels_json(st),
                    orjson.dumps(st.annotations).decode(),
                    st.component_id,
                    st.service_id,
                    st.rule_id,
                    dt(st.starts_at),
                    dt(st.ends_at),
                    now,
                    now,
                    dt(st.changed_at),
                    st.transitions,
                    st.generator_url,
                    dt(st.acknowledged_at),
                )
                for fp, st in new.items()
            ]
            cursor.executemany(
                f"INSERT INTO operation_alert (id, {_INSERT_COLUMNS}, acknowledged_at) VALUES ("  # noqa: S608
                + ", ".join(["%s"] * 18)
                + ", 0, '', %s, 1, '[]', %s)",
                rows,
            )
        return ids

    def update_alerts(self, changed: list[_State]) -> int:
        dt, now = self.dt, self.now_text
        rows = [
            (
                st.status,
                st.severity,
                getattr(st, "name", None),
                st.summary,
                _labels_json(st) if hasattr(st, "labels") else None,
                orjson.dumps(st.annotations).decode() if hasattr(st, "annotations") else None,
                getattr(st, "generator_url", None),
                st.component_id,
                st.service_id,
                st.rule_id,
                dt(st.starts_at),
                dt(st.ends_at),
                dt(st.changed_at),
                st.transitions,
                st.pending,
                dt(st.acknowledged_at),
                st.ack_cleared,
                now,
                st.id,
                st.old_status,
                st.old_transitions,
            )
            for st in changed
        ]
        sql = (
            "UPDATE operation_alert SET status = %s, severity = %s, name = COALESCE(%s, name), "
            "summary = %s, labels = COALESCE(%s, labels), "
            "annotations = COALESCE(%s, annotations), "
            "generator_url = COALESCE(%s, generator_url), component_id = %s, service_id = %s, "
            "mapping_rule_id = %s, starts_at = %s, ends_at = %s, "
            "changed_at = %s, transitions = %s, "
            "pending = (pending OR %s), acknowledged_at = %s, "
            "acknowledged_by_id = CASE WHEN %s THEN NULL ELSE acknowledged_by_id END, "
            "last_seen_at = %s WHERE id = %s AND status = %s AND transitions = %s"
        )
        with self.connection.cursor() as cursor:
            cursor.executemany(sql, rows)
            return int(cursor.rowcount)

    def touch(self, ids: list[int]) -> None:
        with self.connection.cursor() as cursor:
            for i in range(0, len(ids), SQLITE_IN_CHUNK):
                chunk = ids[i : i + SQLITE_IN_CHUNK]
                cursor.execute(
                    "UPDATE operation_alert SET last_seen_at = %s WHERE id IN ("  # noqa: S608
                    + ", ".join(["%s"] * len(chunk))
                    + ")",
                    [self.now_text, *chunk],
                )

    def insert_transitions(self, rows: list[tuple[Any, ...]]) -> None:
        dt, now = self.dt, self.now_text
        params = [(a, s, sev, dt(at), now, c, svc, summ) for a, s, sev, at, c, svc, summ in rows]
        with self.connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO operation_alerttransition ({_TRANSITION_COLUMNS}) "  # noqa: S608
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                params,
            )

    def touch_source(self, source_id: int) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(
                "UPDATE operation_eventsource SET last_event_at = %s WHERE id = %s",
                [self.now_text, source_id],
            )


class _Postgres:
    """Each write is one statement over ``unnest`` of parameter arrays: one round trip per
    batch whatever its size."""

    def __init__(self, connection: Any, now: datetime) -> None:
        self.connection = connection
        self.now = now

    def stale_before(self, now: datetime) -> Any:
        return now - LAST_SEEN_STEP

    def insert_alerts(self, source_id: int, new: dict[str, _State]) -> dict[str, int]:
        cols: list[list[Any]] = [[] for _ in range(14)]
        for fp, st in new.items():
            for col, value in zip(
                cols,
                (
                    fp,
                    st.name,
                    st.status,
                    st.severity,
                    st.summary,
                    _labels_json(st),
                    orjson.dumps(st.annotations).decode(),
                    st.component_id,
                    st.service_id,
                    st.rule_id,
                    st.starts_at,
                    st.ends_at,
                    st.changed_at,
                    st.transitions,
                ),
                strict=True,
            ):
                col.append(value)
        gen = [st.generator_url for st in new.values()]
        ack = [st.acknowledged_at for st in new.values()]
        sql = (
            f"INSERT INTO operation_alert ({_INSERT_COLUMNS}, acknowledged_at) "  # noqa: S608
            "SELECT f, %s, n, st, sv, su, l::jsonb, a::jsonb, c, s, r, sa, ea, %s, %s, ca, t, "
            "false, '', g, true, '[]'::jsonb, ack FROM unnest("
            "%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], "
            "%s::bigint[], %s::bigint[], %s::bigint[], %s::timestamptz[], %s::timestamptz[], "
            "%s::timestamptz[], %s::integer[], %s::text[], %s::timestamptz[]) "
            "AS u(f, n, st, sv, su, l, a, c, s, r, sa, ea, ca, t, g, ack) "
            "ON CONFLICT (fingerprint) DO NOTHING RETURNING id, fingerprint"
        )
        with self.connection.cursor() as cursor:
            cursor.execute(sql, [source_id, self.now, self.now, *cols, gen, ack])
            return {fp: alert_id for alert_id, fp in cursor.fetchall()}

    def update_alerts(self, changed: list[_State]) -> int:
        cols: list[list[Any]] = [[] for _ in range(20)]
        for st in changed:
            for col, value in zip(
                cols,
                (
                    st.id,
                    st.old_status,
                    st.old_transitions,
                    st.status,
                    st.severity,
                    getattr(st, "name", None),
                    st.summary,
                    _labels_json(st) if hasattr(st, "labels") else None,
                    orjson.dumps(st.annotations).decode() if hasattr(st, "annotations") else None,
                    getattr(st, "generator_url", None),
                    st.component_id,
                    st.service_id,
                    st.rule_id,
                    st.starts_at,
                    st.ends_at,
                    st.changed_at,
                    st.transitions,
                    st.pending,
                    st.acknowledged_at,
                    st.ack_cleared,
                ),
                strict=True,
            ):
                col.append(value)
        sql = (
            "UPDATE operation_alert AS a SET status = u.st, severity = u.sv, "
            "name = COALESCE(u.n, a.name), summary = u.su, labels = COALESCE(u.l::jsonb, a.labels), "
            "annotations = COALESCE(u.an::jsonb, a.annotations), "
            "generator_url = COALESCE(u.g, a.generator_url), component_id = u.c, "
            "service_id = u.s, mapping_rule_id = u.r, starts_at = u.sa, "
            "ends_at = u.ea, changed_at = u.ca, transitions = u.t, "
            "pending = (a.pending OR u.p), acknowledged_at = u.ack, "
            "acknowledged_by_id = CASE WHEN u.ackc THEN NULL ELSE a.acknowledged_by_id END, "
            "last_seen_at = %s FROM unnest("
            "%s::bigint[], %s::text[], %s::integer[], %s::text[], %s::text[], %s::text[], "
            "%s::text[], %s::text[], %s::text[], %s::text[], %s::bigint[], %s::bigint[], "
            "%s::bigint[], %s::timestamptz[], %s::timestamptz[], %s::timestamptz[], "
            "%s::integer[], %s::boolean[], %s::timestamptz[], %s::boolean[]) "
            "AS u(id, os, ot, st, sv, n, su, l, an, g, c, s, r, sa, ea, ca, t, p, ack, ackc) "
            "WHERE a.id = u.id AND a.status = u.os AND a.transitions = u.ot"
        )
        with self.connection.cursor() as cursor:
            cursor.execute(sql, [self.now, *cols])
            return int(cursor.rowcount)

    def touch(self, ids: list[int]) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(
                "UPDATE operation_alert SET last_seen_at = %s WHERE id = ANY(%s::bigint[])",
                [self.now, sorted(ids)],
            )

    def insert_transitions(self, rows: list[tuple[Any, ...]]) -> None:
        cols: list[list[Any]] = [list(col) for col in zip(*rows, strict=True)]
        with self.connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO operation_alerttransition ({_TRANSITION_COLUMNS}) "  # noqa: S608
                "SELECT a, st, sv, at, %s, c, s, su FROM unnest(%s::bigint[], %s::text[], "
                "%s::text[], %s::timestamptz[], %s::bigint[], %s::bigint[], %s::text[]) "
                "AS u(a, st, sv, at, c, s, su)",
                [self.now, *cols],
            )

    def touch_source(self, source_id: int) -> None:
        with self.connection.cursor() as cursor:
            cursor.execute(
                "UPDATE operation_eventsource SET last_event_at = %s WHERE id = %s",
                [self.now, source_id],
            )
