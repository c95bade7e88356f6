"""Maintenance pages: the calendar (month and week, filters in the URL), lists with a fixed
number of queries, record pages with only the allowed actions, HTMX checklist ticks, the
completion form, the forms reading times in the record's own zone, and the node panel."""

import zoneinfo
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from itline.cmdb.testing import make_component, relate
from itline.core.testing import make_user
from itline.operation import maintenance
from itline.operation.models import MaintenanceWindow
from itline.operation.models.maintenance import WorkOrderStatus
from itline.operation.node_panels import maintenance_panel
from itline.operation.services import maintenance as verbs
from itline.operation.testing import make_function, make_service

AMS = zoneinfo.ZoneInfo("Europe/Amsterdam")


@pytest.fixture(autouse=True)
def _fresh_cache():
    maintenance.forget()
    yield
    maintenance.forget()


@pytest.fixture
def world(db):
    carl = make_user("carl", "change_manager")
    tess = make_user("tess", "technician")
    ops = make_function("Datacenter operations", tess)
    shop = make_service("Web shop")
    db1 = make_component("db-1")
    relate(shop, db1, "runs-on")
    now = timezone.now()
    sunday = verbs.create_window(
        by=carl,
        title="Database patching",
        nodes=[db1],
        function=ops,
        starts_at=now + timedelta(days=1),
        ends_at=now + timedelta(days=1, hours=2),
        rrule="FREQ=WEEKLY",
    )
    wo = verbs.create_work_order(
        by=carl,
        title="Check RAID",
        function=ops,
        nodes=[db1],
        due_at=now + timedelta(days=2),
        checklist=["Read the controller log", "Replace failed disks"],
    )
    late = verbs.create_work_order(
        by=carl, title="Rotate logs", function=ops, nodes=[db1], due_at=now - timedelta(days=2)
    )
    return {
        "carl": carl,
        "tess": tess,
        "ops": ops,
        "shop": shop,
        "db": db1,
        "window": sunday,
        "wo": wo,
        "late": late,
    }


