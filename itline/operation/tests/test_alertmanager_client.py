"""The real client: Debian's Prometheus Alertmanager (0.25) delivers to itline's webhook.

itline runs under pytest-django's live server; Alertmanager runs as a child process on free
127.0.0.1 ports, clustering off, with a webhook receiver pointing at
``/api/v1/events/alertmanager`` and the event source's token as its bearer credential. We
post a database alert and an alert of the application that depends on it to Alertmanager's
own v2 API and check that itline receives both, groups them with the database as probable
cause and opens one incident; then we post them resolved and the incident resolves itself.

Without the binary the test is skipped locally and fails under CI (``.ci/run`` installs the
``prometheus-alertmanager`` package)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from itline.cmdb.testing import make_component, relate
from itline.operation import maintenance
from itline.operation.correlation import ensure_default_rules
from itline.operation.models import Alert, AlertGroup, EventSource, Incident, MappingRule

BINARY = os.environ.get("ALERTMANAGER_PATH", "/usr/bin/prometheus-alertmanager")
DEADLINE = 60.0  # seconds to wait for one delivery (group_wait/interval are 1 s)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def _binary() -> str:
    path = BINARY if os.access(BINARY, os.X_OK) else shutil.which("prometheus-alertmanager")
    if path:
        return path
    hint = (
        f"Alertmanager not found at {BINARY}: `apt-get install prometheus-alertmanager` "
        "(Debian) provides it."
    )
    if _in_ci():
        pytest.fail(hint + " CI must run this test (.ci/run installs it).", pytrace=False)
    pytest.skip(hint)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _request(url: str, data: Any = None) -> tuple[int, bytes]:
    body = None if data is None else json.dumps(data).encode()
    request = urllib.request.Request(  # noqa: S310 (a local http URL we built)
        url, data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return int(response.status), bytes(response.read())


def _wait(what: str, check: Callable[[], bool], log: Path) -> None:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    pytest.fail(
        f"Waited {DEADLINE:.0f} s for {what}. Alertmanager said:\n{log.read_text()[-3000:]}"
    )


@pytest.fixture
def structure(transactional_db: None) -> Iterator[dict[str, Any]]:
    """db-1 and app-1 (which depends on it), the rules a fresh install has, the mapping of
    the ``instance`` label (port stripped) to a component, and an Alertmanager source."""
    ensure_default_rules()
    maintenance.forget()
    db = make_component("db-1", "database")
    app = make_component("app-1", "application")
    relate(app, db)
    source = EventSource(name="alertmanager", kind="alertmanager")
    token = source.new_secret()
    source.save()
    MappingRule.objects.create(
        name="instance",
        position=10,
        label="instance",
        pattern=r"^(.+?)(:\d+)?$",
        target="component",
    )
    yield {"db": db, "app": app, "token": token}
    maintenance.forget()


@pytest.fixture
def alertmanager(structure: dict[str, Any], live_server: Any, tmp_path: Path) -> Iterator[str]:
    binary = _binary()
    port = _free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        "global:\n"
        "  resolve_timeout: 5m\n"
        "route:\n"
        "  receiver: itline\n"
        "  group_by: ['...']\n"
        "  group_wait: 1s\n"
        "  group_interval: 1s\n"
        "  repeat_interval: 1h\n"
        "receivers:\n"
        "  - name: itline\n"
        "    webhook_configs:\n"
        f"      - url: {live_server.url}/api/v1/events/alertmanager\n"
        "        send_resolved: true\n"
        "        http_config:\n"
        "          authorization:\n"
        f"            credentials: {structure['token']}\n"
    )
    log = tmp_path / "alertmanager.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
                "--log.level=debug",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            if process.poll() is not None:
                pytest.fail(f"Alertmanager exited {process.returncode}:\n{log.read_text()}")
            try:
                return _request(f"{url}/-/ready")[0] == 200
            except OSError:
                return False

        _wait("Alertmanager to be ready", ready, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _alerts(ends: datetime | None = None) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    starts = (now - timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    extra = {} if ends is None else {"endsAt": ends.isoformat().replace("+00:00", "Z")}
    return [
        {
            "labels": {"alertname": name, "instance": instance, "severity": "critical"},
            "annotations": {"summary": f"{name} on {instance}"},
            "startsAt": starts,
            "generatorURL": "http://prometheus.example/graph",
            **extra,
        }
        for name, instance in (("DatabaseDown", "db-1:9187"), ("HighErrorRate", "app-1:8080"))
    ]


def test_alertmanager_delivers_alerts_that_open_and_then_resolve_one_incident(
    alertmanager: str, structure: dict[str, Any], tmp_path: Path
) -> None:
    log = tmp_path / "alertmanager.log"
    assert _request(f"{alertmanager}/api/v2/alerts", _alerts())[0] == 200

    def grouped() -> bool:
        alerts = list(Alert.objects.all())
        return (
            len(alerts) == 2
            and all(a.group_id and not a.pending for a in alerts)
            and len({a.group_id for a in alerts}) == 1
            and Incident.objects.exists()
        )

    _wait("itline to receive, group and open an incident", grouped, log)
    group = AlertGroup.objects.get()
    assert group.probable_cause_id == structure["db"].pk
    assert {a.component_id for a in Alert.objects.all()} == {
        structure["db"].pk,
        structure["app"].pk,
    }
    incident = Incident.objects.get()
    assert incident.channel == "monitoring" and group.incident_id == incident.pk
    assert incident.component_id == structure["db"].pk

    assert _request(f"{alertmanager}/api/v2/alerts", _alerts(ends=datetime.now(UTC)))[0] == 200

    def resolved() -> bool:
        incident.refresh_from_db()
        return incident.status == "resolved"

    _wait("the incident to resolve itself", resolved, log)
    group.refresh_from_db()
    assert group.status == "resolved" and group.firing_count == 0
    assert "DatabaseDown on db-1" in incident.resolution
    assert Incident.objects.count() == 1 and AlertGroup.objects.count() == 1
