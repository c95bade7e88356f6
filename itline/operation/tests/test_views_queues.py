"""The agent queues: queue tabs, filter chips, free text and dates, keyset pages, a query
count that does not grow with the page size, bulk assignment and saved views."""

import datetime as dt
import html
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from itline.cmdb.testing import make_component
from itline.core.saved_views import SavedView
from itline.core.testing import PASSWORD, make_person, make_user
from itline.operation import services
from itline.operation.models import Incident, SlaClock
from itline.operation.testing import make_function, make_incident, make_service
from itline.org.models import Person, person_of

pytestmark = pytest.mark.django_db


def me(user) -> Person:
    person = person_of(user)
    assert person is not None
    return person


def _text(page):
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", page).split()))


def _refs(response):
    """References of the rows shown, in order."""
    body = response.content.decode()
    return re.findall(r'<tr data-href="/incidents/(INC-\d+)/"', body)


@pytest.fixture
def world(client):
    tom = make_user("tom", "technician", name="Tom Tanaka")
    ana = make_user("ana", "technician", name="Ana Alves")
    ops = make_function("Operations", tom, ana)
    net = make_function("Network", ana)
    mail = make_service("Mail", criticality=4, owner_function=ops)
    client.login(username="tom", password=PASSWORD)
    return {"tom": tom, "ana": ana, "ops": ops, "net": net, "mail": mail, "client": client}


def test_the_queue_shows_open_incidents_with_pills_badge_assignee_and_structure(world):
    tom = world["tom"]
    db = make_component("mail-db")
    inc = make_incident("Mail bounces", service=world["mail"], component=db, by=tom, urgency=1)
    services.assign_incident(inc, by=tom, assignee=me(tom), function=world["ops"])
    SlaClock.objects.update_or_create(
        incident=inc,
        kind="resolution",
        defaults={
            "target_minutes": 240,
            "state": "running",
            "started_at": timezone.now(),
            "computed_at": timezone.now(),
            "due_at": timezone.now() + dt.timedelta(hours=3, minutes=5),
            "warn_at": timezone.now() + dt.timedelta(hours=2),
        },
    )
    resolved = make_incident("Old one", service=world["mail"], by=tom)
    services.resolve_incident(resolved, by=tom, resolution="Restarted")

    response = world["client"].get("/incidents/")
    assert response.status_code == 200
    text = _text(response.content.decode())
    assert _refs(response) == [inc.reference]  # resolved ones are not in the open queue
    assert "Mail bounces" in text and "Assigned" in text
    assert "P1" in text or "P2" in text
    assert re.search(r"3h \dm left", text)
    assert "Tom Tanaka" in text and "TT" in text
    assert "Mail / mail-db" in text
    # every tab says how many it holds
    assert "All open 1" in text and "My incidents 1" in text and "Unassigned 0" in text


def test_queue_tabs_select_mine_my_functions_unassigned_breaching_and_major(world):
    tom, ana = world["tom"], world["ana"]
    mine = make_incident("Mine", service=world["mail"], by=tom)
    services.assign_incident(mine, by=tom, assignee=me(tom))
    theirs = make_incident(
        "Network's", service=world["mail"], by=tom, assigned_function=world["net"]
    )
    services.assign_incident(theirs, by=tom, function=world["net"], assignee=me(ana))
    lonely = make_incident("Nobody's", component=make_component("spare"), by=tom)
    major = make_incident("Big one", service=world["mail"], by=tom, major=True)
    late = make_incident("Late", service=world["mail"], by=tom)
    SlaClock.objects.update_or_create(
        incident=late,
        kind="resolution",
        defaults={
            "target_minutes": 60,
            "state": "running",
            "started_at": timezone.now(),
            "computed_at": timezone.now(),
            "due_at": timezone.now() + dt.timedelta(minutes=30),
            "warn_at": timezone.now() - dt.timedelta(minutes=1),
        },
    )
    get = world["client"].get
    assert _refs(get("/incidents/?queue=mine")) == [mine.reference]
    function_queue = set(_refs(get("/incidents/?queue=function")))
    assert mine.reference in function_queue and theirs.reference not in function_queue
    assert lonely.reference in set(_refs(get("/incidents/?queue=unassigned")))
    assert mine.reference not in set(_refs(get("/incidents/?queue=unassigned")))
    assert _refs(get("/incidents/?queue=breaching")) == [late.reference]
    assert _refs(get("/incidents/?queue=major")) == [major.reference]
    # a status chip lifts the "open only" of a queue: my resolved incidents
    services.resolve_incident(mine, by=tom, resolution="Fixed")
    assert _refs(get("/incidents/?queue=mine")) == []
    assert _refs(get("/incidents/?queue=mine&status=resolved")) == [mine.reference]
    # an unknown queue falls back to the open one, not to an error
    assert get("/incidents/?queue=nonsense").status_code == 200


