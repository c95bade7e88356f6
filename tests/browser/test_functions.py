"""An administrator manages functions through the UI: the create form, its errors, the list
filter."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_an_administrator_creates_a_function_and_finds_it_in_the_functions_list(
    page, sign_in, screenshots
):
    sign_in("admin")
    page.get_by_role("navigation", name="Main", exact=True).get_by_role(
        "link", name="Functions"
    ).click()
    rows = page.locator("table[data-list] tbody tr")
    before = rows.count()
    page.get_by_role("link", name="New function").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New function")

    page.get_by_label("Name").fill("Field Scanner Support")
    page.get_by_label("Governance level").select_option(label="Operational")
    page.get_by_label("Description").fill("Keeps the warehouse hand scanners working.")
    page.get_by_label("Description").press("Control+Enter")  # the keyboard way to save

    expect(page).to_have_url(re.compile(r"/org/functions/FUN-\d{6}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Field Scanner Support")
    expect(page.get_by_role("status")).to_contain_text("Field Scanner Support created")
    expect(page.get_by_text("Keeps the warehouse hand scanners working.").first).to_be_visible()
    page.screenshot(path=screenshots / "function-detail.png", full_page=True)

    page.get_by_role("link", name="Functions", exact=True).first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Functions")
    page.get_by_label("Filter functions").fill("scanner")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Field Scanner Support")
    expect(page).to_have_url(re.compile(r"[?&]q=scanner"))  # the filter lives in the URL
    page.get_by_label("Filter functions").fill("")
    expect(rows).to_have_count(before + 1)
    page.screenshot(path=screenshots / "functions.png", full_page=True)


def test_saving_a_function_without_a_name_shows_the_error_summary_and_the_field_error(
    page, sign_in, screenshots
):
    sign_in("admin")
    page.goto("/org/functions/new/")

    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Save").click()

    assert navigation.value.status == 422
    summary = page.locator(".error-summary")
    expect(summary).to_be_visible()
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Name: This field is required.")
    name = page.get_by_label("Name")
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#id_name_error")).to_have_text("This field is required.")
    expect(name).to_have_attribute("aria-describedby", re.compile(r"\bid_name_error\b"))
    page.screenshot(path=screenshots / "function-new-errors.png", full_page=True)

    summary.get_by_role("link", name=re.compile("Name")).click()
    expect(name).to_be_focused()
