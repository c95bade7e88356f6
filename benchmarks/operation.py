"""Operation benchmark: agent queue pages, incident creation through the API and the SLA
breach scan on 1,000,000 incidents, on SQLite and on PostgreSQL, in one command.

    python -m benchmarks.operation                      # or: make bench-operation
    python -m benchmarks.operation --incidents 50000    # a quick run on a smaller history
    python -m benchmarks.operation --postgres postgresql://postgres@127.0.0.1:5432/postgres

It keeps its own SQLite file under a temp dir and, when ``--postgres URL`` or a PostgreSQL
``DATABASE_URL`` is given, a database ``itline_bench_ops_s<seed>_n<incidents>_v<version>`` on
that server. Each is generated once (``generate_incidents.py``: the large structure, an IT
organisation, agreements, the incidents with their journals and SLA clocks) and reused by
later runs; a run leaves the data as it found it. Every database is measured in its own
process (Django is configured once per process), through the real code paths:

* queue pages: the incident list (``/incidents/``) rendered by the real view through
  Django's test client as an agent, with the session, middleware and templates: all open
  incidents, my functions' P3 incidents, my incidents, breaching soon (first pages), then a
  walk 100 pages deep into my functions' P3 incidents with every page timed, and the deep
  page repeated; server time p50/p95 and the queries per page;
* incident creation: ``POST /api/v1/incidents`` with a bearer token, impact proposed from the
  structure (the impact engine), routed, journaled, clocks computed; p50/p95 and requests/s
  of one worker;
* the breach scan (``itline.operation.sla.scan``) over 1,000,000 open clocks: as the periodic
  task runs it, once a minute (ten consecutive minutes after the data's anchor), with nothing
  new to do, and after a one-hour outage of the worker.

Targets (issue 4): queue page p95 <= 50 ms at any depth; breach scan <= 1 s. The SLA
computation rate is measured by ``benchmarks/sla.py``."""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.generate_incidents import DEFAULT_INCIDENTS, GENERATOR_VERSION, structure_scale

TARGETS = {"queue_p95_ms": 50.0, "scan_s": 1.0}
AGENT = "agent01"
NEXT_LINK = re.compile(r'<a href="([^"]*)" rel="next"')


# --- the parent: databases, child processes, the report --------------------------------------


def _pg_server(args: argparse.Namespace) -> str | None:
    if args.no_postgres:
        return None
    url = args.postgres or os.environ.get("DATABASE_URL", "")
    return url if url.startswith(("postgres://", "postgresql://")) else None


def _pg_database(server: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    parts = urlsplit(server)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=DEFAULT_INCIDENTS)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--scale", type=float, help="structure scale (default: by incidents)")
    parser.add_argument("--postgres", help="PostgreSQL server URL (a database is created on it)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--workdir", help="where the SQLite file is kept (default: a temp dir)")
    parser.add_argument("--budget", type=float, default=2.0, help="seconds per measurement")
    parser.add_argument("--pages", type=int, default=100, help="how deep the page walk goes")
    parser.add_argument("--creates", type=int, default=200, help="incidents created via API")
    parser.add_argument(
        "--page-timeout", type=float, default=30.0, help="abort a page query after this (s)"
    )
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: measure one database
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        result = child(args)
        Path(args.out).write_text(json.dumps(result))
        return
    workdir = Path(args.workdir or Path(tempfile.gettempdir()) / "itline-bench")
    workdir.mkdir(parents=True, exist_ok=True)
    tag = f"s{args.seed}_n{args.incidents}_v{GENERATOR_VERSION}"
    databases: list[tuple[str, str]] = []
    if not args.no_sqlite:
        databases.append(("SQLite", f"sqlite:///{workdir / f'bench_ops_{tag}.sqlite3'}"))
    server = _pg_server(args)
    if server:
        databases.append(("PostgreSQL", _pg_database(server, f"itline_bench_ops_{tag}")))
    results: dict[str, Any] = {}
    for label, url in databases:
        print(f"\n=== {label} ===", flush=True)
        out = workdir / f"result_{tag}_{label}.json"
        out.unlink(missing_ok=True)
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "ITLINE_VAR_DIR": str(workdir),
            "DEBUG": "false",  # no query log in memory, production template loaders
            "DJANGO_SETTINGS_MODULE": os.environ.get(
                "DJANGO_SETTINGS_MODULE", "benchmarks.settings"
            ),
        }
        env.setdefault("SECRET_KEY", "benchmark-process-only-" + "x" * 40)
        env.pop("ITLINE_BENCH_PG", None)
        command = [sys.executable, "-m", "benchmarks.operation", *(argv or sys.argv[1:])]
        command += ["--child", label, "--out", str(out)]
        done = subprocess.run(command, env=env, check=False)  # noqa: S603 (our own module)
        if done.returncode != 0 or not out.exists():
            print(f"{label}: the measurement failed (exit {done.returncode})")
            results[label] = {"failed": done.returncode}
            continue
        results[label] = json.loads(out.read_text())
    met = report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    sys.exit(0 if met else 1)


