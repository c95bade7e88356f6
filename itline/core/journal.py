"""The journal: history as data. Every create, field edit, state change and assignment is a
``JournalEntry`` row written in the same transaction as the change it describes."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models

from itline.core.models import JournalEntry, Record


def _display(obj: models.Model, field: models.Field[Any, Any]) -> Any:
    """A JSON-safe, human-meaningful value of ``field`` on ``obj``."""
    if isinstance(field, models.ForeignKey):
        related = getattr(obj, field.name)
        return None if related is None else str(related)
    value = field.value_from_object(obj)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple | set):
        return list(value)
    return value


def snapshot(obj: Record) -> dict[str, Any]:
    return {f.name: _display(obj, f) for f in obj.journal_fields()}


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {
        name: [before.get(name), value]
        for name, value in after.items()
        if before.get(name) != value
    }


def actor_label(user: Any) -> str:
    if user is None:
        return "system"
    full = getattr(user, "get_full_name", lambda: "")()
    return full or getattr(user, "username", str(user))


def content_type_for(obj: models.Model | type[models.Model]) -> ContentType:
    """The content type journal rows are filed under. With multi-table inheritance
    (a Component is a Node) rows go to the root model, so the history of a record is one
    list whichever class the caller happened to hold."""
    model = obj if isinstance(obj, type) else type(obj)
    parents = model._meta.get_parent_list()
    root = parents[-1] if parents else model
    return ContentType.objects.get_for_model(root)


def record(
    obj: models.Model,
    *,
    by: Any,
    verb: str,
    changes: dict[str, list[Any]] | None = None,
    message: str = "",
) -> JournalEntry:
    """Write one journal row for ``obj``. Call inside the transaction that made the change."""
    return JournalEntry.objects.create(
        content_type=content_type_for(obj),
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        actor=by if getattr(by, "pk", None) else None,
        actor_label=actor_label(by),
        verb=verb,
        changes=changes or {},
        message=message,
    )


def entries_for(obj: models.Model) -> models.QuerySet[JournalEntry]:
    return JournalEntry.objects.filter(
        content_type=content_type_for(obj), object_id=str(obj.pk)
    ).select_related("actor")
