"""List pages: filter chips and the free-text filter work together and stay in the URL."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_a_filter_chip_narrows_the_people_list_and_keeps_the_text_filter(
    page, sign_in, screenshots
):
    sign_in("desk.dana")
    page.goto("/org/people/")
    rows = page.locator("table[data-list] tbody tr")
    everyone = rows.count()
    page.get_by_label("Filter people").fill("an")
    expect(page).to_have_url(re.compile(r"[?&]q=an"))

    chips = page.get_by_role("group", name="Filters")
    chips.get_by_text("Business unit", exact=True).click()
    option = chips.get_by_role("link", name="Warehousing")
    expect(option).to_be_visible()
    page.keyboard.press("Escape")  # closes the dropdown without choosing
    expect(option).to_be_hidden()

    chips.get_by_text("Business unit", exact=True).click()
    option.click()

    expect(page).to_have_url(re.compile(r"q=an"))
    expect(page).to_have_url(re.compile(r"unit=BU-\d{6}"))
    expect(chips.locator("summary", has_text="Business unit: Warehousing")).to_be_visible()
    expect(rows.filter(has_text="Bea Bianchi")).to_have_count(1)
    expect(rows.filter(has_text="Bruno Berg")).to_have_count(0)  # Warehousing, but no "an"
    for text in rows.all_inner_texts():
        assert "Warehousing" in text and "an" in text.lower(), text
    page.screenshot(path=screenshots / "people-filtered.png", full_page=True)

    page.get_by_role("link", name="Clear filters").click()
    expect(page.get_by_label("Filter people")).to_have_value("")
    expect(rows).to_have_count(everyone)


def test_an_unknown_address_shows_the_not_found_page_inside_the_frame(page, sign_in, screenshots):
    sign_in("desk.dana")

    response = page.goto("/org/people/PER-999999/")

    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page.get_by_role("navigation", name="Main", exact=True)).to_be_visible()
    page.screenshot(path=screenshots / "not-found.png", full_page=True)
