"""``itline demo events``: live synthetic alerts for the demo, sent through ingestion's Python
API (``itline.operation.ingest.ingest``) exactly as the HTTP endpoints do, so deduplication,
mapping, correlation and incidents all run and the alert console moves.

What it sends, at ``rate`` events per second: new alerts on demo components (mostly
warnings, some errors), resolutions of alerts it fired, re-posts of firing alerts (what
Alertmanager does every few seconds in its steady state: they change nothing), now and then an
alert through the PagerDuty-shaped source, and occasionally a correlated storm: a database
goes down and what depends on it (the structure ``up`` from it) fires within seconds, then
everything recovers a minute or two later. A status line shows the counts; Ctrl-C stops."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from itline.operation.demo_alerts import (
    JOBS,
    KNOCK_ON,
    NOISE,
    PAGERDUTY,
    PROMETHEUS,
)

EVENTS = (
    ("HostHighCpuLoad", "server", "error", "CPU above 95% for 5 minutes on {name}"),
    ("DiskSpaceLow", "virtual-machine", "warning", "Disk /var above 85% on {name}"),
    ("HostHighMemoryUsage", "virtual-machine", "warning", "Memory above 90% on {name}"),
    ("HttpErrorRateHigh", "application", "error", "{name}: 5% of requests fail"),
    ("HealthCheckFailing", "application", "error", "{name} health check failing"),
    ("PostgresReplicationLag", "database", "warning", "Replication lag 45 s on {name}"),
    ("InterfacePacketLoss", "network-device", "warning", "Packet loss 3% on {name}"),
    ("StorageLatencyHigh", "storage", "warning", "Write latency 30 ms on {name}"),
    ("Http5xxIncreased", "cloud-resource", "error", "{name}: 5xx errors increased"),
)
STORM_EVERY = 90  # events between storms, on average
MAX_ACTIVE = 60  # firing alerts the stream keeps at most (older ones resolve first)


@dataclass
class Stats:
    sent: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    resolved: int = 0
    reposts: int = 0
    storms: int = 0
    errors: int = 0
    started: float = field(default_factory=time.monotonic)

    def line(self, firing: int) -> str:
        took = max(time.monotonic() - self.started, 0.001)
        return (
            f"sent {self.sent:,} ({self.sent / took:.1f}/s) · new {self.new:,} · "
            f"changed {self.updated:,} · re-posts {self.reposts:,} (unchanged {self.unchanged:,}) "
            f"· resolved {self.resolved:,} · storms {self.storms} · firing now {firing}"
            + (f" · errors {self.errors}" if self.errors else "")
        )


@dataclass
class Live:
    source: str
    labels: dict[str, str]
    name: str
    severity: str
    summary: str
    component: str
    dedup_key: str = ""
    resolve_at: float | None = None


class Streamer:
    def __init__(self, *, seed: int | None = None, storm_every: int = STORM_EVERY) -> None:
        from itline.cmdb.models import Component
        from itline.operation.models import EventSource

        self.rng = random.Random(seed)  # noqa: S311 (demo data, not security)
        self.sources = {
            s.name: s for s in EventSource.objects.filter(name__in=[PROMETHEUS, PAGERDUTY])
        }
        if PROMETHEUS not in self.sources:
            raise LookupError(
                f"the event source {PROMETHEUS!r} is missing; load the demo first (itline demo)"
            )
        self.by_type: dict[str, list[Component]] = {}
        for c in Component.objects.select_related("component_type").order_by("name"):
            self.by_type.setdefault(c.component_type.slug, []).append(c)
        if not self.by_type:
            raise LookupError("there are no components; load the demo first (itline demo)")
        self.active: dict[str, Live] = {}
        self.queue: list[tuple[float, Live]] = []  # storm members waiting for their moment
        self.storm_every = storm_every
        self.stats = Stats()
        self.pd_counter = 0

    # what to send ---------------------------------------------------------------------------

    def _component(self, slug: str) -> Any:
        pool = self.by_type.get(slug) or next(iter(self.by_type.values()))
        return self.rng.choice(pool)

    def prometheus(self, comp: Any, name: str, severity: str, summary: str) -> Live:
        slug = comp.component_type.slug
        labels = {
            "alertname": name,
            "instance": f"{comp.name}:9100",
            "job": JOBS.get(slug, "node"),
            "severity": severity,
            "env": "prod",
        }
        return Live(PROMETHEUS, labels, name, severity, summary, comp.name)

    def new_alert(self) -> Live:
        rng = self.rng
        if PAGERDUTY in self.sources and rng.random() < 0.1:
            name, slug, severity, text = rng.choice(EVENTS)
            comp = self._component(slug)
            self.pd_counter += 1
            key = f"live-{int(time.time())}-{self.pd_counter}"
            labels = {"dedup_key": key, "source": comp.name, "component": comp.name, "class": name}
            return Live(
                PAGERDUTY, labels, name, severity, text.format(name=comp.name), comp.name, key
            )
        if rng.random() < 0.5:
            name, slug, text = rng.choice(NOISE)
            severity = "warning"
        else:
            name, slug, severity, text = rng.choice(EVENTS)
        comp = self._component(slug)
        return self.prometheus(comp, name, severity, text.format(name=comp.name))

    def storm(self, now: float) -> list[Live]:
        """A database fails; what runs on it fires over the next seconds; all recover."""
        from itline.cmdb.impact import impact

        db = self._component("database")
        cause = self.prometheus(db, "PostgresDown", "critical", f"{db.name} does not answer")
        recover = now + self.rng.uniform(45, 120)
        cause.resolve_at = recover
        reach = impact([db.pk], "up", depth=2)
        ids = [
            n
            for n, d in zip(reach.node_ids.tolist(), reach.distances.tolist(), strict=True)
            if d > 0
        ]
        comps = {c.pk: c for cs in self.by_type.values() for c in cs}
        members = [cause]
        for node_id in ids[:8]:
            comp = comps.get(node_id)
            if comp is None:
                continue  # a service: services do not alert here
            name, severity = KNOCK_ON.get(comp.component_type.slug, ("TargetDown", "error"))
            live = self.prometheus(
                comp, name, severity, f"{name} on {comp.name} ({db.name} is down)"
            )
            live.resolve_at = recover + self.rng.uniform(5, 40)
            members.append(live)
        self.stats.storms += 1
        return members

    def tick_events(self, now: float, budget: int) -> list[tuple[str, Live]]:
        """Up to ``budget`` (status, alert) pairs to send now."""
        out: list[tuple[str, Live]] = []
        due = [item for item in self.queue if item[0] <= now]
        self.queue = [item for item in self.queue if item[0] > now]
        for _, live in due:
            out.append(("firing", live))
        for live in list(self.active.values()):
            if live.resolve_at is not None and live.resolve_at <= now:
                out.append(("resolved", live))
        while len(out) < budget:
            roll = self.rng.random()
            if roll < 1 / self.storm_every:
                members = self.storm(now)
                out.append(("firing", members[0]))
                for i, live in enumerate(members[1:], 1):
                    self.queue.append((now + i * self.rng.uniform(0.3, 2.0), live))
            elif roll < 0.5 or not self.active:
                out.append(("firing", self.new_alert()))
            elif roll < 0.72 or len(self.active) > MAX_ACTIVE:
                live = self.rng.choice(list(self.active.values()))
                if live.resolve_at is None:
                    out.append(("resolved", live))
            else:
                live = self.rng.choice(list(self.active.values()))
                out.append(("firing", live))
                self.stats.reposts += 1
        return out

    # sending --------------------------------------------------------------------------------

    def send(self, pairs: list[tuple[str, Live]]) -> None:
        from itline.operation.ingest import NormalizedEvent, ingest

        by_source: dict[str, list[NormalizedEvent]] = {}
        for status, live in pairs:
            key = self.key(live)
            if status == "resolved":
                if self.active.pop(key, None) is None:
                    continue
                self.stats.resolved += 1
            else:
                self.active[key] = live
            by_source.setdefault(live.source, []).append(
                NormalizedEvent(
                    status=status,
                    severity=live.severity,
                    name=live.name,
                    summary=live.summary,
                    labels=dict(live.labels),
                    annotations={"summary": live.summary},
                    ends_at=timezone.now() if status == "resolved" else None,
                    component_hint=live.component if live.source == PAGERDUTY else "",
                    dedup_key=live.dedup_key,
                )
            )
        for name, events in by_source.items():
            try:
                result = ingest(self.sources[name], events)
            except Exception:  # a demo keeps going; the count shows something went wrong
                self.stats.errors += 1
                continue
            self.stats.sent += len(events)
            self.stats.new += result.new
            self.stats.updated += result.updated
            self.stats.unchanged += result.unchanged

    @staticmethod
    def key(live: Live) -> str:
        return f"{live.source}|{sorted(live.labels.items())}"


def stream(
    *,
    rate: float = 5.0,
    duration: float | None = None,
    seed: int | None = None,
    stop: threading.Event | None = None,
    status: Callable[[str], None] | None = None,
    storm_every: int = STORM_EVERY,
) -> Stats:
    """Send about ``rate`` events per second until ``duration`` seconds have passed (None:
    until ``stop`` is set or Ctrl-C). ``status`` receives the status line after every tick."""
    if rate <= 0:
        raise ValueError("rate must be above 0")
    streamer = Streamer(seed=seed, storm_every=storm_every)
    stop = stop or threading.Event()
    tick = max(0.2, min(1.0, 1.0 / rate))
    end = None if duration is None else time.monotonic() + duration
    carry = 0.0
    next_tick = time.monotonic()
    try:
        while not stop.is_set() and (end is None or time.monotonic() < end):
            now = time.monotonic()
            carry += rate * tick
            budget = int(carry)
            carry -= budget
            streamer.send(streamer.tick_events(now, budget))
            if status:
                status(streamer.stats.line(len(streamer.active)))
            next_tick += tick
            stop.wait(max(0.0, next_tick - time.monotonic()))
    except KeyboardInterrupt:  # Ctrl-C: stop between two batches, each is committed
        pass
    return streamer.stats


def parse_rate(text: str) -> float:
    """``20``, ``20/s``, ``0.5/s`` -> events per second."""
    value = text.strip().lower().removesuffix("/s").strip()
    try:
        rate = float(value)
    except ValueError:
        raise ValueError(
            f"--rate must be events per second such as 20 or 20/s, got {text!r}"
        ) from None
    if not 0 < rate <= 10_000:
        raise ValueError(f"--rate must be above 0 and at most 10000 per second, got {text!r}")
    return rate


def run_command(console: Any, *, rate: str, duration: float | None, seed: int | None) -> Stats:
    """The ``itline demo events`` command: a rich status line, Ctrl-C stops cleanly."""
    from rich.live import Live as RichLive
    from rich.text import Text

    per_second = parse_rate(rate)
    console.print(
        f"Streaming about {per_second:g} events/s into itline"
        + (f" for {duration:g} s" if duration else "")
        + ". Open the alert console (/alerts/) to watch. Ctrl-C stops."
    )
    with RichLive(Text("starting…"), console=console, refresh_per_second=4) as live:
        return stream(
            rate=per_second,
            duration=duration,
            seed=seed,
            status=lambda line: live.update(Text(line)),
        )
