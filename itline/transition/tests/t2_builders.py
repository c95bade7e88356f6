"""Builders for the risk, collision, freeze and gate tests (T2): changes are written straight
to the models and indexed with ``sync_change_nodes``, so these tests do not depend on the
workflow verbs; each test states its structure and calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

from itline.cmdb.testing import make_component, relate
from itline.transition.choices import ChangeOutcome, ChangeStatus, ChangeType
from itline.transition.collisions import sync_change_nodes
from itline.transition.models import Change, FreezeWindow

# A fixed Monday far enough ahead that lead time is never "in the past" in these tests.
MONDAY = datetime(2031, 3, 3, 8, 0, tzinfo=UTC)


def at(days: float = 0, hours: float = 0) -> datetime:
    return MONDAY + timedelta(days=days, hours=hours)


def change_on(
    nodes: Any,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    title: str = "Upgrade",
    status: str = ChangeStatus.SCHEDULED,
    change_type: str = ChangeType.NORMAL,
    **fields: Any,
) -> Change:
    """A change on ``nodes`` in ``status`` with the window ``start``-``end`` (default: Monday
    08:00-10:00), indexed for collision checks as the verbs do."""
    start = start or at()
    end = end or start + timedelta(hours=2)
    change = Change(
        title=title,
        change_type=change_type,
        status=status,
        planned_start=start,
        planned_end=end,
        **fields,
    )
    change.save()
    change.nodes.set(list(nodes))
    sync_change_nodes(change)
    return change


def closed_change(nodes: Any, outcome: str = ChangeOutcome.SUCCESSFUL, **fields: Any) -> Change:
    from django.utils import timezone

    ended = timezone.now() - timedelta(days=10)
    fields.setdefault("closed_at", ended)
    return change_on(
        nodes,
        ended - timedelta(hours=2),
        ended,
        status=ChangeStatus.CLOSED,
        outcome=outcome,
        **fields,
    )


def freeze(
    title: str = "Month-end freeze",
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    services: Any = (),
    rrule: str = "",
    time_zone: str = "UTC",
    **fields: Any,
) -> FreezeWindow:
    window = FreezeWindow(
        title=title,
        starts_at=start or at(),
        ends_at=end or (start or at()) + timedelta(days=1),
        rrule=rrule,
        time_zone=time_zone,
        **fields,
    )
    window.full_clean()
    window.save()
    window.services.set(list(services))
    return window


def chain(*names: str, slug: str = "depends-on") -> list[Any]:
    """Components ``a -> b -> c``: each depends on (``slug``) the next."""
    nodes = [make_component(name) for name in names]
    for source, target in pairwise(nodes):
        relate(source, target, slug)
    return nodes
