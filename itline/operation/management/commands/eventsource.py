"""``itline eventsource``: add, list and rotate the credentials of monitoring systems.

itline eventsource add prometheus --kind alertmanager          # prints the token once
itline eventsource add ci --kind itline --auth hmac            # prints the HMAC secret once
itline eventsource list
itline eventsource rotate prometheus                           # new token, old one dead
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from itline.operation.ingest import config
from itline.operation.ingest.auth import ENDPOINTS, SIGNATURE_HEADER, SOURCE_HEADER
from itline.operation.models import EventSource
from itline.operation.models.alerts import EventAuth, EventSourceKind


class Command(BaseCommand):
    help = "Manage event sources (monitoring systems that send events) and their credentials."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        add = sub.add_parser("add", help="create a source and print its credential once")
        add.add_argument("name")
        add.add_argument("--kind", required=True, choices=EventSourceKind.values)
        add.add_argument("--auth", default=EventAuth.TOKEN, choices=EventAuth.values)
        add.add_argument("--description", default="")
        sub.add_parser("list", help="list the sources")
        rotate = sub.add_parser("rotate", help="give a source a new credential")
        rotate.add_argument("name")
        rotate.add_argument("--auth", choices=EventAuth.values, default=None)

    def handle(self, *args: Any, **opts: Any) -> None:
        action = opts["action"]
        if action == "add":
            try:
                source, secret = config.create_source(
                    by=None,
                    name=opts["name"],
                    kind=opts["kind"],
                    auth=opts["auth"],
                    description=opts["description"],
                )
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from None
            self._show_secret(source, secret)
        elif action == "rotate":
            found = EventSource.objects.filter(name=opts["name"]).first()
            if found is None:
                raise CommandError(f"There is no event source named {opts['name']!r}.")
            try:
                secret = config.rotate_credential(found, by=None, auth=opts["auth"])
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from None
            self._show_secret(found, secret)
        else:
            rows = list(EventSource.objects.order_by("name"))
            if not rows:
                self.stdout.write("No event sources yet: itline eventsource add NAME --kind KIND")
            for s in rows:
                last = s.last_event_at.isoformat(timespec="seconds") if s.last_event_at else "never"
                state = "" if s.active else "  (switched off)"
                self.stdout.write(
                    f"{s.name:<24} {s.kind:<13} {s.auth:<6} {s.token_prefix}…  last event: {last}{state}"
                )

    def _show_secret(self, source: EventSource, secret: str) -> None:
        endpoint = ENDPOINTS[source.kind]
        self.stdout.write(self.style.SUCCESS(f"Event source {source.name!r} ({source.kind})"))
        self.stdout.write(f"  endpoint: POST {endpoint}")
        if source.auth == EventAuth.HMAC:
            self.stdout.write(f"  HMAC secret (shown once): {secret}")
            self.stdout.write(
                f"  send {SOURCE_HEADER}: {source.name} and "
                f"{SIGNATURE_HEADER}: sha256=<hex HMAC-SHA256 of the body>"
            )
        elif source.kind == EventSourceKind.PAGERDUTY:
            self.stdout.write(f"  routing key (shown once): {secret}")
        else:
            self.stdout.write(f"  token (shown once): {secret}")
            self.stdout.write(f"  send Authorization: Bearer {secret}")
