"""Generic verbs for plain records: create and edit with validation and a journal row in one
transaction. Apps build their own verbs on top of these."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from itline.core import journal
from itline.core.models import BusinessCalendar, JournalEntry, Record


def require(user: Any, perm: str) -> None:
    """Refuse the action unless ``user`` holds ``perm``; ``None`` is the system and may."""
    if user is None:
        return
    if not user.has_perm(perm):
        raise PermissionDenied(f"You are not allowed to do this ({perm}).")


def create_record[R: Record](obj: R, *, by: Any, message: str = "") -> R:
    """Validate and save a new record, journaling every initial field value (and
    ``message``, e.g. where the record came from)."""
    with transaction.atomic():
        actor = by if getattr(by, "pk", None) else None
        obj.created_by = actor
        obj.updated_by = actor
        obj.full_clean()
        obj.save()
        after = journal.snapshot(obj)
        changes = {k: [None, v] for k, v in after.items() if v not in (None, "", [], {})}
        journal.record(obj, by=by, verb=JournalEntry.Verb.CREATED, changes=changes, message=message)
    return obj


def update_record[R: Record](
    obj: R, *, by: Any, verb: str = JournalEntry.Verb.UPDATED, **fields: Any
) -> R:
    """Apply ``fields`` to ``obj``, validate, save, and journal the before/after of each
    field that really changed. Nothing is written when nothing changed."""
    unknown = [name for name in fields if name not in {f.name for f in obj.journal_fields()}]
    if unknown:
        raise ValueError(f"not editable on {type(obj).__name__}: {', '.join(unknown)}")
    nulls = {
        name: "This field cannot be empty (null)."
        for name, value in fields.items()
        if value is None and not obj._meta.get_field(name).null
    }
    if nulls:
        # blank=True text fields skip Django's null check and would fail at the database.
        raise ValidationError(nulls)
    with transaction.atomic():
        before = journal.snapshot(obj)
        for name, value in fields.items():
            setattr(obj, name, value)
        obj.full_clean()
        changes = journal.diff(before, journal.snapshot(obj))
        if not changes:
            return obj
        obj.updated_by = by if getattr(by, "pk", None) else None
        obj.save()
        journal.record(obj, by=by, verb=verb, changes=changes)
    return obj


def create_calendar(*, by: Any, **fields: Any) -> BusinessCalendar:
    require(by, "core.add_businesscalendar")
    if fields.get("working_hours") is None:
        fields.pop("working_hours", None)
    return create_record(BusinessCalendar(**fields), by=by)


def update_calendar(calendar: BusinessCalendar, *, by: Any, **fields: Any) -> BusinessCalendar:
    require(by, "core.change_businesscalendar")
    return update_record(calendar, by=by, **fields)
