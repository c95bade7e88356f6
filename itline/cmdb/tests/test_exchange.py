"""Structure as code: export and import of the service structure, and the CSV import."""

from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from itline.cmdb import exchange_write
from itline.cmdb import services as verbs
from itline.cmdb.exchange import (
    ExchangeError,
    dump_document,
    dump_files,
    export_structure,
    import_structure,
)
from itline.cmdb.exchange_csv import CsvMapping, import_components_csv
from itline.cmdb.exchange_io import Source
from itline.cmdb.models import (
    Component,
    ComponentType,
    GraphVersion,
    Node,
    Relation,
    RelationType,
    Service,
)
from itline.core.models import JournalEntry
from itline.core.testing import make_person, make_unit, make_user
from itline.org.models import Customer, Function

DATA = Path(__file__).parent / "data"


@pytest.fixture
def org(db):
    Function.objects.create(name="Operations", reference="FUN-900001")
    make_person("Nadia Nowak", email="nadia@example.com")
    make_person("Olav Berg")  # no e-mail: named by name
    Customer.objects.create(business_unit=make_unit("Finance"))
    Customer.objects.create(business_unit=make_unit("Sales"))


@pytest.fixture
def structure(org):
    """A small structure using every field, a cycle, multi-line text and non-ASCII names."""
    function = Function.objects.get(name="Operations")
    nadia, olav = (
        org_person("nadia@example.com"),
        org_person("Olav Berg"),
    )
    appliance = verbs.create_component_type(
        by=None,
        slug="appliance",
        name="Appliance",
        description="A box we do not open",
        attribute_schema={
            "type": "object",
            "required": ["vendor"],
            "properties": {"vendor": {"type": "string"}, "ports": {"type": "integer"}},
        },
    )
    verbs.create_relation_type(
        by=None,
        slug="backs-up-to",
        name="backs up to",
        inverse_name="is the backup of",
        propagates_impact=False,
    )
    payroll = verbs.create_service(
        by=None,
        name="Payroll",
        description="Pays people.\nTwice a month.\n",
        owner_function=function,
        service_owner=nadia,
        delivery_manager=olav,
        criticality=4,
        lifecycle="live",
        cost_centre="CC-100",
        catalogue_visible=True,
        customers=list(Customer.objects.all()),
    )
    hosting = verbs.create_service(by=None, name="Database hosting", service_kind="supporting")
    server = ComponentType.objects.get(slug="server")
    web = verbs.create_component(
        by=None,
        component_type=server,
        name="web-01",
        location="Zürich",
        attributes={"os": "debian", "cpu": 8, "memory_gb": 7.5},
        tags=["dmz", "pci"],
        owner_function=function,
    )
    db_server = verbs.create_component(
        by=None, component_type=server, name="db-01", status="in_maintenance"
    )
    box = verbs.create_component(
        by=None, component_type=appliance, name="F5 Big-IP", attributes={"vendor": "F5"}
    )
    depends = RelationType.objects.get(slug="depends-on")
    verbs.relate(payroll, hosting, depends, by=None)
    verbs.relate(payroll, web, depends, by=None)
    verbs.relate(web, db_server, RelationType.objects.get(slug="runs-on"), by=None)
    verbs.relate(db_server, web, RelationType.objects.get(slug="connects-to"), by=None)  # a cycle
    verbs.relate(hosting, db_server, depends, by=None)
    verbs.relate(box, web, RelationType.objects.get(slug="backs-up-to"), by=None)


def org_person(key):
    from itline.org.models import Person

    return Person.objects.get(email=key) if "@" in key else Person.objects.get(name=key)


def sources(files):
    return [Source(name, text.encode()) for name, text in files.items()]


def wipe():
    """An empty structure: only the types of a fresh database are left."""
    Relation.objects.all().delete()
    Node.objects.all().delete()
    ComponentType.objects.exclude(slug__in=DEFAULT_TYPES).delete()
    RelationType.objects.exclude(slug__in=DEFAULT_RELATION_TYPES).delete()


