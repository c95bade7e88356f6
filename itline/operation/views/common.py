"""What the service desk pages share: turning a verb's error into field errors or a message
(never a 500), the SLA badge, the activity timeline of a record (journal rows and messages in
one list), safe return URLs and the suggestions behind typed record fields."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import HttpRequest
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from itline.core import journal
from itline.core.errors import ConflictError, DomainError, TransitionError
from itline.core.models import JournalEntry
from itline.operation.choices import ClockKind, ClockState, MessageKind
from itline.operation.templatetags.desk import compact_duration

# Verb argument names that a form calls differently.
FIELD_ALIASES = {"file": "attachments"}


def has_template(name: str) -> bool:
    """Whether another part of itline has provided an optional partial yet."""
    try:
        get_template(name)
    except TemplateDoesNotExist:
        return False
    return True


# --- errors ---------------------------------------------------------------------------------


def describe(exc: Exception | None) -> str:
    """One sentence for a message area."""
    if exc is None:
        return ""
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    if isinstance(exc, DomainError):
        return exc.message
    return str(exc) or "Not allowed."


def status_for(exc: Exception) -> int:
    if isinstance(exc, ConflictError):  # stale version, illegal transition
        return 409
    if isinstance(exc, PermissionDenied):
        return 403
    return 422


def form_error(form: forms.Form, exc: Exception) -> int:
    """Attach a verb's error to the form: next to its field when the form has that field
    (visible), otherwise at the top. Returns the HTTP status to answer with."""

    def place(name: str | None, text: Any) -> None:
        name = FIELD_ALIASES.get(name or "", name)
        if name and name in form.fields and not form.fields[name].widget.is_hidden:
            form.add_error(name, text)
        else:
            form.add_error(None, text)

    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            for name, errs in exc.message_dict.items():
                place(name, errs)
        else:
            form.add_error(None, exc.messages)
    elif isinstance(exc, (TransitionError, ConflictError)):
        form.add_error(None, exc.message)
    elif isinstance(exc, DomainError):
        place(exc.field, exc.message)
    else:
        form.add_error(None, describe(exc))
    return status_for(exc)


VERB_ERRORS = (ValidationError, DomainError, PermissionDenied)


@dataclass
class Outcome:
    ok: bool
    result: Any = None
    status: int = 200
    error: Exception | None = None

    @property
    def stale(self) -> bool:
        """The record changed under the user (optimistic concurrency), as opposed to an
        illegal move or a clash with other data."""
        return (
            isinstance(self.error, ConflictError)
            and not isinstance(self.error, TransitionError)
            and self.error.field == "version"
        )


def attempt(form: forms.Form, action: Callable[[], Any]) -> Outcome:
    """Run ``action`` (a verb call); on its error, put the error on ``form``."""
    try:
        result = action()
    except VERB_ERRORS as exc:
        return Outcome(False, None, form_error(form, exc), exc)
    return Outcome(True, result)


def report(request: HttpRequest, action: Callable[[], Any], success: str) -> bool:
    """Run an action that has no input to keep (a button); its error becomes a message."""
    try:
        action()
    except VERB_ERRORS as exc:
        messages.error(request, describe(exc))
        return False
    if success:
        messages.success(request, success)
    return True


def keep_current_version(form: forms.Form, version: int) -> None:
    """After a conflict, the form is shown again with the user's input and the version the
    page now shows, so submitting again applies the input to the current record."""
    if form.is_bound and "version" in form.fields:
        # A bound form's data is a QueryDict (immutable): copy it to change one value.
        data = form.data.copy()  # type: ignore[attr-defined]
        data[form.add_prefix("version")] = str(version)
        form.data = data


def safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def expected_version(form: forms.Form) -> int | None:
    value = form.cleaned_data.get("version") if hasattr(form, "cleaned_data") else None
    return int(value) if value is not None else None


# --- SLA badge ------------------------------------------------------------------------------


def business_left_seconds(clock: Any, now: dt.datetime) -> float:
    """Business seconds until the clock's target, on the per-process calendar cache."""
    from itline.operation import sla

    return sla.business_minutes_left(clock, now=now, cache=sla.shared_terms()) * 60


