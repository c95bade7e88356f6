"""Done-when of issue 6: a pipeline step asks the deployment gate over real HTTP with its API
token; inside a freeze window it is refused with the reason, after the window it may go on.
The change manager then sees the same freeze on the change calendar, with its reason.
Screenshots: test-results/screenshots/gate-freeze-*.png."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.test_change_walk import Camera

pytestmark = pytest.mark.browser


def pipeline_gate(base_url: str, token: str, component: str, at: Any) -> dict[str, Any]:
    """What a pipeline step does: GET /api/v1/changes/gate with its bearer token."""
    query = urllib.parse.urlencode({"component": component, "at": at.isoformat()})
    request = urllib.request.Request(  # noqa: S310 (the live server over http)
        f"{base_url}/api/v1/changes/gate?{query}",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (live server)
        assert response.status == 200
        return json.loads(response.read())


def test_the_gate_refuses_a_deployment_inside_a_freeze_and_allows_it_after(
    page, live_server, sign_in, screenshots
):
    from django.contrib.auth import get_user_model

    from itline.cmdb.testing import make_component
    from itline.core.models import ApiToken
    from itline.transition.choices import ChangeStatus
    from itline.transition.testing import make_change, make_freeze

    page.set_default_timeout(30_000)
    expect.set_options(timeout=15_000)
    api = make_component("payments-api", "application")
    now = timezone.now().replace(second=0, microsecond=0)
    change = make_change(
        "Deploy payments-api 3.1",
        nodes=[api],
        start=now + timedelta(minutes=5),
        end=now + timedelta(hours=4),
        status=ChangeStatus.SCHEDULED,
    )
    freeze = make_freeze(
        "Quarter-end close",
        start=now + timedelta(minutes=5),
        end=now + timedelta(hours=2),
        reason="Finance closes the quarter; nothing changes until the books are done.",
    )
    pipeline = get_user_model().objects.get(username="tech.tom")
    _, token = ApiToken.issue(user=pipeline, name="deploy pipeline", scope="read")

    # The pipeline runs half an hour from now (the ``at`` parameter), inside the freeze.
    inside = pipeline_gate(live_server.url, token, api.reference, now + timedelta(minutes=30))
    assert inside["allowed"] is False
    assert any("Quarter-end close" in r for r in inside["reasons"]), inside["reasons"]

    after = pipeline_gate(
        live_server.url, token, api.reference, freeze.ends_at + timedelta(minutes=10)
    )
    assert after["allowed"] is True, after["reasons"]
    assert after["change"]["reference"] == change.reference

    # The people see the same refusal reason on the change calendar.
    shoot = Camera(page, screenshots, "gate-freeze")
    sign_in("cm.carla")
    local = timezone.localtime(freeze.starts_at)
    page.goto(f"/change-calendar/?view=day&date={local.date().isoformat()}")
    expect(page.locator(".message.warning", has_text="Quarter-end close")).to_contain_text(
        "Finance closes the quarter"
    )
    expect(page.locator("#calendar-table")).to_contain_text(change.reference)
    shoot("calendar-day-freeze")
    page.goto(f"/change-calendar/?date={local.date().isoformat()}")
    expect(page.locator(".cal-grid td.frozen").first).to_be_visible()
    shoot("calendar-month-freeze")
    page.goto(freeze.get_absolute_url())
    expect(page.get_by_role("heading", level=1)).to_have_text("Quarter-end close")
    shoot("freeze-window")
    assert not page.console_errors, page.console_errors
