"""Impact engine benchmark: one command, prints figures, ratios and the targets of issue 3.

    python -m benchmarks.impact              # or: uv run python benchmarks/impact.py
    python -m benchmarks.impact --no-postgres --seed 7 --json result.json

It creates its own SQLite file database under a temp dir (and a PostgreSQL database
``itline_bench_s<seed>_v<generator>`` when ``--postgres URL`` or ``DATABASE_URL`` names a
server, or one answers at 127.0.0.1:5432 as user postgres), generates the structure once per
seed (see ``generate_structure.py``; later runs reuse it), then measures on three probes -- the
component with the largest upstream closure (hub), a component with the median closure, a
leaf -- the warm index query, the index build, the memory it adds, and side by side on the
same data and probes: networkx ``ancestors``, a plain Python dict BFS, the recursive CTE on
SQLite and on PostgreSQL (default plan and index nested loop), and the engine's own SQL
fallback."""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.generate_structure import GENERATOR_VERSION, generate, write_structure

TARGETS = {
    "hub_p50_ms": 3.0,
    "hub_vs_networkx": 8.0,
    "hub_vs_sqlite_cte": 8.0,
    "median_p50_ms": 0.1,
    "build_s": 3.0,
    "memory_mb": 300.0,
}


# --- set-up -------------------------------------------------------------------------------


def _pg_server(args: argparse.Namespace) -> str | None:
    """URL of the PostgreSQL server to use (database part ignored), or None."""
    if args.no_postgres:
        return None
    url = args.postgres or os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        return url
    try:
        import psycopg

        psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=2).close()
    except Exception:
        return None
    return "postgresql://postgres@127.0.0.1:5432/postgres"


