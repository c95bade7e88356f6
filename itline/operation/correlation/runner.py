"""The correlator thread: correlation off the request's critical path, without losing anything.

Ingestion commits the alerts (``pending = true`` on the new and changed ones) and answers;
right after the commit it calls ``wake(ids)``. One daemon thread per process then takes
every id handed to it since its last pass and correlates them in batches of ``BATCH``
(``correlate`` only touches alerts still pending, so a duplicate hand-over, or two processes
correlating the same alert, changes nothing). While it works, new ids pile up and are taken
together by its next pass: under load the batches grow and correlation keeps up with the
ingest rate instead of bounding it; when idle, an event is correlated within milliseconds.

Durability does not depend on the thread: the ids live in memory only, but the alerts are
committed with ``pending = true``, and the minute sweep (``alert_tasks.correlate_alerts`` ->
``process_pending``) correlates whatever a crash or a restart left pending.

The thread has its own database connection (Django connections are per thread), so it never
runs inside a request's transaction; it closes the connection whenever its queue runs dry.
It is started lazily by the first ``wake`` of each process (after a fork too)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable

from django.db import close_old_connections, connections

logger = logging.getLogger(__name__)

BATCH = 1000  # alerts per correlation transaction: bounds how long a write lock is held
# SQLite has one write lock: after each transaction the thread pauses YIELD times as long as
# it held the lock (at most MAX_PAUSE s), so ingestion always gets at least half of it. In a
# flood correlation then lags (the alerts wait, pending and durable) instead of slowing
# ingestion; it catches up when the flood ends.
YIELD = 1.0
MAX_PAUSE = 0.5
RETRIES = 3


class Correlator:
    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._ids: set[int] = set()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._busy = False
        self.passes = 0
        self._failures: dict[int, int] = {}
        self.correlated = 0

    def wake(self, alert_ids: Iterable[int]) -> None:
        with self._lock:
            self._ids.update(int(i) for i in alert_ids)
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._run, name="itline-correlator", daemon=True
                )
                self._thread.start()
            self._lock.notify()

    def idle(self, timeout: float = 10.0) -> bool:
        """Wait until nothing is queued or being correlated (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._ids or self._busy:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, 0.05))
        return True

    def _retry(self, chunk: list[int]) -> bool:
        """Queue a failed chunk again (a lock timeout, a race): up to RETRIES times."""
        key = chunk[0]
        tries = self._failures.get(key, 0) + 1
        if tries > RETRIES:
            self._failures.pop(key, None)
            return False
        self._failures[key] = tries
        time.sleep(0.1 * tries)
        with self._lock:
            self._ids.update(chunk)
        return True

    def _run(self) -> None:
        from itline.operation import correlation

        while True:
            with self._lock:
                while not self._ids:
                    self._busy = False
                    self._lock.notify_all()
                    self._lock.wait()
                ids = sorted(self._ids)
                self._ids.clear()
                self._busy = True
            close_old_connections()
            for start in range(0, len(ids), BATCH):
                chunk = ids[start : start + BATCH]
                began = time.monotonic()
                try:
                    self.correlated += correlation.correlate(chunk).processed
                    if connections["default"].vendor == "sqlite" and (
                        len(ids) > BATCH or self._ids
                    ):
                        time.sleep(min((time.monotonic() - began) * YIELD, MAX_PAUSE))
                except Exception:
                    connections["default"].close()
                    if self._retry(chunk):
                        logger.warning(
                            "correlation of %d alert(s) failed; retrying", len(chunk), exc_info=True
                        )
                    else:
                        logger.exception(
                            "correlation of %d alert(s) failed again; the minute sweep takes "
                            "them up",
                            len(chunk),
                        )
            self.passes += 1
            with self._lock:
                if not self._ids:
                    connections["default"].close()


_correlator = Correlator()


def wake(alert_ids: Iterable[int]) -> None:
    """Hand ``alert_ids`` (committed, pending) to this process's correlator thread."""
    _correlator.wake(alert_ids)


def idle(timeout: float = 10.0) -> bool:
    return _correlator.idle(timeout)
