"""The change pages: the list (tabs, chips, window range, constant queries), the form with its
live risk/collision preview, the change page with only the allowed actions, each action
calling its verb (errors next to the field, stale versions keep the input), readiness ticks
over HTMX, the drafted review and the suggested change-caused incidents."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from itline.cmdb.testing import make_component, relate
from itline.core.testing import make_user
from itline.operation import maintenance
from itline.operation.testing import make_incident, make_service
from itline.org.models import person_of
from itline.transition import services
from itline.transition.choices import ChangeStatus, LinkStatus
from itline.transition.models import Change, ChangeIncidentLink, ChangeReview
from itline.transition.testing import make_change, make_freeze, make_template, window

pytestmark = pytest.mark.django_db

FMT = "%Y-%m-%dT%H:%M"


@pytest.fixture(autouse=True)
def _fresh_maintenance_snapshot():
    maintenance.forget()
    yield
    maintenance.forget()


@pytest.fixture
def tech(db):
    return make_user("tech", "technician", name="Tom Tech")


@pytest.fixture
def carla(db):
    return make_user("carla", "change_manager", name="Carla Change")


@pytest.fixture
def as_tech(client, tech):
    client.force_login(tech)
    return client


@pytest.fixture
def as_carla(client, carla):
    client.force_login(carla)
    return client


def local(dt_value):
    return timezone.localtime(dt_value).strftime(FMT)


def form_data(nodes, start, end, **extra):
    data = {
        "title": "Upgrade PostgreSQL to 17",
        "change_type": "normal",
        "nodes": [n.reference for n in nodes],
        "planned_start": local(start),
        "planned_end": local(end),
        "implementation_plan": "Fail over, upgrade, fail back.",
        "backout_plan": "Restore the snapshot.",
    }
    data.update(extra)
    return data


# --- list -----------------------------------------------------------------------------------


def test_my_changes_lists_what_i_own_and_not_what_others_do(as_tech, tech, carla):
    mine = make_change("Patch web-01", by=tech)
    mine.owner = person_of(tech)
    mine.save()
    make_change("Someone else's change", by=carla)
    page = as_tech.get(reverse("transition:change-list"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Patch web-01" in text and "Someone else&#x27;s change" not in text
    everything = as_tech.get(reverse("transition:change-list") + "?tab=all").content.decode()
    assert "Someone else&#x27;s change" in everything


def test_the_list_query_count_does_not_grow_with_the_rows(as_carla, carla):
    def count_queries():
        with CaptureQueriesContext(connection) as ctx:
            response = as_carla.get(reverse("transition:change-list") + "?tab=all")
        assert response.status_code == 200
        return len(ctx.captured_queries)

    for n in range(2):
        make_change(f"Change {n}", nodes=[make_component(f"a-{n}"), make_component(f"b-{n}")])
    few = count_queries()
    for n in range(2, 12):
        make_change(f"Change {n}", nodes=[make_component(f"a-{n}"), make_component(f"b-{n}")])
    assert count_queries() == few


def test_chips_and_the_window_range_filter_the_list(as_carla):
    start, end = window(timedelta(days=10))
    make_change("In ten days", start=start, end=end)
    make_change("In two days")
    url = reverse("transition:change-list") + "?tab=all"
    day = timezone.localtime(start).date().isoformat()
    text = as_carla.get(f"{url}&from={day}&to={day}").content.decode()
    assert "In ten days" in text and "In two days" not in text
    assert "1</strong> change match" in text
    bad = as_carla.get(f"{url}&from=tomorrow&status=nonsense").content.decode()
    assert "is not a date" in bad and "Unknown status" in bad


def test_an_empty_list_says_what_changes_are_and_offers_a_new_one(as_tech):
    text = as_tech.get(reverse("transition:change-list")).content.decode()
    assert "You have no changes" in text
    assert reverse("transition:change-create") in text
    assert reverse("transition:catalogue") in text


# --- form and preview -----------------------------------------------------------------------


def test_creating_a_change_saves_a_draft_with_its_items_window_and_reason(as_tech, tech):
    db = make_component("db-01", "database")
    incident = make_incident("Slow queries", component=db)
    start, end = window()
    response = as_tech.post(
        reverse("transition:change-create"),
        form_data([db], start, end, reason_links=f"{incident.reference}"),
    )
    change = Change.objects.get()
    assert response.status_code == 302 and response["Location"] == change.get_absolute_url()
    assert change.status == ChangeStatus.DRAFT
    assert list(change.nodes.all()) == [db.node_ptr]
    assert list(change.incidents.all()) == [incident]
    assert change.planned_start == start and change.requester == person_of(tech)


def test_a_typed_item_in_the_add_field_is_saved_with_the_chips(as_tech):
    db, app = make_component("db-01", "database"), make_component("app-01")
    start, end = window()
    as_tech.post(
        reverse("transition:change-create"), form_data([db], start, end, node_add=app.reference)
    )
    assert sorted(Change.objects.get().nodes.values_list("name", flat=True)) == ["app-01", "db-01"]


def test_bad_input_is_refused_next_to_its_field_and_the_input_is_kept(as_tech):
    db = make_component("db-01", "database")
    start, end = window()
    response = as_tech.post(
        reverse("transition:change-create"),
        form_data([db], end, start, reason_links="PRB-999999", node_add="no-such-thing"),
    )
    assert response.status_code == 422
    text = response.content.decode()
    assert "The window must end after it starts." in text
    assert "Not a problem, known error or incident: PRB-999999." in text
    assert "There is no service or component “no-such-thing”" in text
    assert 'value="Upgrade PostgreSQL to 17"' in text and "db-01" in text
    assert Change.objects.count() == 0


def test_a_change_without_affected_items_is_refused(as_tech):
    start, end = window()
    response = as_tech.post(reverse("transition:change-create"), form_data([], start, end))
    assert response.status_code == 422
    assert "Name at least one affected service or component." in response.content.decode()
    assert Change.objects.count() == 0


def test_the_preview_shows_the_risk_factors_and_names_the_colliding_change_and_path(as_tech):
    app, db = make_component("app-01"), make_component("db-01", "database")
    relate(app, db)
    start, end = window()
    other = make_change("Upgrade the database engine", nodes=[db], start=start, end=end)
    services.submit_change(other, by=None)
    make_freeze("Quarter close", start=start - timedelta(hours=1), end=end + timedelta(hours=1))
    response = as_tech.post(reverse("transition:change-preview"), form_data([app], start, end))
    assert response.status_code == 200
    text = response.content.decode()
    assert 'id="preview-score"' in text and 'class="factor-list"' in text
    assert other.reference in text and "Upgrade the database engine" in text
    assert "app-01" in text and "db-01" in text  # the path that relates them
    assert "Quarter close" in text
    assert Change.objects.count() == 1  # nothing written


def test_adding_an_item_in_the_preview_returns_the_chips_out_of_band(as_tech):
    db = make_component("db-01", "database")
    data = form_data([], *window(), node_add="db-01")
    text = as_tech.post(reverse("transition:change-preview"), data).content.decode()
    assert 'hx-swap-oob="outerHTML:#node-chips"' in text
    assert f'value="{db.reference}" checked' in text


def test_the_catalogue_prefills_a_standard_change_from_its_template(as_tech):
    web = make_component("web-01")
    template = make_template("Patch a web server", nodes=[web])
    catalogue = as_tech.get(reverse("transition:catalogue")).content.decode()
    assert "Use this template" in catalogue and "Patch a web server" in catalogue
    text = as_tech.get(reverse("transition:change-create") + f"?template={template.reference}")
    text = text.content.decode()
    assert 'value="standard" checked' in text.replace("\n", " ") or 'value="standard"' in text
    assert f'value="{web.reference}" checked' in text
    assert "Step 1: drain" in text


# --- the change page ------------------------------------------------------------------------


def actions_of(text):
    import re

    return set(re.findall(r'/changes/CHG-\d+/([a-z_]+)/"', text))


def test_a_draft_offers_submit_and_cancel_but_not_later_steps(as_tech, tech):
    change = make_change(by=tech)
    text = as_tech.get(change.get_absolute_url()).content.decode()
    assert actions_of(text) >= {"submit", "cancel"}
    assert not actions_of(text) & {"schedule", "start", "implement", "close", "decide"}
    assert "Risk is computed when the change is submitted" in text


def test_submitting_from_the_page_shows_its_risk_factors_and_approval(as_tech, tech, carla):
    change = make_change(by=tech)
    response = as_tech.post(
        reverse("transition:change-action", args=[change.reference, "submit"]),
        {"version": change.version},
    )
    assert response.status_code == 302
    change.refresh_from_db()
    assert change.status == ChangeStatus.AWAITING_APPROVAL
    text = as_tech.get(change.get_absolute_url()).content.decode()
    assert "of 100: computed" in text and "Weight" in text
    assert "Round 1" in text and "Carla Change" in text


def test_an_approver_sees_the_decision_and_approves_with_a_comment(client, tech, carla):
    change = make_change(by=tech)
    services.submit_change(change, by=tech)
    client.force_login(carla)
    text = client.get(change.get_absolute_url()).content.decode()
    assert "decide" in actions_of(text)
    response = client.post(
        reverse("transition:change-action", args=[change.reference, "decide"]),
        {"decision": "approved", "comment": "Fine", "version": change.version},
    )
    assert response.status_code == 302
    change.refresh_from_db()
    assert change.status == ChangeStatus.APPROVED


def test_rejecting_without_a_comment_is_refused_next_to_the_comment(client, tech, carla):
    change = make_change(by=tech)
    services.submit_change(change, by=tech)
    client.force_login(carla)
    response = client.post(
        reverse("transition:change-action", args=[change.reference, "decide"]),
        {"decision": "rejected", "comment": ""},
    )
    assert response.status_code == 422
    assert "Say why you reject it" in response.content.decode()
    change.refresh_from_db()
    assert change.status == ChangeStatus.AWAITING_APPROVAL


def test_an_action_on_a_stale_version_keeps_the_input_and_says_so(as_tech, tech):
    change = make_change(by=tech)
    old = change.version
    services.update_change(change, by=tech, description="Edited meanwhile")
    response = as_tech.post(
        reverse("transition:change-action", args=[change.reference, "cancel"]),
        {"reason": "Superseded by CHG-2", "version": old},
    )
    assert response.status_code == 409
    text = response.content.decode()
    assert "Someone else changed" in text and "Superseded by CHG-2" in text
    assert f'name="version" value="{Change.objects.get().version}"' in text
    assert Change.objects.get().status == ChangeStatus.DRAFT


def test_an_illegal_step_is_refused_with_a_message_not_a_500(as_tech, tech):
    change = make_change(by=tech)
    response = as_tech.post(
        reverse("transition:change-action", args=[change.reference, "start"]),
        {"version": change.version},
        follow=True,
    )
    assert response.status_code == 200
    assert Change.objects.get().status == ChangeStatus.DRAFT
    assert 'class="message error"' in response.content.decode()


def test_an_unknown_action_is_not_found(as_tech, tech):
    change = make_change(by=tech)
    url = reverse("transition:change-action", args=[change.reference, "explode"])
    assert as_tech.post(url).status_code == 404


def test_ticking_a_readiness_item_over_htmx_returns_the_checklist(as_tech, tech):
    change = make_change(by=tech, ready=False)
    key = change.readiness[0]["key"]
    response = as_tech.post(
        reverse("transition:change-readiness", args=[change.reference]),
        {"key": key, "done": "1"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert f"(1 of {len(change.readiness)})" in text
    change.refresh_from_db()
    # the actions swapped in out of band carry the version the tick moved on
    assert f'name="version" value="{change.version}"' in text
    change.refresh_from_db()
    assert change.readiness[0]["done"] is True


def test_the_change_page_shows_its_calendar_position_with_neighbours(as_tech, tech):
    db = make_component("db-01", "database")
    start, end = window()
    change = make_change("Ours", nodes=[db], by=tech, start=start, end=end)
    neighbour = make_change("Theirs", nodes=[db], start=end, end=end + timedelta(hours=2))
    services.submit_change(neighbour, by=None)
    text = as_tech.get(change.get_absolute_url()).content.decode()
    assert "Calendar position" in text and neighbour.reference in text


def test_the_drafted_review_is_shown_and_completed_by_the_owner(as_carla, tech):
    change = make_change(by=tech, status=ChangeStatus.IMPLEMENTED)
    review = ChangeReview.objects.get(change=change)
    text = as_carla.get(change.get_absolute_url()).content.decode()
    assert "Post-implementation review" in text and "Complete review" in text
    response = as_carla.post(
        reverse("transition:change-review", args=[change.reference]),
        {"summary": "Went fine.", "lessons": "Take the snapshot earlier."},
    )
    assert response.status_code == 302
    review.refresh_from_db()
    assert review.status == "completed" and review.summary == "Went fine."


def test_a_suggested_change_caused_incident_can_be_confirmed(as_carla, tech):
    db = make_component("db-01", "database")
    change = make_change(nodes=[db], by=tech, status=ChangeStatus.IMPLEMENTED)
    incident = make_incident("DB slow after upgrade", component=db)
    link = ChangeIncidentLink.objects.create(change=change, incident=incident, reason="After it")
    text = as_carla.get(change.get_absolute_url()).content.decode()
    assert incident.reference in text and "Confirm" in text
    as_carla.post(
        reverse("transition:change-link", args=[change.reference, link.pk]),
        {"decision": "confirm"},
    )
    link.refresh_from_db()
    assert link.status == LinkStatus.CONFIRMED


def test_the_component_page_panel_and_search_show_changes(as_tech, tech):
    from itline.transition.node_panels import changes_panel

    db = make_component("db-01", "database")
    change = make_change("Upgrade the engine", nodes=[db], by=tech)
    services.submit_change(change, by=tech)
    request = as_tech.get("/").wsgi_request
    html = changes_panel(request, db)
    assert change.reference in html and "Upcoming" in html
    found = as_tech.get(reverse("search") + "?q=Upgrade the engine").content.decode()
    assert change.reference in found
    exact = as_tech.get(reverse("search") + f"?q={change.reference}")
    assert exact.status_code == 302 and exact["Location"] == change.get_absolute_url()


def test_requesters_do_not_see_change_pages(client, tech):
    change = make_change(by=tech)
    client.force_login(make_user("rita", "requester"))
    assert client.get(change.get_absolute_url()).status_code == 403
    assert client.get(reverse("transition:change-list")).status_code == 403


def test_a_service_page_lists_changes_on_it(as_tech, tech):
    service = make_service("Payroll")
    make_change("Payroll upgrade", nodes=[service], by=tech)
    text = as_tech.get(service.get_absolute_url()).content.decode()
    assert "Changes" in text
