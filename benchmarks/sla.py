"""SLA clock benchmark: one command, prints figures, ratios and the targets of issue 4.

    python -m benchmarks.sla                     # or: uv run python benchmarks/sla.py
    python -m benchmarks.sla --no-postgres --clocks 100000 --json result.json
    python -m benchmarks.sla --no-scan           # only the clock computation (no database)

Part 1, the clock computation (pure Python, no database): a seeded population of incident
histories (creation in or out of support hours, assignment, first response, pauses on hold
for pausing and non-pausing reasons, priority changes, resolution, reopen) on three
calendars (office hours with Dutch public holidays in Europe/Amsterdam, split hours with US
holidays in America/New_York, 24x7). It measures ``itline.operation.sla.compute`` -- the
function ``refresh``/``recompute`` run for every incident -- in clocks per second (response
and resolution each count), against a naive minute-by-minute loop that walks the same
histories one minute at a time asking the calendar "is this business time?". The loop is run
on a sample (it is slow) and both must agree to the minute.

Part 2, the breach scan (``itline.operation.sla.scan``) over 1,000,000 open clocks, on SQLite
and, when a server answers (``--postgres URL``, ``DATABASE_URL`` or 127.0.0.1:5432 as user
postgres), on PostgreSQL: each database gets its own process with ``DATABASE_URL`` pointing at
it, and the data is generated once per database and reused. Deadlines are spread over five
weeks around a fixed instant T; everything that passed a threshold before T - 1 minute is
already notified (steady state). Measured: the minute tick at T (the clocks that crossed in
the last minute) and a catch-up after a one-hour worker outage, each end to end as the
worker runs it (select, mark, journal rows, after-commit notification and webhook hand-off).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGETS = {"clocks_per_s": 100_000, "scan_s": 1.0}
SCAN_DATA_VERSION = 1
BASE = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday; histories spread over 90 days


# --- part 1: the clock computation ---------------------------------------------------------


def calendars() -> dict[str, Any]:
    from itline.core.calendar import BusinessCalendar

    week = ("mon", "tue", "wed", "thu", "fri")
    return {
        "office NL": BusinessCalendar.build(
            tz="Europe/Amsterdam",
            hours={d: ["08:00-12:00", "13:00-17:00"] for d in week},
            country="NL",
        ),
        "split US": BusinessCalendar.build(
            tz="America/New_York",
            hours={d: ["07:00-12:00", "12:30-19:00"] for d in (*week, "sat")},
            country="US",
        ),
        "24x7": None,
    }


def policies() -> list[Any]:
    from itline.operation.sla_engine import Policy

    standard = {1: (15, 240), 2: (30, 540), 3: (120, 1620), 4: (480, 2700)}
    tight = {1: (10, 120), 2: (20, 240), 3: (60, 480), 4: (240, 960)}
    return [
        Policy(standard, 75, frozenset({"waiting_for_customer"})),
        Policy(tight, 80, frozenset({"waiting_for_customer", "waiting_for_supplier"})),
    ]


def histories(n: int, seed: int) -> list[tuple[Any, ...]]:
    """``(start, initial, changes, policy, calendar name, now)`` per incident, on whole
    minutes (so the minute-by-minute baseline can agree exactly)."""
    from itline.operation.sla_engine import Change

    rng = random.Random(seed)
    pols = policies()
    names = ["office NL"] * 6 + ["split US"] * 2 + ["24x7"] * 2
    out = []
    horizon = 90 * 1440
    for _ in range(n):
        start = BASE + timedelta(minutes=rng.randrange(horizon))
        t = start
        priority = rng.choice((1, 2, 3, 3, 3, 4, 4))
        initial = {"status": "new", "priority": priority, "hold_reason": ""}
        changes = []

        def step(low: int, high: int) -> datetime:
            nonlocal t
            t = t + timedelta(minutes=rng.randrange(low, high))
            return t

        if rng.random() < 0.7:
            changes.append(Change(step(1, 90), {"status": "assigned"}))
        if rng.random() < 0.85:
            changes.append(Change(step(1, 600), {"status": "in_progress"}))
            if rng.random() < 0.25:
                reason = rng.choice(("waiting_for_customer", "waiting_for_supplier"))
                changes.append(Change(step(10, 900), {"status": "on_hold", "hold_reason": reason}))
                changes.append(Change(step(30, 4000), {"status": "in_progress", "hold_reason": ""}))
            if rng.random() < 0.1:
                changes.append(Change(step(5, 300), {"priority": rng.choice((1, 2, 3, 4))}))
            if rng.random() < 0.6:
                changes.append(Change(step(30, 6000), {"status": "resolved"}))
                if rng.random() < 0.05:
                    changes.append(Change(step(60, 2000), {"status": "in_progress"}))
        now = max(t, start) + timedelta(minutes=rng.randrange(0, 3000))
        out.append((start, initial, changes, rng.choice(pols), rng.choice(names), now))
    return out


def measure_compute(
    population: list[tuple[Any, ...]], cals: dict[str, Any], repeats: int
) -> dict[str, Any]:
    import gc

    from itline.operation.sla_engine import compute

    best = float("inf")
    clocks = 0
    gc.collect()
    gc.freeze()
    try:
        for _ in range(repeats):
            clocks = 0
            started = time.perf_counter()
            for start, initial, changes, policy, cal, now in population:
                clocks += len(
                    compute(start, initial, changes, policy=policy, calendar=cals[cal], now=now)
                )
            best = min(best, time.perf_counter() - started)
    finally:
        gc.unfreeze()
    return {"incidents": len(population), "clocks": clocks, "seconds": best, "rate": clocks / best}


def naive_clocks(history: tuple[Any, ...], cal: Any) -> dict[str, dict[str, Any]]:
    """The baseline: walk minute by minute from creation, keep the incident's state up to date
    from its changes, count the minutes that are running and business time; then walk on from
    now until the target is reached."""
    from itline.operation.sla_engine import ON_HOLD, RESOLVED_STATES, RESPONSE_STOPS

    start, initial, changes, policy, _name, now = history
    minute = timedelta(minutes=1)

    def business(t: datetime) -> bool:
        return True if cal is None else cal.is_business_time(t)

    out = {}
    for kind in ("response", "resolution"):
        status, hold, prio = initial["status"], "", initial["priority"]
        answered_prio = None
        elapsed = 0
        reached: dict[int, datetime] = {}
        pending = list(changes)
        t = start

        def running(kind: str, status: str, hold: str, answered: int | None) -> bool:
            if kind == "response":
                return answered is None
            return status not in RESOLVED_STATES and not (
                status == ON_HOLD and hold in policy.pause_states
            )

        while t < now:
            while pending and pending[0].at <= t:
                values = pending.pop(0).values
                status = values.get("status", status)
                hold = values.get("hold_reason", hold)
                prio = values.get("priority", prio)
                if answered_prio is None and status in RESPONSE_STOPS:
                    answered_prio = prio
            if running(kind, status, hold, answered_prio) and business(t):
                elapsed += 1
                reached.setdefault(elapsed, t + minute)
            t += minute
        while pending and pending[0].at <= now:
            values = pending.pop(0).values
            status = values.get("status", status)
            hold = values.get("hold_reason", hold)
            prio = values.get("priority", prio)
            if answered_prio is None and status in RESPONSE_STOPS:
                answered_prio = prio
        effective = answered_prio if kind == "response" and answered_prio is not None else prio
        pair = policy.targets.get(effective)
        if pair is None:
            continue
        target = pair[0] if kind == "response" else pair[1]
        due = reached.get(target)
        if due is None and running(kind, status, hold, answered_prio):
            used = elapsed
            t = now
            while used < target:
                if business(t):
                    used += 1
                t += minute
            due = t
        out[kind] = {
            "elapsed": elapsed,
            "due": due,
            "running": running(kind, status, hold, answered_prio),
        }
    return out


def measure_naive(
    population: list[tuple[Any, ...]], cals: dict[str, Any], sample: int, budget: float
) -> dict[str, Any]:
    from itline.operation.sla_engine import compute

    clocks = 0
    checked = 0
    disagreements = []
    started = time.perf_counter()
    for history in population[:sample]:
        start, initial, changes, policy, cal, now = history
        naive = naive_clocks(history, cals[cal])
        clocks += len(naive)
        ours = compute(start, initial, changes, policy=policy, calendar=cals[cal], now=now)
        for kind, expected in naive.items():
            got = ours.get(kind)
            checked += 1
            if (
                got is None
                or abs(got.elapsed_minutes - expected["elapsed"]) > 1
                or (
                    expected["due"] is not None
                    and (
                        got.due_at is None
                        or abs((got.due_at - expected["due"]).total_seconds()) > 60
                    )
                )
            ):
                disagreements.append((kind, start, expected, got))
        if time.perf_counter() - started > budget:
            break
    seconds = time.perf_counter() - started
    return {
        "clocks": clocks,
        "seconds": seconds,
        "rate": clocks / seconds if seconds else 0.0,
        "checked": checked,
        "disagreements": len(disagreements),
        "first_disagreement": repr(disagreements[0]) if disagreements else None,
    }


def measure_deadline_only(cals: dict[str, Any], n: int, seed: int) -> dict[str, Any]:
    """The deadline step alone (start of the running period + remaining business minutes ->
    due instant) through the calendar engine's public ``add_minutes``."""
    rng = random.Random(seed)
    names = list(cals)
    cases = [
        (
            cals[rng.choice(names)],
            BASE + timedelta(minutes=rng.randrange(90 * 1440)),
            rng.choice((15, 120, 480, 1620, 2700)),
        )
        for _ in range(n)
    ]
    from itline.core.calendar import BusinessCalendar

    always = BusinessCalendar.twenty_four_seven("UTC")
    started = time.perf_counter()
    for cal, start, minutes in cases:
        (cal or always).add_minutes(start, minutes)
    seconds = time.perf_counter() - started
    return {"deadlines": n, "seconds": seconds, "rate": n / seconds}


