"""Periodic work of Transition. The scheduler imports this module (add
``from itline.transition.tasks import scan_changes_after_implementation`` where
``itline/operation/tasks.py`` lists the tasks that live next to their code)."""

from __future__ import annotations

from datetime import datetime

from crontask import cron
from django.tasks import task
from django.utils import timezone


def after_implementation(now: datetime | None = None) -> dict[str, int]:
    """For changes implemented within the caused-incident period: suggest the incidents
    they may have caused, and refresh review drafts that were made before the review
    margin had passed (so the draft sees the whole window)."""
    from itline.transition import caused
    from itline.transition.choices import ReviewStatus
    from itline.transition.models import ChangeReview
    from itline.transition.services.reviews import draft_review, review_window

    now = now or timezone.now()
    suggested = caused.scan(now)
    refreshed = 0
    drafts = ChangeReview.objects.filter(
        status=ReviewStatus.DRAFT, change__in=caused.recently_implemented(now)
    ).select_related("change")
    for review in drafts.iterator(chunk_size=100):
        generated = (review.draft or {}).get("generated_at")
        _, end = review_window(review.change, now)
        if generated is None or datetime.fromisoformat(generated) < min(end, now):
            draft_review(review.change, now=now)
            refreshed += 1
    return {"suggested": suggested, "refreshed": refreshed}


@cron("*/15 * * * *")
@task
def scan_changes_after_implementation() -> dict[str, int]:
    return after_implementation()
