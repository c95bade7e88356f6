"""The SMTP listener of ``itline mail``: aiosmtpd takes the mail, a worker thread stores it
(the ORM is synchronous), and the SMTP answer says what happened: 250 stored, 451 try again
later, 550 refused for good (the sending server then bounces it to the sender)."""

from __future__ import annotations

import asyncio
import logging
import socket
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiosmtpd.controller import Controller
from django.conf import settings
from django.db import close_old_connections

from itline.operation.mail.inbound import receive

log = logging.getLogger(__name__)


class DeskHandler:
    """aiosmtpd handler: every accepted DATA goes through :func:`inbound.receive`."""

    def __init__(self) -> None:
        # One mail at a time: deliveries are short, and SQLite has one writer anyway.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="itline-mail")

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):  # only when decode_data=True, which we do not use
            raw = raw.encode("utf-8", "surrogateescape")
        mail_from = envelope.mail_from
        rcpt_to = list(envelope.rcpt_tos)
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(
                self.executor, lambda: _receive_in_thread(raw, mail_from, rcpt_to)
            )
        except Exception:  # receive() does not raise; this guards the listener regardless
            log.exception("mail handler failed")
            return "451 4.3.0 Temporary failure; please try again later."
        return result.smtp_reply

    def close(self) -> None:
        self.executor.shutdown(wait=True)


def _receive_in_thread(raw: bytes, mail_from: str | None, rcpt_to: list[str]) -> Any:
    # A long-running thread must drop connections the database closed meanwhile.
    close_old_connections()
    try:
        return receive(raw, mail_from=mail_from, rcpt_to=rcpt_to)
    finally:
        close_old_connections()


def parse_listen(value: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:2525`` for IPv6) into its parts; a clear error otherwise."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"listen address must be HOST:PORT such as 127.0.0.1:2525, got {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def check_bindable(host: str, port: int) -> None:
    """Fail at once on an address in use (aiosmtpd only notices after its start timeout)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def make_controller(host: str, port: int) -> Controller:
    return Controller(
        DeskHandler(),
        hostname=host,
        port=port,
        data_size_limit=settings.MAIL_MAX_BYTES,
        enable_SMTPUTF8=True,
        server_hostname=settings.MAIL_DOMAIN,
        ident="itline service desk",
    )
