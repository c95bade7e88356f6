"""Verbs on alerts and alert groups (acknowledge, silence, unsilence) and on alert rules
(create, update, delete).

Alerts and groups have no journal: who did what and when is in their own fields
(``acknowledged_by``/``_at``, ``silenced_by``/``_until``/``silence_reason``) and in their
``decisions`` list, which the alert page shows as its history. Each verb runs in one
transaction under the correlation lock, so it never overwrites a decision that correlation
writes at the same moment. Alert rules are configuration records with a journal."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from itline.core import journal
from itline.core.errors import ConflictError
from itline.core.models import JournalEntry
from itline.core.services import create_record, require, update_record
from itline.operation.correlation import serialize
from itline.operation.correlation.decisions import clock, decide
from itline.operation.models import Alert, AlertGroup, AlertRule
from itline.operation.models.alerts import AlertStatus
from itline.operation.services.common import copy_state
from itline.org.models import Person, person_of

CHANGE_ALERT = "operation.change_alert"


def _who(by: Any) -> tuple[Person | None, str]:
    person = person_of(by) if by is not None else None
    if person is not None:
        return person, person.name
    return None, journal.actor_label(by)


def _locked(alert: Alert) -> Alert:
    serialize()
    return Alert.objects.select_for_update().get(pk=alert.pk)


def _copy(source: Alert, target: Alert) -> Alert:
    for f in Alert._meta.concrete_fields:
        setattr(target, f.attname, getattr(source, f.attname))
    target._state.fields_cache = {}
    return target


def acknowledge_alert(alert: Alert, *, by: Any) -> Alert:
    """Someone is looking at this firing alert. Acknowledging twice keeps the first."""
    require(by, CHANGE_ALERT)
    with transaction.atomic():
        current = _locked(alert)
        if current.status != AlertStatus.FIRING:
            raise ConflictError(
                f"{current} has resolved; there is nothing to acknowledge.", field="status"
            )
        if current.acknowledged_at is None:
            person, name = _who(by)
            current.acknowledged_at = timezone.now()
            current.acknowledged_by = person
            decide(current, "acknowledged", f"Acknowledged by {name}.")
            current.save(update_fields=["acknowledged_at", "acknowledged_by", "decisions"])
    return _copy(current, alert)


def max_silence() -> timedelta:
    return timedelta(days=int(getattr(settings, "ALERT_SILENCE_MAX_DAYS", 30)))


def silence_alert(alert: Alert, *, by: Any, until: datetime, reason: str) -> Alert:
    """Keep the alert quiet until ``until``: while silenced its state changes open no
    incident, join no new group and notify nobody. When the silence ends and the alert
    still fires, it is correlated again. Silencing again replaces the silence."""
    require(by, CHANGE_ALERT)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the alert is silenced."})
    if len(reason) > 300:
        raise ValidationError({"reason": "Keep the reason to 300 characters."})
    if until is None or timezone.is_naive(until):
        raise ValidationError({"until": "Give the end of the silence with its time zone."})
    now = timezone.now()
    if until <= now:
        raise ValidationError({"until": "The silence must end in the future."})
    if until - now > max_silence():
        raise ValidationError({"until": f"A silence may last at most {max_silence().days} days."})
    with transaction.atomic():
        current = _locked(alert)
        person, name = _who(by)
        current.silenced_until = until
        current.silenced_by = person
        current.silence_reason = reason
        decide(current, f"silenced until {clock(until)}", f"By {name}: {reason}")
        current.save(update_fields=["silenced_until", "silenced_by", "silence_reason", "decisions"])
    return _copy(current, alert)


def unsilence_alert(alert: Alert, *, by: Any) -> Alert:
    """End the silence now. A firing alert is correlated again at once (it may join a group
    and open an incident)."""
    require(by, CHANGE_ALERT)
    with transaction.atomic():
        current = _locked(alert)
        if not current.is_silenced():
            raise ConflictError(f"{current} is not silenced.", field="silenced_until")
        _, name = _who(by)
        current.silenced_until = None
        decide(current, "silence lifted", f"By {name}.")
        again = current.status == AlertStatus.FIRING
        current.pending = current.pending or again
        current.save(update_fields=["silenced_until", "pending", "decisions"])
        if again:
            from itline.operation.correlation import correlate

            correlate([current.pk])
            current.refresh_from_db()
    return _copy(current, alert)


def acknowledge_group(group: AlertGroup, *, by: Any) -> AlertGroup:
    """Acknowledge every firing, unacknowledged alert of the group at once."""
    require(by, CHANGE_ALERT)
    with transaction.atomic():
        serialize()
        current = AlertGroup.objects.select_for_update().get(pk=group.pk)
        person, name = _who(by)
        now = timezone.now()
        alerts = list(
            Alert.objects.select_for_update().filter(
                group=current, status=AlertStatus.FIRING, acknowledged_at__isnull=True
            )
        )
        if not alerts:
            raise ConflictError(
                f"{current.reference} has no firing alert left to acknowledge.", field="status"
            )
        for alert in alerts:
            alert.acknowledged_at = now
            alert.acknowledged_by = person
            decide(alert, "acknowledged", f"Acknowledged by {name} with {current.reference}.")
        Alert.objects.bulk_update(alerts, ["acknowledged_at", "acknowledged_by", "decisions"])
        decide(current, "acknowledged", f"{name} acknowledged {len(alerts)} firing alert(s).")
        current.save(update_fields=["decisions", "updated_at"])
    return copy_state(current, group)


# --- alert rules --------------------------------------------------------------------------

RULE_FIELDS = {
    "name",
    "position",
    "source",
    "matchers",
    "open_incident",
    "min_severity",
    "min_duration_seconds",
    "flap_threshold",
    "flap_window_seconds",
    "auto_resolve",
    "active",
}


def _rule_fields(fields: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(fields) - RULE_FIELDS)
    if unknown:
        raise ValidationError({unknown[0]: "This field cannot be set on an alert rule."})
    return fields


def create_rule(*, by: Any, **fields: Any) -> AlertRule:
    require(by, "operation.add_alertrule")
    return create_record(AlertRule(**_rule_fields(fields)), by=by)


def update_rule(rule: AlertRule, *, by: Any, **fields: Any) -> AlertRule:
    require(by, "operation.change_alertrule")
    return update_record(rule, by=by, **_rule_fields(fields))


def delete_rule(rule: AlertRule, *, by: Any) -> None:
    require(by, "operation.delete_alertrule")
    with transaction.atomic():
        journal.record(rule, by=by, verb=JournalEntry.Verb.DELETED, message=str(rule))
        rule.delete()
