"""Prometheus metrics. Request counters live in this process; with several web processes set
PROMETHEUS_MULTIPROC_DIR (docs/deployment.md) so every process's numbers are merged. Queue
depth and worker heartbeat age are read from the database at scrape time, so any process
reports them correctly."""

from __future__ import annotations

import os

from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

REQUESTS = Counter(
    "itline_http_requests",
    "HTTP requests served, by method, route and status class",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "itline_http_request_duration_seconds",
    "Time to serve an HTTP request, by route",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class DatabaseCollector(Collector):
    """Task queue depth and worker heartbeat age, read when scraped."""

    def collect(self):  # type: ignore[no-untyped-def]
        from django_tasks_db.models import DBTaskResult

        from itline.core.models import WorkerHeartbeat

        depth = GaugeMetricFamily(
            "itline_task_queue_depth", "Background tasks waiting to run", labels=["queue"]
        )
        counts: dict[str, int] = {}
        for queue in DBTaskResult.objects.ready().values_list("queue_name", flat=True):
            counts[queue] = counts.get(queue, 0) + 1
        for queue, count in sorted(counts.items()) or [("default", 0)]:
            depth.add_metric([queue], count)
        yield depth

        age = GaugeMetricFamily(
            "itline_worker_heartbeat_age_seconds",
            "Seconds since the background worker last ran its heartbeat task (-1: never)",
        )
        last = (
            WorkerHeartbeat.objects.order_by("-beat_at").values_list("beat_at", flat=True).first()
        )
        age.add_metric([], (timezone.now() - last).total_seconds() if last else -1)
        yield age

        yield from _impact_index_metrics()


def _impact_index_metrics():  # type: ignore[no-untyped-def]
    """State of this process's impact index (read-only reporting may read any app)."""
    from itline.cmdb import impact

    state = impact.status()
    built = GaugeMetricFamily(
        "itline_impact_index_built", "1 when this process has an impact index built"
    )
    built.add_metric([], 1 if state["built"] else 0)
    yield built
    nodes = GaugeMetricFamily("itline_impact_index_nodes", "Nodes in this process's impact index")
    nodes.add_metric([], state["nodes"])
    yield nodes


def render() -> tuple[bytes, str]:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        for collector in (REQUESTS, LATENCY):
            registry.register(collector)
    registry.register(DatabaseCollector())
    return generate_latest(registry), CONTENT_TYPE_LATEST
