"""Event ingestion benchmark: itline against Prometheus Alertmanager 0.25 on the same machine.

    python -m benchmarks.events                          # or: make bench-events (SQLite)
    python -m benchmarks.events --postgres postgresql://root@127.0.0.1:5432/postgres
    python -m benchmarks.events --duration 600 --phases repost-1000   # the memory check

For each database (a fresh SQLite file; with ``--postgres`` also a fresh database
``itline_bench_events`` on that server) it migrates, creates an event source, 200 components
and two mapping rules (so mapping runs), starts ``itline serve --no-worker`` (gunicorn) on a
free 127.0.0.1 port and measures, each phase bounded by ``--duration`` seconds:

* single-event requests with wrk (Debian's /usr/bin/wrk, 4 connections, a Lua script that
  gives every request a new fingerprint, or cycles through firing ones for re-posts);
* batches of 100 and of 1,000 alerts over 4 keep-alive connections (Python threads with
  http.client), new alerts and re-posts of firing ones;
* p50/p99 latency of each, alerts/s;
* the same phases against /usr/bin/prometheus-alertmanager (``POST /api/v2/alerts``, memory
  only) started on a free port with a temporary storage directory;
* the database afterwards: every acknowledged new alert is there once (unique fingerprints;
  for wrk phases, at least as many as wrk counted answered, at most one per connection more);
* "open alerts for one service": ``--open-alerts`` (default 1,000,000) firing alerts over
  1,000 services written by bulk SQL, then ``GET /api/v1/alerts?service=…&status=firing``
  (first page) timed, with the query plan;
* the web server's RSS (all gunicorn processes) at the start and end of every phase.

Correlation runs in the request after the commit (EVENTS_CORRELATE_INLINE, the default);
``--correlate sweep`` measures ingestion with correlation left to the worker's sweep.
Targets (issue 5): batches >= 1.0x Alertmanager on SQLite and >= 0.5x on PostgreSQL;
single-event requests >= 0.3x on SQLite; re-posts at least as fast as new alerts; zero lost
or duplicated; RSS flat; open alerts for one service <= 100 ms."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

WRK = "/usr/bin/wrk"
ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
CONNECTIONS = 4
TARGETS = {"batch_sqlite": 1.0, "batch_postgres": 0.5, "single_sqlite": 0.3, "open_ms": 100.0}
MAX_ALERTS_PER_PHASE = 400_000
PHASES = ["single-new", "single-repost", "new-100", "repost-100", "new-1000", "repost-1000"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int, path: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"nothing answered on port {port} within {timeout} s")


def rss_mb(pid: int) -> float:
    """RSS of ``pid`` and its children (gunicorn master and workers), in MB."""
    total = 0
    pids = [pid]
    try:
        out = subprocess.run(  # noqa: S603
            ["/usr/bin/ps", "-o", "pid=", "--ppid", str(pid)],
            capture_output=True,
            text=True,
        )
        pids += [int(p) for p in out.stdout.split()]
        for p in list(pids[1:]):
            out = subprocess.run(  # noqa: S603
                ["/usr/bin/ps", "-o", "pid=", "--ppid", str(p)],
                capture_output=True,
                text=True,
            )
            pids += [int(q) for q in out.stdout.split()]
        for p in pids:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    except OSError:
        pass
    return total / 1024


# --- payloads -------------------------------------------------------------------------------


# The structure the alerts are about: benchmarks.generate_structure at this scale (about 2,000
# components with their relations), written into each database; alert i fires on component
# NAMES[i % len(NAMES)], which the "instance" mapping rule maps, so correlation groups for real.
SCALE = 0.02
NAMES: list[str] = []
PROBES = 40  # isolated components, one incident each, for the notification latency


def structure_names() -> list[str]:
    from benchmarks.generate_structure import generate

    s = generate(42, scale=SCALE)
    return [s.component_name(i) for i in range(s.n_components)]


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def itline_event(fp: str, i: int) -> dict[str, Any]:
    return {
        "fingerprint": fp,
        "status": "firing",
        "severity": "warning",
        "summary": f"Disk almost full on {NAMES[i % len(NAMES)]}",
        "labels": {
            "alertname": "DiskFull",
            "instance": f"{NAMES[i % len(NAMES)]}:9100",
            "job": "node",
            "fp": fp,
        },
        "starts_at": now_iso(),
    }


def am_alert(fp: str, i: int) -> dict[str, Any]:
    return {
        "labels": {
            "alertname": "DiskFull",
            "instance": f"{NAMES[i % len(NAMES)]}:9100",
            "job": "node",
            "fp": fp,
        },
        "annotations": {"summary": f"Disk almost full on {NAMES[i % len(NAMES)]}"},
        "startsAt": now_iso(),
        "generatorURL": "http://prometheus:9090/graph",
    }


class Target:
    """Where a phase posts: itline (its own JSON, bearer token) or Alertmanager (v2 API)."""

    def __init__(
        self,
        name: str,
        port: int,
        path: str,
        token: str | None,
        make: Callable[[str, int], dict[str, Any]],
    ) -> None:
        self.name, self.port, self.path, self.token, self.make = name, port, path, token, make

    def headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if self.token:
            h["Authorization"] = f"Bearer {self.token}"
        return h


# --- phases ----------------------------------------------------------------------------------


def run_batches(
    target: Target, size: int, duration: float, repost: bool, prefix: str
) -> dict[str, Any]:
    """4 threads, one keep-alive connection each, posting batches for ``duration`` s."""
    latencies: list[float] = []
    acked: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()
    fixed = [f"{prefix}-fixed-{t}-{i}" for t in range(CONNECTIONS) for i in range(size)]

    # Bodies are built before the clock starts (a Python client would otherwise measure its
    # own JSON encoding); a phase ends at --duration or when its bodies run out.
    per_thread = max(2, min(400, int(MAX_ALERTS_PER_PHASE / size / CONNECTIONS)))
    bodies: list[list[tuple[list[str], bytes]]] = []
    for t in range(CONNECTIONS):
        mine = []
        for n in range(1 if repost else per_thread):
            fps = (
                fixed[t * size : (t + 1) * size]
                if repost
                else [f"{prefix}-{t}-{n}-{i}" for i in range(size)]
            )
            mine.append(
                (fps, json.dumps([target.make(fp, i) for i, fp in enumerate(fps)]).encode())
            )
        bodies.append(mine)
    stop_at = time.monotonic() + duration

    def worker(t: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=120)
        n = 0
        while time.monotonic() < stop_at and (repost or n < len(bodies[t])):
            fps, body = bodies[t][0 if repost else n]
            n += 1
            start = time.perf_counter()
            conn.request("POST", target.path, body, target.headers())
            response = conn.getresponse()
            text = response.read()
            took = time.perf_counter() - start
            with lock:
                if response.status < 300:
                    latencies.append(took)
                    if not repost:
                        acked.extend(fps)
                else:
                    errors.append(f"{response.status} {text[:200]!r}")

    if repost:  # make them firing first
        conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=120)
        for t in range(CONNECTIONS):
            body = json.dumps(
                [target.make(fp, i) for i, fp in enumerate(fixed[t * size : (t + 1) * size])]
            ).encode()
            conn.request("POST", target.path, body, target.headers())
            conn.getresponse().read()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(t,)) for t in range(CONNECTIONS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t0
    return {
        "alerts_per_s": len(latencies) * size / elapsed,
        "requests": len(latencies),
        "p50_ms": 1000 * statistics.median(latencies) if latencies else None,
        "p99_ms": 1000 * quantile(latencies, 0.99) if latencies else None,
        "errors": errors[:3],
        "error_count": len(errors),
        "acked": acked,
    }


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


LUA = """
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local token = "%(token)s"
local cycle = %(cycle)d
local am = %(am)s
local names = {%(names)s}
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if token ~= "" then wrk.headers["Authorization"] = "Bearer " .. token end
request = function()
  counter = counter + 1
  local n = counter
  if cycle > 0 then n = counter %% cycle end
  local fp = "%(prefix)s-" .. tostring(tid) .. "-" .. n
  if cycle > 0 then fp = "%(prefix)s-cycle-" .. n end
  local ts = os.date("!%%Y-%%m-%%dT%%H:%%M:%%SZ")
  local body
  if am then
    body = '[{"labels":{"alertname":"DiskFull","instance":"' .. names[(n %% #names) + 1] .. ':9100","job":"node","fp":"' .. fp .. '"},"annotations":{"summary":"Disk almost full"},"startsAt":"' .. ts .. '"}]'
  else
    body = '{"fingerprint":"' .. fp .. '","severity":"warning","summary":"Disk almost full","labels":{"alertname":"DiskFull","instance":"' .. names[(n %% #names) + 1] .. ':9100","job":"node","fp":"' .. fp .. '"},"starts_at":"' .. ts .. '"}'
  end
  return wrk.format(nil, nil, nil, body)
end
"""


def run_wrk(
    target: Target, duration: float, repost: bool, prefix: str, workdir: Path
) -> dict[str, Any]:
    cycle = 1000 if repost else 0
    if repost:  # make the cycled alerts firing first
        conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=120)
        for start in range(0, cycle, 500):
            body = json.dumps(
                [target.make(f"{prefix}-cycle-{n}", n) for n in range(start, start + 500)]
            ).encode()
            conn.request("POST", target.path, body, target.headers())
            conn.getresponse().read()
    script = workdir / f"{prefix}.lua"
    script.write_text(
        LUA
        % {
            "prefix": prefix,
            "token": target.token or "",
            "cycle": cycle,
            "am": "true" if target.name == "alertmanager" else "false",
            "names": ", ".join(f'"{n}"' for n in NAMES),
        }
    )
    out = subprocess.run(  # noqa: S603
        [
            WRK,
            "-t2",
            f"-c{CONNECTIONS}",
            f"-d{max(1, int(duration))}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{target.port}{target.path}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    done = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def pct(p: str) -> float | None:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        if not m:
            return None
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    return {
        "alerts_per_s": rps,
        "requests": done,
        "p50_ms": pct("50"),
        "p99_ms": pct("99"),
        "error_count": int(bad.group(1)) if bad else 0,
        "errors": [],
        "acked": [],
    }


# --- itline and Alertmanager processes ---------------------------------------------------------


def setup_database(env: dict[str, str], receiver: int) -> str:
    """Migrate; write the generated structure; the mapping rules ("instance" -> component
    name, "job" -> service name); PROBES isolated components for the latency probes; a
    webhook subscription to incident.created at the local receiver; the source's token."""
    subprocess.run(
        [sys.executable, "-m", "itline", "migrate", "--noinput", "-v0"], env=env, check=True
    )
    code = (
        "import django, json; django.setup()\n"
        "from benchmarks.generate_structure import generate, write_structure\n"
        "from itline.cmdb import services\n"
        "from itline.cmdb.models import ComponentType\n"
        "from itline.core import webhooks\n"
        "from itline.operation.ingest import config\n"
        f"write_structure(generate(42, scale={SCALE}), progress=False)\n"
        "ctype = ComponentType.objects.order_by('id').first()\n"
        f"for i in range({PROBES}):\n"
        "    services.create_component(by=None, name=f'probe-{i}', component_type=ctype)\n"
        "config.create_rule(by=None, name='instance', label='instance', target='component', pattern=r'(.+?)(:\\d+)?', position=10)\n"
        "config.create_rule(by=None, name='job', label='job', target='service', position=20)\n"
        f"webhooks.create_subscription(by=None, name='latency', url='http://127.0.0.1:{receiver}/hook', events=['incident.created'])\n"
        "source, secret = config.create_source(by=None, name='bench', kind='itline')\n"
        "print('TOKEN', secret)\n"
    )
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    ).stdout
    return out.split("TOKEN ")[1].split()[0]


class Receiver:
    """A webhook receiver on 127.0.0.1 that timestamps each delivery as it arrives."""

    def __init__(self) -> None:
        import http.server

        arrivals = self.arrivals = []  # type: list[tuple[float, bytes]]
        self.event = threading.Event()
        event = self.event

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                at = time.perf_counter()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                arrivals.append((at, body))
                event.set()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def latency(target: Target, receiver: Receiver) -> dict[str, Any]:
    """Event accepted (the 2xx read by the client) -> incident.created webhook arriving at
    the receiver, one critical alert at a time on an isolated component (a new group, a new
    incident each time; no grouping delay)."""
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=60)
    took: list[float] = []
    missed = 0
    for i in range(PROBES):
        body = json.dumps(
            {
                "fingerprint": f"probe-{uuid.uuid4().hex}",
                "status": "firing",
                "severity": "critical",
                "summary": "Probe down",
                "labels": {"alertname": "ProbeDown", "instance": f"probe-{i}:9100"},
            }
        ).encode()
        receiver.event.clear()
        seen = len(receiver.arrivals)
        conn.request("POST", target.path, body, target.headers())
        response = conn.getresponse()
        response.read()
        accepted = time.perf_counter()
        deadline = accepted + 10
        while len(receiver.arrivals) == seen and time.perf_counter() < deadline:
            receiver.event.wait(0.5)
            receiver.event.clear()
        if len(receiver.arrivals) == seen:
            missed += 1
            continue
        took.append(1000 * max(0.0, receiver.arrivals[seen][0] - accepted))
    return {
        "p50_ms": statistics.median(took) if took else None,
        "p99_ms": quantile(took, 0.99) if took else None,
        "max_ms": max(took) if took else None,
        "probes": PROBES,
        "missed": missed,
    }


def drain(env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Wait until the correlator has taken up every pending alert (or ``timeout``)."""
    code = (
        "import django, sys, time; django.setup()\n"
        "from itline.operation.models import Alert, AlertGroup\n"
        "t0 = time.time(); first = Alert.objects.filter(pending=True).count(); left = first\n"
        "while left and time.time() - t0 < float(sys.argv[1]):\n"
        "    time.sleep(0.2); left = Alert.objects.filter(pending=True).count()\n"
        "print(first, left, time.time() - t0, Alert.objects.count(), AlertGroup.objects.count())\n"
    )
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code, str(timeout)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    first, left, took, alerts, groups = (
        int(out[0]),
        int(out[1]),
        float(out[2]),
        int(out[3]),
        int(out[4]),
    )
    return {
        "pending_at_end": first,
        "pending_left": left,
        "drain_s": took,
        "alerts": alerts,
        "groups": groups,
    }


def start_itline(
    env: dict[str, str], port: int, workers: int, threads: int
) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "itline",
            "serve",
            "--no-worker",
            "--no-collectstatic",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--threads",
            str(threads),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(  # noqa: SIM115
            os.devnull
            if not os.environ.get("BENCH_DEBUG")
            else str(Path(tempfile.gettempdir()) / "itline-bench-serve.log"),
            "w",
        ),
    )
    wait_for(port, "/healthz", timeout=240)
    return proc


def start_alertmanager(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = workdir / "alertmanager.yml"
    config.write_text("route:\n  receiver: none\nreceivers:\n  - name: none\n")
    storage = workdir / "am-data"
    storage.mkdir(exist_ok=True)
    proc = subprocess.Popen(  # noqa: S603
        [
            ALERTMANAGER,
            f"--config.file={config}",
            f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(port, "/-/ready")
    return proc, port


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def run_phases(
    target: Target,
    phases: list[str],
    duration: float,
    workdir: Path,
    pid: int | None,
    after: Callable[[], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The phases one after the other; ``after`` (itline) waits for correlation to catch
    up between phases, so a phase is not measured against the previous one's backlog."""
    results: dict[str, Any] = {}
    # Warm up every web process and thread (imports, the impact index, connections).
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=120)
    for n in range(40):
        body = json.dumps([target.make(f"warmup-{uuid.uuid4().hex}", n)]).encode()
        conn.request("POST", target.path, body, target.headers())
        conn.getresponse().read()
    if after is not None:
        after()
    for phase in phases:
        prefix = f"{target.name[:2]}{uuid.uuid4().hex[:6]}-{phase}"
        rss_before = rss_mb(pid) if pid else None
        samples: list[float] = []
        sampler_stop = threading.Event()

        def sample(pid: int | None, samples: list[float], stop: threading.Event) -> None:
            while pid and not stop.wait(10):
                samples.append(rss_mb(pid))

        sampler = threading.Thread(target=sample, args=(pid, samples, sampler_stop), daemon=True)
        sampler.start()
        repost = phase.startswith(("repost", "single-repost"))
        if phase.startswith("single"):
            r = run_wrk(target, duration, repost, prefix, workdir)
        else:
            r = run_batches(target, int(phase.split("-")[1]), duration, repost, prefix)
        sampler_stop.set()
        r["rss_mb"] = (rss_before, rss_mb(pid) if pid else None)
        r["rss_samples"] = samples
        r["prefix"] = prefix
        r["load_average"] = os.getloadavg()[0]
        results[phase] = r
        print(
            f"  {target.name:<12} {phase:<14} {r['alerts_per_s']:>9.0f} alerts/s  "
            f"p50 {fmt(r['p50_ms'])} ms  p99 {fmt(r['p99_ms'])} ms  errors {r['error_count']}"
            + (f"  RSS {r['rss_mb'][0]:.0f}->{r['rss_mb'][1]:.0f} MB" if pid else "")
            + f"  load {r['load_average']:.1f}",
            flush=True,
        )
        if after is not None:
            d = r["correlation"] = after()
            print(
                f"  {'':<12} {'':<14} correlation caught up {d['pending_at_end']} pending "
                f"alerts in {d['drain_s']:.1f} s ({d['pending_left']} left)",
                flush=True,
            )
    return results


def fmt(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.1f}"


# --- checks in the database ---------------------------------------------------------------------


def verify(env: dict[str, str], results: dict[str, Any]) -> list[str]:
    """Every acknowledged new alert once in the database; wrk phases within the in-flight margin."""
    checks = {}
    for phase, r in results.items():
        checks[phase] = {
            "prefix": r["prefix"],
            "acked": len(r["acked"]) if r["acked"] else r["requests"],
            "exact": bool(r["acked"]),
            "single": phase.startswith("single"),
            "repost": "repost" in phase,
        }
    code = (
        "import django, json, sys; django.setup()\n"
        "from itline.operation.models import Alert, AlertTransition\n"
        "checks = json.loads(sys.argv[1]); out = {}\n"
        "for phase, c in checks.items():\n"
        "    qs = Alert.objects.filter(fingerprint__startswith=c['prefix'])\n"
        "    out[phase] = [qs.count(), AlertTransition.objects.filter(alert__in=qs).count()]\n"
        "print(json.dumps(out))\n"
    )
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code, json.dumps(checks)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    counts = json.loads(out.strip().splitlines()[-1])
    lines = []
    for phase, c in checks.items():
        stored, history = counts[phase]
        if c["repost"]:
            expected = 1000 if c["single"] else None
            ok = history == stored and (expected is None or stored == expected)
            lines.append(
                f"{phase}: {stored} alerts, {history} transitions (re-posts add none) {'ok' if ok else 'WRONG'}"
            )
        elif c["exact"]:
            ok = stored == c["acked"] and history == stored
            lines.append(
                f"{phase}: acknowledged {c['acked']}, stored {stored}, transitions {history} {'ok' if ok else 'WRONG'}"
            )
        else:
            ok = c["acked"] <= stored <= c["acked"] + CONNECTIONS and history == stored
            lines.append(
                f"{phase}: wrk answered {c['acked']}, stored {stored} (in flight <= {CONNECTIONS}) {'ok' if ok else 'WRONG'}"
            )
    return lines


def open_alerts(env: dict[str, str], port: int, count: int) -> dict[str, Any]:
    """``count`` firing alerts over 1,000 services by bulk SQL, then the API page timed."""
    code = (
        "import django, json, sys, time; django.setup()\n"
        "from django.db import connection, transaction\n"
        "from itline.cmdb import services\n"
        "from itline.cmdb.models import Service\n"
        "from itline.operation.models import EventSource\n"
        "from itline.core.models import ApiToken\n"
        "from django.contrib.auth import get_user_model\n"
        "from django.contrib.auth.models import Group\n"
        "n = int(sys.argv[1]); src = EventSource.objects.get(name='bench').pk\n"
        "have = Service.objects.filter(name__startswith='bench-svc-').count()\n"
        "for i in range(have, 1000):\n"
        "    services.create_service(by=None, name=f'bench-svc-{i}')\n"
        "ids = list(Service.objects.filter(name__startswith='bench-svc-').order_by('id').values_list('id', flat=True))\n"
        "lo = ids[0]\n"
        "t0 = time.time()\n"
        "pg = connection.vendor == 'postgresql'\n"
        "series = 'SELECT g AS x FROM generate_series(1, %s) g' if pg else 'WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < %s) SELECT x FROM s'\n"
        'now = "now()" if pg else "datetime(\'now\')"\n'
        "lbl = \"'{\\\"alertname\\\": \\\"Bulk\\\"}'\" + ('::jsonb' if pg else '')\n"
        'sql = (f"INSERT INTO operation_alert (fingerprint, source_id, name, status, severity, summary, labels, annotations, service_id, starts_at, first_seen_at, last_seen_at, changed_at, transitions, flapping, silence_reason, generator_url, pending, decisions) "\n'
        "       f\"SELECT 'bulk-' || x, {src}, 'Bulk', 'firing', 'warning', 'bulk', {lbl}, {lbl}, {lo} + (x %% 1000), {now}, {now}, {now}, {now}, 1, false, '', '', false, '[]'{'::jsonb' if pg else ''} FROM ({series}) t\")\n"
        "with transaction.atomic(), connection.cursor() as c:\n"
        "    c.execute('SELECT COUNT(*) FROM operation_alert WHERE fingerprint LIKE %s', ['bulk-%'])\n"
        "    if c.fetchone()[0] < n:\n"
        "        c.execute(\"DELETE FROM operation_alert WHERE fingerprint LIKE 'bulk-%'\")\n"
        "        c.execute(sql, [n])\n"
        "    if pg: c.execute('ANALYZE operation_alert')\n"
        "written = time.time() - t0\n"
        "svc = Service.objects.get(pk=lo + 500)\n"
        "user = get_user_model().objects.filter(username='bench').first() or get_user_model().objects.create_user('bench', password=None)\n"
        "user.groups.add(Group.objects.get(name='service_desk_agent'))\n"
        "_, secret = ApiToken.issue(user=user, name=f'bench-{time.time()}', scope='read')\n"
        "from itline.operation.models import Alert\n"
        "qs = Alert.objects.filter(service_id=svc.pk, status='firing').order_by('-changed_at', '-id')[:51]\n"
        "plan = qs.explain()\n"
        "print(json.dumps({'ref': svc.reference, 'token': secret, 'written_s': written, 'plan': plan}))\n"
    )
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code, str(count)],
        env=env,
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"writing the open alerts failed:\n{done.stderr[-3000:]}")
    out = done.stdout
    info = json.loads(out.strip().splitlines()[-1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times = []
    for _ in range(30):
        start = time.perf_counter()
        conn.request(
            "GET",
            f"/api/v1/alerts?service={info['ref']}&status=firing",
            headers={"Authorization": f"Bearer {info['token']}"},
        )
        response = conn.getresponse()
        body = response.read()
        times.append(1000 * (time.perf_counter() - start))
        assert response.status == 200, body[:300]
    return {
        "p50_ms": statistics.median(times),
        "p99_ms": quantile([t / 1000 for t in times], 0.99) * 1000,
        "items": len(json.loads(body)["items"]),
        "plan": info["plan"],
        "written_s": info["written_s"],
    }


# --- the run -------------------------------------------------------------------------------------


def pg_database(server: str, name: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    parts = urlsplit(server)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path=f"/{name}"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--duration", type=float, default=5.0, help="seconds per phase (600: memory check)"
    )
    parser.add_argument(
        "--phases", default=",".join(PHASES), help=f"comma list of {', '.join(PHASES)}"
    )
    parser.add_argument(
        "--postgres", help="PostgreSQL server URL; a database itline_bench_events is (re)created"
    )
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-alertmanager", action="store_true")
    parser.add_argument(
        "--open-alerts", type=int, default=1_000_000, help="0 skips the open-alerts query"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    parser.add_argument(
        "--correlate",
        choices=["thread", "inline", "sweep"],
        default="thread",
        help="thread: the correlator thread (default); inline: in the request; sweep: left pending",
    )
    parser.add_argument("--drain", type=float, default=120, help="longest wait for correlation")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    phases = [p for p in args.phases.split(",") if p]
    for p in phases:
        if p not in PHASES:
            parser.error(f"unknown phase {p!r}")
    for binary in (WRK, *(() if args.no_alertmanager else (ALERTMANAGER,))):
        if not Path(binary).exists():
            raise SystemExit(f"{binary} is missing (apt install wrk prometheus-alertmanager)")
    workdir = Path(tempfile.mkdtemp(prefix="itline-bench-events-"))
    NAMES[:] = structure_names()
    report: dict[str, Any] = {"duration_s": args.duration, "correlate": args.correlate}
    report["load_average"] = os.getloadavg()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    try:
        if not args.no_alertmanager:
            print("\n=== Alertmanager 0.25 (memory only) ===", flush=True)
            am, am_port = start_alertmanager(workdir)
            try:
                target = Target("alertmanager", am_port, "/api/v2/alerts", None, am_alert)
                report["alertmanager"] = strip(
                    run_phases(target, phases, args.duration, workdir, am.pid)
                )
            finally:
                stop(am)
        databases = (
            [] if args.no_sqlite else [("sqlite", f"sqlite:///{workdir / 'events.sqlite3'}")]
        )
        if args.postgres:
            databases.append(("postgres", pg_database(args.postgres, "itline_bench_events")))
        for label, url in databases:
            print(f"\n=== itline on {label} ===", flush=True)
            env = {
                **os.environ,
                "DATABASE_URL": url,
                "ITLINE_VAR_DIR": str(workdir),
                "DEBUG": "false",
                "SECRET_KEY": "bench-" + "x" * 40,
                "ALLOWED_HOSTS": "127.0.0.1,localhost",
                "EVENTS_CORRELATE_INLINE": "true" if args.correlate == "inline" else "false",
                "EVENTS_CORRELATOR_THREAD": "true" if args.correlate == "thread" else "false",
                # No task worker runs (--no-worker): webhooks leave from the process that
                # publishes them, so the latency figure is itline's, not a worker's poll.
                "TASKS_IMMEDIATE": "true",
                "LOG_LEVEL": "ERROR",
                "DJANGO_SETTINGS_MODULE": "itline.settings",
            }
            env.pop("PYTEST_VERSION", None)
            receiver = Receiver()
            token = setup_database(env, receiver.port)
            port = free_port()
            server = start_itline(env, port, args.workers, args.threads)
            try:
                target = Target("itline", port, "/api/v1/events", token, itline_event)
                after = None if args.correlate == "sweep" else partial(drain, env, args.drain)
                results = run_phases(target, phases, args.duration, workdir, server.pid, after)
                checks = verify(env, results)
                for line in checks:
                    print("  check:", line)
                entry: dict[str, Any] = {"phases": strip(results), "checks": checks}
                entry["load_average_after_phases"] = os.getloadavg()
                if args.correlate != "sweep":
                    d = drain(env, args.drain)
                    entry["correlation"] = d
                    print(
                        f"  correlation: {d['pending_at_end']} alerts pending after the last "
                        f"phase, {d['pending_left']} left after {d['drain_s']:.0f} s "
                        f"({d['alerts']} alerts in {d['groups']} groups)",
                        flush=True,
                    )
                    lat = latency(target, receiver)
                    entry["latency"] = lat
                    print(
                        f"  accepted -> incident.created webhook: p50 {fmt(lat['p50_ms'])} ms, "
                        f"p99 {fmt(lat['p99_ms'])} ms, max {fmt(lat['max_ms'])} ms, "
                        f"missed {lat['missed']}/{lat['probes']}",
                        flush=True,
                    )
                if args.open_alerts:
                    o = open_alerts(env, port, args.open_alerts)
                    entry["open_alerts"] = o
                    print(
                        f"  open alerts for one service ({args.open_alerts} open, written in "
                        f"{o['written_s']:.0f} s): p50 {o['p50_ms']:.1f} ms, p99 {o['p99_ms']:.1f} ms, "
                        f"{o['items']} on the first page"
                    )
                    print("  plan:", " | ".join(o["plan"].splitlines()))
                report[label] = entry
            finally:
                stop(server)
                receiver.close()
        summary(report)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    return 0


def strip(results: dict[str, Any]) -> dict[str, Any]:
    return {k: {kk: vv for kk, vv in v.items() if kk != "acked"} for k, v in results.items()}


def summary(report: dict[str, Any]) -> None:
    am = report.get("alertmanager", {})
    print("\n=== ratios itline / Alertmanager (alerts/s) and targets ===")
    for label in ("sqlite", "postgres"):
        if label not in report:
            continue
        phases = report[label]["phases"]
        for phase, r in phases.items():
            base = am.get(phase, {}).get("alerts_per_s")
            ratio = r["alerts_per_s"] / base if base else None
            target = None
            if phase.startswith("single"):
                target = TARGETS["single_sqlite"] if label == "sqlite" else None
            else:
                target = TARGETS[f"batch_{label}"]
            verdict = (
                "" if ratio is None or target is None else ("met" if ratio >= target else "NOT met")
            )
            print(
                f"  {label:<9} {phase:<14} {r['alerts_per_s']:>9.0f}/s  vs AM {base or 0:>9.0f}/s  "
                f"ratio {ratio or 0:5.2f}  target {target if target is not None else '-'}  {verdict}"
            )
        for size in ("100", "1000"):
            new, rep = phases.get(f"new-{size}"), phases.get(f"repost-{size}")
            if new and rep:
                print(
                    f"  {label:<9} re-post vs new, batches of {size}: {rep['alerts_per_s'] / max(new['alerts_per_s'], 1):.2f}x "
                    f"({'met' if rep['alerts_per_s'] >= new['alerts_per_s'] else 'NOT met'})"
                )
        if "open_alerts" in report[label]:
            o = report[label]["open_alerts"]
            print(
                f"  {label:<9} open alerts for one service p50 {o['p50_ms']:.1f} ms "
                f"({'met' if o['p50_ms'] <= TARGETS['open_ms'] else 'NOT met'}, target {TARGETS['open_ms']:.0f} ms)"
            )
        lat = report[label].get("latency")
        if lat and lat["p50_ms"] is not None:
            ok = lat["p50_ms"] <= 50 and lat["p99_ms"] <= 250 and not lat["missed"]
            print(
                f"  {label:<9} accepted -> webhook p50 {lat['p50_ms']:.1f} ms, p99 "
                f"{lat['p99_ms']:.1f} ms ({'met' if ok else 'NOT met'}, targets 50/250 ms)"
            )
    print(f"  load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    sys.exit(main())
