"""E-mail notifications: record events become mails to the people concerned.

``itline.operation.events.publish`` calls :func:`on_event` after the transaction commits;
here we only decide whether there is anything to send and enqueue a background task
(``notify_tasks.send_notifications``) that picks the recipients, respects their preferences,
renders the templates, sends over SMTP and stores each mail on the record's timeline. Sending
never happens inside a user's request.

The mail gateway mutes notifications while it stores an incoming mail (:func:`muted`): an
auto-reply must not be answered, and the sender of a reply is not told about their own mail.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from itline.operation.choices import NotificationEvent

log = logging.getLogger(__name__)

# Events that can lead to a mail. Others (known_error.created, request.closed, ...) are
# webhook-only: nobody asked to be mailed about them.
MAILED_EVENTS = frozenset(
    {
        "request.created",
        "request.updated",
        "request.resolved",
        "incident.created",
        "incident.assigned",
        "incident.updated",
        "incident.resolved",
        "incident.reopened",
        "incident.merged",
        "incident.breach_warning",
        "incident.breach",
        "incident.major_update",
        "problem.created",
        "problem.updated",
    }
)


@dataclass(frozen=True)
class _Mute:
    events: frozenset[str] | None  # None: every event
    addresses: frozenset[str]


_mute: contextvars.ContextVar[tuple[_Mute, ...]] = contextvars.ContextVar("itline_mute", default=())


@contextlib.contextmanager
def muted(*, events: Iterable[str] | None = None, addresses: Iterable[str] = ()) -> Iterator[None]:
    """Within the block: with no arguments no event sends mail; with ``events`` those do
    not; ``addresses`` get no mail at all. Wrap the whole transaction, because events are
    announced when it commits."""
    entry = _Mute(
        frozenset(events) if events is not None else None,
        frozenset(a.lower() for a in addresses),
    )
    token = _mute.set((*_mute.get(), entry))
    try:
        yield
    finally:
        _mute.reset(token)


def _muting(event: str) -> tuple[bool, set[str]]:
    silent = False
    addresses: set[str] = set()
    for entry in _mute.get():
        addresses |= entry.addresses
        everything = entry.events is None and not entry.addresses
        if everything or (entry.events is not None and event in entry.events):
            silent = True
    return silent, addresses


def on_event(
    label: str,
    pk: Any,
    event: str,
    *,
    actor_id: Any = None,
    changes: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Enqueue the mails for ``event`` on the record ``label``/``pk`` (runs after commit)."""
    if event not in MAILED_EVENTS:
        return
    silent, skip = _muting(event)
    if silent:
        return
    from itline.operation.notify_tasks import send_notifications

    try:
        send_notifications.enqueue(
            label=label,
            pk=str(pk),
            event=event,
            actor_id=actor_id,
            changes=_jsonable(changes or {}),
            extra=_jsonable(extra or {}),
            skip_addresses=sorted(skip),
        )
    except Exception:
        # The change is committed; a mail that cannot even be queued is logged, not raised
        # into the user's request.
        log.exception("could not queue notifications for %s %s %s", label, pk, event)


def _jsonable(value: Any) -> Any:
    """Task arguments travel as JSON: dates become ISO strings, unknown objects strings."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return isoformat()
    return str(value)


# --- Preferences ---------------------------------------------------------------------------


def preferences_of(person: Any) -> dict[str, bool]:
    """Every notification event with whether ``person`` wants mail for it (no row: yes)."""
    from itline.operation.models import NotificationPreference

    stored = dict(
        NotificationPreference.objects.filter(person=person).values_list("event", "email")
    )
    return {event: stored.get(event, True) for event in NotificationEvent.values}


def set_preferences(person: Any, wanted: dict[str, bool], *, by: Any) -> dict[str, bool]:
    """Store ``person``'s choices; only the person themselves (or the system) may."""
    from django.core.exceptions import PermissionDenied, ValidationError

    from itline.operation.models import NotificationPreference
    from itline.org.models import person_of

    if by is not None and (person_of(by) is None or person_of(by).pk != person.pk):  # type: ignore[union-attr]
        raise PermissionDenied("You can only change your own notification settings.")
    unknown = sorted(set(wanted) - set(NotificationEvent.values))
    if unknown:
        raise ValidationError({unknown[0]: "Not a notification event."})
    with transaction.atomic():
        for event, email in wanted.items():
            NotificationPreference.objects.update_or_create(
                person=person, event=event, defaults={"email": bool(email)}
            )
    return preferences_of(person)
