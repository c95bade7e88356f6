"""Record events: after the transaction commits, e-mail notifications and webhooks."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction


def publish(
    record: models.Model,
    event: str,
    *,
    by: Any = None,
    changes: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Announce ``event`` (e.g. ``incident.created``) on ``record`` once the current
    transaction commits; nothing is sent for a rolled-back change."""
    label = record._meta.label_lower
    pk = record.pk
    actor_id = getattr(by, "pk", None)
    transaction.on_commit(
        lambda: _dispatch(label, pk, event, actor_id, changes or {}, extra or {}), robust=True
    )


def _dispatch(
    label: str, pk: Any, event: str, actor_id: Any, changes: dict[str, Any], extra: dict[str, Any]
) -> None:
    from itline.core import webhooks
    from itline.operation import notify

    # Each side effect is independent: a failing mail task must not cost the webhook.
    try:
        notify.on_event(label, pk, event, actor_id=actor_id, changes=changes, extra=extra)
    finally:
        webhooks.emit_for(label, pk, event, changes=changes, extra=extra)