def report(results: dict[str, Any]) -> bool:
    """Print every figure with its ratio to the target; True when all targets are met."""
    from rich.console import Console
    from rich.table import Table

    labels = [k for k, v in results.items() if "failed" not in v]
    if not labels:
        return False
    met = True
    table = Table(title="Operation benchmark (server time in the Django process)")
    table.add_column("measurement")
    for label in labels:
        table.add_column(label, justify="right")
    table.add_column("target", justify="right")

    def row(name: str, cell: Callable[[dict[str, Any]], str], target: str = "") -> None:
        table.add_row(name, *[cell(results[label]) for label in labels], target)

    def ratio(value: float, target: float) -> str:
        nonlocal met
        if value > target:
            met = False
        mark = "ok" if value <= target else "MISSED"
        return f"{value / target:.2f}x {mark}"

    first = results[labels[0]]
    row(
        "incidents / open clocks",
        lambda r: f"{r['data']['incidents']:,} / {r['data']['open_clocks']:,}",
    )
    for key in first["queue"]:

        def cell(r: dict[str, Any], key: str = key) -> str:
            q = r["queue"].get(key)
            if q is None:
                return "-"
            if "timed_out_s" in q:
                ratio(float("inf"), 1)
                return f"timed out (> {q['timed_out_s']:.0f} s) MISSED"
            return (
                f"p50 {q['p50_ms']:.1f} / p95 {q['p95_ms']:.1f} ms "
                f"({q['queries']} q) {ratio(q['p95_ms'], TARGETS['queue_p95_ms'])}"
            )

        row(f"queue: {key}", cell, "p95 <= 50 ms")

    def walk_cell(r: dict[str, Any]) -> str:
        w = r["walk"]
        if not w.get("pages"):
            ratio(float("inf"), 1)
            return "timed out on the first page MISSED"
        text = f"{w['pages']} pages: p95 {w['p95_ms']:.1f}, max {w['max_ms']:.1f} ms "
        return text + ratio(w["p95_ms"], TARGETS["queue_p95_ms"])

    row("queue: walk through the pages", walk_cell, "p95 <= 50 ms")
    row(
        "API create incident",
        lambda r: (
            f"p50 {r['create']['p50_ms']:.1f} / p95 {r['create']['p95_ms']:.1f} ms, "
            f"{r['create']['per_s']:.0f} req/s"
        ),
    )
    row(
        "breach scan, every minute",
        lambda r: (
            f"p50 {r['scan']['p50_s'] * 1000:.0f} / p95 {r['scan']['p95_s'] * 1000:.0f} ms "
            f"(~{r['scan']['found_per_scan']:.0f} found) {ratio(r['scan']['p95_s'], TARGETS['scan_s'])}"
        ),
        "<= 1 s",
    )
    row(
        "breach scan, nothing new",
        lambda r: (
            f"{r['scan']['idle_s'] * 1000:.1f} ms " + ratio(r["scan"]["idle_s"], TARGETS["scan_s"])
        ),
        "<= 1 s",
    )
    row(
        "breach scan, after 1 h outage",
        lambda r: (
            f"{r['scan']['backlog_s'] * 1000:.0f} ms ({r['scan']['backlog_found']:,} found) "
            + ratio(r["scan"]["backlog_s"], TARGETS["scan_s"])
        ),
        "<= 1 s",
    )
    Console(width=150).print(table)
    print("targets met" if met else "some targets were missed")
    return met


# --- the child: one database ---------------------------------------------------------------


def _percentiles(samples: list[float]) -> dict[str, float]:
    import numpy as np

    ms = np.array(samples) * 1000
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "max_ms": float(ms.max()),
        "runs": len(samples),
    }


def timed(
    fn: Callable[[], Any],
    *,
    budget_s: float,
    min_runs: int = 10,
    max_runs: int = 500,
    warm: bool = True,
) -> list[float]:
    """Run ``fn`` once to warm up, then until the budget is spent (bounded by the runs)."""
    if warm:
        fn()
    samples: list[float] = []
    spent = 0.0
    while len(samples) < max_runs and (len(samples) < min_runs or spent < budget_s):
        started = time.perf_counter()
        fn()
        took = time.perf_counter() - started
        samples.append(took)
        spent += took
    return samples