DEFAULT_TYPES = [
    "server",
    "virtual-machine",
    "database",
    "application",
    "network-device",
    "storage",
    "cloud-resource",
]
DEFAULT_RELATION_TYPES = ["depends-on", "runs-on", "hosted-on", "connects-to"]


def counts():
    return (
        Node.objects.count(),
        Relation.objects.count(),
        ComponentType.objects.count(),
        JournalEntry.objects.count(),
        GraphVersion.current(),
        sorted(Component.objects.values_list("name", "status", "attributes")),
    )


# --- round trip ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_export_then_import_into_an_empty_structure_then_export_gives_identical_files(
    structure, fmt
):
    files = dump_files(export_structure(), fmt)
    wipe()
    report = import_structure(sources(files))
    assert report.totals["create"] == 2 + 2 + 3 + 6  # new types, services, components, relations
    assert dump_files(export_structure(), fmt) == files


def test_one_document_round_trips_exactly_too(structure):
    document = dump_document(export_structure())
    wipe()
    import_structure([Source("structure.yaml", document.encode())])
    assert dump_document(export_structure()) == document


def test_the_files_read_as_a_person_would_write_them(structure):
    files = dump_files(export_structure())
    assert files["services.yaml"].startswith(
        "- name: Database hosting\n  kind: supporting\n  lifecycle: proposed\n  criticality: medium\n"
    )
    assert "  description: |\n    Pays people.\n    Twice a month.\n" in files["services.yaml"]
    assert (
        "  service_owner: nadia@example.com\n  delivery_manager: Olav Berg\n"
        in files["services.yaml"]
    )
    assert "  customers:\n  - Finance\n  - Sales\n" in files["services.yaml"]
    assert "- type: server\n  name: web-01\n  status: in_use\n" in files["components.yaml"]
    assert "  location: Zürich\n" in files["components.yaml"]
    assert (
        "  attributes:\n    cpu: 8\n    memory_gb: 7.5\n    os: debian\n"
        in files["components.yaml"]
    )
    assert files["relations.yaml"].splitlines()[:3] == [
        "appliance/F5 Big-IP:",
        "  backs-up-to:",
        "  - server/web-01",
    ]


def test_the_bulk_path_writes_the_same_structure_and_journal_as_the_verbs(structure):
    files = dump_files(export_structure())

    def journal_after_import(threshold):
        wipe()
        JournalEntry.objects.all().delete()
        import_structure(sources(files), bulk_threshold=threshold)
        assert dump_files(export_structure()) == files
        rows = JournalEntry.objects.select_related("content_type")
        # references differ between two imports; everything else must not
        refs = {n.reference: n.name for n in Node.objects.all()}
        return sorted(
            (
                e.content_type.model,
                e.verb,
                e.object_repr,
                str({_unref(k, refs): v for k, v in e.changes.items()}),
            )
            for e in rows
        )

    assert journal_after_import(threshold=10_000) == journal_after_import(threshold=0)


def _unref(key, refs):
    for ref in refs:
        key = key.replace(f"{ref} ", "")
    return key


def test_a_bulk_import_bumps_the_graph_version_once(structure):
    files = dump_files(export_structure())
    wipe()
    before = GraphVersion.current()
    import_structure(sources(files), bulk_threshold=0)
    assert GraphVersion.current() == before + 1 + 1  # one for the new relation type's verb


# --- idempotence and dry run --------------------------------------------------------------


def test_importing_the_same_files_again_changes_nothing(structure):
    files = dump_files(export_structure())
    before = counts()
    report = import_structure(sources(files))
    assert report.totals == {"create": 0, "update": 0, "delete": 0}
    assert counts() == before


