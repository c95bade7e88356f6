"""A real HTTP receiver on 127.0.0.1 for webhook tests: it records every request and answers
as told (a status code, a redirect, silence, or a byte every now and then)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    status: int = 200
    answer: bytes = b'{"ok": true}'
    mode: str = "answer"  # answer | hang | trickle
    requests: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    extra_headers: dict[str, str] = field(default_factory=dict)


@contextmanager
def receiver(**options: object) -> Iterator[Receiver]:
    """Serve on a free port for the duration of the block."""
    state: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            state.requests.append(Received(self.path, dict(self.headers.items()), body))
            if state.mode == "hang":
                state.release.wait(30)
                return
            if state.mode == "trickle":
                # Accepts, then sends one byte of a never-ending status line at a time, so
                # no single socket read ever waits long.
                self.wfile.write(b"HTTP/1.1 200 ")
                while not state.release.is_set():
                    try:
                        self.wfile.write(b"x")
                        self.wfile.flush()
                    except OSError:
                        return
                    time.sleep(0.1)
                return
            self.send_response(state.status)
            for name, value in state.extra_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(state.answer)))
            self.end_headers()
            self.wfile.write(state.answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}/hooks/itline")
    for key, value in options.items():
        setattr(state, key, value)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def closed_port_url() -> str:
    """An address on 127.0.0.1 where nothing listens (connection refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hooks"
