"""Run a few child processes together (web server, task worker, scheduler) and stop them all
when one exits or when we are asked to stop. Keeps ``itline serve`` a single command."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from typing import Any


def itline_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "itline", *args]


def run_together(commands: dict[str, list[str]], *, out: Any = sys.stdout) -> int:
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for name, cmd in commands.items():
            children[name] = subprocess.Popen(cmd)  # noqa: S603  (our own argv, no shell)
        exit_code = 0
        while not stopping:
            for name, child in children.items():
                code = child.poll()
                if code is not None:
                    out.write(f"itline: {name} exited with code {code}; stopping the rest.\n")
                    exit_code = code or 1
                    stopping = True
                    break
            time.sleep(0.3)
        return exit_code
    finally:
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 15
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
