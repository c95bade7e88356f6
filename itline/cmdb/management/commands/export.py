"""``itline export``: the service structure as files (see ``itline.cmdb.exchange``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from itline.cmdb.exchange import ExchangeError, dump_document, dump_files, export_structure
from itline.cmdb.exchange_io import format_of


class Command(BaseCommand):
    help = (
        "Export the service structure (component and relation types, services, components, "
        "relations) as YAML or JSON. Without PATH (or with -) one document goes to standard "
        "output; a PATH ending in .yaml, .yml or .json is one file; any other PATH is a "
        "directory with one file per section (component-types, relation-types, services, "
        "components, relations), which diffs best in git."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", nargs="?", default="-", help="directory, file or - (default)")
        parser.add_argument(
            "--format",
            choices=["yaml", "json"],
            help="default: from the file's extension, else yaml",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        path = opts["path"]
        single = path == "-" or Path(path).suffix.lower() in (".yaml", ".yml", ".json")
        fmt = opts["format"] or (format_of(path) if single and path != "-" else "yaml")
        try:
            structure = export_structure()
        except ExchangeError as exc:
            raise CommandError(str(exc)) from None
        if path == "-":
            self.stdout.write(dump_document(structure, fmt), ending="")
            return
        target = Path(path)
        try:
            if single:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(dump_document(structure, fmt), encoding="utf-8")
                written = [target]
            else:
                if target.exists() and not target.is_dir():
                    raise CommandError(f"{path}: exists and is not a directory")
                target.mkdir(parents=True, exist_ok=True)
                written = []
                for name, text in dump_files(structure, fmt).items():
                    (target / name).write_text(text, encoding="utf-8")
                    written.append(target / name)
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror or exc}") from None
        counts = (
            f"{len(structure['component_types'])} component types, "
            f"{len(structure['relation_types'])} relation types, "
            f"{len(structure['services'])} services, {len(structure['components'])} components, "
            f"{sum(len(t) for by in structure['relations'].values() for t in by.values())} relations"
        )
        self.stderr.write(f"Exported {counts} to {', '.join(str(p) for p in written)}")
