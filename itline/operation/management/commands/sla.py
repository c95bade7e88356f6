"""``itline sla``: recompute SLA clocks from the journals, or run the breach scan once.

    itline sla recompute                  # every open incident
    itline sla recompute --all            # every incident, closed ones too
    itline sla recompute --incident INC-000042 --incident INC-000043
    itline sla recompute --agreement SLA-000002
    itline sla scan                       # notify warnings and breaches due now

Recompute after editing a calendar, its holidays or an agreement: each clock is derived
again from the incident's journal with the terms as they are now."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q


class Command(BaseCommand):
    help = "Recompute SLA clocks from the incident journals, or run the breach scan once."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", metavar="{recompute,scan}")
        actions.required = True
        recompute = actions.add_parser(
            "recompute",
            help="derive the clocks again (after a calendar, holiday or agreement edit)",
            description="Derive SLA clocks again from each incident's journal. Without "
            "options: every open incident.",
        )
        recompute.add_argument(
            "--incident",
            action="append",
            default=[],
            metavar="REF",
            help="only this incident (repeatable)",
        )
        recompute.add_argument(
            "--agreement", metavar="REF", help="only incidents under this agreement"
        )
        recompute.add_argument(
            "--all", action="store_true", help="closed and resolved incidents too"
        )
        recompute.add_argument("--no-progress", action="store_true", help="no progress bar")
        actions.add_parser(
            "scan",
            help="notify clocks that reached their warning threshold or target",
            description="Run the periodic breach scan once (the worker runs it every minute).",
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        if opts["action"] == "scan":
            from itline.operation.sla import scan

            result = scan()
            self.stdout.write(
                f"{result.warned} warning(s) and {result.breached} breach(es) notified."
            )
            return
        self.recompute(opts)

    def recompute(self, opts: dict[str, Any]) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from itline.operation.choices import INCIDENT_OPEN
        from itline.operation.models import Incident, SlaClock
        from itline.operation.sla import recompute
        from itline.relations.models import Agreement

        qs = Incident.objects.all()
        refs = opts["incident"]
        if refs:
            found = dict(qs.filter(reference__in=refs).values_list("reference", "pk"))
            missing = [ref for ref in refs if ref not in found]
            if missing:
                raise CommandError(f"--incident: no incident {', '.join(missing)}")
            qs = qs.filter(pk__in=found.values())
        elif not opts["all"]:
            open_clock = SlaClock.objects.filter(state__in=("running", "paused")).values(
                "incident_id"
            )
            qs = qs.filter(Q(status__in=INCIDENT_OPEN) | Q(pk__in=open_clock))
        if opts["agreement"]:
            agreement = Agreement.objects.filter(reference=opts["agreement"]).first()
            if agreement is None:
                raise CommandError(f"--agreement: no agreement {opts['agreement']}")
            cond = Q(agreement=agreement)
            if agreement.is_default:
                cond |= Q(agreement__isnull=True)  # the default covers incidents without one
            qs = qs.filter(cond)
        ids = list(qs.order_by("pk").values_list("pk", flat=True))
        console = Console(file=self.stderr._out, stderr=True)  # type: ignore[arg-type]  # OutputWrapper's stream
        show = not opts["no_progress"] and opts["verbosity"] > 0 and len(ids) > 1
        started = time.perf_counter()
        with Progress(
            TextColumn("[bold]recompute[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not show,
        ) as progress:
            task = progress.add_task("recompute", total=len(ids))
            done = recompute(ids, progress=lambda n: progress.advance(task, n))
        seconds = time.perf_counter() - started
        self.stdout.write(
            f"Recomputed the SLA clocks of {done} incident{'s' if done != 1 else ''} "
            f"in {seconds:.1f} s."
        )
