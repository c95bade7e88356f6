"""``itline import``: structure files or a CSV of components into the service structure."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.console import Console

from itline.cmdb.exchange import FILES, ExchangeError, Report, import_structure
from itline.cmdb.exchange_csv import CsvMapping, import_components_csv
from itline.cmdb.exchange_io import (
    RichProgress,
    Source,
    format_of,
    human_size,
    max_bytes,
    parse_size,
    read_file,
)

SIZE_HINT = "raise the limit with --max-size (or ITLINE_IMPORT_MAX_BYTES)"


class Command(BaseCommand):
    help = (
        "Import the service structure from files written by `itline export` (a directory, one "
        "YAML/JSON document, or - for standard input), or components from a CSV file with a "
        "column mapping. Records are matched by natural key: new ones are created, changed ones "
        "updated; with --prune, records missing from a section that is present are deleted. "
        "Everything is checked first and written in one transaction: on any error nothing "
        "changes and every error is listed with its file and line. "
        "CSV example (a NetBox device export): itline import devices.csv --map name=Name "
        "--map type=Role --map location=Site --map status=Status --map tags=Tags "
        "--map attr.serial=Serial --status-map active=in_use --type-map 'Core Switch=network-device'"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "path", help="directory, .yaml/.yml/.json/.csv file, or - (standard input)"
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="print what would change (a diff per record) and change nothing",
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="delete records missing from the sections present (not with --csv)",
        )
        parser.add_argument(
            "--format",
            choices=["yaml", "json", "csv"],
            help="default: from the extension (a directory: its files'); standard input: yaml",
        )
        parser.add_argument("--csv", action="store_true", help="same as --format csv")
        parser.add_argument(
            "--user",
            help="the username the changes are made as (checked for permission, journaled); default: the system",
        )
        parser.add_argument(
            "--max-size",
            help="largest input accepted, e.g. 300M or 2G (default: ITLINE_IMPORT_MAX_BYTES or 256M)",
        )
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        csv = parser.add_argument_group("CSV of components")
        csv.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="FIELD=COLUMN",
            help="repeatable; FIELD is name, type, status, location, description, owner_function, tags or attr.<key>",
        )
        csv.add_argument(
            "--status-map",
            action="append",
            default=[],
            metavar="VALUE=STATUS",
            help="repeatable or comma-separated; e.g. active=in_use,offline=retired",
        )
        csv.add_argument(
            "--type-map",
            action="append",
            default=[],
            metavar="VALUE=TYPE",
            help="repeatable or comma-separated; a column value to a component type slug",
        )
        csv.add_argument(
            "--default",
            action="append",
            default=[],
            metavar="FIELD=VALUE",
            help="repeatable; the value when the column is not mapped or the cell is empty",
        )
        csv.add_argument(
            "--encoding", default="utf-8", help="of the CSV file (default utf-8; a BOM is accepted)"
        )
        csv.add_argument("--delimiter", help="default: guessed from the header among , ; tab |")

    def handle(self, *args: Any, **opts: Any) -> None:
        path = opts["path"]
        fmt = "csv" if opts["csv"] else opts["format"]
        try:
            limit = parse_size(opts["max_size"]) if opts["max_size"] else max_bytes()
        except ValueError as exc:
            raise CommandError(f"--max-size: {exc}") from None
        by = None
        if opts["user"]:
            by = get_user_model().objects.filter(username=opts["user"]).first()
            if by is None:
                raise CommandError(f"--user: no user named {opts['user']!r}")
        csv_only = [name for name in ("map", "status_map", "type_map", "default") if opts[name]]
        is_csv = fmt == "csv" or (fmt is None and format_of(path, "") == "csv")
        if csv_only and not is_csv:
            raise CommandError(
                f"--{csv_only[0].replace('_', '-')}: only for a CSV import (add --csv)"
            )
        try:
            sources = self.read(path, limit)
        except ExchangeError as exc:
            raise CommandError(str(exc)) from None
        if fmt is None:
            fmt = (
                "csv" if len(sources) == 1 and format_of(sources[0].name) == "csv" else "structure"
            )
        elif fmt in ("yaml", "json"):
            for source in sources:
                source.fmt = fmt
        console = Console(file=self.stderr._out, stderr=True)  # type: ignore[arg-type]  # OutputWrapper's stream
        enabled = not opts["no_progress"] and opts["verbosity"] > 0
        try:
            with RichProgress(console, enabled=enabled) as progress:
                if fmt == "csv":
                    if opts["prune"]:
                        raise CommandError(
                            "--prune: not with a CSV import (a CSV holds some components, not the structure)"
                        )
                    if len(sources) != 1:
                        raise CommandError(f"{path}: a CSV import reads one file")
                    try:
                        mapping = CsvMapping.parse(
                            fields=opts["map"],
                            statuses=opts["status_map"],
                            types=opts["type_map"],
                            defaults=opts["default"],
                            encoding=opts["encoding"],
                            delimiter=opts["delimiter"],
                        )
                    except ValueError as exc:
                        raise CommandError(str(exc)) from None
                    report = import_components_csv(
                        sources[0], mapping, by=by, dry_run=opts["dry_run"], progress=progress
                    )
                else:
                    report = import_structure(
                        sources,
                        by=by,
                        dry_run=opts["dry_run"],
                        prune=opts["prune"],
                        progress=progress,
                    )
        except ExchangeError as exc:
            raise CommandError(str(exc)) from None
        except PermissionDenied as exc:
            raise CommandError(f"--user: {exc}") from None
        self.show(report, opts["verbosity"])

    def read(self, path: str, limit: int) -> list[Source]:
        if path == "-":
            data = sys.stdin.buffer.read(limit + 1)
            if len(data) > limit:
                raise CommandError(
                    f"standard input is larger than the import limit of {human_size(limit)}; {SIZE_HINT}"
                )
            return [Source("stdin", data, fmt="yaml")]
        target = Path(path)
        if target.is_dir():
            names = {f"{stem}.{ext}" for stem in FILES.values() for ext in ("yaml", "yml", "json")}
            files = sorted(p for p in target.iterdir() if p.name in names and p.is_file())
            if not files:
                raise CommandError(
                    f"{path}: none of the section files ({', '.join(f'{s}.yaml' for s in FILES.values())}) in this directory"
                )
            total = sum(p.stat().st_size for p in files)
            if total > limit:
                raise CommandError(
                    f"{path}: the files add up to {human_size(total)}, more than the import limit of {human_size(limit)}; {SIZE_HINT}"
                )
            return [read_file(p, name=p.name, limit=limit, hint=SIZE_HINT) for p in files]
        if not target.exists():
            raise CommandError(f"{path}: no such file or directory")
        try:
            return [read_file(target, name=target.name, limit=limit, hint=SIZE_HINT)]
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror or exc}") from None

    def show(self, report: Report, verbosity: int) -> None:
        if report.dry_run or verbosity > 1:
            for line in report.diff_lines():
                self.stdout.write(line)
        if verbosity > 0:
            summary = report.summary()
            if report.dry_run:
                self.stdout.write(f"Dry run: {summary}; nothing was changed.")
            elif any(report.totals.values()):
                self.stdout.write(self.style.SUCCESS(f"Imported: {summary}."))
            else:
                self.stdout.write("Nothing to change: the structure already matches.")
