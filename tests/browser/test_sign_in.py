"""Signing in lands each persona on its own home: agents on the work frame with the left
navigation, requesters on the portal, which never shows agent screens."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_an_agent_signs_in_and_lands_on_the_service_desk_home(page, sign_in_with_form):
    sign_in_with_form("desk.dana")

    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Service desk")
    expect(page.get_by_role("navigation", name="Main", exact=True)).to_be_visible()
    expect(page.get_by_role("search")).to_be_visible()


def test_an_administrator_signs_in_and_lands_on_the_administration_home(page, sign_in_with_form):
    sign_in_with_form("admin")

    expect(page.get_by_role("heading", level=1)).to_have_text("Administration")
    expect(page.locator(".stats")).to_contain_text("People")
    expect(
        page.get_by_role("navigation", name="Main", exact=True).get_by_role("link", name="Journal")
    ).to_be_visible()


def test_a_requester_signs_in_and_gets_the_portal_without_the_sidebar(page, sign_in_with_form):
    sign_in_with_form("req.rita")

    expect(page.get_by_role("heading", level=1)).to_have_text("Hello, Rita Rossi")
    expect(page.locator("body")).to_have_class(re.compile(r"\bportal\b"))
    expect(page.get_by_role("navigation", name="Main", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Menu")).to_have_count(0)
    expect(page.get_by_text("My details")).to_be_visible()


def test_a_requester_is_refused_on_an_agent_page(page, sign_in):
    sign_in("req.rita")

    response = page.goto("/org/people/")

    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.get_by_role("link", name="Go to your home page")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main", exact=True)).to_have_count(0)


def test_a_wrong_password_keeps_the_user_on_the_sign_in_page_with_an_error(page):
    page.goto("/login/")
    page.get_by_label("Username").fill("desk.dana")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(re.compile(r"/login/"))
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Please enter a correct username and password")
    expect(summary).to_be_focused()