def test_a_dry_run_lists_every_change_with_before_and_after_and_writes_nothing(structure):
    files = dump_files(export_structure())
    files["components.yaml"] = files["components.yaml"].replace(
        "status: in_maintenance", "status: retired"
    )
    files["components.yaml"] += "- type: server\n  name: web-02\n"
    files["relations.yaml"] = files["relations.yaml"].replace("  - service/Database hosting\n", "")
    before = counts()
    report = import_structure(sources(files), dry_run=True, prune=True)
    assert counts() == before
    assert list(report.diff_lines()) == [
        "- relation service/Payroll depends-on service/Database hosting",
        "~ component server/db-01",
        "    status: in_maintenance -> retired",
        "+ component server/web-02",
    ]
    assert report.summary() == "would create 1, would update 1, would delete 1"


def test_an_update_changes_only_what_differs_and_journals_it(structure):
    files = dump_files(export_structure())
    files["components.yaml"] = files["components.yaml"].replace("    cpu: 8\n", "    cpu: 16\n")
    import_structure(sources(files))
    web = Component.objects.get(name="web-01")
    assert web.attributes["cpu"] == 16
    last = JournalEntry.objects.filter(object_id=str(web.pk)).last()
    assert last.changes == {
        "attributes": [
            {"cpu": 8, "memory_gb": 7.5, "os": "debian"},
            {"cpu": 16, "memory_gb": 7.5, "os": "debian"},
        ]
    }


# --- prune --------------------------------------------------------------------------------


def test_without_prune_records_missing_from_the_files_stay(structure):
    import_structure([Source("components.yaml", b"- type: server\n  name: web-02\n")])
    assert Component.objects.count() == 4


def test_prune_deletes_what_the_sections_present_do_not_list_and_only_those(structure):
    text = "- type: server\n  name: web-01\n  status: in_use\n"
    report = import_structure([Source("components.yaml", text.encode())], prune=True)
    assert sorted(Component.objects.values_list("name", flat=True)) == ["web-01"]
    assert Service.objects.count() == 2  # services.yaml was not given
    assert not Relation.objects.filter(source__name="web-01").exists()
    assert report.counts["components"]["delete"] == 2
    assert report.counts["relations"]["delete"] == 4


def test_prune_refuses_to_delete_a_type_still_in_use(structure):
    files = dump_files(export_structure())
    text = files["component-types.yaml"].split("- slug: application")[1]
    with pytest.raises(ExchangeError) as caught:
        import_structure(
            [Source("component-types.yaml", f"- slug: application{text}".encode())], prune=True
        )
    messages = [p.message for p in caught.value.problems]
    assert any("'appliance' is not in the file but 1 component still use it" in m for m in messages)


# --- bad input: every problem, with its place, and nothing written ------------------------


BAD_COMPONENTS = """\
- type: server
  name: web-01
- type: switch
  name: sw-01
- type: server
  name: WEB-01
- type: server
  name: db-01
  status: broken
  colour: red
- type: appliance
  name: lb-01
  attributes:
    ports: many
"""
BAD_RELATIONS = """\
server/web-01:
  depends-on:
  - server/web-01
  - server/nowhere
  - server/db-01
  - server/db-01
  flows-to:
  - server/db-01
"""


def test_every_problem_is_reported_with_its_file_and_line(structure):
    before = counts()
    with pytest.raises(ExchangeError) as caught:
        import_structure(
            [
                Source("components.yaml", BAD_COMPONENTS.encode()),
                Source("relations.yaml", BAD_RELATIONS.encode()),
            ]
        )
    assert [str(p) for p in caught.value.problems] == [
        "components.yaml:3: unknown component type 'switch'; known types: appliance, application, cloud-resource, database, network-device, server, storage, virtual-machine",
        "components.yaml:5: the server 'WEB-01' appears twice (also at components.yaml:1)",
        "components.yaml:10: unknown field 'colour'; the fields of components are: type, name, status, description, owner_function, location, tags, attributes",
        "components.yaml:9: status: 'broken' is not one of planned, in_use, in_maintenance, retired",
        "components.yaml:13: attributes: 'vendor' is a required property",
        "components.yaml:14: attributes.ports: 'many' is not of type 'integer'",
        "relations.yaml:3: server/web-01 cannot be related to itself",
        "relations.yaml:4: 'server/nowhere': no such component in the file or the database",
        "relations.yaml:6: server/web-01 depends-on server/db-01 appears twice (also at relations.yaml:5)",
        "relations.yaml:8: unknown relation type 'flows-to'; known: backs-up-to, connects-to, depends-on, hosted-on, runs-on",
    ]
    assert str(caught.value).startswith("10 errors; nothing was changed\n")
    assert counts() == before


