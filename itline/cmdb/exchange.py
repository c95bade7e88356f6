"""Structure as code: export and import the whole service structure as files a person can read,
diff and keep in git.

Layout
------
``itline export DIR`` writes one file per section; ``itline export`` (stdout) and
``itline export FILE.yaml`` write the same sections as one document, each under its key::

    DIR/component-types.yaml   component_types:   list, sorted by slug
    DIR/relation-types.yaml    relation_types:    list, sorted by slug
    DIR/services.yaml          services:          list, sorted by name
    DIR/components.yaml        components:        list, sorted by type, then name
    DIR/relations.yaml         relations:         source -> relation type -> [targets]

``.json`` instead of ``.yaml`` gives the same content as JSON. Records name each other by
natural keys, never database ids: types by slug, services by name, components by type and name,
functions by name, people by e-mail (by name when they have none, by reference when the name is
not unique), customers by their business unit's name. A node of the graph is written
``service/<name>`` or ``<component type slug>/<name>`` (so ``service`` cannot be a component
type's slug in these files). Example::

    # services.yaml
    - name: Payroll
      kind: it_service            # it_service | supporting
      lifecycle: live             # proposed | approved | in_transition | live | retiring | retired
      criticality: high           # very_low | low | medium | high | very_high
      owner_function: HR applications
      service_owner: nadia.nowak@example.com
      customers:
      - Finance
      catalogue_visible: true

    # components.yaml
    - type: server
      name: web-01
      status: in_use              # planned | in_use | in_maintenance | retired
      location: AMS-1
      tags:
      - dmz
      attributes:
        cpu: 8

    # relations.yaml: "service/Payroll depends on ...", one edge per line
    service/Payroll:
      depends-on:
      - server/web-01

Each record states the whole record: a field left out means its empty value or default
(``status: in_use``, ``kind: it_service``, ...), which is also why the exporter leaves empty fields
out. Output is stable (sorted records, sorted keys inside attributes and schemas, block style,
multi-line text as ``|`` blocks), so export -> import into an empty database -> export gives
byte-identical files.

Import
------
``import_structure`` reads one document or a directory with any subset of the section files
(a section that is absent is left alone). Records are matched by natural key (names
case-insensitively, as their uniqueness rules are): new ones are created, changed ones updated
field by field. Records in the database but not in a section are kept, unless ``prune`` is set:
then they are deleted (only in the sections present; a type still used by a record that stays
is an error). Importing the same files twice changes nothing the second time.

Everything is checked before anything is written, and every problem is reported with its file
and line, not just the first. The whole import is one transaction: an error changes nothing.
Small imports go through the verbs of :mod:`itline.cmdb.services`; large ones (more than
``BULK_THRESHOLD`` changes) use bulk inserts and updates that write the same journal rows the
verbs write and bump the graph version once. Validation is the same either way: the model's
field validation and the type's attribute schema, uniqueness checked over the final state.
(Where the bulk path differs from the verbs: a new component type's schema may be tightened
in the same import that fixes its components, and the journal rows of one import share one
timestamp.) Organisation records (functions, people, customers) are not created: a name that
does not resolve is an error.

The CSV import of components (``itline.cmdb.exchange_csv``) and the API
(``itline.cmdb.exchange_api``) run through the same checks and transaction.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.db import transaction

from itline.cmdb.exchange_check import _Import
from itline.cmdb.exchange_io import (
    ExchangeError,
    FormatProblem,
    Problem,
    Progress,
    Source,
    Tree,
    decode,
    dump,
    format_of,
    load,
    without_gc,
)
from itline.cmdb.exchange_records import (
    FILES,
    RESERVED_SLUG,
    SECTIONS,
    Change,
    Directory,
    Report,
    _for_file,
    _order,
    _relation_type_record,
    _State,
    _type_record,
)
from itline.cmdb.exchange_write import _Writer

# Above this many changes the import writes in bulk (a verb per record costs a few ms).
BULK_THRESHOLD = 500

__all__ = [
    "FILES",
    "SECTIONS",
    "Change",
    "ExchangeError",
    "Problem",
    "Progress",
    "Report",
    "Source",
    "dump_document",
    "dump_files",
    "export_structure",
    "import_structure",
]


@without_gc
def export_structure() -> dict[str, Any]:
    """The whole structure in file terms: ``{section: records}`` (see the module docstring)."""
    directory = Directory()
    state = _State(directory)
    if RESERVED_SLUG in state.types:
        raise ExchangeError(
            [
                Problem(
                    "component-types",
                    f"the component type slug {RESERVED_SLUG!r} is reserved for services in structure files; rename that type first",
                )
            ]
        )
    relations: dict[str, dict[str, list[str]]] = {}
    grouped: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for source, rtype, target in state.relations:
        grouped[state.node_keys[state.node_ids[source]][1]][rtype].append(
            state.node_keys[state.node_ids[target]][1]
        )
    for source in sorted(grouped, key=_order):
        relations[source] = {
            rtype: sorted(targets, key=_order) for rtype, targets in sorted(grouped[source].items())
        }
    return {
        "component_types": [
            _for_file("component_types", _type_record(t))
            for t in sorted(state.types.values(), key=lambda t: t.slug)
        ],
        "relation_types": [
            _for_file("relation_types", _relation_type_record(t))
            for t in sorted(state.relation_types.values(), key=lambda t: t.slug)
        ],
        "services": [
            _for_file("services", e.data)
            for e in sorted(state.services.values(), key=lambda e: _order(e.data["name"]))
        ],
        "components": [
            _for_file("components", e.data)
            for e in sorted(
                state.components.values(), key=lambda e: (e.data["type"], *_order(e.data["name"]))
            )
        ],
        "relations": relations,
    }


@without_gc
def dump_files(structure: dict[str, Any], fmt: str = "yaml") -> dict[str, str]:
    """``{file name: text}`` of the directory layout."""
    return {f"{FILES[s]}.{fmt}": dump(structure[s], fmt) for s in SECTIONS if s in structure}


@without_gc
def dump_document(structure: dict[str, Any], fmt: str = "yaml") -> str:
    return dump({s: structure[s] for s in SECTIONS if s in structure}, fmt)


# --- the entry points ---------------------------------------------------------------------


def _sections(
    sources: list[Source], problems: list[Problem], progress: Progress
) -> dict[str, Tree]:
    """Each section's tree. A file named after a section (``services.yaml``) holds that
    section; any other file is a whole document with the sections as keys."""
    by_stem = {stem: section for section, stem in FILES.items()}
    trees: dict[str, Tree] = {}
    progress.phase("reading", sum(len(s.data) for s in sources))
    for source in sources:
        stem = Path(source.name).name.rsplit(".", 1)[0]
        read = 0

        def advance(n: int) -> None:
            nonlocal read
            read += n
            progress.advance(n)

        try:
            tree = load(source.name, decode(source), source.fmt or format_of(source.name), advance)
        except ExchangeError as exc:
            problems.extend(exc.problems)
            continue
        finally:
            progress.advance(max(0, len(source.data) - read))
        section = by_stem.get(stem)
        if section is not None:
            if section in trees:
                problems.append(Problem(source.name, f"the section {section} is given twice"))
            elif tree is not None:
                trees[section] = tree
            continue
        if tree is None:
            continue
        if tree.kind != "map":
            problems.append(
                Problem(tree.where, f"expected a map with the sections {', '.join(SECTIONS)}")
            )
            continue
        try:
            for key, value in tree.entries():
                if key not in SECTIONS:
                    problems.append(
                        Problem(
                            value.where,
                            f"unknown section {key!r}; the sections are: {', '.join(SECTIONS)}",
                        )
                    )
                elif key in trees:
                    problems.append(Problem(value.where, f"the section {key} is given twice"))
                else:
                    trees[key] = value
        except FormatProblem as exc:
            problems.append(exc.problem)
    return trees


def run_import(
    fill: Callable[[_Import], None],
    *,
    by: Any = None,
    dry_run: bool = False,
    prune: bool = False,
    progress: Progress | None = None,
    bulk_threshold: int = BULK_THRESHOLD,
) -> Report:
    """The frame every import runs in: read and check with ``fill``, plan, and write in one
    transaction (rolled back on any problem). Raises :class:`ExchangeError`."""
    progress = progress or Progress()
    with transaction.atomic():
        imp = _Import(by=by, prune=prune, progress=progress)
        fill(imp)
        if not imp.problems:
            imp.plan()
        if imp.problems:
            raise ExchangeError(imp.problems)
        imp.check_permissions()
        report = Report(dry_run=dry_run, changes=imp.report_changes)
        if dry_run or not report.changes:
            return report
        _Writer(imp, bulk=len(report.changes) > bulk_threshold).run()
        if imp.problems:
            raise ExchangeError(imp.problems)  # leaves the atomic block: rolled back
    return report


@without_gc
def import_structure(
    sources: list[Source],
    *,
    by: Any = None,
    dry_run: bool = False,
    prune: bool = False,
    progress: Progress | None = None,
    bulk_threshold: int = BULK_THRESHOLD,
) -> Report:
    """Import structure files (see the module docstring). Raises :class:`ExchangeError` with
    every problem found, having changed nothing; ``PermissionDenied`` when ``by`` may not make
    one of the changes."""
    problems: list[Problem] = []
    trees = _sections(sources, problems, progress or Progress())
    if problems:
        raise ExchangeError(problems)

    def fill(imp: _Import) -> None:
        imp.present = set(trees)
        imp.progress.phase("checking", sum(t.size() for t in trees.values()))
        for section in ("component_types", "relation_types"):
            if section in trees:
                imp.read_types(section, trees[section])
        if "services" in trees:
            imp.read_services(trees["services"])
        if "components" in trees:
            imp.read_components(trees["components"])
        if "relations" in trees:
            imp.read_relations(trees["relations"])

    return run_import(
        fill, by=by, dry_run=dry_run, prune=prune, progress=progress, bulk_threshold=bulk_threshold
    )