# --- part 2: the breach scan ----------------------------------------------------------------


def _pg_url(args: argparse.Namespace) -> str | None:
    from benchmarks.impact import _pg_database, _pg_server

    server = _pg_server(args)
    if not server:
        return None
    return _pg_database(server, f"itline_bench_sla_v{SCAN_DATA_VERSION}")


def scan_child(n_clocks: int, seed: int) -> dict[str, Any]:
    """Runs in its own process with DATABASE_URL set: data once, then the measurements."""
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    ensure_schema()
    t0 = BASE + timedelta(days=60)
    generated = ensure_scan_data(n_clocks, seed, t0)
    from itline.operation import sla
    from itline.operation.models import SlaClock

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE operation_slaclock")
    plan = explain_plan(t0)
    open_clocks = SlaClock.objects.filter(state__in=("running", "paused")).count()

    def reset(window: timedelta) -> None:
        SlaClock.objects.filter(warn_at__gt=t0 - window, warn_at__lte=t0).update(warned_at=None)
        SlaClock.objects.filter(due_at__gte=t0 - window, due_at__lt=t0).update(breached_at=None)

    runs: dict[str, list[tuple[float, int, int]]] = {"tick": [], "catch-up": []}
    for name, window, repeats in (
        ("tick", timedelta(minutes=1), 7),
        ("catch-up", timedelta(hours=1), 3),
    ):
        for _ in range(repeats):
            reset(window)
            started = time.perf_counter()
            result = sla.scan(now=t0)
            runs[name].append((time.perf_counter() - started, result.warned, result.breached))
    # An idle tick: nothing crossed since the last scan.
    idle = []
    for _ in range(5):
        started = time.perf_counter()
        sla.scan(now=t0)
        idle.append(time.perf_counter() - started)
    return {
        "vendor": connection.vendor,
        "open_clocks": open_clocks,
        "generated_s": generated,
        "plan": plan,
        "tick": runs["tick"],
        "catch_up": runs["catch-up"],
        "idle": idle,
    }