def _pg_database(server: str, name: str) -> str:
    """Create database ``name`` on ``server`` if missing; its URL."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    parts = urlsplit(server)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def setup(args: argparse.Namespace) -> list[str]:
    """Configure Django for the benchmark databases; the aliases to measure."""
    workdir = Path(args.workdir or Path(tempfile.gettempdir()) / "itline-bench")
    workdir.mkdir(parents=True, exist_ok=True)
    tag = f"s{args.seed}_v{GENERATOR_VERSION}"
    os.environ["ITLINE_VAR_DIR"] = str(workdir)
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / f'bench_{tag}.sqlite3'}"
    os.environ.setdefault("SECRET_KEY", "benchmark-process-only-" + "x" * 40)
    os.environ["DEBUG"] = "false"  # no query log in memory
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    aliases = ["default"]
    server = _pg_server(args)
    if server:
        os.environ["ITLINE_BENCH_PG"] = _pg_database(server, f"itline_bench_{tag}")
        aliases.append("pg")
    import django

    django.setup()
    return aliases


def _default_types(alias: str) -> None:
    """The default component and relation types. ``ensure_default_types`` (post_migrate)
    writes them through the default manager, so migrating a second alias leaves it without."""
    from itline.cmdb import defaults
    from itline.cmdb.models import ComponentType, RelationType

    for slug, name, schema in defaults.COMPONENT_TYPES:
        ComponentType.objects.using(alias).get_or_create(
            slug=slug, defaults={"name": name, "attribute_schema": schema}
        )
    for slug, name, inverse, propagates in defaults.RELATION_TYPES:
        RelationType.objects.using(alias).get_or_create(
            slug=slug,
            defaults={"name": name, "inverse_name": inverse, "propagates_impact": propagates},
        )


def ensure_data(aliases: list[str], seed: int) -> None:
    from django.core.management import call_command
    from django.db import connections

    from itline.cmdb.models import Node, Relation

    structure = None
    for alias in aliases:
        call_command("migrate", database=alias, verbosity=0)
        _default_types(alias)
        nodes = Node.objects.using(alias).count()
        if nodes:
            relations = Relation.objects.using(alias).count()
            print(
                f"{alias}: reusing the generated structure ({nodes:,} nodes, {relations:,} relations)"
            )
            continue
        if structure is None:
            started = time.perf_counter()
            structure = generate(seed)
            print(f"generated seed {seed} in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        write_structure(structure, using=alias)
        print(f"{alias}: written in {time.perf_counter() - started:.1f} s")
    for alias in aliases:
        # PostgreSQL: planner statistics, as autovacuum keeps them in production. SQLite is
        # left as itline leaves it (never analysed): with sqlite_stat1 present, SQLite 3.38+
        # adds a Bloom filter to the recursive step that scans all relations once per query
        # (+30 ms even for a leaf).
        if connections[alias].vendor == "postgresql":
            with connections[alias].cursor() as cursor:
                cursor.execute("ANALYZE")


# --- measuring ----------------------------------------------------------------------------


def rss_mb() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Timing:
    def __init__(self, samples: list[float], result_size: int | None = None) -> None:
        self.ms = np.array(samples) * 1000
        self.size = result_size

    @property
    def p50(self) -> float:
        return float(np.percentile(self.ms, 50))

    @property
    def p99(self) -> float:
        return float(np.percentile(self.ms, 99))

    @property
    def max(self) -> float:
        return float(self.ms.max())


def timed(
    fn: Callable[[], Any], *, budget_s: float, min_runs: int = 5, max_runs: int = 2000
) -> Timing:
    """Run ``fn`` once to warm up, then until ``budget_s`` is spent (bounded by the runs)."""
    size = _size(fn())
    samples: list[float] = []
    spent = 0.0
    while len(samples) < max_runs and (len(samples) < min_runs or spent < budget_s):
        started = time.perf_counter()
        fn()
        took = time.perf_counter() - started
        samples.append(took)
        spent += took
    return Timing(samples, size)


def _size(result: Any) -> int | None:
    try:
        return len(result)
    except TypeError:
        return None


def load_edges(alias: str) -> tuple[np.ndarray, np.ndarray]:
    """The propagating edges (source, target) straight from the database."""
    from django.db import connections

    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT r.source_id, r.target_id FROM cmdb_relation r JOIN cmdb_relationtype t "
            "ON t.id = r.relation_type_id WHERE t.propagates_impact"
        )
        rows = np.array(cursor.fetchall(), dtype=np.int64)
    return rows[:, 0], rows[:, 1]


def choose_probes(index: Any, seed: int) -> dict[str, int]:
    """Hub: the component with the largest upstream closure (among the 300 with most direct
    dependants and a sample); median: median closure of 2,001 sampled components; leaf: a
    component nothing depends on."""
    rng = np.random.default_rng(seed)
    components = np.flatnonzero(~index.is_service)
    degree = np.diff(index.up.indptr)
    by_degree = components[np.argsort(-degree[components], kind="stable")[:300]]

    def closure(k: int) -> int:
        return len(index.traverse(np.array([k], dtype=np.int32), "up", None)[0])

    hub = max(by_degree.tolist(), key=closure)
    sample = rng.choice(components, 2001, replace=False)
    sizes = np.array([closure(int(k)) for k in sample])
    median = int(sample[np.argsort(sizes, kind="stable")[1000]])
    leaves = components[degree[components] == 0]
    leaf = int(leaves[len(leaves) // 2])
    return {
        name: int(index.ids[k]) for name, k in (("hub", hub), ("median", median), ("leaf", leaf))
    }


def plain_cte(alias: str, types: list[int]) -> Callable[[int], list[Any]]:
    """The straightforward recursive CTE (closure only, no distances), as a DBA would write it."""
    from django.db import connections

    connection = connections[alias]
    if connection.vendor == "postgresql":
        sql = (
            "WITH RECURSIVE up(id) AS (SELECT %s::bigint UNION SELECT r.source_id FROM up "
            "JOIN cmdb_relation r ON r.target_id = up.id WHERE r.relation_type_id = ANY(%s)) "
            "SELECT id FROM up"
        )
    else:
        marks = ", ".join(["%s"] * len(types))
        sql = (
            "WITH RECURSIVE up(id) AS (SELECT %s UNION SELECT r.source_id FROM up "  # noqa: S608
            f"JOIN cmdb_relation r ON r.target_id = up.id WHERE r.relation_type_id IN ({marks})) "
            "SELECT id FROM up"
        )

    def run(node: int) -> list[Any]:
        params: list[Any] = [node, types] if connection.vendor == "postgresql" else [node, *types]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()

    return run


def lateral_cte(alias: str, types: list[int]) -> Callable[[int], list[Any]]:
    """The same closure on PostgreSQL with the recursive step fenced into a LATERAL subquery,
    so it is an index nested loop (the engine's fallback uses this form)."""
    from django.db import connections

    connection = connections[alias]
    sql = (
        "WITH RECURSIVE up(id) AS (SELECT %s::bigint UNION SELECT x.source_id FROM up "
        "CROSS JOIN LATERAL (SELECT r.source_id FROM cmdb_relation r WHERE r.target_id = up.id "
        "AND r.relation_type_id = ANY(%s) OFFSET 0) x) SELECT id FROM up"
    )

    def run(node: int) -> list[Any]:
        with connection.cursor() as cursor:
            cursor.execute(sql, [node, types])
            return cursor.fetchall()

    return run


def dict_bfs(up: dict[int, list[int]], start: int) -> dict[int, int]:
    dist = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        d = dist[node] + 1
        for nb in up.get(node, ()):
            if nb not in dist:
                dist[nb] = d
                queue.append(nb)
    return dist


class GcWatch:
    """Counts the cyclic GC's runs (and their time) while active."""

    def __init__(self) -> None:
        self.runs = 0
        self.seconds = 0.0
        self._start = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.runs += 1
            self.seconds += time.perf_counter() - self._start

    def __enter__(self) -> GcWatch:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


# --- the run ------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    aliases = setup(args)
    ensure_data(aliases, args.seed)
    from django.db import connections

    from itline.cmdb import impact
    from itline.cmdb.models import Node

    budget = args.budget
    out: dict[str, Any] = {"seed": args.seed, "aliases": aliases, "probes": {}, "rows": []}

    # 1. the index: build time and memory added, measured first on a quiet process
    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    index = impact.warm("default")
    first_build = time.perf_counter() - started
    gc.collect()
    added = rss_mb() - before
    builds = [first_build]
    for _ in range(2):
        started = time.perf_counter()
        impact.build_index("default")
        builds.append(time.perf_counter() - started)
    out["build"] = {
        "sqlite_s": builds,
        "rss_added_mb": added,
        "index_mb": index.nbytes / 2**20,
        "nodes": index.n_nodes,
        "edges": index.n_edges,
    }
    if "pg" in aliases:
        started = time.perf_counter()
        impact.warm("pg")
        out["build"]["pg_s"] = time.perf_counter() - started

    probes = choose_probes(index, args.seed)
    refs = dict(Node.objects.filter(id__in=probes.values()).values_list("id", "reference"))
    names = dict(Node.objects.filter(id__in=probes.values()).values_list("id", "name"))

    # 2. the baselines' structures, built from the same rows
    import networkx as nx

    source, target = load_edges("default")
    graph = nx.DiGraph()
    graph.add_nodes_from(index.ids.tolist())
    graph.add_edges_from(zip(source.tolist(), target.tolist(), strict=True))
    up: dict[int, list[int]] = {}
    for s, t in zip(source.tolist(), target.tolist(), strict=True):
        up.setdefault(t, []).append(s)
    types = impact.propagating_types("default")
    sqlite_cte = plain_cte("default", types)
    pg_types = impact.propagating_types("pg") if "pg" in aliases else []

    with GcWatch() as watch:
        engine_runs = {}
        for name, node in probes.items():
            k = index.numbers([node])
            engine_runs[name] = (
                timed(lambda k=k: index.traverse(k, "up", None)[0], budget_s=budget, max_runs=5000),
                timed(
                    lambda node=node: impact.impact([node], "up"), budget_s=budget, max_runs=5000
                ),
            )
    out["gc_during_engine"] = {"runs": watch.runs, "seconds": watch.seconds}

    # The baselines with the cyclic GC frozen, as in the figures (unfrozen, its
    # pauses push single networkx calls past 200 ms with these many objects alive).
    gc.collect()
    gc.freeze()
    try:
        for name, node in probes.items():
            traversal, end_to_end = engine_runs[name]
            row: dict[str, Any] = {
                "probe": name,
                "node": refs[node],
                "name": names[node],
                "closure": traversal.size,
                "index": traversal,
                "impact()": end_to_end,
                "networkx": timed(lambda node=node: nx.ancestors(graph, node), budget_s=budget),
                "dict BFS": timed(lambda node=node: dict_bfs(up, node), budget_s=budget),
                "SQLite CTE": timed(lambda node=node: sqlite_cte(node), budget_s=budget),
                "SQLite fallback": timed(
                    lambda node=node: impact.impact_sql([node], "up"), budget_s=budget, max_runs=50
                ),
            }
            if "pg" in aliases:
                row["PG CTE (default plan)"] = timed(
                    lambda node=node: plain_cte("pg", pg_types)(node), budget_s=budget
                )
                row["PG CTE (index NL)"] = timed(
                    lambda node=node: lateral_cte("pg", pg_types)(node), budget_s=budget
                )
                row["PG fallback"] = timed(
                    lambda node=node: impact.impact_sql([node], "up", using="pg"),
                    budget_s=budget,
                    max_runs=50,
                )
            out["rows"].append(row)
            out["probes"][name] = {"id": node, "reference": refs[node], "closure": traversal.size}
    finally:
        gc.unfreeze()
    if "pg" in aliases:
        out["pg_plan"] = impact.explain_sql([probes["hub"]], "up", using="pg")
    for alias in aliases:
        connections[alias].close()
    return out


def report(out: dict[str, Any]) -> bool:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=160)
    methods = [k for k in out["rows"][0] if isinstance(out["rows"][0][k], Timing)]
    table = Table(title="Upstream impact (what fails if this component fails): p50 / p99 ms")
    table.add_column("method")
    for row in out["rows"]:
        table.add_column(
            f"{row['probe']}: {row['node']} {row['name']}\n{row['closure']:,} nodes",
            justify="right",
        )
    for method in methods:
        cells = []
        for row in out["rows"]:
            t = row[method]
            ratio = t.p50 / row["index"].p50
            cells.append(
                f"{t.p50:8.3f} / {t.p99:8.3f}" + ("" if method == "index" else f"  ({ratio:5.1f}x)")
            )
        table.add_row(method, *cells)
    console.print(table)
    console.print(
        "(Nx) = p50 of the method / p50 of the index query. index = the traversal on the warm "
        "index (numpy arrays of the answer); impact() = the public call: + one version SELECT "
        "and the result object."
    )
    b = out["build"]
    console.print(
        f"index: {b['nodes']:,} nodes, {b['edges']:,} propagating edges, arrays {b['index_mb']:.1f} MB; "
        f"build from SQLite {', '.join(f'{s:.2f}' for s in b['sqlite_s'])} s"
        + (f"; from PostgreSQL {b['pg_s']:.2f} s" if "pg_s" in b else "")
        + f"; process RSS added by the first build {b['rss_added_mb']:.1f} MB"
    )
    g = out["gc_during_engine"]
    console.print(
        f"cyclic GC runs during the {sum(1 for _ in out['rows'])} probes' engine loops "
        f"(GC not frozen, networkx graph alive): {g['runs']} ({g['seconds'] * 1000:.1f} ms)"
    )
    hub = next(r for r in out["rows"] if r["probe"] == "hub")
    median = next(r for r in out["rows"] if r["probe"] == "median")
    checks = [
        ("hub warm p50 <= 3 ms", hub["index"].p50, TARGETS["hub_p50_ms"], "ms"),
        (
            "hub >= 8x networkx",
            hub["networkx"].p50 / hub["index"].p50,
            TARGETS["hub_vs_networkx"],
            "x",
        ),
        (
            "hub >= 8x SQLite CTE",
            hub["SQLite CTE"].p50 / hub["index"].p50,
            TARGETS["hub_vs_sqlite_cte"],
            "x",
        ),
        ("median p50 <= 0.1 ms", median["index"].p50, TARGETS["median_p50_ms"], "ms"),
        ("build <= 3 s", max(b["sqlite_s"]), TARGETS["build_s"], "s"),
        ("memory <= 300 MB", b["rss_added_mb"], TARGETS["memory_mb"], "MB"),
        ("no GC pauses in engine loops", g["runs"], 0, "runs"),
    ]
    table = Table(title="Targets of issue 3")
    for col in ("target", "measured", "limit", "met"):
        table.add_column(col)
    all_met = True
    for label, value, limit, unit in checks:
        met = value >= limit if unit == "x" else value <= limit
        all_met &= met
        table.add_row(label, f"{value:.3f} {unit}", f"{limit} {unit}", "yes" if met else "NO")
    also = [
        ("hub impact() p50 <= 3 ms", hub["impact()"].p50, 3.0),
        ("median impact() p50 <= 0.1 ms", median["impact()"].p50, 0.1),
    ]
    for label, value, limit in also:
        table.add_row(
            f"(end to end) {label}",
            f"{value:.3f} ms",
            f"{limit} ms",
            "yes" if value <= limit else "no",
        )
    console.print(table)
    if "pg_plan" in out:
        step = out["pg_plan"].split("Recursive Union")[1].split("CTE best")[0]
        console.print("PostgreSQL fallback, recursive step of the plan:" + step.rstrip())
    return all_met


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--postgres", help="PostgreSQL server URL (a database is created on it)")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--workdir", help="where the SQLite file is kept (default: a temp dir)")
    parser.add_argument("--budget", type=float, default=1.0, help="seconds per measurement")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    out = run(args)
    met = report(out)
    if args.json:

        def plain(v: Any) -> Any:
            if isinstance(v, Timing):
                return {
                    "p50_ms": v.p50,
                    "p99_ms": v.p99,
                    "max_ms": v.max,
                    "runs": len(v.ms),
                    "size": v.size,
                }
            return v

        rows = [{k: plain(v) for k, v in row.items()} for row in out["rows"]]
        Path(args.json).write_text(json.dumps({**out, "rows": rows}, indent=2, default=str))
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
