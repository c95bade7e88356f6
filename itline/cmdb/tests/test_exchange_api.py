"""Structure as code through the API: the same files and rules as the command line."""

from pathlib import Path

import orjson
import pytest
import yaml
from django.test import override_settings

from itline.cmdb.exchange import dump_document, dump_files, export_structure
from itline.cmdb.models import Component, Node
from itline.core.testing import bearer, make_user
from itline.org.models import Function

DATA = Path(__file__).parent / "data"
API = "/api/v1/structure"


@pytest.fixture
def admin(db):
    return bearer(make_user("ada", "administrator"))


COMPONENTS = (
    "- type: server\n  name: web-01\n  attributes:\n    cpu: 8\n- type: server\n  name: db-01\n"
)


def _yaml(client, body, headers, query=""):
    return client.post(
        f"{API}/import{query}", body, content_type="application/yaml", headers=headers
    )


def test_the_export_is_the_same_document_as_the_command_line_writes(client, admin):
    _yaml(client, "components:\n" + COMPONENTS, admin)
    as_json = client.get(f"{API}/export", headers=admin)
    assert as_json.status_code == 200
    assert as_json.json() == export_structure()
    as_yaml = client.get(f"{API}/export?format=yaml", headers=admin)
    assert as_yaml["Content-Type"].startswith("application/yaml")
    assert as_yaml.content.decode() == dump_document(export_structure())
    files = client.get(f"{API}/export?format=yaml&layout=files", headers=admin).json()
    assert files == dump_files(export_structure())


def test_a_dry_run_answers_the_diff_and_changes_nothing(client, admin):
    response = _yaml(client, "components:\n" + COMPONENTS, admin, "?dry_run=true")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["dry_run"] is True
    assert body["summary"] == {"create": 2, "update": 0, "delete": 0}
    assert body["changes"][0] == {
        "action": "create",
        "section": "components",
        "key": "server/web-01",
        "fields": {
            "type": [None, "server"],
            "name": [None, "web-01"],
            "status": [None, "in_use"],
            "attributes": [None, {"cpu": 8}],
        },
    }
    assert Component.objects.count() == 0


def test_an_import_in_json_or_as_files_then_again_changes_nothing(client, admin):
    document = {"components": yaml.safe_load(COMPONENTS)}
    first = client.post(f"{API}/import", document, content_type="application/json", headers=admin)
    assert first.json()["summary"]["create"] == 2
    files = dump_files(export_structure())
    again = client.post(f"{API}/import", files, content_type="application/json", headers=admin)
    assert again.status_code == 200
    assert again.json()["summary"] == {"create": 0, "update": 0, "delete": 0}


def test_an_import_with_errors_answers_422_with_every_error_and_its_line(client, admin):
    body = "components:\n- type: server\n  name: a\n  status: lost\n- type: router\n  name: b\nrelations:\n  server/a:\n    depends-on:\n    - server/a\n"
    response = _yaml(client, body, admin)
    assert response.status_code == 422
    assert response.json() == {
        "detail": "The import has 4 errors; nothing was changed.",
        "errors": [
            {
                "field": "structure.yaml:4",
                "message": "status: 'lost' is not one of planned, in_use, in_maintenance, retired",
            },
            {
                "field": "structure.yaml:5",
                "message": "unknown component type 'router'; known types: application, cloud-resource, database, network-device, server, storage, virtual-machine",
            },
            {
                "field": "structure.yaml:8",
                "message": "'server/a': no such component in the file or the database",
            },
            {
                "field": "structure.yaml:10",
                "message": "'server/a': no such component in the file or the database",
            },
        ],
    }
    assert not Node.objects.exists()


def test_malformed_json_answers_422_naming_line_and_column(client, admin):
    response = client.post(
        f"{API}/import",
        b'{"components": [\n  {"name": }\n]}',
        content_type="application/json",
        headers=admin,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "structure.json:2:12"


def test_an_upload_above_the_limit_answers_413(client, admin):
    with override_settings(ITLINE_IMPORT_MAX_BYTES=100):
        response = _yaml(client, "components:\n" + COMPONENTS * 3, admin)
    assert response.status_code == 413
    assert "more than the import limit of 100 bytes" in response.json()["detail"]


def test_a_structure_above_the_default_request_size_is_read_all_the_same(client, admin):
    long_text = "x" * 2_700_000
    body = f"components:\n- type: server\n  name: s1\n  description: {long_text}\n- type: server\n  name: s2\n"
    assert len(body) > 2_621_440  # Django's DATA_UPLOAD_MAX_MEMORY_SIZE
    response = _yaml(client, body, admin, "?dry_run=true&limit=1")
    assert response.status_code == 200
    assert response.json()["summary"]["create"] == 2
    assert response.json()["truncated"] is True


def test_import_needs_the_rights_to_add_components_services_and_relations(client, db):
    technician = bearer(make_user("tess", "technician"))
    response = _yaml(client, "components:\n" + COMPONENTS, technician)
    assert response.status_code == 403
    assert "cmdb.add_service" in response.json()["detail"]
    requester = bearer(make_user("rita", "requester"))
    assert client.get(f"{API}/export", headers=requester).status_code == 403
    assert client.get(f"{API}/export", headers=technician).status_code == 200


def test_a_netbox_csv_is_imported_through_a_multipart_upload_with_its_mapping(client, admin):
    Function.objects.create(name="Network team")
    with (DATA / "netbox-devices.csv").open("rb") as upload:
        response = client.post(
            f"{API}/import-csv",
            {
                "file": upload,
                "map": [
                    "name=Name",
                    "type=Role",
                    "status=Status",
                    "location=Site",
                    "tags=Tags",
                    "attr.serial=Serial number",
                ],
                "status_map": ["active=in_use", "offline=retired"],
                "type_map": ["Core Switch=network-device"],
            },
            headers=admin,
        )
    assert response.status_code == 200, response.content
    assert response.json()["summary"]["create"] == 4
    assert Component.objects.get(name="ams-core-02").attributes == {"serial": "SN-A2"}


def test_a_csv_upload_with_a_bad_mapping_or_bad_rows_answers_422(client, admin):
    with (DATA / "netbox-devices.csv").open("rb") as upload:
        response = client.post(
            f"{API}/import-csv", {"file": upload, "map": ["name=Name", "shape=Role"]}, headers=admin
        )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "map"
    with (DATA / "devices-latin1.csv").open("rb") as upload:
        response = client.post(
            f"{API}/import-csv", {"file": upload, "map": ["name=Name", "type=Role"]}, headers=admin
        )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "devices-latin1.csv:2:2"
    assert orjson.loads(response.content)["errors"][0]["message"].startswith(
        "is not valid utf-8: byte 0xfc"
    )
