"""Agreement pages: the list with filters, the detail with targets and scope, the form that
edits an agreement and its targets together, errors next to their field."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from itline.core.services import create_calendar
from itline.core.testing import PASSWORD, make_user
from itline.operation.testing import make_service
from itline.relations import services
from itline.relations.forms import parse_minutes
from itline.relations.models import Agreement


def text(response):
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


@pytest.fixture
def owner_client(client, db):
    make_user("sam", "service_owner")
    client.login(username="sam", password=PASSWORD)
    return client


@pytest.fixture
def standard(db):
    office = create_calendar(
        by=None, name="Office", working_hours={"mon": ["08:00-17:00"], "tue": ["08:00-17:00"]}
    )
    return services.create_agreement(
        by=None,
        name="Standard",
        is_default=True,
        calendar=office,
        targets=[{"priority": 1, "response_minutes": 15, "resolution_minutes": 240}],
    )


def test_the_list_shows_agreements_with_their_scope_and_a_fixed_query_count(owner_client, standard):
    for n in range(3):
        services.create_agreement(
            by=None,
            name=f"Service {n}",
            service=make_service(f"Svc {n}"),
            targets=[{"priority": 2, "response_minutes": 30, "resolution_minutes": 480}],
        )
    with CaptureQueriesContext(connection) as few:
        response = owner_client.get("/agreements/")
    assert response.status_code == 200
    page = text(response)
    assert "Standard default" in page and "everything else" in page and "Office" in page
    assert "New agreement" in page
    for n in range(3, 8):
        services.create_agreement(by=None, name=f"Service {n}", service=make_service(f"Svc {n}"))
    with CaptureQueriesContext(connection) as more:
        owner_client.get("/agreements/")
    assert len(more) == len(few)
    filtered = text(owner_client.get("/agreements/?scope=default"))
    assert "1 agreements match" in filtered or "1 agreement" in filtered


def test_the_detail_shows_targets_warning_thresholds_and_pauses(owner_client, standard):
    page = text(owner_client.get(f"/agreements/{standard.reference}/"))
    assert "P1 critical 15m 4h" in page
    assert "11m / 3h" in page  # 75 % of 15 minutes and of 4 hours
    assert "no target: incidents of this priority run no clocks" in page
    assert "Waiting for customer" in page and "Waiting for supplier" in page
    assert f"itline sla recompute --agreement {standard.reference}" in page


def test_an_agreement_is_created_with_its_targets_from_the_form(owner_client, db):
    response = owner_client.post(
        "/agreements/new/",
        {
            "name": "Payroll",
            "service": make_service("Payroll").pk,
            "warning_percent": "80",
            "pause_states_choice": ["waiting_for_customer", "waiting_for_supplier"],
            "active": "on",
            "p1_response": "15",
            "p1_resolution": "4h",
            "p2_response": "30m",
            "p2_resolution": "1h 30m",
        },
    )
    assert response.status_code == 302
    created = Agreement.objects.get(name="Payroll")
    assert response["Location"] == f"/agreements/{created.reference}/"
    assert services.targets_by_priority(created) == {1: (15, 240), 2: (30, 90)}
    assert created.pause_states == ["waiting_for_customer", "waiting_for_supplier"]
    assert created.warning_percent == 80


def test_form_errors_are_shown_next_to_their_field(owner_client, standard):
    response = owner_client.post(
        "/agreements/new/",
        {
            "name": "Second default",
            "is_default": "on",
            "warning_percent": "75",
            "p1_response": "soon",
            "p2_response": "10",
            "p3_response": "2h",
            "p3_resolution": "1h",
        },
    )
    assert response.status_code == 422
    page = response.content.decode()
    assert "is already the default agreement" in page
    assert "Give minutes (90), hours (4h) or both (1h 30m)." in page
    assert "Give both targets of a priority, or neither." in page
    assert "cannot be longer than the resolution target" in page
    assert Agreement.objects.count() == 1


def test_editing_keeps_the_targets_shown_and_saves_changes(owner_client, standard):
    form = owner_client.get(f"/agreements/{standard.reference}/edit/")
    assert 'value="15m"' in form.content.decode() and 'value="4h"' in form.content.decode()
    response = owner_client.post(
        f"/agreements/{standard.reference}/edit/",
        {
            "name": "Standard",
            "is_default": "on",
            "calendar": standard.calendar_id,
            "warning_percent": "75",
            "pause_states_choice": ["waiting_for_customer"],
            "active": "on",
            "p1_response": "15m",
            "p1_resolution": "5h",
        },
    )
    assert response.status_code == 302
    assert services.targets_by_priority(standard) == {1: (15, 300)}


def test_technicians_see_agreements_but_not_the_forms(client, standard):
    make_user("tom", "technician")
    client.login(username="tom", password=PASSWORD)
    assert client.get("/agreements/").status_code == 200
    assert "New agreement" not in text(client.get("/agreements/"))
    assert client.get(f"/agreements/{standard.reference}/edit/").status_code == 403
    assert client.get("/agreements/new/").status_code == 403


def test_requesters_never_see_agreement_pages(client, standard):
    make_user("rita", "requester")
    client.login(username="rita", password=PASSWORD)
    assert client.get("/agreements/").status_code == 403


@pytest.mark.parametrize(
    ("typed", "minutes"),
    [("90", 90), ("90m", 90), ("4h", 240), ("1h30", 90), ("1h 30m", 90), ("2 h", 120)],
)
def test_targets_can_be_typed_in_hours_and_minutes(typed, minutes):
    assert parse_minutes(typed) == minutes


@pytest.mark.parametrize("typed", ["2d", "h", "1.5h", "-5", "soon"])
def test_unreadable_targets_are_refused(typed):
    with pytest.raises(ValueError):
        parse_minutes(typed)
