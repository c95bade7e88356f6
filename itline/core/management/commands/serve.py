"""``itline serve``: gunicorn (threads) + background worker, static files via WhiteNoise."""

from __future__ import annotations

import os
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from itline.core.supervise import itline_command, run_together


class Command(BaseCommand):
    help = "Start the production web server and, unless --no-worker, a background worker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("ITLINE_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("ITLINE_PORT", "8000")))
        parser.add_argument(
            "--workers",
            type=int,
            default=int(os.environ.get("WEB_WORKERS", "1")),
            help="web processes (default 1; see docs/deployment.md)",
        )
        parser.add_argument(
            "--threads",
            type=int,
            default=int(os.environ.get("WEB_THREADS", "8")),
            help="threads per web process (default 8)",
        )
        parser.add_argument(
            "--no-worker", action="store_true", help="do not start a background worker alongside"
        )
        parser.add_argument(
            "--no-collectstatic",
            action="store_true",
            help="skip collecting static files at start-up",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        if not 1 <= opts["port"] <= 65535:
            raise CommandError(f"--port must be between 1 and 65535, got {opts['port']}")
        if opts["workers"] < 1 or opts["threads"] < 1:
            raise CommandError("--workers and --threads must be at least 1")
        call_command("check", "--database", "default", fail_level="ERROR", verbosity=0)
        if not opts["no_collectstatic"] and not settings.DEBUG:
            call_command("collectstatic", "--noinput", verbosity=0)
        url = f"http://{opts['host']}:{opts['port']}"
        commands = {
            "web": [
                sys.executable,
                "-m",
                "gunicorn",
                "itline.wsgi:application",
                "--bind",
                f"{opts['host']}:{opts['port']}",
                "--workers",
                str(opts["workers"]),
                "--threads",
                str(opts["threads"]),
                "--worker-class",
                "gthread",
                "--access-logfile",
                "-" if opts["verbosity"] > 1 else "/dev/null",
                "--graceful-timeout",
                "10",
                "--no-control-socket",
            ]
        }
        if not opts["no_worker"]:
            commands["worker"] = itline_command("worker")
        self.stdout.write(self.style.SUCCESS(f"itline is running at {url}  (Ctrl-C to stop)"))
        code = run_together(commands, out=self.stdout)
        if code:
            raise CommandError(f"stopped: a process exited with code {code}")
