"""Writing simulated history: records in memory, each with its journal rows in the shapes the
verbs write, then everything inserted with ``bulk_create``.

References (``INC-000042``) follow creation time, so they are given only when the whole
history is known; a journal value or text that contains one is a ``Later`` until then."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connections, models, router

from itline.core import journal
from itline.core.models import JournalEntry, Sequence
from itline.operation.choices import MessageKind
from itline.operation.demo.world import Actor, World
from itline.operation.models import Incident, KnownError, Message, Problem, ServiceRequest


class Later:
    """A value known only once references are numbered."""

    __slots__ = ("make",)

    def __init__(self, make: Callable[[], Any]) -> None:
        self.make = make

    def __repr__(self) -> str:
        return "Later(...)"


def resolve(value: Any) -> Any:
    if isinstance(value, Later):
        return value.make()
    if isinstance(value, list):
        return [resolve(v) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    return value


def ref(record: Any, text: str = "{ref}") -> Later:
    """``text`` with ``{ref}`` replaced by the record's reference, once it has one."""
    return Later(lambda: text.format(ref=record.reference))


@dataclass(slots=True)
class Row:
    obj: Any
    at: datetime
    actor: Actor
    verb: str
    changes: dict[str, Any]
    message: Any = ""


_KIND_LABELS = dict(MessageKind.choices)


class Story:
    """One record's history while it is simulated. Events after ``now`` are dropped (the
    future has not happened), so a simulation is written straight through and the record
    is left in the state it has at ``now``."""

    __slots__ = ("fields", "history", "milestones", "obj", "stopped")

    def __init__(self, history: History, obj: Any) -> None:
        self.history = history
        self.obj = obj
        self.stopped = False
        self.fields = history.fields_of(type(obj))
        # (at, what, actor) of resolve/reopen/close: requests that follow an incident replay them
        self.milestones: list[tuple[datetime, str, Actor]] = []

    def alive(self, at: datetime, *, late: bool = False) -> bool:
        """Whether an event at ``at`` happens. ``late`` events (a problem manager linking an
        incident afterwards) touch fields the simulation does not, so they may come after a
        simulation stopped, as long as they are not in the future."""
        if at > self.history.now:
            if not late:
                self.stopped = True
            return False
        return late or not self.stopped

    def create(self, at: datetime, actor: Actor, *, message: Any = "") -> None:
        obj = self.obj
        obj.created_at = obj.updated_at = at
        obj.created_by = obj.updated_by = actor.user
        changes = {}
        for name, fld in self.fields.items():
            value = display(obj, fld)
            if value not in (None, "", [], {}):
                changes[name] = [None, value]
        self.history.rows.append(Row(obj, at, actor, JournalEntry.Verb.CREATED, changes, message))

    def change(
        self,
        at: datetime,
        actor: Actor,
        verb: str,
        *,
        late: bool = False,
        message: Any = "",
        **values: Any,
    ) -> bool:
        """Apply ``values`` at ``at`` and journal what really changed (like
        ``save_with_journal``). False when ``at`` is in the future: the story stops there."""
        if not self.alive(at, late=late):
            return False
        obj = self.obj
        changes = {}
        for name, value in values.items():
            fld = self.fields[name]
            before = display(obj, fld)
            setattr(obj, name, value)
            after = display(obj, fld)
            if before != after:
                changes[name] = [before, after]
        if changes or message:
            self._touch(at, actor)
            self.history.rows.append(Row(obj, at, actor, verb, changes, message))
        return True

    def note(self, at: datetime, actor: Actor, verb: str, message: Any) -> bool:
        """A journal row without field changes (``linked INC-…``, a comment)."""
        if not self.alive(at, late=True):
            return False
        self._touch(at, actor)
        self.history.rows.append(Row(self.obj, at, actor, verb, {}, message))
        return True

    def _touch(self, at: datetime, actor: Actor) -> None:
        obj = self.obj
        if at >= obj.updated_at:
            obj.updated_at = at
            obj.updated_by = actor.user
        if hasattr(obj, "version"):
            obj.version += 1

    def message(
        self,
        at: datetime,
        kind: str,
        author: Any,
        body: str,
        *,
        email: bool = False,
        to: list[str] | None = None,
        subject: Any = "",
    ) -> bool:
        """A timeline message and its ``commented`` journal row, as ``add_message`` does."""
        if not self.alive(at):
            return False
        history = self.history
        history.message_count += 1
        actor = history.world.actor(author)
        msg = Message(
            kind=kind,
            author=author,
            body=body,
            from_address=(author.email or "") if email and author is not None else "",
            to_addresses=to or [],
            subject=subject,
            message_id=f"<demo.{history.message_count}@northwind.example>" if email else None,
            created_at=at,
            updated_at=at,
        )
        msg.created_by = msg.updated_by = actor.user
        history.messages.append((self.obj, msg))
        history.rows.append(
            Row(self.obj, at, actor, JournalEntry.Verb.COMMENTED, {}, _KIND_LABELS[kind])
        )
        return True


def display(obj: Any, fld: Any) -> Any:
    """The journal's display value of a field (``journal._display``); a record made in
    this history shows its reference, which is filled in later."""
    if isinstance(fld, models.ForeignKey):
        related = getattr(obj, fld.name)
        if related is None:
            return None
        if getattr(related, "reference", None) == "":
            return _text_later(related)
        return str(related)
    value = fld.value_from_object(obj)
    if isinstance(value, Later):
        return value
    return journal._display(obj, fld)


def _text_later(record: Any) -> Later:
    return Later(lambda: str(record))


