"""Periodic maintenance work: create the work orders that come within their plan's lead time,
flag the overdue ones and mail their function (once per work order)."""

from __future__ import annotations

import logging
from typing import Any

from crontask import cron
from django.tasks import task

log = logging.getLogger(__name__)


@cron("*/15 * * * *")
@task
def run_maintenance_plans() -> dict[str, int]:
    """Generate due work orders, then flag overdue ones (each a transaction of its own)."""
    from itline.operation.services.maintenance import flag_overdue, generate_work_orders

    created = generate_work_orders()
    flagged = flag_overdue()
    return {"created": created, "flagged": len(flagged)}


@task
def send_overdue_mail(*, work_order_id: int) -> dict[str, list[str]]:
    """Tell the work order's function (its mailbox, else its members, else its lead) that
    the work is overdue; the mail is stored on the work order's timeline."""
    from django.conf import settings

    from itline.operation.mail.outbound import _function, send_one
    from itline.operation.models import WorkOrder

    work_order = (
        WorkOrder.objects.select_related("function", "assignee", "plan")
        .filter(pk=work_order_id)
        .first()
    )
    if work_order is None or not work_order.is_open:
        return {"sent": [], "failed": []}
    recipients = _function(work_order.function)
    if work_order.assignee is not None and work_order.assignee.email:
        from itline.operation.mail.outbound import Recipient

        if work_order.assignee.email not in {r.address for r in recipients}:
            recipients.append(
                Recipient(work_order.assignee.email, work_order.assignee.name, work_order.assignee)
            )
    subject = f"[{work_order.reference}] Overdue: {work_order.title}"
    body = _body(work_order, getattr(settings, "SITE_URL", ""))
    sent: list[str] = []
    failed: list[str] = []
    for recipient in recipients:
        try:
            send_one(work_order, recipient, subject, body)
            sent.append(recipient.address)
        except Exception:
            log.exception(
                "overdue mail for %s to %s failed", work_order.reference, recipient.address
            )
            failed.append(recipient.address)
    return {"sent": sent, "failed": failed}


def _body(work_order: Any, site: str) -> str:
    nodes = ", ".join(str(n) for n in work_order.nodes.all()) or "-"
    lines = [
        f"{work_order.reference} {work_order.title} was due {work_order.due_at:%Y-%m-%d %H:%M} UTC "
        "and is not done.",
        "",
        f"Function: {work_order.function}",
        f"Assignee: {work_order.assignee or 'nobody yet'}",
        f"On: {nodes}",
    ]
    if work_order.open_items:
        lines += ["", "Open checklist items:", *(f"- {text}" for text in work_order.open_items)]
    lines += ["", f"{site.rstrip('/')}{work_order.get_absolute_url()}"]
    return "\n".join(lines) + "\n"