def test_chips_free_text_and_date_range_narrow_the_queue_and_bad_values_are_explained(world):
    tom = world["tom"]
    a = make_incident("Printer on fire", service=world["mail"], by=tom, urgency=1, impact=1)
    b = make_incident("Slow mail", service=world["mail"], by=tom, urgency=3, impact=3)
    Incident.objects.filter(pk=b.pk).update(created_at=timezone.now() - dt.timedelta(days=40))
    get = world["client"].get
    assert _refs(get("/incidents/?priority=1")) == [a.reference]
    assert _refs(get("/incidents/?q=slow")) == [b.reference]
    assert _refs(get(f"/incidents/?service={world['mail'].reference}&created=30d")) == [a.reference]
    old = (timezone.localdate() - dt.timedelta(days=41)).isoformat()
    older = (timezone.localdate() - dt.timedelta(days=39)).isoformat()
    assert _refs(get(f"/incidents/?from={old}&to={older}")) == [b.reference]

    response = get("/incidents/?from=yesterday&priority=9&sort=colour&cursor=%%%")
    assert response.status_code == 200
    text = _text(response.content.decode())
    assert "From 'yesterday' is not a date" in text
    assert "Unknown priority '9'" in text
    assert "Cannot sort by 'colour'" in text
    for far in ("from=0001-01-01", "to=9999-12-31", "from=2030-01-01&to=2020-01-01"):
        response = get(f"/incidents/?{far}")
        assert response.status_code == 200
        assert "ignored" in _text(response.content.decode())


def test_sorting_and_keyset_pages_walk_the_whole_queue_once(world):
    tom = world["tom"]
    made = [make_incident(f"Fault {i}", service=world["mail"], by=tom) for i in range(55)]
    first = world["client"].get("/incidents/?sort=-created_at")
    refs = _refs(first)
    assert len(refs) == 50
    found = re.search(r'href="(\?[^"]*cursor=[^"]+)" rel="next"', first.content.decode())
    assert found is not None
    next_url = found.group(1)
    second = world["client"].get("/incidents/" + next_url.replace("&amp;", "&"))
    assert len(_refs(second)) == 5
    assert set(refs) | set(_refs(second)) == {i.reference for i in made}


def test_the_queue_query_count_does_not_grow_with_the_page_size(world, settings):
    tom, ana = world["tom"], world["ana"]

    def add(n):
        for i in range(n):
            inc = make_incident(
                f"Fault {i}",
                service=world["mail"],
                component=make_component(f"c-{Incident.objects.count()}"),
                by=tom,
            )
            services.assign_incident(inc, by=tom, assignee=me(ana if i % 2 else tom))
            SlaClock.objects.update_or_create(
                incident=inc,
                kind="response",
                defaults={
                    "target_minutes": 60,
                    "state": "running",
                    "started_at": timezone.now(),
                    "computed_at": timezone.now(),
                    "due_at": timezone.now() + dt.timedelta(minutes=50),
                },
            )

    def count():
        with CaptureQueriesContext(connection) as ctx:
            response = world["client"].get("/incidents/?sort=-created_at")
        assert response.status_code == 200
        return len(ctx.captured_queries), len(_refs(response))

    add(5)
    small, rows_small = count()
    add(45)
    large, rows_large = count()
    assert (rows_small, rows_large) == (5, 50)
    assert small == large


