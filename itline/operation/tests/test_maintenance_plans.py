"""Maintenance plans and their work orders: generation ahead of the due date (idempotent),
the work order's moves, checklist ticks, completion, overdue flagging and its one mail."""

import zoneinfo
from datetime import datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from itline.cmdb.testing import make_component
from itline.core.errors import ConflictError, TransitionError
from itline.core.journal import entries_for
from itline.core.testing import make_user
from itline.operation.mail.testing import smtp_sink
from itline.operation.models import WorkOrder
from itline.operation.models.maintenance import WorkOrderStatus
from itline.operation.services import maintenance as verbs
from itline.operation.testing import make_function
from itline.org.models import person_of

AMS = zoneinfo.ZoneInfo("Europe/Amsterdam")


@pytest.fixture
def team(db):
    tess = make_user("tess", "technician")
    carl = make_user("carl", "change_manager")
    ops = make_function("Datacenter operations", tess)
    return {"tess": tess, "carl": carl, "ops": ops, "ups": make_component("ups-1")}


def monthly_ups_check(team, **fields):
    fields.setdefault("first_due_at", datetime(2030, 1, 1, 9, tzinfo=AMS))
    return verbs.create_plan(
        by=team["carl"],
        title="UPS battery check",
        rrule="FREQ=MONTHLY;BYMONTHDAY=1",
        function=team["ops"],
        nodes=[team["ups"]],
        checklist=["Read the battery self-test", "Check the load is under 70%"],
        lead_days=7,
        **fields,
    )


def work_order(team, **fields):
    fields.setdefault("due_at", datetime(2030, 3, 1, 9, tzinfo=AMS))
    return verbs.create_work_order(
        by=team["carl"],
        title="Replace the UPS fan",
        function=team["ops"],
        nodes=[team["ups"]],
        checklist=["Power down bypass", "Swap the fan"],
        **fields,
    )


@pytest.mark.django_db
def test_a_work_order_is_created_lead_days_before_it_is_due_with_the_plan_checklist(team):
    plan = monthly_ups_check(team)
    assert verbs.generate_work_orders(now=datetime(2029, 12, 24, 8, tzinfo=AMS)) == 0
    assert verbs.generate_work_orders(now=datetime(2029, 12, 25, 9, tzinfo=AMS)) == 1
    [wo] = WorkOrder.objects.all()
    assert wo.plan == plan
    assert wo.due_at == datetime(2030, 1, 1, 9, tzinfo=AMS)
    assert wo.function == team["ops"]
    assert [n.pk for n in wo.nodes.all()] == [team["ups"].pk]
    assert wo.checklist == [
        {"text": "Read the battery self-test", "done": False},
        {"text": "Check the load is under 70%", "done": False},
    ]
    assert wo.status == WorkOrderStatus.OPEN


@pytest.mark.django_db
def test_generating_twice_creates_nothing_twice(team):
    monthly_ups_check(team)
    now = datetime(2030, 1, 26, tzinfo=AMS)
    assert verbs.generate_work_orders(now=now) == 2  # 1 January (late) and 1 February
    assert verbs.generate_work_orders(now=now) == 0
    from itline.operation.models import MaintenancePlan

    MaintenancePlan.objects.update(generated_until=None)  # even when the bookmark is lost
    assert verbs.generate_work_orders(now=now) == 0
    assert WorkOrder.objects.count() == 2


@pytest.mark.django_db
def test_due_dates_follow_the_local_wall_clock_across_dst(team):
    plan = monthly_ups_check(team)
    verbs.generate_work_orders(now=datetime(2030, 7, 1, tzinfo=AMS), plans=[plan])
    hours = {wo.due_at.astimezone(AMS).hour for wo in WorkOrder.objects.all()}
    assert hours == {9}
    assert WorkOrder.objects.count() == 7  # January to July


