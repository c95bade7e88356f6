"""Alert rules: which rule decides for an alert, the default rule of a fresh install, and the
rules as a file (config as code: export, then import the same document elsewhere)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from itline.operation.models import Alert, AlertRule, EventSource
from itline.operation.models.alerts import Severity

DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "name": "Errors and worse open incidents",
        "position": 100,
        "matchers": {},
        "open_incident": True,
        "min_severity": Severity.ERROR.value,
        "min_duration_seconds": 0,
        "flap_threshold": 4,
        "flap_window_seconds": 900,
        "auto_resolve": True,
        "active": True,
    }
]

# The fields of a rule in its file form, in file order; ``source`` is the source's name.
FILE_FIELDS = (
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
)


def active_rules() -> list[AlertRule]:
    return list(AlertRule.objects.filter(active=True).order_by("position", "id"))


def match(rules: Iterable[AlertRule], alert: Alert) -> AlertRule | None:
    """The first active rule (in position order) whose source and matchers fit the alert."""
    labels = alert.labels if isinstance(alert.labels, dict) else {}
    for rule in rules:
        if rule.matches(alert.source_id, labels):
            return rule
    return None


def ensure_default_rules(**kwargs: Any) -> None:
    """post_migrate: a fresh install (no alert rule at all) gets the default rule, so alerts
    of severity error and critical open incidents from the start. Existing rules, edited or
    not, are never touched."""
    if AlertRule.objects.exists():
        return
    for spec in DEFAULT_RULES:
        AlertRule.objects.create(**spec)


# --- rules as a file ----------------------------------------------------------------------


def rule_document(rule: AlertRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "position": rule.position,
        "source": rule.source.name if rule.source_id else None,  # type: ignore[union-attr]
        "matchers": dict(rule.matchers or {}),
        "open_incident": rule.open_incident,
        "min_severity": rule.min_severity,
        "min_duration_seconds": rule.min_duration_seconds,
        "flap_threshold": rule.flap_threshold,
        "flap_window_seconds": rule.flap_window_seconds,
        "auto_resolve": rule.auto_resolve,
        "active": rule.active,
    }


def export_rules() -> dict[str, Any]:
    """``{"alert_rules": [...]}`` in position order: what ``import_rules`` takes back."""
    rules = AlertRule.objects.select_related("source").order_by("position", "id")
    return {"alert_rules": [rule_document(r) for r in rules]}


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    dry_run: bool = False


_BOOLS = ("open_incident", "auto_resolve", "active")
_COUNTS = ("position", "min_duration_seconds", "flap_threshold", "flap_window_seconds")


def _parse_item(index: int, item: Any, sources: dict[str, EventSource]) -> dict[str, Any]:
    """One rule of the file as model fields, or a ValidationError naming ``alert_rules[i].x``."""
    where = f"alert_rules[{index}]"
    if not isinstance(item, dict):
        raise ValidationError({where: "Each rule is an object with at least a name."})
    unknown = sorted(set(item) - set(FILE_FIELDS))
    if unknown:
        raise ValidationError(
            {f"{where}.{unknown[0]}": f"Unknown field; use {', '.join(FILE_FIELDS)}."}
        )
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({f"{where}.name": "Give the rule a name."})
    fields: dict[str, Any] = {"name": name.strip()}
    for key in _BOOLS:
        if key in item:
            if not isinstance(item[key], bool):
                raise ValidationError({f"{where}.{key}": "Use true or false."})
            fields[key] = item[key]
    for key in _COUNTS:
        if key in item:
            value = item[key]
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
                raise ValidationError({f"{where}.{key}": "Use a whole number, 0 or more."})
            fields[key] = value
    if "min_severity" in item:
        if item["min_severity"] not in Severity.values:
            raise ValidationError(
                {f"{where}.min_severity": f"Use one of {', '.join(Severity.values)}."}
            )
        fields["min_severity"] = item["min_severity"]
    if "matchers" in item:
        fields["matchers"] = item["matchers"]
    if "source" in item:
        source_name = item["source"]
        if source_name in (None, ""):
            fields["source"] = None
        elif not isinstance(source_name, str) or source_name not in sources:
            raise ValidationError(
                {f"{where}.source": f"There is no event source named {source_name!r}."}
            )
        else:
            fields["source"] = sources[source_name]
    return fields


def import_rules(
    document: Any, *, by: Any, prune: bool = False, dry_run: bool = False
) -> ImportReport:
    """Make the rules what ``document`` (``{"alert_rules": [...]}``) says: rules are matched
    by name, missing ones created, differing ones updated through the verbs (journaled);
    ``prune`` deletes rules the document does not name. All or nothing: the first error
    raises a ValidationError naming ``alert_rules[i].field`` and nothing is changed.
    ``dry_run`` reports what would change and changes nothing."""
    from itline.operation.services import alerts as verbs

    if not isinstance(document, dict) or not isinstance(document.get("alert_rules"), list):
        raise ValidationError({"alert_rules": 'Send {"alert_rules": [...]}.'})
    sources = {s.name: s for s in EventSource.objects.all()}
    items = [_parse_item(i, item, sources) for i, item in enumerate(document["alert_rules"])]
    names = [f["name"] for f in items]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        raise ValidationError({"alert_rules": f"The rule {duplicate!r} is listed twice."})
    report = ImportReport(dry_run=dry_run)
    existing = {r.name: r for r in AlertRule.objects.select_related("source")}
    with transaction.atomic():
        for index, fields in enumerate(items):
            rule = existing.get(fields["name"])
            try:
                if rule is None:
                    verbs.create_rule(by=by, **fields)
                    report.created.append(fields["name"])
                    continue
                before = rule_document(rule)
                verbs.update_rule(rule, by=by, **fields)
                target = report.updated if rule_document(rule) != before else report.unchanged
                target.append(rule.name)
            except ValidationError as exc:
                raise ValidationError(
                    {
                        f"alert_rules[{index}].{name}": messages
                        for name, messages in exc.message_dict.items()
                    }
                ) from None
        if prune:
            for name, rule in existing.items():
                if name not in names:
                    verbs.delete_rule(rule, by=by)
                    report.deleted.append(name)
        if dry_run:
            transaction.set_rollback(True)
    return report
