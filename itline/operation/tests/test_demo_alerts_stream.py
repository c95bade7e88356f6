"""``itline demo events``: live synthetic alerts through ingestion. New alerts, re-posts that
change nothing, resolutions, and a correlated storm on a database and what runs on it; a clear
error without the demo or with a bad rate."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from itline.cmdb.testing import make_component, relate
from itline.operation import demo_alerts, demo_stream
from itline.operation.models import Alert, AlertTransition


@pytest.fixture
def small_demo(db):
    """A database, the VM-less app on it, a server and a switch, and the demo sources."""
    db_node = make_component("postg-db-01", "database")
    for n in range(3):
        relate(make_component(f"app-{n:03d}", "application"), db_node)
    make_component("esx-01", "server")
    make_component("vm-001", "virtual-machine")
    demo_alerts.configure()
    return db_node


def test_the_stream_fires_resolves_reposts_and_storms_through_ingestion(small_demo):
    streamer = demo_stream.Streamer(seed=7, storm_every=8)
    for second in range(12):  # twelve ticks of eight events, on the streamer's own clock
        streamer.send(streamer.tick_events(float(second), 8))
    streamer.send(streamer.tick_events(500.0, 8))  # the storm has long recovered
    stats = streamer.stats

    assert stats.errors == 0 and stats.sent >= 96
    assert stats.new > 5 and stats.resolved > 0 and stats.reposts > 0 and stats.storms > 0
    assert stats.unchanged > 0  # a re-post of a firing alert changes nothing
    assert Alert.objects.count() == stats.new
    assert AlertTransition.objects.filter(status="resolved").exists()
    storm = Alert.objects.filter(name="PostgresDown", component=small_demo)
    assert storm.exists() and storm.first().status == "resolved"
    knocked_on = Alert.objects.filter(name="HttpErrorRateHigh", component__name__startswith="app-")
    assert knocked_on.exists()
    # the stream's alerts are mapped by the demo rules (instance host:port -> component)
    assert not Alert.objects.filter(source__name="prometheus", component__isnull=True).exists()


def test_the_command_streams_for_a_duration_and_refuses_a_bad_rate(small_demo):
    out = StringIO()
    call_command("demo", "events", "--rate", "30/s", "--duration", "0.5", "--seed", "3", stdout=out)
    assert "Streaming about 30 events/s" in out.getvalue() and "Stopped. sent" in out.getvalue()
    with pytest.raises(CommandError, match="--rate must be events per second"):
        call_command("demo", "events", "--rate", "fast", stdout=StringIO())
    with pytest.raises(CommandError, match="above 0"):
        call_command("demo", "events", "--rate", "0", stdout=StringIO())


def test_without_the_demo_the_command_says_what_to_do(db):
    with pytest.raises(CommandError, match="load the demo first"):
        call_command("demo", "events", "--duration", "0.1", stdout=StringIO())