@pytest.mark.django_db
def test_a_plan_needs_a_valid_rule_a_function_and_a_clean_checklist(team):
    with pytest.raises(ValidationError) as caught:
        verbs.create_plan(
            by=team["carl"],
            title="x",
            rrule="",
            first_due_at=datetime(2030, 1, 1, tzinfo=AMS),
            function=team["ops"],
            nodes=[team["ups"]],
            checklist=["ok", "  "],
        )
    assert set(caught.value.message_dict) == {"rrule", "checklist"}


@pytest.mark.django_db
def test_changing_the_schedule_cancels_untouched_open_work_orders_of_the_old_one(team):
    plan = monthly_ups_check(team, first_due_at=datetime(2030, 1, 1, 9, tzinfo=AMS))
    verbs.generate_work_orders(now=datetime(2029, 12, 26, tzinfo=AMS))
    [old] = WorkOrder.objects.all()
    verbs.update_plan(
        plan,
        by=team["carl"],
        rrule="FREQ=MONTHLY;BYMONTHDAY=2",
        now=datetime(2029, 12, 27, tzinfo=AMS),
    )
    old.refresh_from_db()
    assert old.status == WorkOrderStatus.CANCELLED
    verbs.generate_work_orders(now=datetime(2029, 12, 27, tzinfo=AMS))
    assert WorkOrder.objects.filter(status=WorkOrderStatus.OPEN).get().due_at.day == 2


@pytest.mark.django_db
def test_the_first_tick_starts_the_work_and_each_tick_is_journaled(team):
    wo = work_order(team)
    verbs.tick_checklist_item(wo, by=team["tess"], index=0)
    assert wo.status == WorkOrderStatus.IN_PROGRESS
    assert wo.checklist[0] == {"text": "Power down bypass", "done": True}
    messages = [e.message for e in entries_for(wo)]
    assert "started by ticking the checklist" in messages
    assert "ticked 'Power down bypass'" in messages


@pytest.mark.django_db
def test_ticking_an_item_that_does_not_exist_is_refused(team):
    wo = work_order(team)
    with pytest.raises(ValidationError, match="no checklist item 5"):
        verbs.tick_checklist_item(wo, by=team["tess"], index=5)


@pytest.mark.django_db
def test_completing_needs_notes_and_every_item_ticked(team):
    wo = work_order(team)
    with pytest.raises(ValidationError) as caught:
        verbs.complete_work_order(wo, by=team["tess"], notes="  ")
    assert "completion_notes" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        verbs.complete_work_order(wo, by=team["tess"], notes="Fan swapped")
    assert "Power down bypass; Swap the fan" in caught.value.message_dict["checklist"][0]
    verbs.tick_checklist_item(wo, by=team["tess"], index=0)
    verbs.tick_checklist_item(wo, by=team["tess"], index=1)
    verbs.complete_work_order(wo, by=team["tess"], notes="Fan swapped, runs quiet.")
    wo.refresh_from_db()
    assert wo.status == WorkOrderStatus.DONE
    assert wo.completed_by == person_of(team["tess"])
    assert wo.completion_notes == "Fan swapped, runs quiet."


@pytest.mark.django_db
def test_a_done_work_order_is_final_and_the_refusal_lists_no_moves(team):
    wo = verbs.create_work_order(
        by=team["carl"],
        title="Check",
        function=team["ops"],
        due_at=datetime(2030, 3, 1, tzinfo=AMS),
        checklist=["Look"],
    )
    verbs.tick_checklist_item(wo, by=team["tess"], index=0)
    verbs.complete_work_order(wo, by=team["tess"], notes="Done.")
    with pytest.raises(TransitionError) as caught:
        verbs.start_work_order(wo, by=team["tess"])
    assert caught.value.allowed == []
    with pytest.raises(ConflictError):
        verbs.tick_checklist_item(wo, by=team["tess"], index=0)


