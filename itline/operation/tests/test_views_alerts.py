"""The alert console and alert pages: open groups and firing alerts with counts by severity
and service, filters held in the URL (label key=value too), a query count independent of the
number of alerts, the alert page with its history and firing periods, the group page with the
structure path, acknowledge and silence through the verbs, unmapped alerts."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from itline.cmdb.testing import make_component, relate
from itline.core.testing import PASSWORD, make_user
from itline.operation.alerts_testing import make_alert, make_group, make_source
from itline.operation.models import Alert
from itline.operation.testing import make_incident, make_service
from itline.operation.views.alerts import firing_periods, strip_chart

FIRING, RESOLVED = "firing", "resolved"


def _text(html):
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def tech(client, db):
    make_user("tom", "technician")
    client.login(username="tom", password=PASSWORD)
    return client


@pytest.fixture
def world(db):
    """A database that a VM runs on, an application on the VM, and the shop service that
    depends on the application; two sources."""
    db_node = make_component("db-01", "database")
    vm = make_component("vm-01", "virtual-machine")
    app = make_component("shop-app", "application")
    relate(vm, db_node)
    relate(app, vm)
    shop = make_service("Webshop")
    relate(shop, app)
    return {
        "db": db_node,
        "vm": vm,
        "app": app,
        "shop": shop,
        "prom": make_source("prometheus"),
        "pd": make_source("pagerduty-legacy", "pagerduty"),
    }


def test_the_console_opens_on_firing_alerts_with_open_groups_counted_by_severity(tech, world):
    down = make_alert(world["prom"], "PostgresDown", severity="critical", component=world["db"])
    slow = make_alert(world["prom"], "HighLatency", severity="warning", component=world["app"])
    make_alert(
        world["prom"],
        "OldDiskFull",
        component=world["vm"],
        history=[(FIRING, timezone.now() - timedelta(hours=3)), (RESOLVED, timezone.now())],
    )
    group = make_group("db-01 down", down, slow, probable_cause=world["db"], service=world["shop"])

    page = tech.get("/alerts/")

    assert page.status_code == 200
    html = page.content.decode()
    text = _text(html)
    assert "PostgresDown" in text and "HighLatency" in text
    assert "OldDiskFull" not in text  # resolved: not in the default (firing) view
    assert group.reference in text and "Webshop 1" in text  # open groups by service
    critical_box = re.search(r"sev-box sev-critical.*?</li>", html, re.S).group(0)
    assert "<strong>1</strong> group" in critical_box and "1 alert firing" in critical_box
    assert 'hx-trigger="every 5s"' in html and "data-live-region" in html
    history = tech.get("/alerts/?status=any")
    assert "OldDiskFull" in _text(history.content.decode())


def test_the_console_filters_by_label_severity_service_and_source(tech, world):
    make_alert(
        world["prom"],
        "PostgresDown",
        severity="critical",
        component=world["db"],
        labels={"alertname": "PostgresDown", "instance": "db-01:9187", "env": "prod"},
    )
    make_alert(
        world["pd"],
        "DiskFull",
        severity="warning",
        component=world["vm"],
        labels={"alertname": "DiskFull", "instance": "vm-01", "env": "test"},
    )
    elsewhere = make_component("mail-01")
    make_alert(world["prom"], "MailQueue", component=elsewhere)

    def names(query):
        page = tech.get("/alerts/" + query)
        assert page.status_code == 200
        rows = re.findall(
            r'<tr data-href="/alerts/\d+/" data-alert="\d+">(.*?)</tr>', page.content.decode(), re.S
        )
        return sorted(
            n for n in ("PostgresDown", "DiskFull", "MailQueue") if any(n in r for r in rows)
        )

    assert names("?label=env%3Dprod") == ["PostgresDown"]
    assert names("?label=instance") == ["DiskFull", "PostgresDown"]  # the label is present
    assert names("?severity=warning") == ["DiskFull"]
    assert names("?source=pagerduty-legacy") == ["DiskFull"]
    # a service counts what it runs on: the app, the VM and the database below it
    assert names(f"?service={world['shop'].reference}") == ["DiskFull", "PostgresDown"]
    assert names(f"?component={elsewhere.reference}") == ["MailQueue"]
    # filters stay in the links of the page (sort, chips)
    page = tech.get("/alerts/?label=env%3Dprod&severity=critical").content.decode()
    assert "label=env%3Dprod" in page and 'name="label" value="env=prod"' in page


def test_bad_filters_are_reported_on_the_page_never_a_500(tech, world):
    make_alert(world["prom"], "PostgresDown", component=world["db"])
    for query in (
        "?label=%3Dx",
        "?severity=disaster",
        "?cursor=garbage",
        "?sort=labels",
        "?component=CMP-999999",
    ):
        page = tech.get("/alerts/" + query)
        assert page.status_code == 200, query
        assert 'class="message error"' in page.content.decode(), query


def test_the_console_query_count_does_not_grow_with_alerts_or_groups(tech, world):
    def add(n):
        alerts = [
            make_alert(
                world["prom"], f"Alert{n}-{i}", component=world["vm"], labels={"i": f"{n}{i}"}
            )
            for i in range(3)
        ]
        make_group(f"group {n}", *alerts, probable_cause=world["vm"], service=world["shop"])

    add(0)
    with CaptureQueriesContext(connection) as few:
        assert tech.get("/alerts/").status_code == 200
    for n in range(1, 8):
        add(n)
    with CaptureQueriesContext(connection) as many:
        assert tech.get("/alerts/").status_code == 200
    assert len(many) == len(few)
    with CaptureQueriesContext(connection) as groups:
        assert tech.get("/alerts/groups/").status_code == 200
    add(9)
    with CaptureQueriesContext(connection) as more_groups:
        tech.get("/alerts/groups/")
    assert len(more_groups) == len(groups)


def test_unmapped_alerts_are_counted_in_the_console_and_listed_with_their_labels(tech, world):
    make_alert(world["prom"], "NodeDown", labels={"instance": "new-host-7:9100"})
    make_alert(world["prom"], "Mapped", component=world["db"])

    console = tech.get("/alerts/").content.decode()
    assert re.search(
        r'id="unmapped-link">Unmapped alerts <span class="pill amber">1</span>', console
    )
    page = tech.get("/alerts/unmapped/")
    text = _text(page.content.decode())
    assert "NodeDown" in text and "instance= new-host-7:9100" in text and "Mapped" not in text


def test_the_alert_page_shows_labels_mapping_group_incident_decisions_and_history(tech, world):
    now = timezone.now()
    alert = make_alert(
        world["prom"],
        "PostgresDown",
        severity="critical",
        component=world["db"],
        labels={"alertname": "PostgresDown", "instance": "db-01"},
        history=[
            (FIRING, now - timedelta(days=2)),
            (RESOLVED, now - timedelta(days=2) + timedelta(hours=1)),
            (FIRING, now - timedelta(minutes=30)),
        ],
        decisions=[
            {"at": now.isoformat(), "what": "grouped", "why": "db-01 is what vm-01 runs on."}
        ],
        annotations={"runbook_url": "https://runbooks.example/pg"},
    )
    incident = make_incident("Webshop slow", component=world["db"])
    make_group("db-01 down", alert, probable_cause=world["db"], incident=incident)

    page = tech.get(alert.get_absolute_url())

    assert page.status_code == 200
    html = page.content.decode()
    text = _text(html)
    assert "instance= db-01" in text and "label=instance%3Ddb-01" in html
    assert incident.reference in text and "db-01 is what vm-01 runs on." in text
    assert "3 transitions" in text and "Fired 2 times" in text
    assert len(re.findall(r'<rect class="firing"', html)) == 2
    assert 'href="https://runbooks.example/pg"' in html
    assert tech.get(alert.get_absolute_url() + "?days=90").status_code == 200
    assert tech.get(alert.get_absolute_url() + "?days=abc").status_code == 200
    assert tech.get("/alerts/999999/").status_code == 404


def test_firing_periods_start_from_the_state_before_the_window_and_stay_open_to_its_end(db):
    source = make_source()
    now = timezone.now()
    start, end = now - timedelta(days=1), now
    alert = make_alert(
        source,
        "Flappy",
        history=[
            (FIRING, now - timedelta(days=3)),  # firing when the window opens
            (RESOLVED, now - timedelta(hours=20)),
            (FIRING, now - timedelta(hours=2)),  # still firing at the end
        ],
    )
    periods, fired = firing_periods(alert, start, end)
    assert periods == [(start, now - timedelta(hours=20)), (now - timedelta(hours=2), end)]
    assert fired == 1  # only the start inside the window counts as "fired"
    chart = strip_chart(periods, start, end)
    assert [round(b["x"]) for b in chart["bars"]] == [0, 917]
    assert chart["share"] == pytest.approx(100 * 6 / 24, abs=0.1)


def test_the_group_page_shows_the_structure_path_from_the_probable_cause(tech, world):
    cause = make_alert(world["prom"], "PostgresDown", severity="critical", component=world["db"])
    effect = make_alert(world["prom"], "ShopErrors", component=world["app"])
    group = make_group(
        "db-01 down",
        cause,
        effect,
        probable_cause=world["db"],
        decisions=[
            {
                "at": "2026-01-01T10:00:00+00:00",
                "what": "incident not opened",
                "why": "below the rule's minimum duration",
            }
        ],
    )

    page = tech.get(group.get_absolute_url())

    assert page.status_code == 200
    html = page.content.decode()
    steps = re.findall(r'<ol class="path-steps">(.*?)</ol>', html, re.S)
    assert len(steps) == 1
    assert [s for s in re.findall(r">([a-z0-9-]+)</a>", steps[0])] == ["db-01", "vm-01", "shop-app"]
    assert "below the rule&#x27;s minimum duration" in html and "probable cause" in html
    assert tech.get("/alerts/groups/ALG-999999/").status_code == 404


def test_acknowledging_and_silencing_from_the_console_go_through_the_verbs(tech, world):
    alert = make_alert(world["prom"], "PostgresDown", component=world["db"])
    other = make_alert(world["prom"], "ShopErrors", component=world["app"])
    group = make_group("db-01 down", alert, other, probable_cause=world["db"])

    back = "/alerts/?severity=error"
    done = tech.post(f"/alerts/{alert.pk}/acknowledge/", {"next": back})
    assert done.status_code == 302 and done.url == back
    alert.refresh_from_db()
    assert alert.acknowledged_at is not None and alert.acknowledged_by.name == "Tom"

    silenced = tech.post(
        f"/alerts/{other.pk}/silence/", {"duration": "4h", "reason": "fix deploys at 18:00"}
    )
    assert silenced.status_code == 302
    other.refresh_from_db()
    assert other.is_silenced() and other.silence_reason == "fix deploys at 18:00"
    assert (
        timedelta(hours=3, minutes=59) < other.silenced_until - timezone.now() <= timedelta(hours=4)
    )
    tech.post(f"/alerts/{other.pk}/unsilence/")
    other.refresh_from_db()
    assert not other.is_silenced()

    tech.post(f"/alerts/groups/{group.reference}/acknowledge/")
    assert not Alert.objects.filter(group=group, acknowledged_at__isnull=True).exists()
    # an open redirect is not followed
    assert (
        tech.post(f"/alerts/{alert.pk}/acknowledge/", {"next": "https://evil.example/"}).url
        == alert.get_absolute_url()
    )


def test_a_silence_needs_a_reason_and_a_future_time_and_says_which_field_is_wrong(tech, world):
    alert = make_alert(world["prom"], "PostgresDown", component=world["db"])
    no_reason = tech.post(f"/alerts/{alert.pk}/silence/", {"duration": "1h"}, follow=True)
    assert "Not silenced. Reason:" in _text(no_reason.content.decode())
    past = (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    in_past = tech.post(
        f"/alerts/{alert.pk}/silence/",
        {"duration": "until", "until": past, "reason": "x"},
        follow=True,
    )
    assert "Until: Pick a time in the future." in _text(in_past.content.decode())
    bogus = tech.post(
        f"/alerts/{alert.pk}/silence/", {"duration": "forever", "reason": "x"}, follow=True
    )
    assert "Silence for:" in _text(bogus.content.decode())
    alert.refresh_from_db()
    assert alert.silenced_until is None
    assert tech.get(f"/alerts/{alert.pk}/silence/").status_code == 405


def test_portal_users_never_reach_the_console_and_actions_need_the_permission(client, world):
    make_user("rita", "requester")
    client.login(username="rita", password=PASSWORD)
    alert = make_alert(world["prom"], "PostgresDown", component=world["db"])
    for url in ("/alerts/", alert.get_absolute_url(), "/alerts/unmapped/", "/alerts/groups/"):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/alerts/{alert.pk}/acknowledge/").status_code == 403
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


def test_the_group_and_alert_pages_cost_the_same_with_more_members_and_history(tech, world):
    now = timezone.now()
    flaps = [(FIRING, now - timedelta(hours=9)), (RESOLVED, now - timedelta(hours=8))] * 3 + [
        (FIRING, now - timedelta(hours=1))
    ]

    def knock_on(n, history=None):
        component = world["vm"] if n % 2 else world["app"]
        return make_alert(
            world["prom"], f"Knock{n}", component=component, labels={"n": str(n)}, history=history
        )

    cause = make_alert(world["prom"], "PostgresDown", severity="critical", component=world["db"])
    group = make_group("db-01 down", cause, knock_on(0), probable_cause=world["db"])
    with CaptureQueriesContext(connection) as few:
        assert tech.get(group.get_absolute_url()).status_code == 200
    with CaptureQueriesContext(connection) as one_transition:
        tech.get(cause.get_absolute_url())
    make_group("db-01 down", cause, *[knock_on(n) for n in range(1, 6)], probable_cause=world["db"])
    with CaptureQueriesContext(connection) as many:
        assert tech.get(cause.group.get_absolute_url()).status_code == 200
    assert len(many) == len(few)
    busy = knock_on(9, history=flaps)
    with CaptureQueriesContext(connection) as seven_transitions:
        tech.get(busy.get_absolute_url())
    assert len(seven_transitions) == len(one_transition)


def test_the_live_refresh_is_the_same_page_so_htmx_swaps_only_the_region(tech, world):
    make_alert(world["prom"], "PostgresDown", component=world["db"])
    page = tech.get("/alerts/?severity=error", HTTP_HX_REQUEST="true")
    html = page.content.decode()
    assert page.status_code == 200 and 'id="list-region"' in html
    assert 'hx-get="/alerts/?severity=error"' in html  # the default status is applied again
    assert 'data-live-summary="1 alerts firing in 0 open groups, 1 error"' in html
