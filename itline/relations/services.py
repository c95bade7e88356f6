"""Verbs of the relations app: agreements (SLAs) and their targets, and the one rule that says
which agreement covers an incident.

Every verb checks the actor's permission, validates through the model, saves and journals in
one transaction; ``by=None`` is the system (demo loader, migrations, an operator's CLI). An
agreement's targets are part of the agreement: they are validated, replaced and journaled
together with its fields, so the history shows one row per edit."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet

from itline.core import journal
from itline.core.models import JournalEntry
from itline.core.services import require
from itline.relations.models import Agreement, AgreementTarget

EDITABLE = (
    "name",
    "customer",
    "service",
    "is_default",
    "calendar",
    "warning_percent",
    "pause_states",
    "description",
    "active",
)
TARGET_FIELDS = ("priority", "response_minutes", "resolution_minutes")


# --- visibility ---------------------------------------------------------------------------


def agreements_for(user: Any) -> QuerySet[Agreement]:
    """Agreements ``user`` may read: agents with the view permission see all of them."""
    qs = Agreement.objects.select_related(
        "customer__business_unit", "service", "calendar"
    ).prefetch_related("targets")
    if user is None or user.has_perm("relations.view_agreement"):
        return qs
    return qs.none()


# --- which agreement applies ----------------------------------------------------------------


def _pk(value: Any) -> Any:
    return getattr(value, "pk", value)


def agreement_for(*, customer: Any, service: Any) -> Agreement | None:
    """The active agreement that covers ``customer`` using ``service``, most specific first:
    customer and service, then the service for every customer, then the customer for every
    service, then the default agreement. ``None`` when not even a default exists. Either
    argument may be ``None`` (an incident on a component only, an unknown caller)."""
    customer_id, service_id = _pk(customer), _pk(service)
    cond = Q(is_default=True)
    if service_id is not None:
        cond |= Q(customer__isnull=True, service_id=service_id)
    if customer_id is not None:
        cond |= Q(customer_id=customer_id, service__isnull=True)
    if customer_id is not None and service_id is not None:
        cond |= Q(customer_id=customer_id, service_id=service_id)
    candidates = list(Agreement.objects.filter(cond, active=True).select_related("calendar"))
    if not candidates:
        return None

    def rank(agreement: Agreement) -> tuple[int, int]:
        if agreement.is_default:
            level = 3
        elif agreement.customer_id and agreement.service_id:
            level = 0
        elif agreement.service_id:
            level = 1
        else:
            level = 2
        return level, agreement.pk

    return min(candidates, key=rank)


def default_agreement() -> Agreement | None:
    return Agreement.objects.filter(is_default=True, active=True).first()


# --- targets --------------------------------------------------------------------------------


def _target_rows(agreement: Agreement, targets: Iterable[Any]) -> list[AgreementTarget]:
    """Validated, unsaved target rows; errors name the place (``targets.1.response_minutes``)."""
    if isinstance(targets, (str, bytes, Mapping)) or not isinstance(targets, Iterable):
        raise ValidationError({"targets": "Give a list of targets, one per priority."})
    rows: list[AgreementTarget] = []
    errors: dict[str, list[str]] = {}
    seen: dict[int, int] = {}
    for index, item in enumerate(targets):
        where = f"targets.{index}"
        data = item if isinstance(item, Mapping) else getattr(item, "__dict__", None)
        if not isinstance(data, Mapping):
            errors[where] = ["Give priority, response_minutes and resolution_minutes."]
            continue
        missing = [name for name in TARGET_FIELDS if data.get(name) is None]
        if missing:
            errors[where] = [f"Missing: {', '.join(missing)}."]
            continue
        values = {name: data[name] for name in TARGET_FIELDS}
        bad = [n for n, v in values.items() if isinstance(v, bool) or not isinstance(v, int)]
        if bad:
            errors[f"{where}.{bad[0]}"] = ["Give a whole number."]
            continue
        row = AgreementTarget(agreement=agreement, **values)
        try:
            row.clean()
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                errors[f"{where}.{name}"] = messages
            continue
        if row.priority in seen:
            errors[f"{where}.priority"] = [
                f"Priority {row.priority} is already given in targets.{seen[row.priority]}."
            ]
            continue
        seen[row.priority] = index
        rows.append(row)
    if errors:
        raise ValidationError(errors)
    return sorted(rows, key=lambda r: r.priority)


def _targets_text(rows: Iterable[AgreementTarget]) -> list[str]:
    """Targets as the journal shows them: one readable line per priority."""
    return [
        f"P{r.priority}: response {r.response_minutes} min, resolution {r.resolution_minutes} min"
        for r in sorted(rows, key=lambda r: r.priority)
    ]


def _replace_targets(agreement: Agreement, rows: list[AgreementTarget], *, by: Any) -> None:
    actor = by if getattr(by, "pk", None) else None
    wanted = {r.priority: r for r in rows}
    existing = {t.priority: t for t in agreement.targets.all()}
    gone = [t.pk for p, t in existing.items() if p not in wanted]
    if gone:
        AgreementTarget.objects.filter(pk__in=gone).delete()
    for priority, row in wanted.items():
        current = existing.get(priority)
        if current is None:
            row.created_by = row.updated_by = actor
            row.save()
        elif (current.response_minutes, current.resolution_minutes) != (
            row.response_minutes,
            row.resolution_minutes,
        ):
            current.response_minutes = row.response_minutes
            current.resolution_minutes = row.resolution_minutes
            current.updated_by = actor
            current.save()
    # The prefetch cache (if any) no longer matches the rows.
    getattr(agreement, "_prefetched_objects_cache", {}).pop("targets", None)


# --- verbs ----------------------------------------------------------------------------------


def _check_fields(fields: Mapping[str, Any]) -> None:
    unknown = [name for name in fields if name not in EDITABLE]
    if unknown:
        raise ValueError(f"not editable on Agreement: {', '.join(unknown)}")
    nulls = {
        name: "This field cannot be empty (null)."
        for name, value in fields.items()
        if value is None and not Agreement._meta.get_field(name).null
    }
    if nulls:
        raise ValidationError(nulls)


def create_agreement(*, by: Any, targets: Iterable[Any] = (), **fields: Any) -> Agreement:
    """A new agreement with its targets (one per priority; priorities without a target run
    no clocks)."""
    require(by, "relations.add_agreement")
    _check_fields(fields)
    with transaction.atomic():
        actor = by if getattr(by, "pk", None) else None
        agreement = Agreement(**fields)
        agreement.created_by = agreement.updated_by = actor
        # The model's clean() gives readable messages for its check constraints.
        agreement.full_clean(validate_constraints=False)
        rows = _target_rows(agreement, targets)
        agreement.save()
        for row in rows:
            row.agreement = agreement
        _replace_targets(agreement, rows, by=by)
        after = journal.snapshot(agreement)
        changes = {k: [None, v] for k, v in after.items() if v not in (None, "", [], {})}
        if rows:
            changes["targets"] = [None, _targets_text(rows)]
        journal.record(agreement, by=by, verb=JournalEntry.Verb.CREATED, changes=changes)
    return agreement


def update_agreement(
    agreement: Agreement, *, by: Any, targets: Iterable[Any] | None = None, **fields: Any
) -> Agreement:
    """Change fields and/or replace the targets (``targets=None`` keeps them). One journal
    row with the before/after of everything that changed; nothing is written otherwise.
    Clocks of open incidents follow on the next ``itline sla recompute`` (or the next change
    of each incident)."""
    require(by, "relations.change_agreement")
    _check_fields(fields)
    with transaction.atomic():
        current = list(agreement.targets.all())
        before = {**journal.snapshot(agreement), "targets": _targets_text(current)}
        for name, value in fields.items():
            setattr(agreement, name, value)
        agreement.full_clean(validate_constraints=False)
        rows = current if targets is None else _target_rows(agreement, targets)
        after = {**journal.snapshot(agreement), "targets": _targets_text(rows)}
        changes = journal.diff(before, after)
        if not changes:
            return agreement
        agreement.updated_by = by if getattr(by, "pk", None) else None
        agreement.save()
        if "targets" in changes:
            _replace_targets(agreement, rows, by=by)
        journal.record(agreement, by=by, verb=JournalEntry.Verb.UPDATED, changes=changes)
    return agreement


def set_targets(agreement: Agreement, targets: Iterable[Any], *, by: Any) -> Agreement:
    """Replace the response and resolution targets of ``agreement``."""
    return update_agreement(agreement, by=by, targets=targets)


def delete_agreement(agreement: Agreement, *, by: Any) -> None:
    """Remove an agreement. Incidents it covered fall back to the default agreement on
    their next clock computation; consider ``active=False`` to keep the history readable."""
    require(by, "relations.delete_agreement")
    with transaction.atomic():
        journal.record(
            agreement,
            by=by,
            verb=JournalEntry.Verb.DELETED,
            message=f"Agreement {agreement.reference} {agreement.name} deleted.",
        )
        agreement.delete()


def targets_by_priority(agreement: Agreement) -> dict[int, tuple[int, int]]:
    """``{priority: (response_minutes, resolution_minutes)}``."""
    return {t.priority: (t.response_minutes, t.resolution_minutes) for t in agreement.targets.all()}
