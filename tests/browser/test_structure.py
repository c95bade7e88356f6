"""The service structure in a real browser, on the full demo: lists, records, the dependency
graph (drawn, re-centred by a click, back and reload give the same picture, "if this fails"
highlighted) and the impact view, with screenshots at desktop and phone width. One journey,
because loading the demo is the expensive part."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(transactional_db):
    """Every app's demo (the organisation and the structure), committed for the live server;
    overrides the organisation-only demo of conftest for this module."""
    from itline.core.management.commands.demo import load

    load()


@pytest.fixture(autouse=True)
def _fresh_impact_index():
    from itline.cmdb import impact

    impact.forget()
    yield
    impact.forget()  # the live server published an index of data the flush removes


def _ready(page):
    """Wait until the graph is drawn from the current URL's data."""
    expect(page.locator("[data-graph]")).to_have_attribute("data-ready", "true")


def _click_node(page, reference):
    """Click a record where Cytoscape drew it on the canvas."""
    x, y = page.evaluate(
        """ref => {
            const canvas = document.querySelector("[data-graph]");
            const p = canvas.cy.getElementById(ref).renderedPosition();
            const box = canvas.getBoundingClientRect();
            return [box.left + p.x, box.top + p.y];
        }""",
        reference,
    )
    page.mouse.click(x, y)


def test_the_structure_is_browsable_and_the_graph_and_impact_views_work(
    page, sign_in, screenshots, live_server
):
    from itline.cmdb.models import Node

    ref = dict(Node.objects.values_list("name", "reference"))
    shot = {"full_page": True}
    sign_in("tech.tom")

    # Lists: the navigation leads there; a chip narrows the list and stays in the URL.
    page.get_by_role("navigation", name="Main", exact=True).get_by_role(
        "link", name="Services"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Services")
    chips = page.get_by_role("group", name="Filters")
    chips.get_by_text("Kind", exact=True).click()
    chips.get_by_role("link", name="IT service", exact=True).click()
    expect(page).to_have_url(re.compile(r"kind=it_service"))
    expect(page.locator("table[data-list] tbody tr")).to_have_count(12)
    page.screenshot(path=screenshots / "structure-services.png", **shot)

    page.locator("table[data-list] tbody tr", has_text="Webshop").get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Webshop")
    expect(page.get_by_role("heading", name="What it needs")).to_be_visible()
    expect(page.get_by_role("heading", name="Open records")).to_be_visible()
    page.screenshot(path=screenshots / "structure-service.png", **shot)

    page.goto("/structure/components/?type=server")
    expect(page.locator("table[data-list] tbody tr")).to_have_count(16)
    page.screenshot(path=screenshots / "structure-components.png", **shot)
    page.get_by_role("link", name=ref["esx-01"]).click()
    expect(page.get_by_role("heading", name="Attributes of a server")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile(r"^os ESXi 8"))).to_be_visible()
    page.screenshot(path=screenshots / "structure-component.png", **shot)

    # The graph around esx-01: drawn, then re-centred by clicking san-02 on the canvas.
    page.get_by_role("link", name="Dependency graph", exact=True).last.click()
    _ready(page)
    expect(page).to_have_url(re.compile(rf"node={ref['esx-01']}"))
    expect(page.locator("#graph-title")).to_have_text("Dependency graph of esx-01")
    page.get_by_label("If this fails: highlight what fails with it").check()
    expect(page).to_have_url(re.compile(r"impact=1"))
    expect(page.locator(".graph-impact")).to_contain_text("fail with it")
    page.screenshot(path=screenshots / "structure-graph.png")

    _click_node(page, ref["san-02"])
    expect(page).to_have_url(re.compile(rf"node={ref['san-02']}"))
    _ready(page)
    expect(page.locator("#graph-title")).to_have_text("Dependency graph of san-02")
    expect(page.locator("#graph-table")).to_contain_text("esx-01")
    page.get_by_label("Depth").select_option("3")
    expect(page).to_have_url(re.compile(r"depth=3"))
    _ready(page)
    page.screenshot(path=screenshots / "structure-graph-recentred.png")

    page.go_back()
    expect(page).to_have_url(re.compile(r"depth=2"))
    page.go_back()
    expect(page).to_have_url(re.compile(rf"node={ref['esx-01']}"))
    _ready(page)
    expect(page.locator("#graph-title")).to_have_text("Dependency graph of esx-01")
    page.reload()
    _ready(page)
    expect(page.locator("#graph-title")).to_have_text("Dependency graph of esx-01")
    expect(page.get_by_label("If this fails: highlight what fails with it")).to_be_checked()

    # The table view of the same records centres the graph too (keyboard users' way).
    page.locator("#graph-table summary").click()
    page.get_by_role("link", name="Centre the graph on Virtualisation Platform").click()
    expect(page).to_have_url(re.compile(rf"node={ref['Virtualisation Platform']}"))
    _ready(page)

    # If san-01 fails: the impacted services with the chain that explains each.
    page.goto(f"/structure/components/{ref['san-01']}/")
    page.get_by_role("link", name="If this fails…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("If san-01 fails")
    services = page.get_by_role("table", name=re.compile("Impacted services"))
    webshop = services.get_by_role("row").filter(has_text="Webshop")
    expect(webshop).to_have_count(1)
    expect(webshop.locator("ol.path li").first).to_have_text("san-01")
    expect(webshop.locator("ol.path li").last).to_have_text("Webshop")
    expect(page.get_by_role("heading", name="Customers affected")).to_be_visible()
    page.screenshot(path=screenshots / "structure-impact.png")

    # Phone width: the on-call engineer opens the same pages.
    page.set_viewport_size(PHONE)
    page.goto(f"/structure/graph/?node={ref['esx-01']}&depth=2&impact=1")
    _ready(page)
    page.screenshot(path=screenshots / "structure-graph-phone.png", **shot)
    page.goto(f"/structure/impact/?node={ref['san-01']}")
    page.screenshot(path=screenshots / "structure-impact-phone.png")
    page.goto(f"/structure/components/{ref['esx-01']}/")
    page.screenshot(path=screenshots / "structure-component-phone.png", **shot)
    page.goto("/structure/services/")
    page.screenshot(path=screenshots / "structure-services-phone.png")

    assert page.console_errors == []  # includes CSP refusals
