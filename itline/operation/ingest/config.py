"""Verbs for the configuration of ingestion: event sources (with their credential, shown once)
and mapping rules, including export and import of the rules as a file (config as code).
Each verb is one transaction with its journal rows; secrets never reach the journal."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from itline.core import journal
from itline.core.errors import ConflictError
from itline.core.models import JournalEntry
from itline.core.services import create_record, require, update_record
from itline.operation.models import Alert, EventSource, MappingRule
from itline.operation.models.alerts import EventAuth

SOURCE_FIELDS = ("name", "description", "active")
RULE_FIELDS = ("position", "name", "source", "label", "pattern", "target", "node", "active")


# --- event sources --------------------------------------------------------------------------


def create_source(
    *, by: Any, name: str, kind: str, auth: str = EventAuth.TOKEN, **fields: Any
) -> tuple[EventSource, str]:
    """A new source and its credential (token or HMAC secret), which is shown only now."""
    require(by, "operation.add_eventsource")
    source = EventSource(name=name.strip(), kind=kind, auth=auth, **fields)
    secret = source.new_secret()
    with transaction.atomic():
        create_record(source, by=by)
    return source, secret


def update_source(source: EventSource, *, by: Any, **fields: Any) -> EventSource:
    require(by, "operation.change_eventsource")
    unknown = set(fields) - set(SOURCE_FIELDS)
    if unknown:
        raise ValidationError(
            {sorted(unknown)[0]: "Cannot be changed; rotate the credential to change 'auth'."}
        )
    return update_record(source, by=by, **fields)


def rotate_credential(source: EventSource, *, by: Any, auth: str | None = None) -> str:
    """A new credential (optionally of another kind); the old one stops working at once."""
    require(by, "operation.change_eventsource")
    with transaction.atomic():
        locked = EventSource.objects.select_for_update().get(pk=source.pk)
        before = locked.auth
        if auth is not None:
            locked.auth = auth
        locked.full_clean()
        secret = locked.new_secret()
        locked.updated_by = by if getattr(by, "pk", None) else None
        locked.save()
        changes = {"credential": ["(old)", f"{locked.token_prefix}…"]}
        if before != locked.auth:
            changes["auth"] = [before, locked.auth]
        journal.record(locked, by=by, verb=JournalEntry.Verb.UPDATED, changes=changes)
    for f in EventSource._meta.concrete_fields:
        setattr(source, f.attname, getattr(locked, f.attname))
    return secret


def delete_source(source: EventSource, *, by: Any) -> None:
    """Only a source without alerts can go; one with history is switched off instead."""
    require(by, "operation.delete_eventsource")
    with transaction.atomic():
        count = Alert.objects.filter(source=source).count()
        if count:
            raise ConflictError(
                f"Event source {source.name!r} has {count} alerts in its history; switch it "
                "off (active=false) instead of deleting it.",
                field="active",
            )
        journal.record(source, by=by, verb=JournalEntry.Verb.DELETED)
        source.delete()


# --- mapping rules --------------------------------------------------------------------------


def create_rule(*, by: Any, **fields: Any) -> MappingRule:
    require(by, "operation.add_mappingrule")
    return create_record(MappingRule(**fields), by=by)


def update_rule(rule: MappingRule, *, by: Any, **fields: Any) -> MappingRule:
    require(by, "operation.change_mappingrule")
    return update_record(rule, by=by, **fields)


def delete_rule(rule: MappingRule, *, by: Any) -> None:
    require(by, "operation.delete_mappingrule")
    with transaction.atomic():
        journal.record(rule, by=by, verb=JournalEntry.Verb.DELETED)
        rule.delete()


def export_rules() -> dict[str, Any]:
    """Every rule in order, sources by name and nodes by reference: the file ``import_rules``
    takes back."""
    rules = MappingRule.objects.select_related("source", "node").order_by("position", "id")
    return {
        "mapping_rules": [
            {
                "name": r.name,
                "position": r.position,
                "source": r.source.name if r.source else None,
                "label": r.label,
                "pattern": r.pattern,
                "target": r.target,
                "node": r.node.reference if r.node else None,
                "active": r.active,
            }
            for r in rules
        ]
    }


def import_rules(data: Any, *, by: Any, prune: bool = False) -> dict[str, int]:
    """Create or update rules by name from an exported file; with ``prune`` delete the rules
    the file does not name. One transaction: one bad item refuses the whole file, its error
    naming the item (``mapping_rules.3.pattern``). Importing the same file again changes
    nothing."""
    from itline.cmdb.models import Node

    require(by, "operation.add_mappingrule")
    require(by, "operation.change_mappingrule")
    if prune:
        require(by, "operation.delete_mappingrule")
    items = data.get("mapping_rules") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValidationError({"mapping_rules": "Give a list of rules under 'mapping_rules'."})
    counts = {"created": 0, "updated": 0, "unchanged": 0, "deleted": 0}
    sources = {s.name: s for s in EventSource.objects.all()}
    names: set[str] = set()
    with transaction.atomic():
        existing = {r.name: r for r in MappingRule.objects.all()}
        for index, item in enumerate(items):
            where = f"mapping_rules.{index}"
            if not isinstance(item, dict):
                raise ValidationError({where: "Each rule is an object."})
            unknown = set(item) - set(RULE_FIELDS)
            if unknown:
                raise ValidationError(
                    {
                        f"{where}.{sorted(unknown)[0]}": f"Unknown field; use: {', '.join(RULE_FIELDS)}."
                    }
                )
            name = item.get("name")
            if not isinstance(name, str) or not name.strip():
                raise ValidationError({f"{where}.name": "Each rule needs a name."})
            if name in names:
                raise ValidationError({f"{where}.name": f"{name!r} appears twice in the file."})
            names.add(name)
            fields = {k: v for k, v in item.items() if k != "name"}
            fields.setdefault("position", (index + 1) * 10)
            fields.setdefault("pattern", "")
            fields.setdefault("active", True)
            source = fields.pop("source", None)
            if source not in (None, ""):
                if source not in sources:
                    raise ValidationError(
                        {f"{where}.source": f"There is no event source {source!r}."}
                    )
                fields["source"] = sources[source]
            else:
                fields["source"] = None
            node = fields.pop("node", None)
            if node not in (None, ""):
                found = Node.objects.filter(reference=node).first()
                if found is None:
                    raise ValidationError(
                        {f"{where}.node": f"There is no node with reference {node!r}."}
                    )
                fields["node"] = found
            else:
                fields["node"] = None
            try:
                rule = existing.get(name)
                if rule is None:
                    create_record(MappingRule(name=name, **fields), by=by)
                    counts["created"] += 1
                else:
                    before = rule.updated_at
                    update_record(rule, by=by, **fields)
                    counts["updated" if rule.updated_at != before else "unchanged"] += 1
            except ValidationError as exc:
                raise ValidationError(
                    {
                        f"{where}.{field}": messages
                        for field, messages in getattr(
                            exc, "message_dict", {"request": exc.messages}
                        ).items()
                    }
                ) from None
        if prune:
            for name, rule in existing.items():
                if name not in names:
                    journal.record(rule, by=by, verb=JournalEntry.Verb.DELETED)
                    rule.delete()
                    counts["deleted"] += 1
    return counts
