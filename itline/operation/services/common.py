"""Helpers shared by the Operation verbs: transition guard, optimistic concurrency, the
customer a person belongs to, and the write of a state change with its journal row."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models

from itline.core import journal
from itline.core.errors import ConflictError, TransitionError
from itline.core.models import JournalEntry
from itline.org.models import Customer, Person, person_of


def guard(record: Any, target: str, table: Mapping[str, frozenset[str]], labels: Any) -> None:
    """Refuse an illegal move with the list of the legal ones."""
    allowed = table.get(record.status, frozenset())
    if target not in allowed:
        names = sorted(str(s) for s in allowed)
        current = labels(record.status).label if record.status in labels.values else record.status
        wanted = labels(target).label if target in labels.values else target
        raise TransitionError(
            f"{record.reference} is {current}; it cannot move to {wanted}."
            + (f" Allowed: {', '.join(names)}." if names else " It is final."),
            allowed=names,
        )


def check_version(record: Any, expected: int | None) -> None:
    """Optimistic concurrency: a writer that read an older version is told, nothing is lost.
    The version is re-read from the database inside the caller's transaction."""
    if expected is None:
        return
    current = type(record).objects.filter(pk=record.pk).values_list("version", flat=True).first()
    if current is not None and int(expected) != current:
        raise ConflictError(
            f"{record.reference} was changed by someone else while you were editing "
            f"(your version {expected}, now {current}). Reload to see their change; "
            "your input is kept.",
            field="version",
        )


def bump(record: Any) -> None:
    record.version = (record.version or 0) + 1


def actor(by: Any) -> Any:
    return by if getattr(by, "pk", None) else None


def save_with_journal(
    record: Any,
    before: dict[str, Any],
    *,
    by: Any,
    verb: str = JournalEntry.Verb.UPDATED,
    message: str = "",
) -> dict[str, list[Any]]:
    """Validate, save and journal what changed since ``before`` (a journal snapshot)."""
    record.full_clean()
    changes = journal.diff(before, journal.snapshot(record))
    if not changes and not message:
        return {}
    bump(record)
    record.updated_by = actor(by)
    record.save()
    journal.record(record, by=by, verb=verb, changes=changes, message=message)
    return changes


def copy_state(source: Any, target: Any) -> Any:
    """Give the caller's instance the fields of the locked, updated copy a verb worked on,
    so the object the caller holds shows the result (and the new version)."""
    if source is not target:
        for f in type(source)._meta.concrete_fields:
            setattr(target, f.attname, getattr(source, f.attname))
        target._state.fields_cache = {}
    return target


def check_member(function: Any, assignee: Any) -> None:
    """An assignee must belong to the function the record is assigned to."""
    if (
        assignee is not None
        and function is not None
        and not function.memberships.filter(person=assignee).exists()
    ):
        raise ValidationError({"assignee": f"{assignee} is not a member of {function.name}."})


def customer_of(person: Person | None) -> Customer | None:
    """The customer whose business unit (or a parent unit) the person works in."""
    if person is None or person.business_unit_id is None:
        return None
    unit = person.business_unit
    seen: set[int] = set()
    while unit is not None and unit.pk not in seen:
        seen.add(unit.pk)
        customer = Customer.objects.filter(business_unit=unit).first()
        if customer is not None:
            return customer
        unit = unit.parent
    return None


def is_staff_user(user: Any) -> bool:
    return user is None or bool(
        getattr(user, "is_authenticated", False) and user.has_perm("core.agent_access")
    )


def acting_person(by: Any) -> Person | None:
    return person_of(by) if by is not None else None


def require_any(user: Any, *perms: str) -> None:
    if user is None:
        return
    if not any(user.has_perm(p) for p in perms):
        raise PermissionDenied(f"You are not allowed to do this ({' or '.join(perms)}).")


def reopen_days() -> int:
    return int(getattr(settings, "INCIDENT_REOPEN_DAYS", 10))


def lock(record: models.Model) -> Any:
    """Re-read the record for update inside the transaction so two writers serialise."""
    return type(record)._default_manager.select_for_update().get(pk=record.pk)
