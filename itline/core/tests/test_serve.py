"""The production-shaped path, end to end in real processes: `itline serve` answers with
static files and health, and the database task worker runs the heartbeat task."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest


@pytest.fixture
def installation(tmp_path):
    env = {
        **os.environ,
        "ITLINE_VAR_DIR": str(tmp_path),
        "SECRET_KEY": "test-" + "k" * 50,
        "DEBUG": "false",
        "PYTEST_VERSION": "",
        "ITLINE_TESTING": "false",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'itline.sqlite3'}",
    }
    subprocess.run(
        [sys.executable, "-m", "itline", "migrate", "-v0"], env=env, check=True, timeout=120
    )
    return env


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (our own local server)
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_serve_answers_health_login_and_static_files_then_stops_cleanly(installation):
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "itline", "serve", "--port", str(port), "--no-worker"],
        env=installation,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, body = _get(base + "/healthz")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        proc.stdout.read() if proc.stdout else "serve died"
                    ) from None
                time.sleep(0.3)
        assert status == 200 and b'"ok"' in body
        status, body = _get(base + "/login/")
        assert status == 200 and b"Sign in" in body
        css = body.decode().split('href="/static/')[1].split('"')[0]
        status, _ = _get(base + "/static/" + css)
        assert status == 200, css
        status, body = _get(base + "/metrics")
        assert status == 200 and b"itline_http_requests_total" in body
        # gunicorn's post_worker_init warms the impact index in the background
        deadline = time.monotonic() + 20
        while b"itline_impact_index_built 1.0" not in body and time.monotonic() < deadline:
            time.sleep(0.5)
            status, body = _get(base + "/metrics")
        assert b"itline_impact_index_built 1.0" in body
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert f"itline is running at http://127.0.0.1:{port}" in output


def test_the_database_worker_runs_queued_tasks(installation):
    enqueue = "from itline.core.tasks import heartbeat; print(heartbeat.enqueue().id)"
    subprocess.run(
        [sys.executable, "-m", "itline", "shell", "--no-imports", "-c", enqueue],
        env=installation,
        check=True,
        timeout=60,
    )
    check = "from itline.core.models import WorkerHeartbeat as W; print(W.objects.count())"
    before = subprocess.run(
        [sys.executable, "-m", "itline", "shell", "--no-imports", "-c", check],
        env=installation,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert before.stdout.strip().splitlines()[-1] == "0"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "itline",
            "db_worker",
            "--batch",
            "--no-startup-delay",
            "--no-reload",
        ],
        env=installation,
        check=True,
        timeout=60,
        capture_output=True,
    )
    after = subprocess.run(
        [sys.executable, "-m", "itline", "shell", "--no-imports", "-c", check],
        env=installation,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert after.stdout.strip().splitlines()[-1] == "1"
