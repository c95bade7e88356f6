"""The alert history API: alerts filtered by status, severity, source, component, service,
label and time, with keyset pages and a constant number of queries; one alert with its
transitions; the history across alerts by component, service, label and time."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from itline.cmdb.testing import make_component
from itline.core.testing import bearer, make_user
from itline.operation.ingest import config, ingest, parse_alertmanager
from itline.operation.ingest.testing import am_alert, am_payload, make_source
from itline.operation.models import Alert
from itline.operation.testing import make_service

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent():
    return bearer(make_user("agent", "service_desk_agent"), scope="read")


@pytest.fixture
def world():
    """web-01 (Shop) and db-01 (Payroll) alerts, one unmapped, one resolved."""
    web = make_component("web-01")
    db = make_component("db-01", "database")
    shop = make_service("Shop")
    payroll = make_service("Payroll")
    config.create_rule(
        by=None,
        name="instance",
        label="instance",
        target="component",
        pattern=r"(.+?)(:\d+)?",
        position=10,
    )
    config.create_rule(by=None, name="job", label="job", target="service", position=20)
    source, _ = make_source()
    t0 = timezone.now() - timedelta(hours=1)
    ingest(
        source,
        parse_alertmanager(
            am_payload(
                am_alert(
                    "HighLatency",
                    instance="web-01:9100",
                    job="Shop",
                    severity="critical",
                    starts_at=t0,
                    team="web",
                ),
                am_alert(
                    "DiskFull",
                    instance="db-01:9100",
                    job="Payroll",
                    severity="warning",
                    starts_at=t0,
                    team="dba",
                ),
                am_alert("Mystery", instance="unknown:1", severity="info", starts_at=t0),
            )
        ),
    )
    ingest(
        source,
        parse_alertmanager(
            am_payload(
                am_alert(
                    "DiskFull",
                    instance="db-01:9100",
                    job="Payroll",
                    severity="warning",
                    status="resolved",
                    starts_at=t0,
                    team="dba",
                )
            )
        ),
    )
    return {"web": web, "db": db, "shop": shop, "payroll": payroll, "t0": t0}


def names(response):
    assert response.status_code == 200, response.content
    return sorted(item["name"] for item in response.json()["items"])


def test_open_alerts_of_one_service(client, agent, world):
    url = f"/api/v1/alerts?service={world['shop'].reference}&status=firing"
    body = client.get(url, headers=agent).json()
    assert [a["name"] for a in body["items"]] == ["HighLatency"]
    item = body["items"][0]
    assert item["service"] == world["shop"].reference and item["service_name"] == "Shop"
    assert item["component"] == world["web"].reference and item["mapping_rule"] == "instance"
    assert item["source"] == "prometheus" and item["labels"]["team"] == "web"


def test_filters_by_status_severity_component_label_and_unmapped(client, agent, world):
    get = lambda q: names(client.get(f"/api/v1/alerts?{q}", headers=agent))  # noqa: E731
    assert get("status=resolved") == ["DiskFull"]
    assert get("severity=critical") == ["HighLatency"]
    assert get(f"component={world['db'].reference}") == ["DiskFull"]
    assert get("label=team:dba") == ["DiskFull"]
    assert get("label=team:dba&label=alertname:HighLatency") == []
    assert get("unmapped=true") == ["Mystery"]
    assert get("unmapped=false") == ["DiskFull", "HighLatency"]
    assert get("source=prometheus&status=firing") == ["HighLatency", "Mystery"]
    assert get("component=CMP-999999") == []


def test_time_filters_apply_to_the_last_change(client, agent, world):
    soon = (timezone.now() - timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
    assert names(client.get("/api/v1/alerts", {"since": soon}, headers=agent)) == ["DiskFull"]
    assert names(client.get("/api/v1/alerts", {"until": soon}, headers=agent)) == [
        "HighLatency",
        "Mystery",
    ]


def test_a_bad_label_filter_is_a_4xx_naming_it(client, agent, world):
    response = client.get("/api/v1/alerts?label=nocolon", headers=agent)
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "label"


def test_keyset_pages_walk_all_alerts_once(client, agent, world):
    seen, cursor = [], None
    while True:
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/alerts", params, headers=agent).json()
        seen += [a["id"] for a in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(Alert.objects.values_list("id", flat=True))


def test_one_alert_and_its_history(client, agent, world):
    alert = Alert.objects.get(name="DiskFull")
    body = client.get(f"/api/v1/alerts/{alert.pk}", headers=agent).json()
    assert body["status"] == "resolved" and body["transitions"] == 2 and "decisions" in body
    history = client.get(f"/api/v1/alerts/{alert.pk}/history", headers=agent).json()["items"]
    assert [h["status"] for h in history] == ["firing", "resolved"]
    assert history[0]["component"] == world["db"].reference
    assert client.get("/api/v1/alerts/999999", headers=agent).status_code == 404


def test_alert_history_by_service_label_and_time(client, agent, world):
    rows = client.get(
        f"/api/v1/alert-history?service={world['payroll'].reference}", headers=agent
    ).json()["items"]
    assert [(r["alert_name"], r["status"]) for r in rows] == [
        ("DiskFull", "resolved"),
        ("DiskFull", "firing"),
    ]
    rows = client.get("/api/v1/alert-history?label=team:web", headers=agent).json()["items"]
    assert [r["alert_name"] for r in rows] == ["HighLatency"]
    later = (world["t0"] + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    rows = client.get("/api/v1/alert-history", {"since": later}, headers=agent).json()["items"]
    assert [r["status"] for r in rows] == ["resolved"]


def test_listing_alerts_and_history_takes_the_same_queries_for_1_or_40_rows(client, agent, world):
    source, _ = make_source("bulk")

    def queries(url):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url, headers=agent).status_code == 200
        return len(ctx.captured_queries)

    queries("/api/v1/alerts")  # the token's last use is written once a minute
    before = (queries("/api/v1/alerts?limit=1"), queries("/api/v1/alert-history?limit=1"))
    ingest(
        source,
        parse_alertmanager(
            am_payload(*[am_alert(f"B{i}", instance="web-01:1", job="Shop") for i in range(40)])
        ),
    )
    after = (queries("/api/v1/alerts?limit=100"), queries("/api/v1/alert-history?limit=100"))
    assert before == after


def test_people_without_the_alert_view_permission_are_refused(client, world):
    requester = bearer(make_user("req", "requester"), scope="read")
    assert client.get("/api/v1/alerts", headers=requester).status_code == 403
    assert client.get("/api/v1/alert-history", headers=requester).status_code == 403
