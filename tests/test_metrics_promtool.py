"""``/metrics`` is what Prometheus expects: promtool's own linter accepts the body as it is, and
the families that dashboards and alerts use are there.

``promtool check metrics`` exits 0 when the body is clean, 3 when it only has lint problems
(for example a counter without the ``_total`` suffix) and 1 when the body does not parse; the
problems are printed one a line. Any non-zero exit, or any line printed, fails this test.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

EXPECTED_FAMILIES = {
    "itline_http_requests": "counter",
    "itline_http_request_duration_seconds": "histogram",
    "itline_task_queue_depth": "gauge",
    "itline_worker_heartbeat_age_seconds": "gauge",
}


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}


def _promtool() -> str:
    path = shutil.which("promtool")
    if path:
        return path
    hint = "promtool is not installed: `apt-get install prometheus` (Debian) provides it."
    if _in_ci():
        pytest.fail(hint + " CI must install it (.ci/run does).")
    pytest.skip(hint)


@pytest.fixture
def scraped(client, db) -> bytes:
    # A few requests first, so the request counter and the latency histogram have samples.
    client.get("/healthz")
    client.get("/login/")
    client.get("/api/v1/me")  # 401: a 4xx status class as well
    client.get("/no-such-page/")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return response.content


def test_promtool_accepts_the_metrics_page_without_problems(scraped):
    result = subprocess.run(
        [_promtool(), "check", "metrics"],
        input=scraped,
        capture_output=True,
        timeout=60,
        check=False,
    )
    output = (result.stdout + result.stderr).decode(errors="replace").strip()
    assert result.returncode == 0, f"promtool exited {result.returncode}:\n{output}"
    assert output == "", f"promtool reported problems:\n{output}"


def test_the_metrics_page_has_the_families_dashboards_use(scraped):
    families = {f.name: f for f in text_string_to_metric_families(scraped.decode())}
    for name, kind in EXPECTED_FAMILIES.items():
        assert name in families, f"{name} missing; got {sorted(families)}"
        assert families[name].type == kind, f"{name} is a {families[name].type}, not a {kind}"

    requests = families["itline_http_requests"]
    routes = {s.labels.get("route") for s in requests.samples if s.name.endswith("_total")}
    assert "healthz" in routes
    statuses = {s.labels.get("status") for s in requests.samples}
    assert {"2xx", "4xx"} <= statuses

    buckets = [
        s
        for s in families["itline_http_request_duration_seconds"].samples
        if s.name.endswith("_bucket")
    ]
    assert any(s.labels.get("le") == "+Inf" for s in buckets)

    assert families["itline_task_queue_depth"].samples, "queue depth has no sample"
    (age,) = families["itline_worker_heartbeat_age_seconds"].samples
    assert age.value == -1 or age.value >= 0