def child(args: argparse.Namespace) -> dict[str, Any]:
    import logging

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from benchmarks.generate_incidents import counts, prepare

    # An aborted page (see query_limit) is reported in the table, not as a traceback.
    logging.getLogger("django.request").setLevel(logging.CRITICAL)

    call_command("migrate", verbosity=0, run_syncdb=True)
    scale = args.scale if args.scale is not None else structure_scale(args.incidents)
    started = time.perf_counter()
    generated = prepare(incidents=args.incidents, seed=args.seed, scale=scale)
    if generated.get("generated") or generated.get("structure_s"):
        print(f"generated in {time.perf_counter() - started:.0f} s: {generated}", flush=True)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ANALYZE")  # what autovacuum keeps up to date in production
        else:
            # Fold the generator's writes into the database file, as SQLite's automatic
            # checkpoints do in a running installation (reads would go through the WAL).
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    _static_manifest()
    cleanup(args.incidents)
    data = counts("default")
    print(f"{data['incidents']:,} incidents, {data['open_clocks']:,} open clocks", flush=True)
    result: dict[str, Any] = {"data": data, "vendor": connection.vendor}
    try:
        result.update(measure_queue(args))
        result["create"] = measure_create(args)
        result["scan"] = measure_scan(args)
    finally:
        cleanup(args.incidents)
    return result


def _static_manifest() -> None:
    """Pages are rendered as in production (DEBUG off): the static manifest must exist."""
    from django.conf import settings
    from django.core.management import call_command

    if not (Path(settings.STATIC_ROOT) / "staticfiles.json").exists():
        call_command("collectstatic", interactive=False, verbosity=0)


def cleanup(incidents: int) -> None:
    """Undo what a measurement run wrote, so every run measures the same data: incidents
    created through the API, scan marks and journal rows after the anchor, queued tasks."""
    from django.db import transaction

    from benchmarks.generate_incidents import anchor
    from itline.core.models import JournalEntry, Sequence
    from itline.operation.models import Incident, SlaClock

    t0 = anchor("default")
    with transaction.atomic():
        SlaClock.objects.filter(incident_id__gt=incidents).delete()
        Incident.objects.filter(pk__gt=incidents).delete()
        SlaClock.objects.filter(warned_at__gt=t0).update(warned_at=None)
        SlaClock.objects.filter(breached_at__gt=t0).update(breached_at=None)
        JournalEntry.objects.filter(at__gt=t0).delete()
        Sequence.objects.filter(prefix="INC").update(value=incidents)
        try:
            from django_tasks_db.models import DBTaskResult
        except ImportError:  # another task backend: nothing stored
            return
        DBTaskResult.objects.filter(enqueued_at__gt=t0).delete()


def _agent() -> Any:
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=AGENT)


class TimedOut(Exception):
    pass


@contextmanager
def query_limit(seconds: float) -> Iterator[None]:
    """Abort a statement that runs longer than ``seconds`` (a pathological plan must not
    hang the benchmark): ``statement_timeout`` on PostgreSQL, an interrupt on SQLite."""
    from django.db import DatabaseError, connection

    connection.ensure_connection()
    timer = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {int(seconds * 1000)}")
    else:
        timer = threading.Timer(seconds, connection.connection.interrupt)
        timer.start()
    try:
        yield
    except DatabaseError as exc:
        raise TimedOut(str(exc)) from exc
    finally:
        if timer is not None:
            timer.cancel()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET statement_timeout = 0")


