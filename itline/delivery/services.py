"""Verbs of Delivery Control. For now: the improvement register, fed by the service desk."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from itline.core.services import create_record, require, update_record
from itline.delivery.models import Improvement, ImprovementStatus


def create_improvement(*, by: Any, **fields: Any) -> Improvement:
    require(by, "delivery.add_improvement")
    return create_record(Improvement(**fields), by=by)


def update_improvement(improvement: Improvement, *, by: Any, **fields: Any) -> Improvement:
    require(by, "delivery.change_improvement")
    if "status" in fields and fields["status"] not in ImprovementStatus.values:
        from django.core.exceptions import ValidationError

        raise ValidationError(
            {"status": "Choose one of: " + ", ".join(ImprovementStatus.values) + "."}
        )
    return update_record(improvement, by=by, **fields)


def register_improvement_from_request(req: Any, *, by: Any) -> Improvement:
    """Pass an improvement proposal from the service desk to the register; the request is
    resolved with a note pointing at the new entry."""
    from itline.core.errors import TransitionError
    from itline.core.models import JournalEntry
    from itline.operation.choices import REQUEST_OPEN, RequestOutcome, RequestStatus
    from itline.operation.services.common import lock, save_with_journal
    from itline.operation.services.intake import _may_change

    _may_change(by, req)
    require(by, "delivery.add_improvement")
    from itline.core import journal
    from itline.operation import events

    with transaction.atomic():
        current = lock(req)
        if current.status not in REQUEST_OPEN:
            raise TransitionError(
                f"{current.reference} is {current.get_status_display()}.", allowed=[]
            )
        improvement = create_improvement(
            by=by,
            title=current.title,
            description=current.description,
            service=current.service,
            proposed_by=current.requester,
            source_reference=current.reference,
        )
        before = journal.snapshot(current)
        current.status = RequestStatus.RESOLVED
        current.outcome = RequestOutcome.IMPROVEMENT
        current.improvement_reference = improvement.reference
        current.answer = (
            f"Thank you: your proposal is registered as {improvement.reference} in the "
            "improvement register."
        )
        from django.utils import timezone

        current.resolved_at = timezone.now()
        changes = save_with_journal(current, before, by=by, verb=JournalEntry.Verb.STATE_CHANGED)
        events.publish(current, "request.resolved", by=by, changes=changes)
    req.status = current.status
    req.outcome = current.outcome
    req.improvement_reference = current.improvement_reference
    req.version = current.version
    return improvement