def sla_badge(clocks: Iterable[Any], now: dt.datetime | None = None) -> dict[str, str] | None:
    """The one clock an agent must watch, as a pill: the running clock due first (time left
    to its target), else a paused one (business time left), else the outcome."""
    clocks = list(clocks)
    if not clocks:
        return None
    now = now or timezone.now()
    kind_label = dict(ClockKind.choices)
    running = [c for c in clocks if c.state == ClockState.RUNNING and c.due_at is not None]
    if running:
        clock = min(running, key=lambda c: c.due_at)
        kind = kind_label.get(clock.kind, clock.kind)
        left = (clock.due_at - now).total_seconds()
        due = timezone.localtime(clock.due_at).strftime("%Y-%m-%d %H:%M")
        if left <= 0 or clock.breached_at is not None:
            return {
                "tone": "red",
                "label": f"{compact_duration(-left)} over",
                "title": f"{kind} target missed (was due {due})",
                "kind": kind,
            }
        tone = "amber" if clock.warn_at is not None and clock.warn_at <= now else "green"
        # Time left in business time of the agreement's calendar (what the target counts).
        left = business_left_seconds(clock, now)
        return {
            "tone": tone,
            "label": f"{compact_duration(left)} left",
            "title": f"{kind} due {due} (support hours of the agreement)",
            "kind": kind,
        }
    paused = [c for c in clocks if c.state == ClockState.PAUSED]
    if paused:
        clock = min(paused, key=lambda c: c.target_minutes - c.elapsed_minutes)
        kind = kind_label.get(clock.kind, clock.kind)
        left = (clock.target_minutes - clock.elapsed_minutes) * 60
        return {
            "tone": "neutral",
            "label": f"paused, {compact_duration(left)} left" if left > 0 else "paused, over",
            "title": f"{kind} clock paused",
            "kind": kind,
        }
    breached = any(c.breached_at is not None for c in clocks)
    return {
        "tone": "red" if breached else "green",
        "label": "SLA missed" if breached else "SLA met",
        "title": "Clocks stopped",
        "kind": "",
    }


# --- the activity timeline ------------------------------------------------------------------


@dataclass
class Change:
    field: str
    before: Any
    after: Any


@dataclass
class Activity:
    """One item of a record's timeline: a journal row, a message or a loose attachment."""

    kind: str  # journal | message | attachment
    at: dt.datetime
    obj: Any
    changes: list[Change] = field(default_factory=list)


def _labels(model: type[models.Model]) -> dict[str, dict[Any, str]]:
    out: dict[str, dict[Any, str]] = {}
    for f in model._meta.concrete_fields:
        if f.choices:
            out[f.name] = {k: str(v) for k, v in f.flatchoices}
    return out


def activity_for(obj: models.Model, *, messages_qs: Any = None) -> list[Activity]:
    """Journal rows, messages and attachments of ``obj``, oldest first. Comment rows of the
    journal are left out (the message itself is shown), as are "attached" rows (the file is)."""
    from itline.operation.models import Attachment, Message

    labels = _labels(type(obj))
    ct = journal.content_type_for(obj)
    items: list[Activity] = []
    for entry in journal.entries_for(obj):
        if entry.verb == JournalEntry.Verb.COMMENTED:
            continue
        if not entry.changes and entry.message.startswith("attached "):
            continue
        changes = [
            Change(
                name,
                labels.get(name, {}).get(values[0], values[0])
                if isinstance(values, list)
                else values,
                labels.get(name, {}).get(values[1], values[1]) if isinstance(values, list) else "",
            )
            for name, values in (entry.changes or {}).items()
        ]
        items.append(Activity("journal", entry.at, entry, changes))
    if messages_qs is None:
        messages_qs = (
            Message.objects.filter(content_type=ct, object_id=str(obj.pk))
            .select_related("author")
            .prefetch_related("attachments")
        )
    for message in messages_qs:
        items.append(Activity("message", message.created_at, message))
    loose = Attachment.objects.filter(content_type=ct, object_id=str(obj.pk), message__isnull=True)
    for attachment in loose.select_related("created_by"):
        items.append(Activity("attachment", attachment.created_at, attachment))
    order = {"journal": 0, "message": 1, "attachment": 2}
    items.sort(key=lambda a: (a.at, order[a.kind]))
    return items


MESSAGE_STYLE = {
    MessageKind.REPLY: "reply",
    MessageKind.NOTE: "note",
    MessageKind.EMAIL_IN: "email-in",
    MessageKind.EMAIL_OUT: "email-out",
    MessageKind.UPDATE: "update",
}
