"""``itline serve``: gunicorn (threads) + background worker, static files via WhiteNoise."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from itline.core.supervise import itline_command, run_together


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError:
        raise CommandError(f"{name} must be a whole number, got {raw!r}") from None


class Command(BaseCommand):
    help = "Start the production web server and, unless --no-worker, a background worker."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("ITLINE_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=None, help="default 8000 or ITLINE_PORT")
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="web processes (default 1; see docs/deployment.md)",
        )
        parser.add_argument(
            "--threads",
            type=int,
            default=None,
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
        for key, env, default in (
            ("port", "ITLINE_PORT", 8000),
            ("workers", "WEB_WORKERS", 1),
            ("threads", "WEB_THREADS", 8),
        ):
            if opts[key] is None:
                opts[key] = _env_int(env, default)
        if not 1 <= opts["port"] <= 65535:
            raise CommandError(f"--port must be between 1 and 65535, got {opts['port']}")
        if opts["workers"] < 1 or opts["threads"] < 1:
            raise CommandError("--workers and --threads must be at least 1")
        call_command("check", "--database", "default", fail_level="ERROR", verbosity=0)
        if not opts["no_collectstatic"] and not settings.DEBUG:
            call_command("collectstatic", "--noinput", verbosity=0)
        multiproc = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        if multiproc:
            # Counters of earlier runs must not leak into this one.
            path = Path(multiproc)
            path.mkdir(parents=True, exist_ok=True)
            for stale in path.glob("*.db"):
                stale.unlink()
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
                "--config",
                "python:itline.gunicorn_conf",
            ]
        }
        if not opts["no_worker"]:
            commands["worker"] = itline_command("worker")
        self.stdout.write(self.style.SUCCESS(f"itline is running at {url}  (Ctrl-C to stop)"))
        code = run_together(commands, out=self.stdout)
        if code:
            raise CommandError(f"stopped: a process exited with code {code}")