def ensure_schema() -> None:
    """Create what the models declare but the migrations do not have yet (models of this
    change set waiting for their migration): missing tables, and the SlaClock indexes. A
    no-op once the migrations exist; the benchmark then runs on exactly the migrated schema."""
    from django.apps import apps
    from django.db import connection

    from itline.operation.models import SlaClock

    made = []
    with connection.cursor() as cursor:
        tables = set(connection.introspection.table_names(cursor))
    with connection.schema_editor() as editor:
        for model in apps.get_models():
            if model._meta.managed and not model._meta.proxy and model._meta.db_table not in tables:
                editor.create_model(model)
                made.append(model._meta.db_table)
    with connection.cursor() as cursor:
        existing = connection.introspection.get_constraints(cursor, SlaClock._meta.db_table)
    with connection.schema_editor() as editor:
        for index in SlaClock._meta.indexes:
            if index.name not in existing:
                editor.add_index(SlaClock, index)
                made.append(str(index.name))
    if made:
        print(
            f"  {connection.vendor}: created {', '.join(made)} (no migration yet)", file=sys.stderr
        )


def explain_plan(t0: datetime) -> str:

    from itline.operation.models import SlaClock

    qs = SlaClock.objects.filter(due_at__lt=t0, breached_at__isnull=True).values("id")
    return str(qs.explain())


