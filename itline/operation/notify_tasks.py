"""The background task that sends notification mails (queued by ``notify.on_event``)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.tasks import task
from django.utils import timezone

log = logging.getLogger(__name__)

# A mail server that is down for a while must not lose notifications: failed addresses are
# tried again after 1, 2, 4, 8, 16 and 32 minutes where the task backend can defer (the
# database backend of `itline worker` can; the immediate backend of tests cannot).
MAX_ATTEMPTS = 7


@task
def send_notifications(
    *,
    label: str,
    pk: str,
    event: str,
    actor_id: Any = None,
    changes: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    skip_addresses: list[str] | None = None,
    only_addresses: list[str] | None = None,
    attempt: int = 1,
) -> dict[str, list[str]]:
    from itline.operation.mail.outbound import deliver_event

    sent, failed = deliver_event(
        label,
        pk,
        event,
        actor_id=actor_id,
        changes=changes,
        extra=extra,
        skip_addresses=skip_addresses,
        only_addresses=only_addresses,
    )
    if failed:
        backend = send_notifications.get_backend()
        if attempt < MAX_ATTEMPTS and backend.supports_defer:
            send_notifications.using(
                run_after=timezone.now() + timedelta(minutes=2 ** (attempt - 1))
            ).enqueue(
                label=label,
                pk=pk,
                event=event,
                actor_id=actor_id,
                changes=changes,
                extra=extra,
                skip_addresses=skip_addresses,
                only_addresses=failed,
                attempt=attempt + 1,
            )
        else:
            log.error(
                "gave up mailing %s about %s %s %s after %d attempts",
                ", ".join(failed),
                label,
                pk,
                event,
                attempt,
            )
    return {"sent": sent, "failed": failed}
