"""Checking an import of the service structure: every record of the input is validated as
the model would (field rules, attribute schema, uniqueness over the final state), matched with
the database by natural key, and the changes are planned, with every problem found and its
place. Nothing here writes; see ``exchange_write``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from itline.cmdb.exchange_io import (
    FormatProblem,
    Locator,
    Problem,
    Progress,
    Tree,
)
from itline.cmdb.exchange_records import (
    CRITICALITY,
    CRITICALITY_NAME,
    FILES,
    MAX_DEPTH,
    MODEL_FIELDS,
    RESERVED_SLUG,
    SPECS,
    Change,
    Directory,
    Spec,
    _depth,
    _Existing,
    _for_file,
    _order,
    _relation_type_record,
    _sorted_json,
    _State,
    _type_record,
    node_key,
)
from itline.cmdb.models import (
    Component,
    ComponentType,
    RelationType,
    Service,
    Tag,
)
from itline.core.services import require

# --- import: reading ----------------------------------------------------------------------


@dataclass(slots=True)
class Item:
    """One record of the input, checked and in canonical file terms."""

    section: str
    ident: Any
    key: str
    data: dict[str, Any]
    where: Locator
    obj: Any = None  # types: the unsaved (or changed) model instance once checked
    fields: dict[str, Any] = field(default_factory=dict)  # nodes: model field -> value
    existing: _Existing | None = None
    changes: dict[str, list[Any]] = field(default_factory=dict)
    partial: bool = False


@dataclass(slots=True)
class RelationItem:
    ident: tuple[Any, str, Any]
    source: str
    rtype: str
    target: str
    tree: Tree  # the target as written: its place, looked up only when needed


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class _Import:
    """One import: read the sections, check them against the database, plan, write."""

    def __init__(self, *, by: Any, prune: bool, progress: Progress) -> None:
        self.by = by
        self.prune = prune
        self.progress = progress
        self.problems: list[Problem] = []
        self.items: dict[str, dict[Any, Item]] = {}
        self.relations: dict[tuple[Any, str, Any], RelationItem] | None = None
        self.present: set[str] = set()
        self.directory = Directory()
        self.state = _State(self.directory)
        self.validators: dict[str, Any] = {}
        self.report_changes: list[Change] = []

    def problem(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    # sections -------------------------------------------------------------------------------

    def read_list(self, section: str, tree: Tree) -> list[tuple[dict[str, Any], Locator]]:
        if tree.kind != "list":
            self.problem(tree.where, f"{FILES[section]} must be a list of records")
            return []
        records = []
        for item in tree.items():
            if item.kind != "map":
                self.problem(item.where, "each record must be a map of fields (key: value)")
                continue
            try:
                records.append(item.record())
            except FormatProblem as exc:
                self.problems.append(exc.problem)
        return records

    def canonical(
        self, section: str, data: dict[str, Any], where: Locator, *, partial: bool = False
    ) -> dict[str, Any] | None:
        """The record's values in canonical form, or None after reporting what is wrong."""
        specs = SPECS[section]
        known = {s.name for s in specs}
        ok = True
        for key in data:
            if key not in known:
                self.problem(
                    where(key),
                    f"unknown field {key!r}; the fields of {FILES[section]} are: {', '.join(s.name for s in specs)}",
                )
                ok = False
        out: dict[str, Any] = {}
        for spec in specs:
            if spec.name not in data or data[spec.name] is None:
                if spec.required:
                    self.problem(where(), f"{spec.name} is required")
                    ok = False
                elif not partial:
                    out[spec.name] = (
                        list(spec.default) if isinstance(spec.default, tuple) else spec.default
                    )
                continue
            try:
                out[spec.name] = self.value(spec, data[spec.name])
            except ValueError as exc:
                self.problem(where(spec.name), f"{spec.name}: {exc}")
                ok = False
        return out if ok else None

    def value(self, spec: Spec, raw: Any) -> Any:
        kind = spec.kind
        if kind in ("text", "function", "person"):
            if not isinstance(raw, str):
                # 0123 would be the number 83 to YAML: refuse rather than guess
                quoted = " (put it in quotes)" if isinstance(raw, int | float | bool) else ""
                raise ValueError(f"must be text, not {_json_type(raw)}{quoted}")
            text = str(raw)
            if kind == "function":
                return self.directory.function(text).name if text else None
            if kind == "person":
                return self.directory.person_key(self.directory.person(text)) if text else None
            return text
        if kind == "bool":
            if not isinstance(raw, bool):
                raise ValueError(f"must be true or false, not {raw!r}")
            return raw
        if kind == "choice":
            text = str(raw).strip().lower().replace(" ", "_")
            if text not in spec.choices:
                raise ValueError(f"{raw!r} is not one of {', '.join(spec.choices)}")
            return text
        if kind == "criticality":
            if isinstance(raw, int) and not isinstance(raw, bool) and raw in CRITICALITY_NAME:
                return CRITICALITY_NAME[raw]
            text = str(raw).strip().lower().replace(" ", "_")
            if text not in CRITICALITY:
                raise ValueError(f"{raw!r} is not one of {', '.join(CRITICALITY)} (or 1-5)")
            return text
        if kind in ("customers", "tags"):
            if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
                raise ValueError("must be a list of names")
            if kind == "customers":
                return sorted(
                    {self.directory.customer(v).business_unit.name for v in raw}, key=_order
                )
            tags = sorted({v.strip().lower() for v in raw if v.strip()})
            for tag in tags:
                try:
                    Tag._meta.get_field("name").run_validators(tag)
                except ValidationError:
                    raise ValueError(
                        f"{tag!r} is not a valid tag (letters, digits, - and _)"
                    ) from None
            return tags
        if kind == "object":
            if not isinstance(raw, dict):
                raise ValueError(f"must be a map (key: value), not {_json_type(raw)}")
            if _depth(raw) > MAX_DEPTH:
                raise ValueError(f"is nested more than {MAX_DEPTH} levels deep")
            return _sorted_json(raw)
        raise AssertionError(kind)

    def model_errors(
        self, section: str, exc: ValidationError, where: Locator, prefix: str = ""
    ) -> None:
        names = MODEL_FIELDS[section]
        for model_field, messages in exc.message_dict.items():
            name = names.get(model_field, model_field)
            for message in messages:
                self.problem(
                    where(name) if name in names.values() else where(),
                    f"{prefix}{name}: {message}"
                    if model_field != "__all__"
                    else f"{prefix}{message}",
                )

    def clean_fields(
        self, model: type[models.Model], section: str, fields: dict[str, Any], where: Locator
    ) -> bool:
        """The model's field validation (``Field.clean``: type, length, choices, blank), as
        ``Model.clean_fields`` runs it, without building an instance per record: that alone
        would cost seconds on 100,000 components. Foreign keys are resolved, so valid."""
        errors: dict[str, list[str]] = {}
        for name, value in fields.items():
            try:
                model._meta.get_field(name).clean(value, None)  # type: ignore[union-attr]
            except ValidationError as exc:
                errors[name] = exc.messages
        if errors:
            self.model_errors(section, ValidationError(errors), where)
        return not errors

    def duplicate(self, seen: dict[Any, Item], ident: Any, where: Locator, what: str) -> bool:
        first = seen.get(ident)
        if first is not None:
            self.problem(where(), f"{what} appears twice (also at {first.where()})")
            return True
        return False

    # types --------------------------------------------------------------------------------

    def read_types(self, section: str, tree: Tree) -> None:
        model = ComponentType if section == "component_types" else RelationType
        existing_all = (
            self.state.types if section == "component_types" else self.state.relation_types
        )
        seen: dict[Any, Item] = {}
        names: dict[str, Item] = {}
        for data, where in self.read_list(section, tree):
            self.progress.advance()
            values = self.canonical(section, data, where)
            if values is None:
                continue
            slug = values["slug"]
            if section == "component_types" and slug == RESERVED_SLUG:
                self.problem(
                    where("slug"),
                    f"the slug {RESERVED_SLUG!r} is reserved: relations name services as service/<name>",
                )
                continue
            if self.duplicate(
                seen, slug, where, f"the {section.removesuffix('s').replace('_', ' ')} {slug!r}"
            ):
                continue
            current = existing_all.get(slug)
            obj = model.objects.get(pk=current.pk) if current is not None else model()
            for name, value in values.items():
                setattr(obj, name, value)
            try:
                obj.full_clean(validate_unique=False)
            except ValidationError as exc:
                self.model_errors(section, exc, where)
                continue
            item = Item(section, slug, slug, values, where, obj=obj)
            if current is not None:
                before = (
                    _type_record(current)  # type: ignore[arg-type]
                    if section == "component_types"
                    else _relation_type_record(current)  # type: ignore[arg-type]
                )
                item.existing = _Existing(current.pk, before)
            seen[slug] = item
            clash = names.get(values["name"])
            if clash is not None:
                self.problem(
                    where("name"), f"the name {values['name']!r} is also used at {clash.where()}"
                )
            names[values["name"]] = item
        self.items[section] = seen
        if not self.prune:
            for slug, current in existing_all.items():
                if slug not in seen and current.name in names:
                    self.problem(
                        names[current.name].where("name"),
                        f"the name {current.name!r} belongs to the type {slug!r} in the database",
                    )

    def final_type(self, slug: str) -> ComponentType | None:
        item = self.items.get("component_types", {}).get(slug)
        if item is not None:
            return item.obj
        if "component_types" in self.present and self.prune:
            return None
        return self.state.types.get(slug)

    def schema_errors(
        self, slug: str, ctype: ComponentType, attributes: Any
    ) -> list[tuple[list[Any], str]]:
        """What the type's schema says about ``attributes``, as (path, message): the same rules
        and messages as ``ComponentType.attribute_errors``, with the compiled validator kept
        per type (building one for each of 100,000 components costs more than the insert)."""
        from jsonschema import Draft202012Validator

        if not ctype.attribute_schema:
            return [] if isinstance(attributes, dict) else [([], "attributes must be an object")]
        validator = self.validators.get(slug)
        if validator is None:
            validator = self.validators[slug] = Draft202012Validator(ctype.attribute_schema)
        try:
            errors = sorted(validator.iter_errors(attributes), key=lambda e: list(e.absolute_path))
        except Exception as exc:  # e.g. a $ref that cannot be resolved: bad input, not a crash
            return [([], f"the schema of the type {slug!r} cannot be applied: {exc}")]
        return [(list(e.absolute_path), e.message) for e in errors]

    # nodes --------------------------------------------------------------------------------

    def read_services(self, tree: Tree) -> None:
        seen: dict[Any, Item] = {}
        for data, where in self.read_list("services", tree):
            self.progress.advance()
            values = self.canonical("services", data, where)
            if values is None:
                continue
            ident = ("service", values["name"].lower())
            if self.duplicate(seen, ident, where, f"the service {values['name']!r}"):
                continue
            fields = {
                "name": values["name"],
                "description": values["description"],
                "service_kind": values["kind"],
                "lifecycle": values["lifecycle"],
                "criticality": CRITICALITY[values["criticality"]],
                "cost_centre": values["cost_centre"],
                "catalogue_visible": values["catalogue_visible"],
            }
            if not self.clean_fields(Service, "services", fields, where):
                continue
            directory = self.directory
            fields["owner_function"] = (
                directory.function(values["owner_function"]) if values["owner_function"] else None
            )
            for person in ("service_owner", "delivery_manager"):
                fields[person] = directory.person(values[person]) if values[person] else None
            item = Item(
                "services", ident, node_key("service", values["name"]), values, where, fields=fields
            )
            item.existing = self.state.services.get(ident)
            seen[ident] = item
        self.items["services"] = seen

    def add_component(
        self, data: dict[str, Any], where: Locator, *, partial: bool = False, seen: dict[Any, Item]
    ) -> None:
        values = self.canonical("components", data, where, partial=partial)
        if values is None:
            return
        slug = values["type"]
        ctype = self.final_type(slug)
        if ctype is None:
            known = sorted(
                set(self.items.get("component_types", {}))
                | (
                    set()
                    if self.prune and "component_types" in self.present
                    else set(self.state.types)
                )
            )
            self.problem(
                where("type"), f"unknown component type {slug!r}; known types: {', '.join(known)}"
            )
            return
        ident = (slug, values["name"].lower())
        if self.duplicate(seen, ident, where, f"the {ctype.name.lower()} {values['name']!r}"):
            return
        existing = self.state.components.get(ident)
        if partial:
            base: dict[str, Any] = (
                existing.data
                if existing is not None
                else {
                    s.name: (list(s.default) if isinstance(s.default, tuple) else s.default)
                    for s in SPECS["components"]
                }
            )
            attributes = values.get("attributes")
            values = {**base, **values}
            if attributes is not None:
                values["attributes"] = _sorted_json({**base["attributes"], **attributes})
        fields = {
            "name": values["name"],
            "description": values["description"],
            "status": values["status"],
            "location": values["location"],
            "attributes": values["attributes"],
        }
        ok = self.clean_fields(Component, "components", fields, where)
        for path, message in self.schema_errors(slug, ctype, values["attributes"]):
            dotted = ".".join(["attributes", *(str(p) for p in path)])
            self.problem(where("attributes", *path[:1]), f"{dotted}: {message}")
            ok = False
        if not ok:
            return
        fields["component_type"] = ctype
        fields["owner_function"] = (
            self.directory.function(values["owner_function"]) if values["owner_function"] else None
        )
        item = Item(
            "components",
            ident,
            node_key(slug, values["name"]),
            values,
            where,
            fields=fields,
            partial=partial,
        )
        item.existing = existing
        seen[ident] = item

    def read_components(self, tree: Tree) -> None:
        seen: dict[Any, Item] = self.items.setdefault("components", {})
        for data, where in self.read_list("components", tree):
            self.progress.advance()
            self.add_component(data, where, seen=seen)

    # relations ----------------------------------------------------------------------------

    def node_ident(self, key: Any, tree: Tree, *, as_key: bool = False) -> tuple[Any, str] | None:
        """The identity and canonical key of a node named in relations, or None after a
        problem. ``tree`` is where it was named (a map key when ``as_key``); its line is
        only looked up on a problem."""

        def where() -> str:
            return tree.key_where if as_key else tree.where

        if not isinstance(key, str) or "/" not in key:
            self.problem(
                where(),
                f"{key!r} is not a node: write service/<name> or <component type>/<name>",
            )
            return None
        kind, name = key.split("/", 1)
        ident = (kind, name.lower())
        section = "services" if kind == "service" else "components"
        item = self.items.get(section, {}).get(ident)
        if item is not None:
            return ident, item.key
        pruned = self.prune and section in self.present
        existing = (
            None
            if pruned
            else (self.state.services if kind == "service" else self.state.components).get(ident)
        )
        if existing is not None:
            return ident, node_key(kind, existing.data["name"])
        if kind != "service" and self.final_type(kind) is None:
            self.problem(where(), f"{key!r}: unknown component type {kind!r}")
        else:
            whence = "in the file" if pruned else "in the file or the database"
            self.problem(
                where(),
                f"{key!r}: no such {'service' if kind == 'service' else 'component'} {whence}",
            )
        return None

    def final_relation_type(self, slug: str) -> bool:
        if slug in self.items.get("relation_types", {}):
            return True
        if "relation_types" in self.present and self.prune:
            return False
        return slug in self.state.relation_types

    def read_relations(self, tree: Tree) -> None:
        self.relations = {}
        if tree.kind != "map":
            self.problem(
                tree.where,
                "relations must be a map: source node -> relation type -> list of target nodes",
            )
            return
        try:
            for source_key, by_type in tree.entries():
                self.progress.advance()
                source = self.node_ident(source_key, by_type, as_key=True)
                if by_type.kind != "map":
                    self.problem(
                        by_type.where,
                        f"{source_key}: expected relation types, each with a list of target nodes",
                    )
                    continue
                for rtype, targets in by_type.entries():
                    if not self.final_relation_type(rtype):
                        self.problem(
                            targets.where,
                            f"unknown relation type {rtype!r}; known: {', '.join(sorted(set(self.items.get('relation_types', {})) | set(self.state.relation_types)))}",
                        )
                        continue
                    if targets.kind != "list":
                        self.problem(
                            targets.where, f"{source_key} {rtype}: expected a list of target nodes"
                        )
                        continue
                    for target_tree in targets.items():
                        target = self.node_ident(target_tree.value(), target_tree)
                        if source is None or target is None:
                            continue
                        if source[0] == target[0]:
                            self.problem(
                                target_tree.where, f"{source[1]} cannot be related to itself"
                            )
                            continue
                        ident = (source[0], rtype, target[0])
                        first = self.relations.get(ident)
                        if first is not None:
                            self.problem(
                                target_tree.where,
                                f"{source[1]} {rtype} {target[1]} appears twice (also at {first.tree.where})",
                            )
                            continue
                        self.relations[ident] = RelationItem(
                            ident, source[1], rtype, target[1], target_tree
                        )
        except FormatProblem as exc:
            self.problems.append(exc.problem)

    # plan ---------------------------------------------------------------------------------

    def plan(self) -> None:
        """Work out the changes (and the checks that need the whole picture)."""
        changes = self.report_changes
        deleted_nodes: set[Any] = set()
        # deletions first: they are applied first, and free names for the rest
        if self.prune:
            for section, current in (
                ("services", self.state.services),
                ("components", self.state.components),
            ):
                if section in self.present:
                    for ident, existing in current.items():
                        if ident not in self.items.get(section, {}):
                            deleted_nodes.add(ident)
                            changes.append(
                                Change(
                                    "delete",
                                    section,
                                    node_key(ident[0], existing.data["name"])
                                    if section == "components"
                                    else node_key("service", existing.data["name"]),
                                )
                            )
        relation_deletes = []
        for ident in self.state.relations:
            gone = ident[0] in deleted_nodes or ident[2] in deleted_nodes
            if gone or (self.prune and self.relations is not None and ident not in self.relations):
                relation_deletes.append(ident)
        for ident in relation_deletes:
            changes.append(Change("delete", "relations", self._relation_label(ident)))
        type_deletes: dict[str, list[str]] = {}
        if self.prune:
            type_sections: tuple[tuple[str, dict[str, Any]], ...] = (
                ("component_types", self.state.types),
                ("relation_types", self.state.relation_types),
            )
            for section, current_types in type_sections:
                if section in self.present:
                    type_deletes[section] = [
                        slug for slug in current_types if slug not in self.items[section]
                    ]
            self._check_type_deletes(type_deletes, deleted_nodes, set(relation_deletes))
        for section in ("component_types", "relation_types"):
            for slug in type_deletes.get(section, []):
                changes.append(Change("delete", section, slug))
        for section in ("component_types", "relation_types", "services", "components"):
            for item in self.items.get(section, {}).values():
                if item.existing is None:
                    changes.append(
                        Change(
                            "create",
                            section,
                            item.key,
                            {k: [None, v] for k, v in _for_file(section, item.data).items()},
                        )
                    )
                    continue
                diff = {
                    k: [item.existing.data[k], v]
                    for k, v in item.data.items()
                    if item.existing.data[k] != v
                }
                if diff:
                    item.changes = diff
                    changes.append(Change("update", section, item.key, diff))
        if self.relations is not None:
            for ident, rel in self.relations.items():
                if ident not in self.state.relations:
                    changes.append(
                        Change("create", "relations", f"{rel.source} {rel.rtype} {rel.target}")
                    )
        self.relation_deletes = relation_deletes
        self.type_deletes = type_deletes
        self.deleted_nodes = deleted_nodes
        self._check_schema_changes()

    def _relation_label(self, ident: tuple[Any, str, Any]) -> str:
        keys = self.state.node_keys
        ids = self.state.node_ids
        return f"{keys[ids[ident[0]]][1]} {ident[1]} {keys[ids[ident[2]]][1]}"

    def _check_type_deletes(
        self,
        type_deletes: dict[str, list[str]],
        deleted_nodes: set[Any],
        deleted_relations: set[Any],
    ) -> None:
        for slug in type_deletes.get("component_types", []):
            staying = [
                e
                for ident, e in self.state.components.items()
                if ident[0] == slug and ident not in deleted_nodes
            ]
            if staying:
                self.problem(
                    FILES["component_types"],
                    f"the component type {slug!r} is not in the file but {_plural(len(staying), 'component')} still use it (e.g. {staying[0].data['name']!r}); --prune cannot delete it",
                )
        for slug in type_deletes.get("relation_types", []):
            staying_rel = [
                i for i in self.state.relations if i[1] == slug and i not in deleted_relations
            ]
            if staying_rel:
                self.problem(
                    FILES["relation_types"],
                    f"the relation type {slug!r} is not in the file but {_plural(len(staying_rel), 'relation')} still use it; --prune cannot delete it",
                )

    def _check_schema_changes(self) -> None:
        """A stricter schema must not silently orphan components that this import leaves as
        they are (the same rule as ``update_component_type``)."""
        for item in self.items.get("component_types", {}).values():
            if "attribute_schema" not in item.changes:
                continue
            file_components = self.items.get("components", {})
            for ident, existing in self.state.components.items():
                if (
                    ident[0] != item.ident
                    or ident in file_components
                    or ident in self.deleted_nodes
                ):
                    continue
                errors = self.schema_errors(item.ident, item.obj, existing.data["attributes"])
                if errors:
                    path, message = errors[0]
                    where = ".".join(str(p) for p in path)
                    self.problem(
                        item.where("attribute_schema"),
                        f"{existing.reference} {existing.data['name']} would violate it: {f'{where}: ' if where else ''}{message}",
                    )
                    break

    def check_permissions(self) -> None:
        needed = set()
        model_of = {
            "component_types": "componenttype",
            "relation_types": "relationtype",
            "services": "service",
            "components": "component",
            "relations": "relation",
        }
        verb = {"create": "add", "update": "change", "delete": "delete"}
        for change in self.report_changes:
            needed.add(f"cmdb.{verb[change.action]}_{model_of[change.section]}")
        for perm in sorted(needed):
            require(self.by, perm)


def _json_type(value: Any) -> str:
    return {
        dict: "a map",
        list: "a list",
        str: "text",
        bool: "true/false",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)