def ensure_scan_data(n_clocks: int, seed: int, t0: datetime) -> float | None:
    """Incidents with two clocks each, written with executemany; reused when present."""
    from django.db import connection, transaction

    from itline.cmdb.services import create_service
    from itline.operation.models import Incident, SlaClock

    have = SlaClock.objects.count()
    if have >= n_clocks:
        print(f"  {connection.vendor}: reusing {have:,} clocks", file=sys.stderr)
        return None
    started = time.perf_counter()
    rng = random.Random(seed)
    with transaction.atomic():
        SlaClock.objects.all().delete()
        Incident.objects.all().delete()
        service = create_service(by=None, name=f"Bench service {rng.random():.6f}")
        fields = [f for f in Incident._meta.concrete_fields if not f.primary_key]
        columns = [f.column for f in fields]
        defaults = {f.attname: f.get_default() for f in fields}
        incidents = n_clocks // 2
        table = Incident._meta.db_table
        placeholders = ", ".join(["%s"] * len(columns))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608
        with connection.cursor() as cursor:
            batch = []
            for i in range(incidents):
                row = dict(defaults)
                row.update(
                    reference=f"INC-B{i:07d}",
                    title=f"Bench incident {i}",
                    service_id=service.pk,
                    status="in_progress",
                    priority=rng.choice((1, 2, 3, 4)),
                    created_at=t0 - timedelta(minutes=rng.randrange(1, 60 * 24 * 30)),
                    updated_at=t0,
                )
                batch.append([row[f.attname] for f in fields])
                if len(batch) == 10_000:
                    cursor.executemany(sql, batch)
                    batch = []
            if batch:
                cursor.executemany(sql, batch)
        ids = list(Incident.objects.order_by("pk").values_list("pk", flat=True))
        clock_fields = [f for f in SlaClock._meta.concrete_fields if not f.primary_key]
        clock_sql = (
            f"INSERT INTO {SlaClock._meta.db_table} "  # noqa: S608
            f"({', '.join(f.column for f in clock_fields)}) "
            f"VALUES ({', '.join(['%s'] * len(clock_fields))})"
        )
        minute = 60
        with connection.cursor() as cursor:
            batch = []
            for pk in ids:
                for kind in ("response", "resolution"):
                    target = rng.choice((60, 240, 480, 960, 1620))
                    # Deadlines from five days before T to thirty days after.
                    due = t0 + timedelta(
                        seconds=rng.randrange(-5 * 1440, 30 * 1440) * minute + rng.randrange(60)
                    )
                    warn = due - timedelta(minutes=target // 4)
                    paused = rng.random() < 0.1
                    row = {
                        "incident_id": pk,
                        "kind": kind,
                        "agreement_id": None,
                        "target_minutes": target,
                        "warning_percent": 75,
                        "state": "paused" if paused else "running",
                        "started_at": due - timedelta(minutes=target),
                        "elapsed_minutes": 0.0,
                        "computed_at": t0,
                        "warn_at": None if paused and warn > t0 else warn,
                        "due_at": None if paused and due > t0 else due,
                        "stopped_at": None,
                        # steady state: what crossed before the last minute is notified
                        "warned_at": warn if warn <= t0 - timedelta(minutes=1) else None,
                        "breached_at": due if due < t0 - timedelta(minutes=1) else None,
                    }
                    batch.append([row[f.attname] for f in clock_fields])
                    if len(batch) == 10_000:
                        cursor.executemany(clock_sql, batch)
                        batch = []
            if batch:
                cursor.executemany(clock_sql, batch)
    seconds = time.perf_counter() - started
    print(
        f"  {connection.vendor}: wrote {len(ids) * 2:,} clocks in {seconds:.0f} s", file=sys.stderr
    )
    return seconds


def run_scan(url: str, workdir: Path, n_clocks: int, seed: int) -> dict[str, Any]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "ITLINE_VAR_DIR": str(workdir),
        "DJANGO_SETTINGS_MODULE": "itline.settings",
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY", "benchmark-process-only-" + "x" * 40),
        "EMAIL_URL": "console://",
    }
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(  # noqa: S603  (our own interpreter and module)
        [
            sys.executable,
            "-m",
            "benchmarks.sla",
            "--scan-child",
            str(n_clocks),
            "--seed",
            str(seed),
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"scan benchmark failed on {url}:\n{done.stderr[-4000:]}")
    sys.stderr.write(
        "".join(line + "\n" for line in done.stderr.splitlines() if line.startswith("  "))
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- report ---------------------------------------------------------------------------------


def report(out: dict[str, Any]) -> bool:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    ok = True
    part = out["compute"]
    naive = out["naive"]
    table = Table(title="SLA clock computation (clocks per second, higher is better)")
    for col in ("what", "clocks", "seconds", "clocks/s", "vs naive"):
        table.add_column(col, justify="right" if col != "what" else "left")
    table.add_row(
        "sla.compute (journal -> clocks, deadlines)",
        f"{part['clocks']:,}",
        f"{part['seconds']:.2f}",
        f"{part['rate']:,.0f}",
        f"{part['rate'] / naive['rate']:,.0f}x" if naive["rate"] else "-",
    )
    dl = out["deadline_only"]
    table.add_row(
        "calendar.add_minutes alone (deadline step)",
        f"{dl['deadlines']:,}",
        f"{dl['seconds']:.2f}",
        f"{dl['rate']:,.0f}",
        f"{dl['rate'] / naive['rate']:,.0f}x" if naive["rate"] else "-",
    )
    table.add_row(
        "naive minute-by-minute loop (sample)",
        f"{naive['clocks']:,}",
        f"{naive['seconds']:.2f}",
        f"{naive['rate']:,.1f}",
        "1x",
    )
    console.print(table)
    met = part["rate"] >= TARGETS["clocks_per_s"]
    ok &= met
    console.print(
        f"target >= {TARGETS['clocks_per_s']:,} clocks/s: "
        f"{'[green]met[/]' if met else '[red]NOT met[/]'} ({part['rate']:,.0f}); "
        f"naive loop agrees on {naive['checked'] - naive['disagreements']}/{naive['checked']} clocks"
    )
    if naive["disagreements"]:
        ok = False
        console.print(f"[red]disagreement:[/] {naive['first_disagreement']}")
    for name, scan in out.get("scan", {}).items():
        table = Table(title=f"Breach scan on {name}: {scan['open_clocks']:,} open clocks")
        for col in ("run", "clocks notified", "p50 s", "max s"):
            table.add_column(col, justify="right" if col != "run" else "left")
        for label, key in (("minute tick", "tick"), ("catch-up after 1 h outage", "catch_up")):
            runs = scan[key]
            secs = [r[0] for r in runs]
            table.add_row(
                label,
                f"{runs[-1][1]} warnings, {runs[-1][2]} breaches",
                f"{statistics.median(secs):.3f}",
                f"{max(secs):.3f}",
            )
        table.add_row(
            "idle tick (nothing new)",
            "0",
            f"{statistics.median(scan['idle']):.3f}",
            f"{max(scan['idle']):.3f}",
        )
        console.print(table)
        worst = max(r[0] for r in scan["tick"])
        met = worst <= TARGETS["scan_s"]
        ok &= met
        console.print(
            f"target: minute tick <= {TARGETS['scan_s']} s: {'[green]met[/]' if met else '[red]NOT met[/]'}"
            f" (max {worst:.3f} s)"
        )
        console.print("query plan: " + " | ".join(scan["plan"].splitlines()[:4]))
    return ok


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--clocks", type=int, default=200_000, help="incidents for part 1")
    parser.add_argument("--repeats", type=int, default=3, help="runs of part 1 (best counts)")
    parser.add_argument("--naive-sample", type=int, default=200, help="incidents for the loop")
    parser.add_argument("--naive-budget", type=float, default=20.0, help="seconds for the loop")
    parser.add_argument("--scan-clocks", type=int, default=1_000_000)
    parser.add_argument("--no-scan", action="store_true", help="skip part 2 (no database)")
    parser.add_argument("--postgres", help="PostgreSQL server URL (a database is created on it)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--workdir", help="where the SQLite file is kept (default: a temp dir)")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--scan-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.scan_child:
        print(json.dumps(scan_child(args.scan_child, args.seed), default=str))
        return

    cals = calendars()
    print(f"generating {args.clocks:,} incident histories (seed {args.seed}) ...", file=sys.stderr)
    population = histories(args.clocks, args.seed)
    out: dict[str, Any] = {"seed": args.seed}
    out["compute"] = measure_compute(population, cals, args.repeats)
    out["deadline_only"] = measure_deadline_only(cals, min(args.clocks, 200_000), args.seed)
    print("running the naive minute-by-minute loop on a sample ...", file=sys.stderr)
    out["naive"] = measure_naive(population, cals, args.naive_sample, args.naive_budget)
    if not args.no_scan:
        workdir = Path(args.workdir or Path(tempfile.gettempdir()) / "itline-bench-sla")
        workdir.mkdir(parents=True, exist_ok=True)
        urls = {"SQLite": f"sqlite:///{workdir / f'sla_v{SCAN_DATA_VERSION}.sqlite3'}"}
        pg = _pg_url(args)
        if pg:
            urls["PostgreSQL"] = pg
        out["scan"] = {}
        for name, url in urls.items():
            print(f"breach scan on {name} ...", file=sys.stderr)
            out["scan"][name] = run_scan(url, workdir, args.scan_clocks, args.seed)
    met = report(out)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2, default=str))
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
