"""The component and service pages show the alerts firing there and the recent alert history
through the node-panel hook (settings.NODE_PANELS); a panel that cannot be imported is left
out instead of breaking the page."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from itline.cmdb.testing import make_component, relate
from itline.core import panels
from itline.core.testing import PASSWORD, make_user
from itline.operation.alerts_testing import make_alert, make_source
from itline.operation.testing import make_service

FIRING, RESOLVED = "firing", "resolved"


def _text(html):
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _panel(html):
    found = re.search(r'<section class="card alerts-panel".*?</section>', html, re.S)
    return _text(found.group(0)) if found else ""


@pytest.fixture(autouse=True)
def _fresh_panels():
    panels._resolve.cache_clear()
    yield
    panels._resolve.cache_clear()


@pytest.fixture
def tech(client, db):
    make_user("tom", "technician")
    client.login(username="tom", password=PASSWORD)
    return client


def test_a_component_page_shows_its_firing_alerts_by_severity_and_recent_history(tech):
    source = make_source()
    db_node = make_component("db-01", "database")
    now = timezone.now()
    make_alert(source, "PostgresDown", severity="critical", component=db_node)
    make_alert(
        source,
        "ReplicationLag",
        severity="warning",
        component=db_node,
        history=[(FIRING, now - timedelta(hours=5)), (RESOLVED, now - timedelta(hours=4))],
    )
    make_alert(source, "Elsewhere", component=make_component("mail-01"))

    panel = _panel(tech.get(db_node.get_absolute_url()).content.decode())

    assert "1 firing" in panel and "1 critical" in panel
    assert "PostgresDown" in panel and "Elsewhere" not in panel
    # history: newest first, resolved transitions too
    assert panel.index("Firing PostgresDown") < panel.index("Resolved ReplicationLag")
    assert panel.index("Resolved ReplicationLag") < panel.index("Firing ReplicationLag")
    assert f"component={db_node.reference}" in tech.get(db_node.get_absolute_url()).content.decode()


def test_a_service_page_counts_the_alerts_of_everything_it_runs_on(tech):
    source = make_source()
    db_node = make_component("db-01", "database")
    app = make_component("shop-app", "application")
    relate(app, db_node)
    shop = make_service("Webshop")
    relate(shop, app)
    make_alert(source, "PostgresDown", severity="critical", component=db_node)
    make_alert(source, "CheckoutErrors", service=shop)
    make_alert(source, "Unrelated", component=make_component("mail-01"))

    panel = _panel(tech.get(shop.get_absolute_url()).content.decode())

    assert "2 firing on the service or what it runs on" in panel
    assert "PostgresDown on db-01" in panel and "CheckoutErrors" in panel
    assert "Unrelated" not in panel


def test_a_quiet_component_says_so_and_the_panel_costs_the_same_with_many_alerts(tech):
    source = make_source()
    vm = make_component("vm-01", "virtual-machine")
    assert "Nothing is firing" in _panel(tech.get(vm.get_absolute_url()).content.decode())
    make_alert(source, "A0", component=vm)
    with CaptureQueriesContext(connection) as few:
        tech.get(vm.get_absolute_url())
    for n in range(1, 15):
        make_alert(source, f"A{n}", component=vm)
    with CaptureQueriesContext(connection) as many:
        page = tech.get(vm.get_absolute_url())
    assert len(many) == len(few)
    assert "and 7 more" in _panel(page.content.decode())  # 8 shown of 15


def test_people_without_alert_access_see_no_alert_panel(client, db):
    from django.contrib.auth.models import Group, Permission

    viewers = Group.objects.create(name="structure viewers")
    viewers.permissions.set(
        Permission.objects.filter(codename__in=["agent_access", "view_component"])
    )
    user = make_user("vic")
    user.groups.add(viewers)
    client.login(username="vic", password=PASSWORD)
    vm = make_component("vm-01", "virtual-machine")
    make_alert(make_source(), "PostgresDown", component=vm)
    page = client.get(vm.get_absolute_url())
    assert page.status_code == 200
    assert "alerts-panel" not in page.content.decode()


@override_settings(
    NODE_PANELS=[
        "itline.operation.node_panels.nothing_here",
        "itline.operation.node_panels.alerts_panel",
    ]
)
def test_a_panel_that_cannot_be_imported_is_skipped_and_the_others_render(tech, caplog):
    vm = make_component("vm-01", "virtual-machine")
    page = tech.get(vm.get_absolute_url())
    assert page.status_code == 200
    assert "alerts-panel" in page.content.decode()
    assert "nothing_here" in caplog.text
