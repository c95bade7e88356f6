"""The events demo: 90 days of alert history that agrees with the incident history of the
Operation demo, so the alert console, the alert pages and the component pages have a past.

* Two event sources: ``prometheus`` (Alertmanager webhook) and ``pagerduty-legacy``
  (PagerDuty Events API v2), with the demo tokens printed by ``itline demo``; mapping rules
  for the demo label scheme (``instance`` host[:port] -> component, ``service`` -> service).
* For every incident raised on a component by monitoring (and the API-raised ones, from the
  legacy PagerDuty integration), the alert that raised it: firing one to five minutes before the
  incident was opened, resolved near its resolution, plus up to two alerts on what depends on
  the component (the structure ``up`` from it), grouped with it, the component as probable
  cause, the group linked to the incident, and the decisions correlation would have written.
  Incidents still open leave their alerts firing.
* Noise: warnings that never opened an incident (the default rule starts at error), a
  flapping interface, and alerts from hosts no mapping rule knows (unmapped).

Everything is simulated in memory with a seeded generator and written with ``bulk_create``
(alerts, their ``AlertTransition`` rows, groups with references from the ALG sequence).
Needs the Operation demo (``itline.operation.demo``) first. ``itline demo events`` then
streams live alerts through ingestion (``itline.operation.demo_stream``)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from itline.core.models import JournalEntry, Sequence
from itline.operation.models.alerts import (
    Alert,
    AlertGroup,
    AlertGroupStatus,
    AlertStatus,
    AlertTransition,
    EventSource,
    EventSourceKind,
    MappingRule,
    MappingTarget,
    Severity,
)

SEED = 20260305
DAYS = 90
PROMETHEUS = "prometheus"
PAGERDUTY = "pagerduty-legacy"
# Demo credentials, printed by `itline demo` so curl and Alertmanager can be tried at once.
DEMO_TOKENS = {PROMETHEUS: "itle_demo-prometheus-token", PAGERDUTY: "itle_demo-pagerduty-key"}
INSTANCE_RULE = "instance names a component"
SERVICE_RULE = "service label names a service"
HOST_PORT = r"^(.+?)(:\d+)?$"

# What monitoring calls the faults of the Operation demo's titles (catalogue.COMPONENT_FAULTS).
ALERT_NAMES: tuple[tuple[str, str], ...] = (
    ("cpu", "HostHighCpuLoad"),
    ("power supply", "HardwareRedundancyLost"),
    ("ping", "HostUnreachable"),
    ("unreachable", "HostUnreachable"),
    ("memory errors", "HostEccErrors"),
    ("memory usage", "HostHighMemoryUsage"),
    ("almost full", "DiskSpaceLow"),
    ("ntp", "NtpClockSkew"),
    ("backup", "BackupFailed"),
    ("replication", "PostgresReplicationLag"),
    ("connection pool", "DbConnectionPoolExhausted"),
    ("long-running", "DbLongRunningQueries"),
    ("login attempts", "DbFailedLoginsSpike"),
    ("packet loss", "InterfacePacketLoss"),
    ("flapping", "InterfaceFlapping"),
    ("bgp", "BgpSessionDown"),
    ("latency", "StorageLatencyHigh"),
    ("disk failed", "StorageDiskFailed"),
    ("snapshot", "SnapshotReserveLow"),
    ("outofmemory", "JvmOutOfMemory"),
    ("health check", "HealthCheckFailing"),
    ("error rate", "HttpErrorRateHigh"),
    ("certificate", "CertificateExpiresSoon"),
    ("queue backlog", "QueueBacklogGrowing"),
    ("5xx", "Http5xxIncreased"),
    ("throttling", "CloudThrottling"),
    ("cost anomaly", "CloudCostAnomaly"),
)
# What a dependent component shows when what it runs on fails.
KNOCK_ON = {
    "application": ("HttpErrorRateHigh", "error"),
    "virtual-machine": ("HostUnreachable", "critical"),
    "database": ("DbConnectionErrors", "error"),
    "server": ("HostHighCpuLoad", "warning"),
    "storage": ("StorageLatencyHigh", "warning"),
    "network-device": ("InterfacePacketLoss", "warning"),
    "cloud-resource": ("Http5xxIncreased", "error"),
}
JOBS = {
    "server": "node",
    "virtual-machine": "node",
    "database": "postgres",
    "network-device": "snmp",
    "storage": "storage",
    "application": "blackbox",
    "cloud-resource": "cloudwatch",
}
# Warnings that come and go without an incident (below the default rule's threshold).
NOISE = (
    ("DiskSpaceLow", "virtual-machine", "Disk /var above 80% on {name}"),
    ("HostHighMemoryUsage", "virtual-machine", "Memory above 90% on {name}"),
    ("CertificateExpiresSoon", "application", "Certificate of {name} expires in 14 days"),
    ("NtpClockSkew", "server", "Clock of {name} is 180 ms off"),
    ("StorageLatencyHigh", "storage", "Read latency above 20 ms on {name}"),
    ("QueueBacklogGrowing", "application", "{name}: queue backlog above 1,000 messages"),
)
UNMAPPED_HOSTS = ("legacy-nas-03", "test-vm-17", "lab-switch-2", "old-ftp-01")
RULE_NAME = "Errors and worse open incidents"


def is_loaded() -> bool:
    return EventSource.objects.filter(name=PROMETHEUS).exists() or Alert.objects.exists()


def reset() -> None:
    """Remove every alert with its history, every group, source and mapping rule."""
    with transaction.atomic():
        cts = [ContentType.objects.get_for_model(m) for m in (EventSource, MappingRule)]
        JournalEntry.objects.filter(content_type__in=cts).delete()
        AlertTransition.objects.all().delete()
        Alert.objects.all().delete()
        AlertGroup.objects.all().delete()
        MappingRule.objects.all().delete()
        EventSource.objects.all().delete()
        Sequence.objects.filter(prefix=AlertGroup.REFERENCE_PREFIX).delete()


# --- configuration --------------------------------------------------------------------------


def configure() -> dict[str, EventSource]:
    """The two sources with their demo tokens and the mapping rules of the label scheme."""
    from itline.operation.ingest import config

    sources = {}
    for name, kind, description in (
        (PROMETHEUS, EventSourceKind.ALERTMANAGER, "Prometheus Alertmanager of the data centres"),
        (PAGERDUTY, EventSourceKind.PAGERDUTY, "Integrations still sending PagerDuty events"),
    ):
        source, _ = config.create_source(by=None, name=name, kind=kind, description=description)
        token = DEMO_TOKENS[name]
        EventSource.objects.filter(pk=source.pk).update(
            token_hash=EventSource.hash(token), token_prefix=token[: len(source.TOKEN_PREFIX) + 6]
        )
        sources[name] = source
    config.create_rule(
        by=None,
        position=10,
        name=INSTANCE_RULE,
        label="instance",
        pattern=HOST_PORT,
        target=MappingTarget.COMPONENT,
    )
    config.create_rule(
        by=None, position=20, name=SERVICE_RULE, label="service", target=MappingTarget.SERVICE
    )
    config.create_rule(
        by=None,
        position=30,
        name="host label names a component",
        label="host",
        pattern=HOST_PORT,
        target=MappingTarget.COMPONENT,
    )
    try:
        from itline.operation.correlation.rules import ensure_default_rules

        ensure_default_rules()
    except ImportError:  # correlation not installed: alerts are kept, no rules needed
        pass
    return sources


# --- the simulation -------------------------------------------------------------------------


def fingerprint(source: EventSource, labels: dict[str, str], dedup_key: str = "") -> str:
    """The fingerprint ingestion gives these labels, so live events find the demo's alerts."""
    from itline.operation.ingest.events import NormalizedEvent, computed_fingerprint

    return computed_fingerprint(
        source.pk, NormalizedEvent(status="firing", labels=labels, dedup_key=dedup_key)
    )