def test_json_problems_name_their_line_as_well(structure):
    text = '{\n  "components": [\n    {"type": "server", "name": "a"},\n    {\n      "type": "server",\n      "name": "b",\n      "attributes": {\n        "cpu": "eight"\n      }\n    }\n  ]\n}\n'
    with pytest.raises(ExchangeError) as caught:
        import_structure([Source("structure.json", text.encode())])
    assert [str(p) for p in caught.value.problems] == [
        "structure.json:8: attributes.cpu: 'eight' is not of type 'integer'"
    ]


def test_malformed_yaml_names_the_line_and_column():
    with pytest.raises(ExchangeError) as caught:
        import_structure([Source("components.yaml", (DATA / "malformed.yaml").read_bytes())])
    (problem,) = caught.value.problems
    assert problem.where == "components.yaml:4:7"
    assert problem.message.startswith("is not valid YAML: while parsing a flow mapping")


def test_malformed_json_names_the_line_and_column():
    with pytest.raises(ExchangeError) as caught:
        import_structure([Source("services.json", b'[\n  {"name": "x",}\n]')])
    assert caught.value.problems[0].where == "services.json:2:15"


def test_aliases_tags_and_deep_nesting_are_refused(org):
    text = "- &a {type: server, name: x, attributes: {}}\n- *a\n- type: server\n  name: y\n  attributes: !!python/object {}\n"
    with pytest.raises(ExchangeError) as caught:
        import_structure([Source("components.yaml", text.encode())])
    assert [str(p) for p in caught.value.problems] == [
        "components.yaml:1: aliases (*name) of lists and maps are not supported in structure files",
        "components.yaml:5: the YAML tag tag:yaml.org,2002:python/object is not supported here",
    ]
    deep = "- type: server\n  name: z\n  attributes: " + "{a: " * 40 + "1" + "}" * 40 + "\n"
    with pytest.raises(ExchangeError, match="nested"):
        import_structure([Source("components.yaml", deep.encode())])


def test_a_file_that_is_not_utf8_names_the_byte_offset_and_line(org):
    data = "- type: server\n  name: caf\u00e9\n".encode("latin-1")
    with pytest.raises(ExchangeError) as caught:
        import_structure([Source("components.yaml", data)])
    assert str(caught.value.problems[0]).startswith(
        "components.yaml:2:12: is not valid utf-8: byte 0xe9 at byte offset 26 (line 2, column 12)"
    )


def test_a_utf8_byte_order_mark_is_accepted(org):
    data = b"\xef\xbb\xbf- type: server\n  name: caf\xc3\xa9\n"
    import_structure([Source("components.yaml", data)])
    assert Component.objects.get().name == "café"


def test_people_functions_and_customers_must_exist_and_be_unambiguous(org):
    make_person("Olav Berg", email="olav2@example.com")  # a second Olav Berg
    text = "- name: Mail\n  owner_function: Nobody\n  service_owner: Olav Berg\n  customers: [Finance, Marketing]\n"
    with pytest.raises(ExchangeError) as caught:
        import_structure([Source("services.yaml", text.encode())])
    assert [str(p) for p in caught.value.problems] == [
        "services.yaml:2: owner_function: no function named 'Nobody'",
        "services.yaml:3: service_owner: 2 people are named 'Olav Berg'; name them by e-mail or reference",
        "services.yaml:4: customers: no customer (business unit) named 'Marketing'",
    ]


