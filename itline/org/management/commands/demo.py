"""``itline demo``: load (or reset and reload) the demo organisation, with a progress bar."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.utils import OperationalError, ProgrammingError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from itline.org import demo


class Command(BaseCommand):
    help = "Load the demo organisation and its persona logins (password: demo)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset",
            action="store_true",
            help="delete ALL organisation data, journal and logins first",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="load only when there are no people yet (used by `make run`)",
        )
        parser.add_argument("--yes", action="store_true", help="do not ask before --reset")

    def handle(self, *args: Any, **opts: Any) -> None:
        console = Console(file=self.stdout._out)  # type: ignore[arg-type]  # OutputWrapper's stream
        try:
            loaded = demo.is_loaded()
        except (OperationalError, ProgrammingError):
            raise CommandError("the database is not ready; run `itline migrate` first") from None
        if opts["reset"]:
            if not opts["yes"]:
                answer = input(
                    "This deletes all people, functions, customers, tokens and history. Type 'yes': "
                )
                if answer.strip().lower() != "yes":
                    raise CommandError("reset cancelled")
            demo.reset()
            loaded = False
        if loaded:
            if opts["if_empty"]:
                self.stdout.write("Demo data already present; nothing loaded.")
                self.print_logins(console)
                return
            raise CommandError("the database already has people; use --reset to wipe and reload")
        total = demo.step_count()
        with Progress(
            TextColumn("[bold]Loading demo[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task("", total=total)
            demo.load(lambda desc: progress.update(task, advance=1, description=desc))
        self.stdout.write(self.style.SUCCESS("Demo organisation loaded."))
        self.print_logins(console)

    def print_logins(self, console: Console) -> None:
        table = Table(title=f"Demo logins (password for all: {demo.DEMO_PASSWORD})")
        table.add_column("username")
        table.add_column("persona")
        table.add_column("name")
        for login in demo.LOGINS:
            table.add_row(login.username, login.role.replace("_", " "), login.name)
        console.print(table)
