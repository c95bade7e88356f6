"""Maintenance windows: what they cover and when (covering, windows_between), the rules a
window obeys, and how edits keep history."""

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from itline.cmdb.testing import make_component, relate
from itline.core.errors import ConflictError
from itline.core.journal import entries_for
from itline.core.testing import make_user
from itline.operation import maintenance
from itline.operation.services import maintenance as verbs
from itline.operation.testing import make_service

AMS = zoneinfo.ZoneInfo("Europe/Amsterdam")


@pytest.fixture(autouse=True)
def _fresh_cache():
    maintenance.forget()
    yield
    maintenance.forget()


@pytest.fixture
def carl(db):
    return make_user("carl", "change_manager")


@pytest.fixture
def shop(db):
    """Web shop (service) runs on web-1, which runs on db-1; mail-1 is unrelated."""
    shop = make_service("Web shop")
    web, db1, mail = make_component("web-1"), make_component("db-1"), make_component("mail-1")
    relate(shop, web, "runs-on")
    relate(web, db1, "depends-on")
    return {"shop": shop, "web": web, "db": db1, "mail": mail}


def sunday_patching(by, nodes, **fields):
    first = datetime(2030, 1, 6, 2, tzinfo=AMS)  # a Sunday
    fields.setdefault("title", "Sunday patching")
    return verbs.create_window(
        by=by,
        starts_at=first,
        ends_at=first + timedelta(hours=2),
        rrule="FREQ=WEEKLY;BYDAY=SU",
        time_zone="Europe/Amsterdam",
        nodes=nodes,
        **fields,
    )


@pytest.mark.django_db
def test_a_window_on_a_service_covers_what_the_service_runs_on_during_an_occurrence(carl, shop):
    window = sunday_patching(carl, [shop["shop"]])
    ids = [n.pk for n in shop.values()]
    during = datetime(2030, 7, 7, 3, tzinfo=AMS)  # summer time, still 03:00 local
    assert maintenance.covering(ids, during) == {
        shop["shop"].pk: window,
        shop["web"].pk: window,
        shop["db"].pk: window,
    }
    assert maintenance.covering(ids, datetime(2030, 7, 7, 4, tzinfo=AMS)) == {}
    assert maintenance.covering(ids, datetime(2030, 7, 8, 3, tzinfo=AMS)) == {}


@pytest.mark.django_db
def test_without_dependencies_a_window_covers_only_its_own_nodes(carl, shop):
    sunday_patching(carl, [shop["web"]], include_dependencies=False)
    covered = maintenance.covering(
        [shop["web"].pk, shop["db"].pk], datetime(2030, 1, 13, 3, tzinfo=AMS)
    )
    assert list(covered) == [shop["web"].pk]


@pytest.mark.django_db
def test_the_window_that_keeps_a_node_quiet_longest_is_named(carl, shop):
    sunday_patching(carl, [shop["db"]], title="Short")
    first = datetime(2030, 1, 6, 1, tzinfo=AMS)
    long = verbs.create_window(
        by=carl,
        title="Long",
        starts_at=first,
        ends_at=first + timedelta(hours=6),
        nodes=[shop["db"]],
        time_zone="Europe/Amsterdam",
    )
    assert maintenance.covering([shop["db"].pk], datetime(2030, 1, 6, 3, tzinfo=AMS)) == {
        shop["db"].pk: long
    }


@pytest.mark.django_db
def test_covering_sees_new_edited_and_deleted_windows_and_structure_changes(carl, shop):
    at = datetime(2030, 1, 13, 3, tzinfo=AMS)
    assert maintenance.covering([shop["mail"].pk], at) == {}
    window = sunday_patching(carl, [shop["web"]])
    assert maintenance.covering([shop["mail"].pk], at) == {}
    relate(shop["web"], shop["mail"], "depends-on")  # the structure changed: graph version
    assert maintenance.covering([shop["mail"].pk], at) == {shop["mail"].pk: window}
    verbs.update_window(window, by=carl, include_dependencies=False)
    assert maintenance.covering([shop["mail"].pk], at) == {}
    verbs.update_window(window, by=carl, nodes=[shop["mail"]])
    assert maintenance.covering([shop["mail"].pk], at) == {shop["mail"].pk: window}
    verbs.delete_window(window, by=carl, reason="Patching moved to Saturdays")
    assert maintenance.covering([shop["mail"].pk], at) == {}


@pytest.mark.django_db
def test_covering_after_warm_up_costs_one_query(carl, shop, django_assert_num_queries):
    sunday_patching(carl, [shop["shop"]])
    at = datetime(2030, 1, 13, 3, tzinfo=AMS)
    maintenance.covering([shop["db"].pk], at)
    with django_assert_num_queries(12):  # one freshness check per call, nothing else
        for minute in range(0, 60, 5):
            assert maintenance.covering([shop["db"].pk], at.replace(minute=minute))