class History:
    """All records and rows of the simulated history, in memory until ``write``."""

    def __init__(self, world: World, now: datetime) -> None:
        self.world = world
        self.now = now
        self.incidents: list[Incident] = []
        self.requests: list[ServiceRequest] = []
        self.problems: list[Problem] = []
        self.known_errors: list[KnownError] = []
        self.improvements: list[Any] = []
        self.messages: list[tuple[Any, Message]] = []
        self.rows: list[Row] = []
        self.message_count = 0
        self.stories: dict[int, Story] = {}
        self._fields: dict[type, dict[str, Any]] = {}

    def fields_of(self, model: type) -> dict[str, Any]:
        if model not in self._fields:
            self._fields[model] = {f.name: f for f in model.journal_fields()}  # type: ignore[attr-defined]
        return self._fields[model]

    def story(self, obj: Any) -> Story:
        story = Story(self, obj)
        self.stories[id(obj)] = story
        return story

    def story_of(self, obj: Any) -> Story:
        return self.stories[id(obj)]

    # writing ---------------------------------------------------------------------------------

    def _number(self) -> None:
        """References in order of creation, continuing each counter."""
        for prefix, records in self._collections():
            records.sort(key=lambda r: r.created_at)
            start = Sequence.objects.filter(prefix=prefix).values_list("value", flat=True).first()
            for k, record in enumerate(records, (start or 0) + 1):
                record.reference = f"{prefix}-{k:06d}"
            if records:
                Sequence.objects.update_or_create(
                    prefix=prefix, defaults={"value": (start or 0) + len(records)}
                )

    def _collections(self) -> list[tuple[str, list[Any]]]:
        return [
            ("PRB", self.problems),
            ("KE", self.known_errors),
            ("INC", self.incidents),
            ("REQ", self.requests),
            ("IMP", self.improvements),
        ]

    def write(self) -> None:
        """Insert everything: records (in creation order, so ids follow time), messages,
        journal rows (in time order)."""
        from itline.delivery.models import Improvement

        self._number()
        for _, records in self._collections():
            for record in records:
                for fld in record._meta.concrete_fields:
                    if fld.generated:
                        continue  # the database derives it (Incident.is_open)
                    value = getattr(record, fld.attname)
                    if isinstance(value, Later):
                        setattr(record, fld.attname, value.make())
        batch = 500
        Problem.objects.bulk_create(self.problems, batch_size=batch)
        KnownError.objects.bulk_create(self.known_errors, batch_size=batch)
        # A merged incident points at its survivor: set once both have ids.
        merged = [(inc, inc.merged_into) for inc in self.incidents if inc.merged_into is not None]
        for inc, _ in merged:
            inc.merged_into = None
        Incident.objects.bulk_create(self.incidents, batch_size=batch)
        for inc, survivor in merged:
            inc.merged_into = survivor
        Incident.objects.bulk_update([inc for inc, _ in merged], ["merged_into"], batch_size=batch)
        ServiceRequest.objects.bulk_create(self.requests, batch_size=batch)
        Improvement.objects.bulk_create(self.improvements, batch_size=batch)
        content_types = {
            model: journal.content_type_for(model)
            for model in (Incident, ServiceRequest, Problem, KnownError, Improvement)
        }
        messages = []
        for record, msg in sorted(self.messages, key=lambda item: item[1].created_at):
            msg.content_type = content_types[type(record)]
            msg.object_id = str(record.pk)
            msg.subject = str(resolve(msg.subject))[:250]
            messages.append(msg)
        Message.objects.bulk_create(messages, batch_size=batch)
        # bulk_create stamps auto_now fields with the wall clock; put the history's back.
        for model, records in (
            (Incident, self.incidents),
            (ServiceRequest, self.requests),
            (Problem, self.problems),
            (KnownError, self.known_errors),
            (Improvement, self.improvements),
            (Message, messages),
        ):
            _restore_updated_at(model, records)
        _insert_journal(self.rows, content_types)


def _restore_updated_at(model: Any, records: list[Any]) -> None:
    connection = connections[router.db_for_write(model)]
    table = connection.ops.quote_name(model._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET updated_at = %s WHERE id = %s",  # noqa: S608 (quoted name)
            [(adapt(r.updated_at), r.pk) for r in records],
        )


def _insert_journal(rows: list[Row], content_types: dict[Any, Any]) -> None:
    """The journal rows in time order (ids follow time), with one ``executemany``: building
    20,000 model instances would take longer than the whole simulation."""
    connection = connections[router.db_for_write(JournalEntry)]
    ops = connection.ops
    changes_field = JournalEntry._meta.get_field("changes")
    columns = [
        "content_type_id",
        "object_id",
        "object_repr",
        "actor_id",
        "actor_label",
        "at",
        "verb",
        "changes",
        "message",
    ]
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608 (quoted names)
        ops.quote_name(JournalEntry._meta.db_table),
        ", ".join(ops.quote_name(c) for c in columns),
        ", ".join(["%s"] * len(columns)),
    )
    order = sorted(range(len(rows)), key=lambda k: (rows[k].at, k))
    values = []
    for k in order:
        row = rows[k]
        values.append(
            (
                content_types[type(row.obj)].pk,
                str(row.obj.pk),
                str(row.obj)[:200],
                getattr(row.actor.user, "pk", None),
                row.actor.label[:150],
                ops.adapt_datetimefield_value(row.at),
                row.verb,
                changes_field.get_db_prep_save(resolve(row.changes), connection),
                str(resolve(row.message)),
            )
        )
    with connection.cursor() as cursor:
        for start in range(0, len(values), 5000):
            cursor.executemany(sql, values[start : start + 5000])