def test_the_month_calendar_shows_windows_shaded_and_work_orders(client, world):
    client.force_login(world["tess"])
    page = client.get("/maintenance/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Database patching" in html and "Check RAID" in html
    assert 'class="cal-month"' in html and "shaded" in html
    assert "feed.ics" in html


def test_the_week_view_and_filters_live_in_the_url(client, world):
    client.force_login(world["tess"])
    day = (timezone.localdate() + timedelta(days=1)).isoformat()
    page = client.get(
        "/maintenance/", {"view": "week", "date": day, "service": world["shop"].reference}
    )
    html = page.content.decode()
    assert 'class="cal-week"' in html
    assert "Database patching" in html  # on db-1, which the shop runs on
    assert f"service={world['shop'].reference}" in html  # prev/next keep the filter
    other = make_function("Network team")
    html = client.get(
        "/maintenance/", {"view": "week", "date": day, "function": other.reference}
    ).content.decode()
    assert "Database patching" not in html
    assert "Nothing planned" in html


def test_a_bad_date_in_the_url_shows_this_month_instead_of_failing(client, world):
    client.force_login(world["tess"])
    assert client.get("/maintenance/", {"date": "2030-13-45"}).status_code == 200


def test_portal_users_do_not_see_maintenance_pages(client, world):
    client.force_login(make_user("rita", "requester"))
    assert client.get("/maintenance/").status_code == 403
    assert client.get("/maintenance/work-orders/").status_code == 403


@pytest.mark.parametrize(
    "url", ["/maintenance/windows/", "/maintenance/plans/", "/maintenance/work-orders/"]
)
def test_lists_cost_the_same_queries_for_many_rows(
    client, world, url, django_assert_max_num_queries
):
    client.force_login(world["carl"])
    plan = verbs.create_plan(
        by=world["carl"],
        title="Backup test",
        rrule="FREQ=DAILY",
        function=world["ops"],
        nodes=[world["db"]],
        first_due_at=timezone.now() + timedelta(hours=1),
        lead_days=0,
    )
    client.get(url)
    with django_assert_max_num_queries(25) as few:
        client.get(url)
    for k in range(8):
        verbs.create_window(
            by=world["carl"],
            title=f"W{k}",
            nodes=[world["db"]],
            starts_at=timezone.now() + timedelta(days=k + 1),
            ends_at=timezone.now() + timedelta(days=k + 1, hours=1),
        )
        verbs.create_work_order(
            by=world["carl"],
            title=f"WO{k}",
            function=world["ops"],
            nodes=[world["db"]],
            due_at=timezone.now() + timedelta(days=k),
        )
    assert plan
    with django_assert_max_num_queries(len(few.captured_queries)):
        page = client.get(url)
    assert page.status_code == 200


def test_the_work_order_list_flags_overdue_ones(client, world):
    client.force_login(world["tess"])
    html = client.get("/maintenance/work-orders/").content.decode()
    assert 'class="row-overdue"' in html
    assert "overdue" in html
    only = client.get("/maintenance/work-orders/", {"state": "overdue"}).content.decode()
    assert "Rotate logs" in only and "Check RAID" not in only


def test_a_checklist_tick_through_htmx_returns_the_checklist_with_the_new_status(client, world):
    client.force_login(world["tess"])
    ref = world["wo"].reference
    answer = client.post(
        f"/maintenance/work-orders/{ref}/checklist/0/",
        {"done": "1"},
        headers={"HX-Request": "true"},
    )
    assert answer.status_code == 200
    html = answer.content.decode()
    assert 'aria-checked="true"' in html
    assert "1 of 2 done" in html
    assert 'hx-swap-oob="innerHTML:#wo-status"' in html and "In progress" in html
    world["wo"].refresh_from_db()
    assert world["wo"].status == WorkOrderStatus.IN_PROGRESS


def test_a_refused_tick_is_said_in_the_checklist(client, world):
    client.force_login(world["tess"])
    answer = client.post(
        f"/maintenance/work-orders/{world['wo'].reference}/checklist/9/",
        {"done": "1"},
        headers={"HX-Request": "true"},
    )
    assert "There is no checklist item 9" in answer.content.decode()


def test_completing_without_ticking_everything_keeps_the_notes_and_says_why(client, world):
    client.force_login(world["tess"])
    ref = world["wo"].reference
    answer = client.post(f"/maintenance/work-orders/{ref}/complete/", {"notes": "All good"})
    assert answer.status_code == 422
    html = answer.content.decode()
    assert "Tick every checklist item first" in html
    assert "All good" in html
    for index in (0, 1):
        client.post(f"/maintenance/work-orders/{ref}/checklist/{index}/", {"done": "1"})
    done = client.post(f"/maintenance/work-orders/{ref}/complete/", {"notes": "Two disks swapped."})
    assert done.status_code == 302
    world["wo"].refresh_from_db()
    assert world["wo"].status == WorkOrderStatus.DONE


def test_a_done_work_order_page_offers_no_actions(client, world):
    client.force_login(world["tess"])
    verbs.complete_work_order(world["late"], by=world["tess"], notes="Rotated.")
    html = client.get(f"/maintenance/work-orders/{world['late'].reference}/").content.decode()
    assert "Complete work order" not in html and ">Start<" not in html and "Cancel…" not in html
    assert "Rotated." in html


def test_the_window_form_reads_times_in_the_chosen_zone(client, world):
    client.force_login(world["carl"])
    answer = client.post(
        "/maintenance/windows/new/",
        {
            "title": "Core switch upgrade",
            "nodes": "db-1",
            "starts_at": "2031-06-01T02:00",
            "ends_at": "2031-06-01T04:00",
            "time_zone": "America/New_York",
            "rrule": "",
            "include_dependencies": "on",
        },
    )
    assert answer.status_code == 302, answer.content.decode()
    window = MaintenanceWindow.objects.get(title="Core switch upgrade")
    assert window.starts_at == datetime(2031, 6, 1, 2, tzinfo=zoneinfo.ZoneInfo("America/New_York"))


def test_the_window_form_shows_model_errors_next_to_the_field(client, world):
    client.force_login(world["carl"])
    answer = client.post(
        "/maintenance/windows/new/",
        {
            "title": "x",
            "nodes": "no-such-thing",
            "starts_at": "2031-06-01T02:00",
            "ends_at": "2031-06-01T01:00",
            "time_zone": "UTC",
            "rrule": "FREQ=MINUTELY",
        },
    )
    assert answer.status_code == 422
    html = answer.content.decode()
    assert "There is no service or component" in html


def test_the_window_page_lists_next_occurrences_and_what_it_covers(client, world):
    client.force_login(make_user("dana", "service_desk_agent"))
    html = client.get(world["window"].get_absolute_url()).content.decode()
    assert "Next occurrences" in html and "db-1" in html
    assert ">Edit<" not in html and "Delete…" not in html  # the desk may not change windows


def test_the_node_panel_shows_upcoming_windows_open_and_overdue_work(rf, world):
    request = rf.get("/")
    request.user = world["tess"]
    html = maintenance_panel(request, world["shop"])
    assert "Database patching" in html
    assert "on db-1, which this runs on" in html
    component_html = maintenance_panel(request, world["db"])
    assert "Check RAID" in component_html and "overdue" in component_html
    request.user = make_user("rita", "requester")
    assert maintenance_panel(request, world["db"]) == ""
