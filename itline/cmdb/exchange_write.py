"""Writing a checked import plan: through the verbs of ``itline.cmdb.services`` for small
imports, with bulk inserts for large ones. Both write the same rows, journal included."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import orjson
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, models, transaction
from django.db.models import F
from django.utils import timezone

from itline.cmdb import services as verbs
from itline.cmdb.choices import NodeKind
from itline.cmdb.exchange_check import Item, _Import
from itline.cmdb.exchange_records import SPECS
from itline.cmdb.models import (
    Component,
    ComponentType,
    GraphVersion,
    Node,
    Relation,
    RelationType,
    Service,
    Tag,
)
from itline.core import journal
from itline.core.journal import content_type_for
from itline.core.models import JournalEntry, Record
from itline.core.models import Sequence as Counter
from itline.core.services import require, update_record
from itline.org.models import Customer

BATCH = 2_000
NODE_COLUMNS = [
    "id",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
    "reference",
    "kind",
    "name",
    "description",
    "owner_function",
]
RELATION_COLUMNS = [
    "id",
    "created_at",
    "updated_at",
    "created_by",
    "updated_by",
    "source",
    "target",
    "relation_type",
]
JOURNAL_COLUMNS = [
    "content_type",
    "object_id",
    "object_repr",
    "actor",
    "actor_label",
    "at",
    "verb",
    "changes",
    "message",
]


# --- import: writing ----------------------------------------------------------------------


def _insert(model: type[models.Model], names: list[str], rows: Sequence[Sequence[Any]]) -> None:
    """Insert rows of already adapted values (see ``_Writer.now`` and ``_Writer.json``):
    ``COPY`` on PostgreSQL, ``executemany`` on SQLite. Django's bulk_create compiles SQL per
    object and costs more than the database itself on 700,000 rows."""
    if not rows:
        return
    qn = connection.ops.quote_name
    columns = ", ".join(qn(model._meta.get_field(n).column) for n in names)  # type: ignore[union-attr,arg-type]
    table = qn(model._meta.db_table)
    # identifiers from the model's meta, quoted; the values are parameters or COPY data
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row(row)
            return
        sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(names))})"  # noqa: S608
        for lo in range(0, len(rows), 20_000):
            cursor.executemany(sql, rows[lo : lo + 20_000])


def _new_ids(model: type[models.Model], n: int) -> list[int]:
    """``n`` fresh primary keys of ``model``'s table, so rows can be inserted with their ids
    known (``executemany`` returns none)."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [connection.ops.quote_name(table), n],
            )
            return [row[0] for row in cursor.fetchall()]
        # SQLite: the import's transaction holds the write lock (IMMEDIATE), so nobody else
        # takes ids meanwhile; AUTOINCREMENT's counter may be ahead of MAX(id) after deletes.
        cursor.execute(f"SELECT MAX(id) FROM {connection.ops.quote_name(table)}")  # noqa: S608
        highest = cursor.fetchone()[0] or 0
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        row = cursor.fetchone()
        start = max(highest, row[0] if row else 0) + 1
    return list(range(start, start + n))


def _json_adapter() -> Callable[[Any], Any]:
    """How a JSON value is passed to the database: what JSONField passes (jsonb on
    PostgreSQL); on SQLite the same JSON text, written by orjson for speed."""
    if connection.vendor == "sqlite":
        return lambda value: orjson.dumps(value).decode()
    adapt = connection.ops.adapt_json_value
    return lambda value: adapt(value, None)


@dataclass(slots=True)
class _Saved:
    """What relations need of a node: its id, name and reference."""

    pk: int
    name: str
    reference: str


