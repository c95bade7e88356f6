"""The maintenance demo on the demo structure: recurring windows that cover the databases on
Sunday night, plans with 90 days of completed work orders (some late), one overdue, the next
ones generated, and a reset that leaves nothing behind."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction

from itline.cmdb.models import Node
from itline.operation import demo_maintenance as demo
from itline.operation import maintenance
from itline.operation.models import MaintenancePlan, MaintenanceWindow, WorkOrder
from itline.operation.models.maintenance import WorkOrderStatus

NOW = dt.datetime(2026, 3, 18, 10, 30, tzinfo=dt.UTC)
AMS = zoneinfo.ZoneInfo("Europe/Amsterdam")


@pytest.fixture(scope="module")
def loaded(django_db_setup: Any, django_db_blocker: Any) -> Iterator[None]:
    from itline.cmdb import demo as cmdb_demo
    from itline.org import demo as org_demo

    with django_db_blocker.unblock(), transaction.atomic():
        for module in (org_demo, cmdb_demo):
            for _, run in module.steps():
                run()
        maintenance.forget()
        demo.load(now=NOW)
        yield
        transaction.set_rollback(True)
    maintenance.forget()


@pytest.mark.django_db
def test_the_demo_has_recurring_windows_and_plans(loaded):
    assert demo.is_loaded()
    assert MaintenanceWindow.objects.exclude(rrule="").count() == 3
    assert MaintenancePlan.objects.count() == 5


@pytest.mark.django_db
def test_the_databases_are_in_maintenance_on_sunday_night_and_not_on_monday(loaded):
    db = Node.objects.filter(name__startswith="postg").first()
    sunday = dt.datetime(2026, 3, 22, 3, tzinfo=AMS)
    [window] = set(maintenance.covering([db.pk], sunday).values())
    assert window.title == "Sunday database patching"
    assert maintenance.covering([db.pk], sunday + dt.timedelta(days=1)) == {}


@pytest.mark.django_db
def test_ninety_days_of_work_orders_are_done_some_late_one_overdue_and_the_next_ones_open(loaded):
    done = WorkOrder.objects.filter(status=WorkOrderStatus.DONE)
    assert done.count() > 20
    assert 0 < sum(1 for w in done if w.was_late) < done.count() / 2
    assert all(w.completion_notes and w.completed_by_id for w in done)
    overdue = WorkOrder.objects.filter(status=WorkOrderStatus.OPEN, due_at__lt=NOW)
    titles = [w.title for w in overdue]
    assert "Firewall rule review" in titles and len(titles) <= 3  # plus any done late, not yet
    assert WorkOrder.objects.filter(status=WorkOrderStatus.OPEN, due_at__gte=NOW).exists()
    first = done.order_by("due_at").first()
    assert first.due_at >= NOW - dt.timedelta(days=demo.HISTORY_DAYS)


@pytest.mark.django_db
def test_generating_again_adds_nothing(loaded):
    from itline.operation.services.maintenance import generate_work_orders

    assert generate_work_orders(now=NOW) == 0


@pytest.mark.django_db
def test_reset_removes_everything(loaded):
    with transaction.atomic():
        demo.reset()
        assert not demo.is_loaded()
        assert not WorkOrder.objects.exists()
        transaction.set_rollback(True)
