"""The correlator thread: ingestion answers once the alerts are committed and pending, the
thread of the process correlates them right after, outside the request, and a failed run is
retried; re-posts of alerts seen a moment ago are answered without writing anything."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from itline.operation.correlation import runner
from itline.operation.ingest import ingest, parse_alertmanager
from itline.operation.ingest.testing import am_alert, am_payload, make_source
from itline.operation.models import Alert

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def threaded(settings):
    settings.EVENTS_CORRELATE_INLINE = False
    settings.EVENTS_CORRELATOR_THREAD = True
    yield
    assert runner.idle(timeout=30)


def events(*names, **kw):
    import orjson

    return parse_alertmanager(orjson.dumps(am_payload(*[am_alert(n, **kw) for n in names])))


def test_ingest_returns_pending_alerts_and_the_thread_correlates_them(threaded):
    source, _ = make_source()

    result = ingest(source, events("DiskFull", "HighLatency"))

    assert result.new == 2
    assert runner.idle(timeout=30)
    alerts = list(Alert.objects.all())
    assert [a.pending for a in alerts] == [False, False]
    assert all(a.group_id for a in alerts)


def test_a_failed_run_is_retried(threaded, monkeypatch):
    from itline.operation import correlation

    real = correlation.correlate
    failures: list[list[int]] = []

    def flaky(ids, **kw):
        if not failures:
            failures.append(ids)
            raise RuntimeError("database is locked")
        return real(ids, **kw)

    monkeypatch.setattr(correlation, "correlate", flaky)
    source, _ = make_source()

    ingest(source, events("DiskFull"))

    assert runner.idle(timeout=30)
    assert failures
    assert Alert.objects.get().pending is False


def test_a_repost_of_alerts_seen_a_moment_ago_writes_nothing(settings):
    settings.EVENTS_CORRELATE_INLINE = True
    source, _ = make_source()
    ingest(source, events("DiskFull", "HighLatency"))
    source.refresh_from_db()

    with CaptureQueriesContext(connection) as queries:
        result = ingest(source, events("DiskFull", "HighLatency"))

    assert result.unchanged == 2 and result.accepted == 2
    assert len(queries) == 1 and queries[0]["sql"].lstrip().upper().startswith("SELECT")
