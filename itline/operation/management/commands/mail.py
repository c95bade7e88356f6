"""``itline mail``: the service desk's mail gateway. Listens for SMTP (behind your MTA) and,
with ``--imap``, polls a mailbox as well. Incoming mail opens or continues requests; see
docs/email.md."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from itline.operation.mail import imap, smtp


class Command(BaseCommand):
    help = (
        "Receive e-mail for the service desk: an SMTP listener (default MAIL_LISTEN, "
        "127.0.0.1:2525) and, with --imap, polling of IMAP_URL."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--listen",
            default=None,
            metavar="HOST:PORT",
            help=f"address of the SMTP listener (default MAIL_LISTEN: {settings.MAIL_LISTEN})",
        )
        parser.add_argument(
            "--imap",
            action="store_true",
            help="also poll the IMAP mailbox of IMAP_URL every IMAP_POLL_SECONDS",
        )
        parser.add_argument(
            "--no-smtp", action="store_true", help="do not listen for SMTP (use with --imap)"
        )
        parser.add_argument(
            "--once", action="store_true", help="poll the IMAP mailbox once and exit"
        )

    def handle(self, *args: Any, **opts: Any) -> None:
        use_imap = opts["imap"] or opts["once"]
        if use_imap and not settings.IMAP_URL:
            raise CommandError(
                "--imap needs IMAP_URL, e.g. imaps://desk%40example.com:secret@mail.example.com/INBOX"
            )
        if use_imap:
            try:
                imap.parse_imap_url(settings.IMAP_URL)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
        if opts["once"]:
            self._poll()
            return
        if opts["no_smtp"] and not use_imap:
            raise CommandError("--no-smtp leaves nothing to do; add --imap")

        stop = threading.Event()

        def on_signal(signum: int, frame: Any) -> None:
            stop.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        controller = None
        try:
            if not opts["no_smtp"]:
                try:
                    host, port = smtp.parse_listen(opts["listen"] or settings.MAIL_LISTEN)
                except ValueError as exc:
                    raise CommandError(str(exc)) from None
                try:
                    smtp.check_bindable(host, port)
                    controller = smtp.make_controller(host, port)
                    controller.start()
                except (OSError, RuntimeError) as exc:
                    raise CommandError(f"cannot listen on {host}:{port}: {exc}") from None
                self.stdout.write(f"itline mail: listening for SMTP on {host}:{port}")
            if use_imap:
                self.stdout.write(f"itline mail: polling IMAP every {settings.IMAP_POLL_SECONDS} s")
            self.stdout.flush()
            next_poll = time.monotonic()
            while not stop.is_set():
                if use_imap and time.monotonic() >= next_poll:
                    close_old_connections()  # the database may have dropped us since
                    self._poll()
                    next_poll = time.monotonic() + settings.IMAP_POLL_SECONDS
                stop.wait(1.0)
        finally:
            if controller is not None:
                controller.stop()
                controller.handler.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.stdout.write("itline mail: stopped")

    def _poll(self) -> None:
        try:
            results = imap.poll_once()
        except Exception as exc:  # a mailbox that is down is retried at the next poll
            self.stderr.write(f"itline mail: IMAP poll failed: {type(exc).__name__}: {exc}")
            return
        for r in results:
            self.stdout.write(f"itline mail: {r.outcome} {r.reference} {r.sender} {r.smtp_reply}")
        self.stdout.flush()