def test_bulk_assign_assigns_every_selected_incident_and_reports_each_failure(world):
    tom, ana = world["tom"], world["ana"]
    a = make_incident("One", service=world["mail"], by=tom)
    b = make_incident("Two", service=world["mail"], by=tom)
    closed = make_incident("Three", service=world["mail"], by=tom)
    services.resolve_incident(closed, by=tom, resolution="Done")
    services.close_incident(closed, by=tom)
    response = world["client"].post(
        "/incidents/bulk-assign/",
        {
            "refs": [a.reference, b.reference, closed.reference, "INC-999999"],
            "function": world["net"].reference,
            "assignee": me(ana).reference,
            "next": "/incidents/?queue=unassigned",
        },
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/incidents/?queue=unassigned"
    text = _text(response.content.decode())
    assert f"Assigned 2 of 4 to Ana Alves: {a.reference}, {b.reference}" in text
    assert f"{closed.reference}: " in text and "reopen it before assigning" in text
    assert "INC-999999: not found" in text
    for inc in (a, b):
        inc.refresh_from_db()
        assert inc.assigned_function == world["net"] and inc.assignee == me(ana)


def test_bulk_assign_to_me_keeps_each_function_where_i_work(world):
    tom = world["tom"]
    a = make_incident("One", service=world["mail"], by=tom)
    response = world["client"].post(
        "/incidents/bulk-assign/", {"refs": [a.reference], "assignee": "me"}, follow=True
    )
    assert response.status_code == 200
    a.refresh_from_db()
    assert a.assignee == me(tom) and a.assigned_function == world["ops"]


def test_bulk_assign_without_a_target_or_rows_changes_nothing_and_says_why(world):
    a = make_incident("One", service=world["mail"], by=world["tom"])
    text = _text(
        world["client"]
        .post("/incidents/bulk-assign/", {"refs": [a.reference]}, follow=True)
        .content.decode()
    )
    assert "Choose a function, a person, or both." in text
    text = _text(
        world["client"]
        .post("/incidents/bulk-assign/", {"assignee": "me"}, follow=True)
        .content.decode()
    )
    assert "Select at least one row first." in text
    bad = world["client"].post(
        "/incidents/bulk-assign/", {"refs": [a.reference], "assignee": "PER-999999"}, follow=True
    )
    assert "There is no agent" in _text(bad.content.decode())
    a.refresh_from_db()
    assert a.assignee is None


def test_saved_views_are_kept_per_user_listed_as_chips_and_deleted(world, client):
    client = world["client"]
    response = client.post(
        "/desk/views/incidents/save/",
        {"name": "My P1s", "query": "queue=mine&priority=1&cursor=abc"},
        follow=True,
    )
    view = SavedView.objects.get(user=world["tom"])
    assert view.query == "priority=1&queue=mine"  # the page position is not part of a view
    assert response.redirect_chain[-1][0] == "/incidents/?priority=1&queue=mine"
    assert 'aria-current="true">My P1s</a>' in response.content.decode()
    # saving the same name again replaces it
    client.post("/desk/views/incidents/save/", {"name": "My P1s", "query": "priority=2"})
    assert SavedView.objects.get(user=world["tom"]).query == "priority=2"
    # others do not see it and cannot delete it
    other = make_user("eve", "technician")
    client.logout()
    client.login(username="eve", password=PASSWORD)
    assert "My P1s" not in client.get("/incidents/").content.decode()
    assert client.post(f"/desk/views/incidents/{view.pk}/delete/").status_code == 404
    client.logout()
    client.login(username="tom", password=PASSWORD)
    client.post(f"/desk/views/incidents/{view.pk}/delete/")
    assert not SavedView.objects.filter(user=world["tom"]).exists()
    # nothing to save, no name, unknown list: explained, never a 500
    assert "there is nothing to save" in _text(
        client.post(
            "/desk/views/incidents/save/", {"name": "x", "query": ""}, follow=True
        ).content.decode()
    )
    assert "Give the view a name" in _text(
        client.post(
            "/desk/views/incidents/save/", {"name": " ", "query": "q=x"}, follow=True
        ).content.decode()
    )
    assert client.post("/desk/views/nope/save/", {"name": "x", "query": "q=x"}).status_code == 404
    assert other.saved_views.count() == 0


def test_requesters_never_see_the_queues(world, client):
    requester = make_user("rita", "requester")
    client.logout()
    client.login(username="rita", password=PASSWORD)
    assert client.get("/incidents/").status_code == 403
    assert client.get("/requests/").status_code == 403
    assert client.post("/incidents/bulk-assign/", {"refs": ["INC-000001"]}).status_code == 403
    assert requester.saved_views.count() == 0


def test_the_lookup_suggests_records_by_reference_or_name(world):
    make_person("Zoe Zimmer", email="zoe@example.com")
    body = world["client"].get("/desk/lookup/person/?caller=zim").content.decode()
    assert "Zoe Zimmer" in body and "<option" in body
    body = (
        world["client"]
        .get(f"/desk/lookup/service/?service={world['mail'].reference}")
        .content.decode()
    )
    assert "Mail" in body
    assert world["client"].get("/desk/lookup/spaceship/?q=x").status_code == 404


def test_counts_stop_at_the_cap_and_say_so(world, monkeypatch):
    from itline.operation.views import queues

    monkeypatch.setattr(queues, "COUNT_CAP", 3)
    monkeypatch.setattr(queues.INCIDENTS.spec, "count_cap", 3)
    for i in range(5):
        make_incident(f"capped {i}", by=world["tom"], service=world["mail"])
    page = world["client"].get("/incidents/").content.decode()
    assert "3+</strong>" in page
    assert '<span class="count">3+</span>' in page
