"""The changes panel of the component and service pages (``settings.NODE_PANELS``): the
upcoming and recent changes that touch the node, so whoever looks at a component sees what
is about to change on it and what just did."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils import timezone

from itline.org.roles import is_agent
from itline.transition.choices import CHANGE_ON_CALENDAR, ChangeStatus
from itline.transition.models import Change

SHOWN = 5


def changes_panel(request: HttpRequest, node: Any) -> str:
    user = request.user
    if not is_agent(user) or not user.has_perm("transition.view_change"):
        return ""
    now = timezone.now()
    touching = Change.objects.filter(
        pk__in=Change.nodes.through.objects.filter(node_id=node.pk).values("change_id")
    )
    upcoming = list(
        touching.filter(planned_end__gt=now)
        .exclude(status__in=[ChangeStatus.CANCELLED, ChangeStatus.REJECTED, ChangeStatus.CLOSED])
        .order_by("planned_start", "id")[:SHOWN]
    )
    recent = list(
        touching.filter(status__in=CHANGE_ON_CALENDAR, planned_end__lte=now).order_by(
            "-planned_end", "-id"
        )[:SHOWN]
    )
    drafts = touching.filter(status=ChangeStatus.DRAFT, planned_start__isnull=True).count()
    return render_to_string(
        "transition/_node_panel.html",
        {"node": node, "upcoming": upcoming, "recent": recent, "drafts": drafts},
        request=request,
    )
