"""``itline demo``: load (or reset and reload) the demo data of every app, with a progress bar.
Apps contribute loaders through settings.DEMO_MODULES, in dependency order."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.utils import OperationalError, ProgrammingError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def modules() -> list[Any]:
    return [import_module(name) for name in settings.DEMO_MODULES]


def load(progress: Any = None) -> None:
    """Load every app's demo in one transaction: it is there completely or not at all."""
    with transaction.atomic():
        for module in modules():
            for description, run in module.steps():
                run()
                if progress:
                    progress(description)


def reset() -> None:
    with transaction.atomic():
        for module in reversed(modules()):
            module.reset()


class Command(BaseCommand):
    help = "Load the demo organisation and service structure with persona logins (password: demo)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "what",
            nargs="?",
            choices=sorted(settings.DEMO_STREAMS),
            help="events: stream live synthetic alerts into the loaded demo (Ctrl-C stops)",
        )
        parser.add_argument("--rate", default="5/s", help="events: events per second, e.g. 20/s")
        parser.add_argument("--duration", type=float, help="events: stop after this many seconds")
        parser.add_argument("--seed", type=int, help="events: the same stream for the same seed")
        parser.add_argument(
            "--reset",
            action="store_true",
            help="delete ALL organisation and structure data, journal and logins first",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="load only when there is no data yet (used by `make run`)",
        )
        parser.add_argument("--yes", action="store_true", help="do not ask before --reset")

    def handle(self, *args: Any, **opts: Any) -> None:
        console = Console(file=self.stdout._out)  # type: ignore[arg-type]  # OutputWrapper's stream
        if opts.get("what"):
            self.stream(console, opts)
            return
        try:
            loaded = any(module.is_loaded() for module in modules())
        except (OperationalError, ProgrammingError):
            raise CommandError("the database is not ready; run `itline migrate` first") from None
        if opts["reset"]:
            if not opts["yes"]:
                answer = input(
                    "This deletes all people, functions, customers, services, components, tokens and history. Type 'yes': "
                )
                if answer.strip().lower() != "yes":
                    raise CommandError("reset cancelled")
            reset()
            loaded = False
        if loaded:
            if opts["if_empty"]:
                self.stdout.write("Demo data already present; nothing loaded.")
                self.summary(console)
                return
            raise CommandError("the database already has data; use --reset to wipe and reload")
        total = sum(1 for module in modules() for _ in module.steps())
        with Progress(
            TextColumn("[bold]Loading demo[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("", total=total)
            load(lambda desc: progress.update(task, advance=1, description=desc))
        self.stdout.write(self.style.SUCCESS("Demo data loaded."))
        self.summary(console)

    def stream(self, console: Console, opts: dict[str, Any]) -> None:
        """A live stream into the loaded demo; apps name theirs in settings.DEMO_STREAMS."""
        from django.utils.module_loading import import_string

        run_command = import_string(settings.DEMO_STREAMS[opts["what"]])
        try:
            stats = run_command(
                console, rate=opts["rate"], duration=opts["duration"], seed=opts["seed"]
            )
        except (ValueError, LookupError) as exc:
            raise CommandError(str(exc)) from None
        except (OperationalError, ProgrammingError):
            raise CommandError("the database is not ready; run `itline migrate` first") from None
        console.print(f"Stopped. {stats.line(0).rsplit(' · firing', 1)[0]}.")

    def summary(self, console: Console) -> None:
        for module in modules():
            if hasattr(module, "print_summary"):
                module.print_summary(console)