@dataclass
class Track:
    """One alert (one fingerprint) and its firing episodes."""

    alert: Alert
    episodes: list[tuple[datetime, datetime | None]] = field(default_factory=list)

    def free_at(self, at: datetime) -> bool:
        """No episode overlaps one starting at ``at`` (an alert fires once at a time)."""
        if not self.episodes:
            return True
        end = self.episodes[-1][1]
        return end is not None and end < at - timedelta(minutes=1)


class Simulation:
    def __init__(self, now: datetime, seed: int = SEED) -> None:
        self.now = now
        self.start = now - timedelta(days=DAYS)
        self.rng = random.Random(seed)  # noqa: S311 (demo data, not security)
        self.tracks: dict[str, Track] = {}
        self.groups: list[tuple[AlertGroup, list[Track]]] = []
        self.sources = {s.name: s for s in EventSource.objects.filter(name__in=DEMO_TOKENS)}
        self.rules = {r.name: r for r in MappingRule.objects.all()}
        self.pd_counter = 0

    # alerts -----------------------------------------------------------------------------------

    def track(
        self,
        source: EventSource,
        name: str,
        severity: str,
        labels: dict[str, str],
        *,
        component: Any = None,
        service: Any = None,
        summary: str = "",
        dedup_key: str = "",
        rule: MappingRule | None = None,
    ) -> Track:
        fp = fingerprint(source, labels, dedup_key)
        found = self.tracks.get(fp)
        if found is None:
            alert = Alert(
                fingerprint=fp,
                source=source,
                name=name,
                severity=severity,
                summary=summary[:1024],
                labels=labels,
                annotations={"summary": summary} if summary else {},
                component=component,
                service=service,
                mapping_rule=rule,
                decisions=[],
            )
            found = self.tracks[fp] = Track(alert)
        return found

    def episode(
        self, track: Track, fire: datetime, end: datetime | None, *, severity: str | None = None
    ) -> bool:
        if fire >= self.now or not track.free_at(fire):
            return False
        if end is not None and end >= self.now:
            end = None
        track.episodes.append((fire, end))
        track.alert.suppressed_by = None  # a new episode is judged anew
        if severity:
            track.alert.severity = severity
        return True

    def decide(self, obj: Any, at: datetime, what: str, why: str) -> None:
        obj.decisions.append({"at": at.isoformat(), "what": what, "why": why})
        if len(obj.decisions) > 50:
            obj.decisions = obj.decisions[:1] + obj.decisions[-49:]

    # groups -----------------------------------------------------------------------------------

    def group(
        self, title: str, members: list[tuple[Track, datetime, datetime | None]], **fields: Any
    ) -> AlertGroup:
        opened = min(at for _, at, _ in members)
        ends = [end for _, _, end in members]
        resolved = None if any(e is None for e in ends) else max(e for e in ends if e)
        worst = max(
            (t.alert.severity for t, _, _ in members),
            key=lambda s: ["info", "warning", "error", "critical"].index(s),
        )
        group = AlertGroup(
            title=title[:300],
            status=AlertGroupStatus.RESOLVED if resolved else AlertGroupStatus.OPEN,
            severity=worst,
            opened_at=opened,
            last_alert_at=max(at for _, at, _ in members),
            resolved_at=resolved,
            firing_count=sum(1 for e in ends if e is None),
            alert_count=len(members),
            decisions=[],
            created_at=opened,
            **fields,
        )
        self.groups.append((group, [t for t, _, _ in members]))
        return group

    # the history ------------------------------------------------------------------------------

    def run(self) -> None:
        from itline.cmdb.models import Component, Service
        from itline.operation.models import Incident

        components = list(Component.objects.select_related("component_type").order_by("name"))
        self.by_type: dict[str, list[Any]] = {}
        for c in components:
            self.by_type.setdefault(c.component_type.slug, []).append(c)
        self.by_id = {c.pk: c for c in components}
        self.services = {s.pk: s for s in Service.objects.all()}
        incidents = list(
            Incident.objects.filter(component__isnull=False, created_at__gte=self.start)
            .select_related("component__component_type", "service")
            .order_by("created_at", "pk")
        )
        self.dependents = self.dependents_of({i.component_id for i in incidents if i.component_id})
        for inc in incidents:
            if inc.channel in ("monitoring", "api"):
                self.from_incident(inc)
        self.noise()
        self.maintenance_reboots()
        self.flapping()
        self.unmapped()

    def dependents_of(self, ids: set[int]) -> dict[int, tuple[list[int], int | None]]:
        """For each component: the components two steps up the structure (what fails with
        it) and the nearest service, from the impact engine."""
        from itline.cmdb.impact import impact

        out = {}
        for node in sorted(ids):
            reach = impact([node], "up", depth=3)
            ids_ = reach.node_ids.tolist()
            dist = reach.distances.tolist()
            comps = [n for n, d in zip(ids_, dist, strict=True) if 0 < d <= 2 and n in self.by_id]
            svcs = sorted(
                (d, n) for n, d in zip(ids_, dist, strict=True) if d > 0 and n in self.services
            )
            out[node] = (comps, svcs[0][1] if svcs else None)
        return out

    def labels(self, comp: Any, name: str, severity: str, service: Any = None) -> dict[str, str]:
        slug = comp.component_type.slug
        port = {"node": "9100", "postgres": "9187", "snmp": "161", "blackbox": "443"}.get(
            JOBS.get(slug, "node"), "9100"
        )
        labels = {
            "alertname": name,
            "instance": f"{comp.name}:{port}",
            "job": JOBS.get(slug, "node"),
            "severity": severity,
            "env": "prod",
        }
        if service is not None:
            labels["service"] = service.name
        return labels

    def prom_track(
        self, comp: Any, name: str, severity: str, summary: str, service: Any = None
    ) -> Track:
        return self.track(
            self.sources[PROMETHEUS],
            name,
            severity,
            self.labels(comp, name, severity, service),
            component=comp,
            service=service,
            summary=summary,
            rule=self.rules.get(INSTANCE_RULE),
        )

    def from_incident(self, inc: Any) -> None:
        rng = self.rng
        comp = inc.component
        title = inc.title.lower()
        name = next((n for key, n in ALERT_NAMES if key in title), "ComponentFault")
        severity = Severity.CRITICAL if inc.priority <= 1 else Severity.ERROR
        fire = inc.created_at - timedelta(seconds=rng.randint(60, 300))
        end = inc.resolved_at
        if end is not None:
            end = max(fire + timedelta(minutes=3), end - timedelta(seconds=rng.randint(0, 900)))
        deps, service_id = self.dependents.get(comp.pk, ([], None))
        service = self.services.get(service_id) if service_id else inc.service
        if inc.channel == "api":  # the legacy PagerDuty integration
            self.pd_counter += 1
            key = f"pd-{self.pd_counter:05d}"
            cause = self.track(
                self.sources[PAGERDUTY],
                name,
                severity,
                {"dedup_key": key, "source": comp.name, "component": comp.name, "class": name},
                component=comp,
                summary=inc.title,
                dedup_key=key,
            )
        else:
            cause = self.prom_track(comp, name, severity, inc.title)
        if not self.episode(cause, fire, end, severity=severity):
            return
        members = [(cause, fire, end)]
        picked = rng.sample(deps, min(len(deps), rng.choice([0, 1, 1, 2, 2])))
        for dep_id in picked:
            dep = self.by_id[dep_id]
            dep_name, dep_sev = KNOCK_ON.get(dep.component_type.slug, ("TargetDown", "error"))
            track = self.prom_track(
                dep, dep_name, dep_sev, f"{dep_name} on {dep.name}", service=service
            )
            dep_fire = fire + timedelta(seconds=rng.randint(30, 240))
            dep_end = end + timedelta(seconds=rng.randint(10, 240)) if end else None
            if self.episode(track, dep_fire, dep_end):
                members.append((track, dep_fire, dep_end))
        group = self.group(
            f"{name} on {comp.name}", members, probable_cause=comp, service=service, incident=inc
        )
        self.decide(
            group, fire, "opened", f"First alert: {name} on {comp.name}. No open group is related."
        )
        self.decide(cause.alert, fire, "opened group", f"No open group is related to {comp.name}.")
        for track, at, _ in members[1:]:
            why = (
                f"{getattr(track.alert.component, 'name', '?')} depends on {comp.name} (within the correlation "
                f"depth) and fired {int((at - fire).total_seconds())} s after it."
            )
            self.decide(track.alert, at, "grouped", why)
        self.decide(
            group,
            inc.created_at,
            f"opened incident {inc.reference}",
            f"{name} is {severity}, at or above the threshold (error) of rule {RULE_NAME!r}.",
        )
        self.decide(
            cause.alert,
            inc.created_at,
            f"opened incident {inc.reference}",
            "Its group qualified for an incident.",
        )
        if end is not None:
            self.decide(
                group,
                max(e for _, _, e in members if e),
                "resolved",
                "Every alert of the group has resolved; the rule resolves its incident.",
            )

    def noise(self) -> None:
        rng = self.rng
        day = self.start
        while day < self.now:
            for _ in range(rng.randint(4, 10)):
                name, slug, text = rng.choice(NOISE)
                comp = rng.choice(self.by_type.get(slug) or self.by_type["virtual-machine"])
                track = self.prom_track(comp, name, Severity.WARNING, text.format(name=comp.name))
                fire = day + timedelta(seconds=rng.randint(0, 86399))
                end: datetime | None = fire + timedelta(
                    minutes=rng.choice([3, 5, 8, 15, 30, 60, 150])
                )
                if rng.random() < 0.015 and self.now - fire < timedelta(days=2):
                    end = None
                if self.episode(track, fire, end):
                    group = self.group(
                        f"{name} on {comp.name}", [(track, fire, end)], probable_cause=comp
                    )
                    why = f"{name} is warning; rule {RULE_NAME!r} opens incidents from error."
                    self.suppress(track, comp, fire)
                    self.decide(track.alert, fire, "no incident", why)
                    self.decide(group, fire, "no incident", why)
            day += timedelta(days=1)
        # a few warnings firing now, so the console is never empty on a fresh demo
        for name, slug, text in NOISE[:4]:
            comp = self.rng.choice(self.by_type.get(slug) or self.by_type["virtual-machine"])
            track = self.prom_track(comp, name, Severity.WARNING, text.format(name=comp.name))
            fire = self.now - timedelta(minutes=self.rng.randint(5, 240))
            if self.episode(track, fire, None):
                group = self.group(
                    f"{name} on {comp.name}", [(track, fire, None)], probable_cause=comp
                )
                why = f"{name} is warning; rule {RULE_NAME!r} opens incidents from error."
                self.suppress(track, comp, fire)
                self.decide(track.alert, fire, "no incident", why)
                self.decide(group, fire, "no incident", why)

    def maintenance_reboots(self) -> None:
        """Planned work makes noise: in each maintenance window occurrence (the maintenance
        demo's), a few covered components go down for minutes while being patched. The alerts
        are recorded and suppressed with the window named; no incident is opened."""
        try:
            from itline.operation.maintenance import windows_between
        except ImportError:
            return
        for occ in windows_between(self.start, self.now):
            covered = sorted(n for n in occ.node_ids if n in self.by_id)
            for node_id in self.rng.sample(covered, min(len(covered), self.rng.randint(1, 3))):
                comp = self.by_id[node_id]
                name, severity = {
                    "database": ("PostgresDown", Severity.CRITICAL),
                    "network-device": ("InterfaceDown", Severity.ERROR),
                }.get(comp.component_type.slug, ("HostUnreachable", Severity.ERROR))
                track = self.prom_track(comp, name, severity, f"{comp.name} restarts for patching")
                span = (occ.ends_at - occ.starts_at).total_seconds()
                fire = occ.starts_at + timedelta(seconds=self.rng.uniform(0.1, 0.7) * span)
                end = fire + timedelta(minutes=self.rng.randint(2, 9))
                if not self.episode(track, fire, min(end, occ.ends_at)):
                    continue
                group = self.group(
                    f"{name} on {comp.name}", [(track, fire, end)], probable_cause=comp
                )
                self.suppress(track, comp, fire)
                why = f"Every alert of the group is suppressed by {occ.window.reference}."
                self.decide(group, fire, "no incident", why)

    def suppress(self, track: Track, comp: Any, at: datetime) -> None:
        """Inside a maintenance window (the maintenance demo's), the alert is recorded but
        suppressed, as correlation does; the window is named on the alert."""
        window = self.covering([comp.pk], at).get(comp.pk)
        if window is None:
            return
        self.decide(
            track.alert,
            at,
            f"suppressed by {window.reference} {window.title!r}",
            f"{comp.name} is covered by maintenance window {window.reference} at this time; "
            "the alert is recorded, no incident is opened and nobody is notified.",
        )
        still = track.episodes[-1][1] is None
        if still and self.covering([comp.pk], self.now).get(comp.pk) == window:
            track.alert.suppressed_by = window  # firing, and the window keeps it quiet now

    def covering(self, ids: list[int], at: datetime) -> dict[int, Any]:
        try:
            from itline.operation.maintenance import covering
        except ImportError:  # maintenance not installed: nothing is suppressed
            return {}
        return covering(ids, at)

    def flapping(self) -> None:
        """An access switch port that goes up and down: marked flapping, no incident storm."""
        switches = self.by_type.get("network-device") or []
        if not switches:
            return
        comp = switches[-1]
        track = self.prom_track(
            comp, "InterfaceFlapping", Severity.ERROR, f"Port Gi1/0/24 on {comp.name} flaps"
        )
        rule = f"rule {RULE_NAME!r} counts 4 state changes within 900 s as flapping"
        for days_ago in (40, 12, 0):
            at = self.now - timedelta(days=days_ago, hours=3)
            first = at
            for i in range(12):
                up = at + timedelta(seconds=self.rng.randint(60, 240))
                last = days_ago == 0 and i == 11
                self.episode(track, at, None if last else up)
                at = up + timedelta(seconds=self.rng.randint(90, 300))
            self.decide(
                track.alert,
                first + timedelta(minutes=8),
                "flapping",
                f"4 state changes within 900 s ({rule}); no incident is opened or closed "
                "while it flaps.",
            )
            if days_ago:
                self.decide(
                    track.alert,
                    at + timedelta(minutes=15),
                    "stopped flapping",
                    "No state change for 900 s; it is judged normally again.",
                )
        track.alert.flapping = True
        members: list[tuple[Track, datetime, datetime | None]] = [
            (track, track.episodes[0][0], None)
        ]
        group = self.group(f"InterfaceFlapping on {comp.name}", members, probable_cause=comp)
        group.opened_at = track.episodes[-12][0]
        self.decide(
            group,
            group.opened_at,
            "no incident",
            f"InterfaceFlapping on {comp.name} is flapping; {rule}.",
        )

    def unmapped(self) -> None:
        source = self.sources[PROMETHEUS]
        for i, host in enumerate(UNMAPPED_HOSTS):
            name = ["NodeDown", "DiskSpaceLow", "InterfaceDown", "ServiceDown"][i % 4]
            severity = [Severity.ERROR, Severity.WARNING, Severity.ERROR, Severity.WARNING][i % 4]
            labels = {
                "alertname": name,
                "instance": f"{host}:9100",
                "job": "node",
                "severity": severity,
            }
            track = self.track(source, name, severity, labels, summary=f"{name} on {host}")
            at = self.start + timedelta(days=self.rng.randint(5, 30))
            while at < self.now - timedelta(days=3):
                end = at + timedelta(minutes=self.rng.randint(5, 120))
                self.episode(track, at, end)
                at = end + timedelta(days=self.rng.uniform(2, 12))
            if i < 2:  # two of them are firing now
                self.episode(track, self.now - timedelta(minutes=self.rng.randint(10, 2000)), None)
            self.decide(
                track.alert,
                track.episodes[0][0],
                "unmapped",
                f"No mapping rule knows the instance {host}:9100 (rule {INSTANCE_RULE!r} looks "
                "for a component of that name); the alert is kept and listed as unmapped.",
            )

    # writing ----------------------------------------------------------------------------------

    def write(self) -> None:
        tracks = [t for t in self.tracks.values() if t.episodes]
        now = self.now
        for t in tracks:
            a = t.alert
            fire, end = t.episodes[-1]
            a.status = AlertStatus.FIRING if end is None else AlertStatus.RESOLVED
            a.starts_at = fire
            a.ends_at = end
            a.first_seen_at = t.episodes[0][0]
            a.changed_at = end or fire
            a.last_seen_at = (
                now - timedelta(seconds=self.rng.randint(5, 55)) if end is None else end
            )
            a.transitions = sum(1 if e is None else 2 for _, e in t.episodes)
        groups = [g for g, _ in self.groups]
        groups.sort(key=lambda g: g.opened_at)
        first = (
            Sequence.objects.filter(prefix=AlertGroup.REFERENCE_PREFIX)
            .values_list("value", flat=True)
            .first()
            or 0
        )
        for n, g in enumerate(groups, first + 1):
            g.reference = f"{AlertGroup.REFERENCE_PREFIX}-{n:06d}"
        Sequence.objects.update_or_create(
            prefix=AlertGroup.REFERENCE_PREFIX, defaults={"value": first + len(groups)}
        )
        AlertGroup.objects.bulk_create(groups, batch_size=500)
        # an alert belongs to the group of its latest episode
        for group, members in sorted(self.groups, key=lambda gm: gm[0].opened_at):
            for t in members:
                t.alert.group = group
        Alert.objects.bulk_create([t.alert for t in tracks], batch_size=500)
        rows = []
        for t in tracks:
            a = t.alert
            for fire, end in t.episodes:
                for status, at in ((AlertStatus.FIRING, fire), (AlertStatus.RESOLVED, end)):
                    if at is None:
                        continue
                    rows.append(
                        AlertTransition(
                            alert=a,
                            status=status,
                            severity=a.severity,
                            at=at,
                            received_at=at + timedelta(milliseconds=self.rng.randint(20, 900)),
                            component_id=a.component_id,
                            service_id=a.service_id,
                            summary=a.summary,
                        )
                    )
        AlertTransition.objects.bulk_create(rows, batch_size=2000)
        EventSource.objects.filter(pk__in=[s.pk for s in self.sources.values()]).update(
            last_event_at=now
        )


