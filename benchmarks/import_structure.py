"""Benchmark: a full import of the generated structure (100,000 components, 2,000 services,
300,000 relations by default) from files, against the 60 s target.

1. ``benchmarks.generate_structure`` writes the seeded structure into a scratch SQLite database,
   and ``itline.cmdb.exchange`` exports it as a directory of YAML files and one of JSON files
   (cached under ``var/bench/import-<seed>-<scale>/`` so reruns skip this step).
2. For each format, a fresh database is migrated, the 20 customers the structure serves are
   created (organisation records are not part of structure files), and ``import_structure`` is
   timed from reading the files to the commit. Then the database is exported again and compared
   byte for byte with the files (the round trip at full scale), and a second import is timed
   (it must change nothing).

Each database step runs in a child process, because Django's settings (the database) are fixed
per process. Run: ``python -m benchmarks.import_structure [--scale 0.05] [--format json]
[--database-url postgres://postgres@127.0.0.1:5432/itline_import_bench]``."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

TARGET_SECONDS = 60.0
ROOT = Path(__file__).resolve().parent.parent


def _child(step: str, env: dict[str, str], *args: str) -> dict[str, Any]:
    result = subprocess.run(  # noqa: S603  (our own module, fixed arguments)
        [sys.executable, "-m", "benchmarks.import_structure", "--step", step, *args],
        cwd=ROOT,
        # DEBUG would keep every query in memory; a throwaway key keeps production settings.
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "itline.settings",
            "SECRET_KEY": os.environ.get("SECRET_KEY") or "benchmark-only-" + "x" * 40,
            "DEBUG": "false",
            **env,
        },
        stdout=subprocess.PIPE,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"step {step} failed (exit {result.returncode})")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _setup() -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def step_export(work: Path, seed: int, scale: float) -> dict[str, Any]:
    """Generate into the scratch database and export both formats."""
    _setup()
    from benchmarks.generate_structure import generate, write_structure
    from itline.cmdb.exchange import dump_files, export_structure

    structure = generate(seed, scale=scale)
    write_structure(structure, progress=sys.stderr.isatty())
    started = time.perf_counter()
    data = export_structure()
    exported = time.perf_counter() - started
    sizes = {}
    for fmt in ("yaml", "json"):
        started = time.perf_counter()
        files = dump_files(data, fmt)
        target = work / fmt
        target.mkdir(parents=True, exist_ok=True)
        for name, text in files.items():
            (target / name).write_text(text, encoding="utf-8")
        sizes[fmt] = {
            "bytes": sum(len(t.encode()) for t in files.values()),
            "dump_s": time.perf_counter() - started,
        }
    return {
        "components": len(data["components"]),
        "services": len(data["services"]),
        "relations": sum(len(t) for by in data["relations"].values() for t in by.values()),
        "export_s": exported,
        "sizes": sizes,
    }


def step_import(files: Path, n_customers: int) -> dict[str, Any]:
    """Time the import into the fresh database, then check the round trip and idempotence."""
    import resource

    _setup()
    from rich.console import Console

    from itline.cmdb.exchange import dump_files, export_structure, import_structure
    from itline.cmdb.exchange_io import RichProgress, Source
    from itline.org.models import BusinessUnit, Customer

    for c in range(n_customers):
        unit = BusinessUnit.objects.create(name=f"Business unit {c + 1:02d}", code=f"BU{c + 1:02d}")
        Customer.objects.create(business_unit=unit)
    paths = sorted(files.iterdir())
    console = Console(file=sys.stderr)
    started = time.perf_counter()
    with RichProgress(console, enabled=sys.stderr.isatty()) as progress:
        sources = [Source(p.name, p.read_bytes()) for p in paths]
        report = import_structure(sources, progress=progress)
    first = time.perf_counter() - started
    fmt = paths[0].suffix.lstrip(".")
    again = dump_files(export_structure(), fmt)
    identical = all(again.get(p.name) == p.read_text(encoding="utf-8") for p in paths)
    started = time.perf_counter()
    second = import_structure([Source(p.name, p.read_bytes()) for p in paths])
    repeat = time.perf_counter() - started
    return {
        "import_s": first,
        "created": report.totals["create"],
        "identical": identical,
        "second_import_s": repeat,
        "second_changes": sum(second.totals.values()),
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _fresh_database(url: str | None, path: Path) -> dict[str, str]:
    if url is None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return {"DATABASE_URL": f"sqlite:///{path}"}
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return {"DATABASE_URL": url}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--scale", type=float, default=1.0, help="0.05 for a quick try")
    parser.add_argument("--format", choices=["yaml", "json", "both"], default="both")
    parser.add_argument(
        "--database-url",
        help="import into this PostgreSQL database (dropped and created); default: a SQLite file",
    )
    parser.add_argument("--step", choices=["export", "import"], help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step == "export":
        print(json.dumps(step_export(Path(args.work), args.seed, args.scale)))
        return
    if args.step == "import":
        print(json.dumps(step_import(Path(args.work), 20)))
        return

    from benchmarks.generate_structure import GENERATOR_VERSION

    work = ROOT / "var" / "bench" / f"import-{args.seed}-{args.scale:g}-v{GENERATOR_VERSION}"
    work.mkdir(parents=True, exist_ok=True)
    meta = work / "export.json"
    if not meta.exists():
        print(f"generating and exporting the structure into {work} ...", file=sys.stderr)
        env = _fresh_database(None, work / "source.sqlite3")
        shape = _child(
            "export",
            {**env, "ITLINE_VAR_DIR": str(work)},
            "--work",
            str(work),
            "--seed",
            str(args.seed),
            "--scale",
            str(args.scale),
        )
        meta.write_text(json.dumps(shape))
    shape = json.loads(meta.read_text())
    print(
        f"structure: {shape['components']:,} components, {shape['services']:,} services, "
        f"{shape['relations']:,} relations (seed {args.seed}, scale {args.scale:g})"
    )
    print(f"export from the database: {shape['export_s']:.1f} s")
    formats = ["yaml", "json"] if args.format == "both" else [args.format]
    backend = "postgresql" if args.database_url else "sqlite"
    for fmt in formats:
        size = shape["sizes"][fmt]
        env = _fresh_database(args.database_url, work / f"target-{fmt}.sqlite3")
        result = _child("import", {**env, "ITLINE_VAR_DIR": str(work)}, "--work", str(work / fmt))
        ratio = result["import_s"] / TARGET_SECONDS
        verdict = "meets" if ratio <= 1 else "MISSES"
        print(
            f"\n{fmt} ({size['bytes'] / 2**20:.1f} MiB in 5 files, written in {size['dump_s']:.1f} s), import into {backend}:\n"
            f"  full import        {result['import_s']:6.1f} s   {ratio:.2f} x the {TARGET_SECONDS:.0f} s target ({verdict} it)\n"
            f"  records created    {result['created']:,}\n"
            f"  round trip         {'byte-identical' if result['identical'] else 'DIFFERENT'} after re-export\n"
            f"  second import      {result['second_import_s']:6.1f} s, {result['second_changes']} changes\n"
            f"  peak memory (RSS)  {result['max_rss_mb']:.0f} MB"
        )


if __name__ == "__main__":
    main()
