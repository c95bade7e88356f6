"""The alert console in Chromium: an engineer filters the firing alerts, acknowledges one,
silences another and opens an alert's history; a second test streams live alerts through
ingestion and sees the console update by itself. Every page is captured at desktop and phone
width without sideways scrolling or console errors."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import override_settings
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE

pytestmark = pytest.mark.browser

SHOTS = Path(os.environ.get("E3_SCREENSHOTS", "/root/scratch/E3"))


@pytest.fixture(autouse=True)
def _urls_loaded() -> None:
    """Import every URL module (and the API schemas) before the browser's first request: on a
    busy machine that import alone can outlast the navigation timeout."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (the import is the point)


def _no_sideways_scrolling(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"{page.url} is {width}px wide"


def _capture(page, screenshots, name: str) -> None:
    for suffix, viewport in (("", DESKTOP), ("-phone", PHONE)):
        page.set_viewport_size(viewport)
        page.reload()
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        page.screenshot(path=screenshots / f"{name}{suffix}.png", full_page=True)
        if SHOTS.is_dir():
            page.screenshot(path=SHOTS / f"{name}{suffix}.png", full_page=True)
        _no_sideways_scrolling(page)
    page.set_viewport_size(DESKTOP)


def _structure():
    """A small demo-like world: a database under a VM under the shop application, the shop
    service on it, and the demo sources with their mapping rules."""
    from itline.cmdb.testing import make_component, relate
    from itline.operation import demo_alerts
    from itline.operation.testing import make_service

    db = make_component("postg-db-01", "database")
    vm = make_component("db-vm-001", "virtual-machine")
    app = make_component("app-001", "application")
    relate(db, vm, "hosted-on")
    relate(app, db)
    shop = make_service("Webshop")
    relate(shop, app)
    demo_alerts.configure()
    return db, vm, app, shop


def test_an_engineer_filters_acknowledges_silences_and_reads_an_alert_history(
    page, sign_in, screenshots
):
    from itline.operation.alerts_testing import make_alert, make_group
    from itline.operation.models import Alert, EventSource

    db, vm, app, shop = _structure()
    prom = EventSource.objects.get(name="prometheus")
    now = timezone.now()
    down = make_alert(
        prom,
        "PostgresDown",
        severity="critical",
        component=db,
        labels={"alertname": "PostgresDown", "instance": "postg-db-01:9187", "env": "prod"},
        history=[
            (f, now - timedelta(days=d, hours=h))
            for d, h, f in ((5, 3, "firing"), (5, 1, "resolved"), (0, 1, "firing"))
        ],
        summary="postg-db-01 does not answer",
    )
    errors = make_alert(
        prom,
        "HttpErrorRateHigh",
        component=app,
        service=shop,
        labels={"alertname": "HttpErrorRateHigh", "instance": "app-001:443", "env": "prod"},
    )
    make_alert(
        prom,
        "DiskSpaceLow",
        severity="warning",
        component=vm,
        labels={"alertname": "DiskSpaceLow", "instance": "db-vm-001:9100", "env": "prod"},
    )
    make_alert(prom, "NodeDown", labels={"alertname": "NodeDown", "instance": "legacy-nas-03:9100"})
    make_group("PostgresDown on postg-db-01", down, errors, probable_cause=db, service=shop)
    sign_in("tech.tom")

    page.goto("/alerts/")
    expect(page.get_by_role("heading", name="Alert console")).to_be_visible()
    table = page.locator("#alerts tbody tr")
    expect(table).to_have_count(4)
    expect(page.locator("#unmapped-link .pill")).to_have_text("1")
    _capture(page, screenshots, "alert-console")

    # filter by severity from the summary bar, then by a label
    page.locator(".sev-box.sev-critical a").click()
    expect(table).to_have_count(1)
    expect(table.first).to_contain_text("PostgresDown")
    page.goto("/alerts/")
    page.get_by_label("Label filter, key=value").fill("instance=db-vm-001:9100")
    page.get_by_label("Label filter, key=value").press("Enter")
    expect(table).to_have_count(1)
    expect(table.first).to_contain_text("DiskSpaceLow")
    assert "label=instance%3Ddb-vm-001%3A9100" in page.url

    # acknowledge from the row; the filters survive the round trip
    page.goto("/alerts/?severity=error")
    row = page.locator("#alerts tbody tr", has_text="HttpErrorRateHigh")
    row.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("#messages")).to_contain_text("Acknowledged HttpErrorRateHigh")
    assert "severity=error" in page.url
    expect(page.locator("#alerts tbody tr", has_text="HttpErrorRateHigh")).to_contain_text(
        "acknowledged"
    )

    # silence with a reason from the row's pop-up form
    page.goto("/alerts/")
    row = page.locator("#alerts tbody tr", has_text="DiskSpaceLow")
    row.get_by_text("Silence…").click()
    row.get_by_label("Silence for").select_option("8h")
    row.get_by_label("Reason").fill("volume grows tonight")
    row.get_by_role("button", name="Silence", exact=True).click()
    expect(page.locator("#messages")).to_contain_text("Silenced DiskSpaceLow")
    assert Alert.objects.get(name="DiskSpaceLow").silence_reason == "volume grows tonight"

    # the alert's page: history, firing periods, labels, group
    page.locator("#alerts tbody tr", has_text="PostgresDown").get_by_role(
        "link", name="PostgresDown"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("PostgresDown")
    expect(page.locator("#alert-history tbody tr")).to_have_count(3)
    expect(page.locator(".strip-chart rect.firing")).to_have_count(2)
    expect(page.locator(".labels a", has_text="postg-db-01:9187")).to_have_attribute(
        "href", "/alerts/?status=any&label=instance%3Dpostg-db-01%3A9187"
    )
    _capture(page, screenshots, "alert-detail")
    page.get_by_role("link", name="30d").click()
    expect(page.get_by_role("heading", name="Firing periods, last 30 days")).to_be_visible()
    page.get_by_role("link", name="ALG-", exact=False).first.click()
    expect(page.locator(".path-steps")).to_contain_text("postg-db-01")
    _capture(page, screenshots, "alert-group")

    page.goto("/alerts/unmapped/")
    expect(page.locator("table[data-list] tbody tr")).to_have_count(1)
    _capture(page, screenshots, "alerts-unmapped")
    page.goto(db.get_absolute_url())
    expect(page.locator(".alerts-panel")).to_contain_text("PostgresDown")
    _capture(page, screenshots, "component-alerts-panel")
    page.goto("/alerts/sources/")
    _capture(page, screenshots, "alert-sources")
    page.goto("/alerts/mapping-rules/")
    _capture(page, screenshots, "alert-mapping-rules")
    assert page.console_errors == []


@override_settings(ALERT_CONSOLE_REFRESH_SECONDS=1)
def test_the_console_follows_a_live_stream_by_itself(page, sign_in, screenshots):
    from itline.operation import demo_stream
    from itline.operation.models import Alert

    _structure()
    sign_in("tech.tom")
    page.goto("/alerts/")
    expect(page.get_by_role("heading", name="Nothing is firing")).to_be_visible()

    streamer = demo_stream.Streamer(seed=11, storm_every=3)
    for second in range(4):
        streamer.send(streamer.tick_events(float(second), 6))
    firing = Alert.objects.filter(status="firing").count()
    assert firing > 0

    # no reload: the console re-reads itself and announces the change
    expect(page.locator("#alerts tbody tr")).to_have_count(min(firing, 50), timeout=8000)
    expect(page.locator("#live-status")).to_contain_text("Changed:")
    expect(page.locator("#live-checked")).to_contain_text("checked")
    page.screenshot(path=screenshots / "alert-console-live.png", full_page=True)
    if SHOTS.is_dir():
        page.screenshot(path=SHOTS / "alert-console-live.png", full_page=True)

    # pausing stops the refresh: a new alert does not appear until it is resumed
    page.get_by_role("button", name="Pause live updates").click()
    before = page.locator("#alerts tbody tr").count()
    streamer.send([("firing", streamer.new_alert())])
    page.wait_for_timeout(2500)
    assert page.locator("#alerts tbody tr").count() == before
    page.get_by_role("button", name="Resume live updates").click()
    expect(page.locator("#alerts tbody tr")).not_to_have_count(before, timeout=8000)
    assert page.console_errors == []