@pytest.mark.django_db
def test_a_stale_version_is_refused(team):
    wo = work_order(team)
    version = wo.version
    verbs.tick_checklist_item(wo, by=team["tess"], index=0)
    with pytest.raises(ConflictError, match="changed by someone else"):
        verbs.cancel_work_order(wo, by=team["tess"], reason="No longer needed", version=version)


@pytest.mark.django_db
def test_cancelling_needs_a_reason(team):
    wo = work_order(team)
    with pytest.raises(ValidationError):
        verbs.cancel_work_order(wo, by=team["tess"], reason="")


@pytest.mark.django_db
def test_only_members_of_the_function_can_be_assigned(team):
    wo = work_order(team)
    with pytest.raises(ValidationError, match="not a member"):
        verbs.assign_work_order(wo, by=team["carl"], assignee=person_of(team["carl"]))
    verbs.assign_work_order(wo, by=team["carl"], assignee=person_of(team["tess"]))
    assert wo.assignee == person_of(team["tess"])
    assert list(entries_for(wo))[-1].verb == "assigned"


@pytest.mark.django_db
def test_starting_an_unassigned_work_order_gives_it_to_the_member_who_starts_it(team):
    wo = work_order(team)
    verbs.start_work_order(wo, by=team["tess"])
    assert wo.assignee == person_of(team["tess"])


@pytest.mark.django_db
def test_an_overdue_work_order_is_flagged_and_its_function_mailed_once(
    team, settings, django_capture_on_commit_callbacks
):
    settings.DEFAULT_FROM_EMAIL = "itline <itline@itline.test>"
    settings.MAIL_REPLY_ADDRESS = "desk@itline.test"
    settings.MAIL_DOMAIN = "itline.test"
    settings.SITE_URL = "https://itline.test"
    wo = work_order(team, due_at=datetime(2030, 3, 1, 9, tzinfo=AMS))
    later = datetime(2030, 3, 2, tzinfo=AMS)
    with smtp_sink() as inbox, django_capture_on_commit_callbacks(execute=True):
        assert verbs.flag_overdue(now=datetime(2030, 2, 28, tzinfo=AMS)) == []
        assert [w.pk for w in verbs.flag_overdue(now=later)] == [wo.pk]
        assert verbs.flag_overdue(now=later + timedelta(days=1)) == []
    [mail] = inbox.messages
    assert mail["To"] == "Tess <tess@example.com>"
    assert mail["Subject"] == f"[{wo.reference}] Overdue: Replace the UPS fan"
    text = inbox.text(mail)
    assert "- Swap the fan" in text
    assert f"https://itline.test/maintenance/work-orders/{wo.reference}/" in text
    wo.refresh_from_db()
    assert wo.overdue_notified_at == later
    assert wo.is_overdue(later)


@pytest.mark.django_db
def test_a_new_due_date_earns_a_new_reminder(team):
    wo = work_order(team, due_at=datetime(2030, 3, 1, 9, tzinfo=AMS))
    verbs.flag_overdue(now=datetime(2030, 3, 2, tzinfo=AMS))
    verbs.update_work_order(wo, by=team["carl"], due_at=datetime(2030, 3, 10, tzinfo=AMS))
    wo.refresh_from_db()
    assert wo.overdue_notified_at is None


@pytest.mark.django_db
def test_the_completion_history_of_a_component_is_newest_first(team):
    done = []
    for day in (1, 2, 3):
        wo = verbs.create_work_order(
            by=team["carl"],
            title=f"Check {day}",
            function=team["ops"],
            nodes=[team["ups"]],
            due_at=datetime(2030, 3, day, tzinfo=AMS),
        )
        verbs.complete_work_order(
            wo, by=team["tess"], notes="ok", now=datetime(2030, 3, day, 8, tzinfo=AMS)
        )
        done.append(wo.reference)
    assert [w.reference for w in verbs.completion_history(team["ups"])] == done[::-1]
