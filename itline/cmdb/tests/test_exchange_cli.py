"""``itline export`` and ``itline import``: files, diffs, errors and exit codes."""

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from itline.cmdb import services as verbs
from itline.cmdb.exchange import dump_document, export_structure
from itline.cmdb.models import Component, ComponentType, Node, Relation, RelationType, Service
from itline.core.testing import make_user

DATA = Path(__file__).parent / "data"


@pytest.fixture
def structure(db):
    server = ComponentType.objects.get(slug="server")
    web = verbs.create_component(
        by=None, component_type=server, name="web-01", attributes={"cpu": 4}
    )
    shop = verbs.create_service(by=None, name="Web shop", lifecycle="live")
    verbs.relate(shop, web, RelationType.objects.get(slug="runs-on"), by=None)


def run(*args, stdin=None):
    out, err = io.StringIO(), io.StringIO()
    if stdin is not None:
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin))
    try:
        call_command(*args, stdout=out, stderr=err)
    finally:
        sys.stdin = sys.__stdin__
    return out.getvalue(), err.getvalue()


def wipe():
    Relation.objects.all().delete()
    Node.objects.all().delete()


def test_export_to_a_directory_then_import_it_into_an_empty_structure(structure, tmp_path):
    _, err = run("export", str(tmp_path / "structure"))
    assert sorted(p.name for p in (tmp_path / "structure").iterdir()) == [
        "component-types.yaml",
        "components.yaml",
        "relation-types.yaml",
        "relations.yaml",
        "services.yaml",
    ]
    assert "1 services, 1 components, 1 relations" in err
    before = {p.name: p.read_text() for p in (tmp_path / "structure").iterdir()}
    wipe()
    out, _ = run("import", str(tmp_path / "structure"))
    assert out.strip() == "Imported: created 3, updated 0, deleted 0."
    run("export", str(tmp_path / "again"))
    assert {p.name: p.read_text() for p in (tmp_path / "again").iterdir()} == before
    out, _ = run("import", str(tmp_path / "structure"))
    assert out.strip() == "Nothing to change: the structure already matches."


def test_export_without_a_path_prints_one_document_and_json_on_request(structure, tmp_path):
    out, _ = run("export")
    assert out == dump_document(export_structure())
    run("export", str(tmp_path / "all.json"))
    assert (tmp_path / "all.json").read_text().startswith('{\n  "component_types": [')


def test_a_dry_run_prints_the_diff_and_changes_nothing(structure, tmp_path):
    run("export", str(tmp_path / "s"))
    components = tmp_path / "s" / "components.yaml"
    components.write_text(
        components.read_text().replace("cpu: 4", "cpu: 8") + "- type: server\n  name: web-02\n"
    )
    out, _ = run("import", str(tmp_path / "s"), "--dry-run")
    assert out.splitlines() == [
        "~ component server/web-01",
        '    attributes: {"cpu":4} -> {"cpu":8}',
        "+ component server/web-02",
        "Dry run: would create 1, would update 1, would delete 0; nothing was changed.",
    ]
    assert Component.objects.get().attributes == {"cpu": 4}


def test_an_import_from_standard_input_with_prune(structure):
    out, _ = run("import", "-", "--prune", stdin=b"services:\n- name: Mail\n")
    assert out.strip() == "Imported: created 1, updated 0, deleted 2."  # the service, its relation
    assert list(Service.objects.values_list("name", flat=True)) == ["Mail"]
    assert Component.objects.count() == 1  # components were not in the document


def test_bad_input_is_a_command_error_listing_every_problem(structure, tmp_path):
    bad = tmp_path / "components.yaml"
    bad.write_text("- type: server\n  name: a\n  status: gone\n- type: nope\n  name: b\n")
    with pytest.raises(CommandError) as caught:
        run("import", str(bad))
    assert str(caught.value).splitlines() == [
        "2 errors; nothing was changed",
        "  components.yaml:3: status: 'gone' is not one of planned, in_use, in_maintenance, retired",
        "  components.yaml:4: unknown component type 'nope'; known types: application, cloud-resource, database, network-device, server, storage, virtual-machine",
    ]
    assert Component.objects.count() == 1


def test_a_file_above_the_size_limit_is_refused_with_the_option_to_raise_it(structure, tmp_path):
    big = tmp_path / "components.yaml"
    big.write_text("- type: server\n  name: x\n" * 100)
    with pytest.raises(
        CommandError,
        match=r"is 2.4 KiB, more than the import limit of 1.0 KiB; raise the limit with --max-size",
    ):
        run("import", str(big), "--max-size", "1K")
    with pytest.raises(CommandError, match="--max-size: 'lots' is not a size"):
        run("import", str(big), "--max-size", "lots")


def test_a_netbox_csv_is_imported_with_column_and_value_mappings(db):
    from itline.org.models import Function

    Function.objects.create(name="Network team")
    out, _ = run(
        "import",
        str(DATA / "netbox-devices.csv"),
        "--map",
        "name=Name",
        "--map",
        "type=Role",
        "--map",
        "location=Site",
        "--map",
        "status=Status",
        "--map",
        "tags=Tags",
        "--map",
        "owner_function=Tenant",
        "--map",
        "attr.serial=Serial number",
        "--status-map",
        "active=in_use,offline=retired",
        "--type-map",
        "Core Switch=network-device",
    )
    assert out.strip() == "Imported: created 4, updated 0, deleted 0."
    assert Component.objects.get(name="ams-esx-02").status == "retired"


def test_csv_options_are_checked_and_named(db, tmp_path):
    with pytest.raises(CommandError, match="--map: map a column to type"):
        run("import", str(DATA / "netbox-devices.csv"), "--map", "name=Name")
    with pytest.raises(CommandError, match="--map: only for a CSV import"):
        run("import", str(tmp_path), "--map", "name=Name")
    with pytest.raises(CommandError, match="--prune: not with a CSV import"):
        run(
            "import",
            str(DATA / "netbox-devices.csv"),
            "--map",
            "name=Name",
            "--map",
            "type=Role",
            "--prune",
        )
    with pytest.raises(CommandError, match=r"devices-latin1\.csv:2:2: is not valid utf-8"):
        run("import", str(DATA / "devices-latin1.csv"), "--map", "name=Name", "--map", "type=Role")


def test_import_as_a_user_without_the_rights_is_refused(structure, tmp_path):
    make_user("rita", "requester")
    (tmp_path / "services.yaml").write_text("- name: Mail\n")
    with pytest.raises(
        CommandError, match=r"--user: You are not allowed to do this \(cmdb.add_service\)"
    ):
        run("import", str(tmp_path), "--user", "rita")
    with pytest.raises(CommandError, match="--user: no user named 'nobody'"):
        run("import", str(tmp_path), "--user", "nobody")


def test_the_command_exits_non_zero_without_a_traceback_on_malformed_yaml():
    # Parsing fails before the database is touched, so no migrated database is needed.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "itline",
            "import",
            str(DATA / "malformed.yaml"),
            "--format",
            "yaml",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DEBUG": "true"},
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "malformed.yaml:4:7: is not valid YAML: while parsing a flow mapping" in result.stderr