def load(now: datetime | None = None, seed: int = SEED) -> Simulation:
    with transaction.atomic():
        configure()
        simulation = Simulation(now or timezone.now(), seed)
        simulation.run()
        simulation.write()
    return simulation


def steps() -> Iterator[tuple[str, Callable[[], Any]]]:
    holder: dict[str, Simulation] = {}

    def simulate() -> None:
        configure()
        holder["simulation"] = Simulation(timezone.now())
        holder["simulation"].run()

    def write() -> None:
        holder["simulation"].write()

    yield "event sources and 90 days of alerts", simulate
    yield "alert history written", write


def print_summary(console: Any) -> None:
    firing = Alert.objects.filter(status=AlertStatus.FIRING).count()
    unmapped = Alert.objects.filter(component__isnull=True, service__isnull=True).count()
    console.print(
        f"Events: {Alert.objects.count():,} alerts ({firing} firing, {unmapped} unmapped), "
        f"{AlertTransition.objects.count():,} transitions, {AlertGroup.objects.count():,} groups "
        f"({AlertGroup.objects.filter(incident__isnull=False).count():,} with an incident)."
    )
    console.print(
        f"  Demo tokens: {PROMETHEUS} [bold]{DEMO_TOKENS[PROMETHEUS]}[/], "
        f"{PAGERDUTY} [bold]{DEMO_TOKENS[PAGERDUTY]}[/]. Live alerts: [bold]itline demo events[/]."
    )