def test_a_stricter_schema_that_components_left_alone_would_violate_is_refused(structure):
    files = dump_files(export_structure())
    stricter = (
        files["component-types.yaml"]
        .replace(
            "      os:\n        type: string\n",
            "      os:\n        type: string\n      rack:\n        type: string\n",
        )
        .replace(
            "    type: object\n- slug: storage",
            "    required:\n    - rack\n    type: object\n- slug: storage",
        )
    )
    with pytest.raises(ExchangeError, match="would violate it: 'rack' is a required property"):
        import_structure([Source("component-types.yaml", stricter.encode())])


def test_the_reserved_slug_service_cannot_name_a_component_type(org):
    with pytest.raises(ExchangeError, match="reserved"):
        import_structure(
            [Source("component-types.yaml", b"- slug: service\n  name: Service box\n")]
        )


def test_an_import_that_fails_while_writing_leaves_everything_as_it_was(structure, monkeypatch):
    files = dump_files(export_structure())
    wipe()
    before = counts()
    calls = []

    def refuse_the_fifth(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise ValidationError({"target": "refused"})
        return original(*args, **kwargs)

    original = verbs.relate
    monkeypatch.setattr(verbs, "relate", refuse_the_fifth)
    with pytest.raises(ExchangeError):
        import_structure(sources(files))
    assert counts() == before


def test_a_bulk_import_that_fails_while_writing_leaves_everything_as_it_was(structure, monkeypatch):
    files = dump_files(export_structure())
    wipe()
    before = counts()
    original = exchange_write._Writer.create_relations

    def fail_after_the_nodes(self):
        original(self)
        raise ValidationError("the disk is full")

    monkeypatch.setattr(exchange_write._Writer, "create_relations", fail_after_the_nodes)
    with pytest.raises(ExchangeError, match="the disk is full"):
        import_structure(sources(files), bulk_threshold=0)
    assert counts() == before


def test_an_import_by_someone_without_the_rights_is_refused(structure):
    user = make_user("tess", "technician")  # may add components, not services
    files = dump_files(export_structure())
    files["services.yaml"] += "- name: New service\n"
    with pytest.raises(PermissionDenied):
        import_structure(sources(files), by=user)
    assert not Service.objects.filter(name="New service").exists()


def test_changes_are_journaled_as_the_importing_user(structure):
    user = make_user("ada", "administrator")
    import_structure([Source("components.yaml", b"- type: server\n  name: web-09\n")], by=user)
    entry = JournalEntry.objects.filter(object_repr="web-09").first()
    assert entry.actor == user and entry.verb == "created"


# --- CSV ----------------------------------------------------------------------------------


NETBOX = CsvMapping.parse(
    fields=[
        "name=Name",
        "type=Role",
        "location=Site",
        "status=Status",
        "tags=Tags",
        "owner_function=Tenant",
        "attr.serial=Serial number",
    ],
    statuses=["active=in_use,offline=retired"],
    types=["Core Switch=network-device"],
)


def netbox_csv():
    return Source("netbox-devices.csv", (DATA / "netbox-devices.csv").read_bytes())


@pytest.fixture
def network_team(db):
    Function.objects.create(name="Network team")


def test_a_netbox_device_export_becomes_components_through_the_mapping(network_team):
    report = import_components_csv(netbox_csv(), NETBOX)
    assert report.totals == {"create": 4, "update": 0, "delete": 0}
    core = Component.objects.get(name="ams-core-01")
    assert (core.component_type.slug, core.status, core.location) == (
        "network-device",
        "in_use",
        "AMS-1",
    )
    assert core.owner_function.name == "Network team"
    assert sorted(core.tags.values_list("name", flat=True)) == ["core", "dmz"]
    assert core.attributes == {"serial": "SN-A1"}
    esx = Component.objects.get(name="ams-esx-02")
    assert (esx.component_type.slug, esx.status) == ("server", "retired")  # "Server" is a type name


def test_a_csv_import_again_changes_nothing_and_keeps_what_it_does_not_map(network_team):
    import_components_csv(netbox_csv(), NETBOX)
    web = Component.objects.get(name="ams-esx-01")
    verbs.update_component(
        web, by=None, description="kept", attributes={"serial": "SN-D1", "os": "esxi"}
    )
    report = import_components_csv(netbox_csv(), NETBOX)
    assert report.totals == {"create": 0, "update": 0, "delete": 0}
    web.refresh_from_db()
    assert (web.description, web.attributes) == ("kept", {"os": "esxi", "serial": "SN-D1"})


def test_csv_problems_name_line_column_and_the_option_that_fixes_them(network_team):
    mapping = CsvMapping.parse(
        fields=["name=Name", "type=Role", "status=Status"], statuses=["active=in_use"]
    )
    with pytest.raises(ExchangeError) as caught:
        import_components_csv(netbox_csv(), mapping)
    assert [str(p) for p in caught.value.problems] == [
        "netbox-devices.csv:2:7: Role: unknown component type 'Core Switch'; map it with --type-map 'Core Switch=<type>' (types: application, cloud-resource, database, network-device, server, storage, virtual-machine)",
        "netbox-devices.csv:3:7: Role: unknown component type 'Core Switch'; map it with --type-map 'Core Switch=<type>' (types: application, cloud-resource, database, network-device, server, storage, virtual-machine)",
        "netbox-devices.csv:5:2: Status: 'Offline' is not a component status (planned, in_use, in_maintenance, retired); map it with --status-map 'Offline=<status>'",
    ]
    assert Component.objects.count() == 0


def test_a_csv_with_duplicates_ragged_rows_and_schema_violations_reports_each(db):
    text = "Name,Role,Cpu\nweb-01,server,4\nWEB-01,server,8\nweb-02,server\nweb-03,server,lots\n"
    mapping = CsvMapping.parse(fields=["name=Name", "type=Role", "attr.cpu=Cpu"])
    with pytest.raises(ExchangeError) as caught:
        import_components_csv(Source("x.csv", text.encode()), mapping)
    assert [str(p) for p in caught.value.problems] == [
        "x.csv:4: has 2 fields, the header has 3",
        "x.csv:3: the server 'WEB-01' appears twice (also at x.csv:2)",
        "x.csv:5:3: attributes.cpu: 'lots' is not of type 'integer'",
    ]


def test_a_latin1_csv_is_refused_with_the_byte_offset_unless_its_encoding_is_named(db):
    source = Source("devices-latin1.csv", (DATA / "devices-latin1.csv").read_bytes())
    mapping = CsvMapping.parse(
        fields=["name=Name", "location=Site"], defaults=["type=network-device"]
    )
    with pytest.raises(ExchangeError) as caught:
        import_components_csv(source, mapping)
    assert str(caught.value.problems[0]).startswith(
        "devices-latin1.csv:2:2: is not valid utf-8: byte 0xfc at byte offset 23 (line 2, column 2)"
    )
    latin1 = CsvMapping.parse(
        fields=["name=Name", "location=Site"], defaults=["type=network-device"], encoding="latin-1"
    )
    import_components_csv(source, latin1)
    assert Component.objects.get().location == "München"


def test_a_mapping_to_a_missing_column_or_an_unknown_field_is_refused(db):
    with pytest.raises(ValueError, match="--map: 'colour' is not a field"):
        CsvMapping.parse(fields=["name=Name", "type=Role", "colour=Colour"])
    with pytest.raises(ValueError, match="map a column to type"):
        CsvMapping.parse(fields=["name=Name"])
    mapping = CsvMapping.parse(fields=["name=Name", "type=Kind"])
    with pytest.raises(ExchangeError, match="no column 'Kind'"):
        import_components_csv(netbox_csv(), mapping)


def test_a_number_where_text_belongs_must_be_quoted_rather_than_guessed(org):
    # YAML reads 0123 as the octal number 83: refuse it instead of storing "83"
    text = "- name: Payroll\n  cost_centre: 0123\n"
    with pytest.raises(ExchangeError) as caught:
        import_structure([Source("services.yaml", text.encode())])
    assert (
        str(caught.value.problems[0])
        == "services.yaml:2: cost_centre: must be text, not a number (put it in quotes)"
    )