class _Writer:
    """Applies a plan. ``bulk`` writes with bulk inserts and updates and the same journal
    rows the verbs write; otherwise each change is one verb call."""

    def __init__(self, imp: _Import, *, bulk: bool) -> None:
        self.imp = imp
        self.by = imp.by
        self.bulk = bulk
        self.actor = imp.by if getattr(imp.by, "pk", None) else None
        self.label = journal.actor_label(imp.by)
        self.entries: list[tuple[Any, ...]] = []
        self.nodes: dict[Any, Node | _Saved] = {}  # ident -> saved node (created or loaded)
        self.moment = timezone.now()  # one instant for the whole import: one transaction
        self.now = connection.ops.adapt_datetimefield_value(self.moment)
        self.actor_id = self.actor.pk if self.actor is not None else None
        self.json = _json_adapter()
        self.content_types: dict[type[models.Model], int] = {}

    # journal -------------------------------------------------------------------------------

    def apply(self, obj: Node, model_changes: dict[str, Any]) -> bool:
        """Set ``model_changes`` on a service or component and queue the journal row of what
        really changed; False when nothing did (the caller then leaves the row alone)."""
        before = journal.snapshot(obj)
        for name, value in model_changes.items():
            setattr(obj, name, value)
        obj.updated_by = self.actor
        diff = journal.diff(before, journal.snapshot(obj))
        if diff:
            self.entry(Node, obj.pk, obj.name, JournalEntry.Verb.UPDATED, diff)
        return bool(diff)

    def entry(
        self, model: type[models.Model], pk: Any, text: str, verb: str, changes: dict[str, Any]
    ) -> None:
        content_type = self.content_types.get(model)
        if content_type is None:
            content_type = self.content_types[model] = content_type_for(model).pk
        self.entries.append(
            (
                content_type,
                str(pk),
                text[:200],
                self.actor_id,
                self.label,
                self.now,
                verb,
                self.json(changes),
                "",
            )
        )
        if len(self.entries) >= 50_000:
            self.flush()

    def flush(self) -> None:
        _insert(JournalEntry, JOURNAL_COLUMNS, self.entries)
        self.entries = []

    def created(self, obj: Record) -> None:
        after = journal.snapshot(obj)
        changes = {k: [None, v] for k, v in after.items() if v not in (None, "", [], {})}
        self.entry(type(obj), obj.pk, str(obj), JournalEntry.Verb.CREATED, changes)

    # run -----------------------------------------------------------------------------------

    def run(self) -> None:
        imp = self.imp
        total = len(imp.report_changes)
        imp.progress.phase("writing", total)
        try:
            self.delete_relations()
            self.delete_nodes()
            self.delete_types()
            for section in ("component_types", "relation_types"):
                self.write_types(section)
            self.write_services()
            self.write_components()
            self.create_relations()
            if self.bulk:
                self.flush()
                if total:
                    GraphVersion.bump()
        except ValidationError as exc:  # a rule the checks did not foresee: still no 500
            imp.problem("import", "; ".join(exc.messages))
        except IntegrityError as exc:
            imp.problem("import", f"the database refused the change: {exc}")

    def guarded(
        self, item: Item | None, where: str | Callable[[], str], call: Callable[[], Any]
    ) -> Any:
        """One verb call; a refusal becomes a problem at the record's place (``where`` is
        only worked out then)."""
        try:
            with transaction.atomic():
                return call()
        except ValidationError as exc:
            if item is not None and hasattr(exc, "error_dict"):
                self.imp.model_errors(item.section, exc, item.where)
            else:
                self.imp.problem(where() if callable(where) else where, "; ".join(exc.messages))
        finally:
            self.imp.progress.advance()
        return None

    # deletions -----------------------------------------------------------------------------

    def delete_relations(self) -> None:
        idents = self.imp.relation_deletes
        if not idents:
            return
        pks = [self.imp.state.relations[i] for i in idents]
        if not self.bulk:
            for relation in Relation.objects.filter(pk__in=pks).select_related(
                "source", "target", "relation_type"
            ):
                self.guarded(None, "relations", partial(verbs.unrelate, relation, by=self.by))
            return
        require(self.by, "cmdb.delete_relation")
        names = {t.pk: t.name for t in self.imp.state.relation_types.values()}
        keys = self.imp.state.node_keys
        refs = self._references({*(self.imp.state.node_ids[i[2]] for i in idents)})
        for source, rtype, target in Relation.objects.filter(pk__in=pks).values_list(
            "source_id", "relation_type_id", "target_id"
        ):
            self.entry(
                Node,
                source,
                keys[source][2],
                JournalEntry.Verb.UPDATED,
                {f"{names[rtype]} {refs[target]} {keys[target][2]}": ["yes", None]},
            )
        for lo in range(0, len(pks), BATCH):
            Relation.objects.filter(pk__in=pks[lo : lo + BATCH]).delete()
        self.imp.progress.advance(len(pks))

    def _references(self, ids: set[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        id_list = list(ids)
        for lo in range(0, len(id_list), 10_000):
            out.update(
                Node.objects.filter(pk__in=id_list[lo : lo + 10_000]).values_list("pk", "reference")
            )
        return out

    def delete_nodes(self) -> None:
        """Pruned services and components; their relations are gone already (the plan lists
        them with the relation deletions, as ``delete_node`` would journal them)."""
        state = self.imp.state
        idents = self.imp.deleted_nodes
        if not idents:
            return
        ids = [state.node_ids[i] for i in idents]
        if not self.bulk:
            for lo in range(0, len(ids), 1000):
                for node in Node.objects.filter(pk__in=ids[lo : lo + 1000]):
                    self.guarded(None, "structure", partial(verbs.delete_node, node, by=self.by))
            return
        for kind in {"service" if i[0] == "service" else "component" for i in idents}:
            require(self.by, f"cmdb.delete_{kind}")
        for pk in ids:
            self.entry(Node, pk, state.node_keys[pk][2], JournalEntry.Verb.DELETED, {})
        for lo in range(0, len(ids), BATCH):
            Node.objects.filter(pk__in=ids[lo : lo + BATCH]).delete()
        self.imp.progress.advance(len(ids))

    def delete_types(self) -> None:
        for section, slugs in self.imp.type_deletes.items():
            model = ComponentType if section == "component_types" else RelationType
            current = (
                self.imp.state.types
                if section == "component_types"
                else self.imp.state.relation_types
            )
            for slug in slugs:
                obj = current[slug]
                require(self.by, f"cmdb.delete_{model._meta.model_name}")
                journal.record(obj, by=self.by, verb=JournalEntry.Verb.DELETED)
                obj.delete()
                if section == "relation_types":
                    GraphVersion.bump()
                self.imp.progress.advance()

    # types ----------------------------------------------------------------------------------

    def write_types(self, section: str) -> None:
        items = list(self.imp.items.get(section, {}).values())
        create = (
            verbs.create_component_type
            if section == "component_types"
            else verbs.create_relation_type
        )
        fields = [s.name for s in SPECS[section]]
        for item in items:
            if item.existing is None:
                saved = self.guarded(
                    item,
                    item.where,
                    partial(create, by=self.by, **{f: getattr(item.obj, f) for f in fields}),
                )
                if saved is not None:
                    item.obj = saved
            elif item.changes:
                current = type(item.obj).objects.get(pk=item.existing.pk)
                changed = {f: item.data[f] for f in item.changes}
                if section == "relation_types":
                    self.guarded(
                        item,
                        item.where,
                        partial(verbs.update_relation_type, current, by=self.by, **changed),
                    )
                else:
                    # Not update_component_type: it checks the new schema against the
                    # components as they are now, before this import has updated them. The
                    # plan made that check against the final state (_check_schema_changes).
                    require(self.by, "cmdb.change_componenttype")
                    self.guarded(
                        item,
                        item.where,
                        partial(update_record, current, by=self.by, **changed),
                    )
                item.obj = current
        # components of new types point at the saved type
        if section == "component_types":
            saved_types = {i.ident: i.obj for i in items}
            for component in self.imp.items.get("components", {}).values():
                if component.data["type"] in saved_types:
                    component.fields["component_type"] = saved_types[component.data["type"]]

    # services -------------------------------------------------------------------------------

    def service_fields(self, item: Item, names: Iterable[str]) -> dict[str, Any]:
        model = {s.name: s.model_field for s in SPECS["services"]}
        return {model[n]: item.fields[model[n]] for n in names if n != "customers"}

    def customers(self, item: Item) -> list[Customer]:
        return [self.imp.directory.customer(n) for n in item.data["customers"]]

    def write_services(self) -> None:
        items = list(self.imp.items.get("services", {}).values())
        if not self.bulk:
            for item in items:
                if item.existing is None:
                    names = [s.name for s in SPECS["services"]]
                    saved = self.guarded(
                        item,
                        item.where,
                        partial(
                            verbs.create_service,
                            by=self.by,
                            customers=self.customers(item),
                            **self.service_fields(item, names),
                        ),
                    )
                    if saved is not None:
                        self.nodes[item.ident] = saved
                elif item.changes:
                    current = Service.objects.get(pk=item.existing.pk)
                    customers = self.customers(item) if "customers" in item.changes else None
                    self.guarded(
                        item,
                        item.where,
                        partial(
                            verbs.update_service,
                            current,
                            by=self.by,
                            customers=customers,
                            **self.service_fields(item, item.changes),
                        ),
                    )
            return
        new = [i for i in items if i.existing is None]
        if new:
            require(self.by, "cmdb.add_service")
            saved = self.insert_nodes(Service, new, NodeKind.SERVICE)
            through = Service.customers.through
            rows = []
            for item, node in zip(new, saved, strict=True):
                self.nodes[item.ident] = node
                customers = self.customers(item)
                if customers:
                    rows += [(node.pk, c.pk) for c in customers]
                    self.entry(
                        Node,
                        node.pk,
                        node.name,
                        JournalEntry.Verb.UPDATED,
                        {"customers": [[], sorted(str(c) for c in customers)]},
                    )
            _insert(through, ["service", "customer"], rows)
            self.imp.progress.advance(len(new))
        changed = [i for i in items if i.existing is not None and i.changes]
        if changed:
            require(self.by, "cmdb.change_service")
            services = Service.objects.select_related(
                "owner_function", "service_owner", "delivery_manager"
            ).in_bulk([i.existing.pk for i in changed if i.existing])
            updated: list[Service] = []
            fields: set[str] = set()
            through = Service.customers.through
            for item in changed:
                assert item.existing is not None
                obj = services[item.existing.pk]
                model_changes = self.service_fields(item, item.changes)
                if model_changes and self.apply(obj, model_changes):
                    updated.append(obj)
                    fields |= {*model_changes, "updated_by", "updated_at"}
                if "customers" in item.changes:
                    before_c = sorted(str(c) for c in obj.customers.all())
                    after = self.customers(item)
                    through.objects.filter(service_id=obj.pk).delete()
                    through.objects.bulk_create(
                        [through(service_id=obj.pk, customer_id=c.pk) for c in after]
                    )
                    self.entry(
                        Node,
                        obj.pk,
                        obj.name,
                        JournalEntry.Verb.UPDATED,
                        {"customers": [before_c, sorted(str(c) for c in after)]},
                    )
            self.bulk_update(Service, updated, fields)
            self.imp.progress.advance(len(changed))

    # components -----------------------------------------------------------------------------

    def component_fields(self, item: Item, names: Iterable[str]) -> dict[str, Any]:
        model = {s.name: s.model_field for s in SPECS["components"]}
        return {model[n]: item.fields[model[n]] for n in names if n != "tags"}

    def write_components(self) -> None:
        items = list(self.imp.items.get("components", {}).values())
        if not self.bulk:
            for item in items:
                if item.existing is None:
                    names = [s.name for s in SPECS["components"]]
                    saved = self.guarded(
                        item,
                        item.where,
                        partial(
                            verbs.create_component,
                            by=self.by,
                            tags=item.data["tags"],
                            **self.component_fields(item, names),
                        ),
                    )
                    if saved is not None:
                        self.nodes[item.ident] = saved
                elif item.changes:
                    current = Component.objects.get(pk=item.existing.pk)
                    tags = item.data["tags"] if "tags" in item.changes else None
                    self.guarded(
                        item,
                        item.where,
                        partial(
                            verbs.update_component,
                            current,
                            by=self.by,
                            tags=tags,
                            **self.component_fields(item, item.changes),
                        ),
                    )
            return
        new = [i for i in items if i.existing is None]
        tag_ids = self.tag_ids({t for i in items for t in i.data["tags"]})
        through = Component.tags.through
        if new:
            require(self.by, "cmdb.add_component")
            saved = self.insert_nodes(Component, new, NodeKind.COMPONENT)
            rows = []
            for n, (item, node) in enumerate(zip(new, saved, strict=True), 1):
                self.nodes[item.ident] = node
                tags = item.data["tags"]
                if tags:
                    rows += [(node.pk, tag_ids[t]) for t in tags]
                    self.entry(
                        Node,
                        node.pk,
                        node.name,
                        JournalEntry.Verb.UPDATED,
                        {"tags": [[], list(tags)]},
                    )
                if n % 1000 == 0:
                    self.imp.progress.advance(1000)
            _insert(through, ["component", "tag"], rows)
            self.imp.progress.advance(len(new) % 1000)
        changed = [i for i in items if i.existing is not None and i.changes]
        if changed:
            require(self.by, "cmdb.change_component")
            ids = [i.existing.pk for i in changed if i.existing]
            components: dict[int, Component] = {}
            for lo in range(0, len(ids), 10_000):
                components.update(
                    Component.objects.select_related("component_type", "owner_function").in_bulk(
                        ids[lo : lo + 10_000]
                    )
                )
            changed_components: list[Component] = []
            changed_fields: set[str] = set()
            retag: list[tuple[int, list[str]]] = []
            for item in changed:
                assert item.existing is not None
                obj = components[item.existing.pk]
                model_changes = self.component_fields(item, item.changes)
                if model_changes and self.apply(obj, model_changes):
                    changed_components.append(obj)
                    changed_fields |= {*model_changes, "updated_by", "updated_at"}
                if "tags" in item.changes:
                    retag.append((obj.pk, item.data["tags"]))
                    self.entry(
                        Node,
                        obj.pk,
                        obj.name,
                        JournalEntry.Verb.UPDATED,
                        {"tags": list(item.changes["tags"])},
                    )
            self.bulk_update(Component, changed_components, changed_fields)
            for lo in range(0, len(retag), BATCH):
                chunk = retag[lo : lo + BATCH]
                through.objects.filter(component_id__in=[pk for pk, _ in chunk]).delete()
                through.objects.bulk_create(
                    [
                        through(component_id=pk, tag_id=tag_ids[t])
                        for pk, tags in chunk
                        for t in tags
                    ]
                )
            self.imp.progress.advance(len(changed))

    def tag_ids(self, names: set[str]) -> dict[str, int]:
        if not names:
            return {}
        Tag.objects.bulk_create([Tag(name=n) for n in sorted(names)], ignore_conflicts=True)
        return dict(Tag.objects.filter(name__in=names).values_list("name", "pk"))

    # bulk helpers ---------------------------------------------------------------------------

    def insert_nodes(
        self, model: type[Service] | type[Component], items: list[Item], kind: str
    ) -> list[_Saved]:
        """Insert new services or components with their "created" journal rows: the node
        rows with ids taken up front, then the rows of the child table (Django's bulk_create
        refuses multi-table children). One model instance serves as a template, filled per
        record: the rows and the journal snapshot come from the model's own fields, as a
        save() would, at a fraction of the cost of an instance per record."""
        prefix = model.REFERENCE_PREFIX
        end = self.reserve(prefix, len(items))
        ids = _new_ids(Node, len(items))
        template = model(created_at=self.moment, updated_at=self.moment, kind=kind)
        template.created_by = template.updated_by = self.actor
        local = list(model._meta.local_concrete_fields)
        parents, children, saved = [], [], []
        for n, (item, pk) in enumerate(zip(items, ids, strict=True)):
            reference = f"{prefix}-{end - len(items) + n + 1:06d}"
            for name, value in item.fields.items():
                setattr(template, name, value)
            template.id = template.pk = pk
            template.reference = reference
            parents.append(
                (
                    pk,
                    self.now,
                    self.now,
                    self.actor_id,
                    self.actor_id,
                    reference,
                    kind,
                    template.name,
                    template.description,
                    template.owner_function_id,
                )
            )
            children.append(
                [f.get_db_prep_save(getattr(template, f.attname), connection) for f in local]
            )
            self.created(template)
            saved.append(_Saved(pk, template.name, reference))
        _insert(Node, NODE_COLUMNS, parents)
        _insert(model, [f.name for f in local], children)
        return saved

    def reserve(self, prefix: str, n: int) -> int:
        """Take ``n`` reference numbers at once (the row lock serialises concurrent
        creators, as ``next_reference`` does); returns the last one."""
        if not Counter.objects.filter(prefix=prefix).update(value=F("value") + n):
            Counter.objects.create(prefix=prefix, value=n)
        return Counter.objects.values_list("value", flat=True).get(prefix=prefix)

    def bulk_update(
        self, model: type[Service | Component], objs: list[Any], fields: set[str]
    ) -> None:
        if objs:
            for obj in objs:
                obj.updated_at = self.moment
            model.objects.bulk_update(objs, sorted(fields), batch_size=500)

    # relations ------------------------------------------------------------------------------

    def node_of(self, ident: Any) -> Node | _Saved:
        node = self.nodes.get(ident)
        if node is None:
            raise KeyError(ident)
        return node

    def create_relations(self) -> None:
        imp = self.imp
        if imp.relations is None:
            return
        new = [r for i, r in imp.relations.items() if i not in imp.state.relations]
        if not new:
            return
        rtypes = dict(imp.state.relation_types)
        for item in imp.items.get("relation_types", {}).values():
            rtypes[item.ident] = (
                item.obj if item.obj.pk else RelationType.objects.get(slug=item.ident)
            )
        # nodes the import did not create: their id, name and reference
        missing = {i for r in new for i in (r.ident[0], r.ident[2]) if i not in self.nodes}
        ids = [imp.state.node_ids[i] for i in missing]
        for lo in range(0, len(ids), 10_000):
            for node in Node.objects.filter(pk__in=ids[lo : lo + 10_000]).only(
                "pk", "name", "reference", "kind"
            ):
                self.nodes[imp.state.node_keys[node.pk][0]] = node
        if not self.bulk:
            for rel in new:
                source, target = self.node_of(rel.ident[0]), self.node_of(rel.ident[2])
                self.guarded(
                    None,
                    partial(getattr, rel.tree, "where"),
                    # the verb path loaded or created real nodes
                    partial(
                        verbs.relate,
                        cast(Node, source),
                        cast(Node, target),
                        rtypes[rel.rtype],
                        by=self.by,
                    ),
                )
            return
        require(self.by, "cmdb.add_relation")
        # The hot loop of a large import (300,000 edges): journal rows are built inline, with
        # the same content as the verb's (see relate()), rather than through entry().
        relation_ct, node_ct = content_type_for(Relation).pk, content_type_for(Node).pk
        now, actor, label, json = self.now, self.actor_id, self.label, self.json
        created, updated = JournalEntry.Verb.CREATED, JournalEntry.Verb.UPDATED
        for lo in range(0, len(new), 50_000):
            chunk = new[lo : lo + 50_000]
            ids = _new_ids(Relation, len(chunk))
            rows = []
            entries = self.entries
            for rel, pk in zip(chunk, ids, strict=True):
                source, target, rtype = (
                    self.nodes[rel.ident[0]],
                    self.nodes[rel.ident[2]],
                    rtypes[rel.rtype],
                )
                rows.append((pk, now, now, actor, actor, source.pk, target.pk, rtype.pk))
                changes = {
                    "source": [None, source.name],
                    "target": [None, target.name],
                    "relation_type": [None, rtype.name],
                }
                text = f"{source.name} {rtype.name} {target.name}"
                entries.append(
                    (
                        relation_ct,
                        str(pk),
                        text[:200],
                        actor,
                        label,
                        now,
                        created,
                        json(changes),
                        "",
                    )
                )
                edge = {f"{rtype.name} {target.reference} {target.name}": [None, "yes"]}
                entries.append(
                    (
                        node_ct,
                        str(source.pk),
                        source.name[:200],
                        actor,
                        label,
                        now,
                        updated,
                        json(edge),
                        "",
                    )
                )
            _insert(Relation, RELATION_COLUMNS, rows)
            self.flush()
            imp.progress.advance(len(chunk))