@pytest.mark.django_db
def test_windows_between_lists_occurrences_with_their_covered_nodes(carl, shop):
    window = sunday_patching(carl, [shop["web"]])
    found = maintenance.windows_between(
        datetime(2030, 3, 20, tzinfo=UTC), datetime(2030, 4, 10, tzinfo=UTC)
    )
    assert [o.starts_at.astimezone(AMS).strftime("%d %H:%M") for o in found] == [
        "24 02:00",
        "31 03:00",
        "07 02:00",  # 31 March 02:00 falls in the DST gap
    ]
    assert {o.window for o in found} == {window}
    assert found[0].node_ids == {shop["web"].pk, shop["db"].pk}
    assert (
        maintenance.windows_between(
            datetime(2030, 3, 20, tzinfo=UTC),
            datetime(2030, 4, 10, tzinfo=UTC),
            node_ids=[shop["mail"].pk],
        )
        == []
    )
    assert (
        len(
            maintenance.windows_between(
                datetime(2030, 3, 20, tzinfo=UTC),
                datetime(2030, 4, 10, tzinfo=UTC),
                node_ids=[shop["db"].pk],
            )
        )
        == 3
    )


@pytest.mark.django_db
def test_a_window_that_ends_before_it_starts_is_refused(carl, shop):
    start = timezone.now() + timedelta(days=1)
    with pytest.raises(ValidationError) as caught:
        verbs.create_window(
            by=carl, title="Upgrade", starts_at=start, ends_at=start, nodes=[shop["db"]]
        )
    assert "ends_at" in caught.value.message_dict


@pytest.mark.django_db
def test_a_window_without_nodes_is_refused(carl):
    start = timezone.now() + timedelta(days=1)
    with pytest.raises(ValidationError) as caught:
        verbs.create_window(
            by=carl, title="Upgrade", starts_at=start, ends_at=start + timedelta(hours=1), nodes=[]
        )
    assert "nodes" in caught.value.message_dict


@pytest.mark.django_db
def test_a_window_in_the_past_is_refused_and_nothing_is_written(carl, shop):
    from itline.operation.models import MaintenanceWindow

    start = timezone.now() - timedelta(days=2)
    with pytest.raises(ValidationError) as caught:
        verbs.create_window(
            by=carl,
            title="Upgrade",
            starts_at=start,
            ends_at=start + timedelta(hours=1),
            nodes=[shop["db"]],
        )
    assert "in the past" in caught.value.message_dict["ends_at"][0]
    with pytest.raises(ValidationError) as caught:
        verbs.create_window(
            by=carl,
            title="Old",
            starts_at=start - timedelta(days=30),
            ends_at=start - timedelta(days=30, hours=-1),
            rrule="FREQ=DAILY;COUNT=3",
            nodes=[shop["db"]],
        )
    assert "rrule" in caught.value.message_dict
    assert not MaintenanceWindow.objects.exists()


@pytest.mark.django_db
def test_a_recurring_window_that_started_in_the_past_is_accepted(carl, shop):
    start = timezone.now() - timedelta(days=60)
    window = verbs.create_window(
        by=carl,
        title="Nightly backup",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        rrule="FREQ=DAILY",
        nodes=[shop["db"]],
    )
    assert window.last_occurrence_end is None


@pytest.mark.django_db
def test_a_bad_rule_is_refused_on_the_rrule_field(carl, shop):
    start = timezone.now() + timedelta(days=1)
    with pytest.raises(ValidationError) as caught:
        verbs.create_window(
            by=carl,
            title="x",
            starts_at=start,
            ends_at=start + timedelta(hours=1),
            rrule="FREQ=MINUTELY",
            nodes=[shop["db"]],
        )
    assert "FREQ=MINUTELY" in caught.value.message_dict["rrule"][0]


@pytest.mark.django_db
def test_an_agent_without_the_permission_cannot_create_a_window(shop):
    dana = make_user("dana", "service_desk_agent")
    start = timezone.now() + timedelta(days=1)
    with pytest.raises(PermissionDenied):
        verbs.create_window(
            by=dana,
            title="x",
            starts_at=start,
            ends_at=start + timedelta(hours=1),
            nodes=[shop["db"]],
        )


@pytest.mark.django_db
def test_edits_are_journaled_with_before_and_after_including_nodes(carl, shop):
    window = sunday_patching(carl, [shop["web"]])
    verbs.update_window(
        window, by=carl, title="Sunday OS patching", nodes=[shop["web"], shop["mail"]]
    )
    last = list(entries_for(window))[-1]
    assert last.changes["title"] == ["Sunday patching", "Sunday OS patching"]
    assert last.changes["nodes"] == [["web-1"], ["mail-1", "web-1"]]
    assert last.actor == carl


@pytest.mark.django_db
def test_a_window_that_is_over_is_history_and_only_its_description_changes(carl, shop):
    start = timezone.now() + timedelta(hours=1)
    window = verbs.create_window(
        by=carl,
        title="Upgrade",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        nodes=[shop["db"]],
    )
    later = start + timedelta(days=1)
    with pytest.raises(ConflictError, match="kept as history"):
        verbs.update_window(window, by=carl, now=later, ends_at=later + timedelta(hours=1))
    verbs.update_window(window, by=carl, now=later, description="Went fine.")
    window.refresh_from_db()
    assert window.description == "Went fine."