def measure_queue(args: argparse.Namespace) -> dict[str, Any]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="localhost")
    client.force_login(_agent())

    def get(url: str) -> Any:
        with query_limit(args.page_timeout):
            response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"{url}: HTTP {response.status_code}")
        return response

    def measure(url: str) -> dict[str, Any]:
        try:
            get(url)  # warm: connection, templates, caches
            with CaptureQueriesContext(connection) as captured:
                first = _once(lambda: get(url))
            count = len(captured)  # read now: the next request resets the query log
        except TimedOut:
            return {"timed_out_s": args.page_timeout, "url": url}
        runs = 10 if first < 0.2 else 3  # a slow page is not repeated for minutes
        samples = timed(lambda: get(url), budget_s=args.budget, min_runs=runs, warm=False)
        return {**_percentiles(samples), "queries": count, "url": url}

    pages = {
        "all open, first page": "/incidents/",
        "my functions' P3, first page": "/incidents/?queue=function&priority=3",
        "my incidents, first page": "/incidents/?queue=mine",
        "breaching soon, first page": "/incidents/?queue=breaching",
    }
    queue: dict[str, Any] = {}
    for name, url in pages.items():
        queue[name] = measure(url)
        print(f"queue {name}: {_describe(queue[name])}", flush=True)
    # the walk: follow "next" through my functions' P3 incidents, timing every page
    url = pages["my functions' P3, first page"]
    walk: list[float] = []
    timed_out = False
    for _ in range(args.pages):
        started = time.perf_counter()
        try:
            response = get(url)
        except TimedOut:
            timed_out = True
            break
        walk.append(time.perf_counter() - started)
        found = NEXT_LINK.search(response.content.decode())
        if not found:
            break
        next_url = html.unescape(found.group(1))
        url = "/incidents/" + next_url if next_url.startswith("?") else next_url
    name = f"my functions' P3, page {len(walk)}"
    queue[name] = measure(url) if walk and not timed_out else {"timed_out_s": args.page_timeout}
    print(f"queue {name}: {_describe(queue[name])}", flush=True)
    summary = {**_percentiles(walk), "pages": len(walk)} if walk else {"pages": 0}
    if timed_out:
        summary["timed_out_s"] = args.page_timeout
    return {"queue": queue, "walk": summary}


def _once(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _describe(figures: dict[str, Any]) -> str:
    if "timed_out_s" in figures:
        return f"timed out (> {figures['timed_out_s']:.0f} s)"
    return f"p50 {figures['p50_ms']:.1f} ms, p95 {figures['p95_ms']:.1f} ms, {figures['queries']} queries"


def measure_create(args: argparse.Namespace) -> dict[str, Any]:
    import random

    from django.test import Client

    from itline.cmdb.models import Component
    from itline.core.models import ApiToken

    token, secret = ApiToken.issue(user=_agent(), name=f"bench {time.time()}", scope="write")
    client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Bearer {secret}")
    rng = random.Random(args.seed)
    refs = rng.sample(list(Component.objects.values_list("reference", flat=True)), 500)

    def create() -> None:
        payload = {
            "title": f"Benchmark: {rng.choice(refs)} not responding",
            "component": rng.choice(refs),
            "urgency": 2,
        }
        response = client.post("/api/v1/incidents", data=payload, content_type="application/json")
        if response.status_code != 201 and response.status_code != 200:
            raise RuntimeError(f"create: HTTP {response.status_code} {response.content[:300]!r}")

    for _ in range(3):  # the first call builds the impact index; not part of the figure
        create()
    samples = []
    for _ in range(args.creates):
        started = time.perf_counter()
        create()
        samples.append(time.perf_counter() - started)
    token.delete()
    result = _percentiles(samples)
    result["per_s"] = len(samples) / sum(samples)
    print(f"create: p50 {result['p50_ms']:.1f} ms, {result['per_s']:.0f}/s", flush=True)
    return result


def measure_scan(args: argparse.Namespace) -> dict[str, Any]:
    from datetime import timedelta

    from benchmarks.generate_incidents import anchor
    from itline.operation import sla

    t0 = anchor("default")
    periodic: list[float] = []
    found = 0
    minutes = 10
    for minute in range(1, minutes + 1):
        started = time.perf_counter()
        result = sla.scan(now=t0 + timedelta(minutes=minute))
        periodic.append(time.perf_counter() - started)
        found += result.warned + result.breached
    idle = timed(lambda: sla.scan(now=t0 + timedelta(minutes=minutes)), budget_s=args.budget / 2)
    started = time.perf_counter()
    backlog = sla.scan(now=t0 + timedelta(minutes=minutes + 60))
    backlog_s = time.perf_counter() - started
    p = _percentiles(periodic)
    out = {
        "p50_s": p["p50_ms"] / 1000,
        "p95_s": p["p95_ms"] / 1000,
        "found_per_scan": found / minutes,
        "idle_s": _percentiles(idle)["p50_ms"] / 1000,
        "backlog_s": backlog_s,
        "backlog_found": backlog.warned + backlog.breached,
    }
    print(
        f"scan: p95 {out['p95_s'] * 1000:.0f} ms, idle {out['idle_s'] * 1000:.1f} ms, "
        f"backlog {backlog_s * 1000:.0f} ms for {out['backlog_found']} clocks",
        flush=True,
    )
    return out


if __name__ == "__main__":
    main()
