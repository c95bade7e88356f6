"""``itline worker``: the task worker (django-tasks-db) and the periodic scheduler."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from itline.core.supervise import itline_command, run_together


class Command(BaseCommand):
    help = "Run background tasks and, unless --no-scheduler, the periodic task scheduler."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-scheduler",
            action="store_true",
            help="run tasks only; run exactly one scheduler per installation",
        )
        parser.add_argument("--queues", default="*", help="queues to work on (default: all)")

    def handle(self, *args: Any, **opts: Any) -> None:
        commands = {
            "tasks": itline_command(
                "db_worker",
                "--no-reload",
                "--queue-name",
                opts["queues"],
                "--interval",
                "1",
                "--verbosity",
                str(max(0, opts["verbosity"] - 1)),
            )
        }
        if not opts["no_scheduler"]:
            commands["scheduler"] = itline_command("crontask", "--no-heartbeat")
        code = run_together(commands, out=self.stdout)
        if code:
            raise CommandError(f"stopped: a process exited with code {code}")
