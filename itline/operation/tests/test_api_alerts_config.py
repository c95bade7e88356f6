"""Configuration through the API: event sources (credential shown once, rotate, switch off,
delete only without history) and mapping rules (CRUD, export as YAML/JSON, import that is
idempotent, one transaction, with errors naming the item). Administrators change them,
agents read them."""

import pytest
import yaml

from itline.cmdb.testing import make_component
from itline.core.models import JournalEntry
from itline.core.testing import bearer, make_user
from itline.operation.ingest.testing import am_alert, am_payload, post
from itline.operation.models import Alert, EventSource, MappingRule

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin():
    return bearer(make_user("admin", "administrator"))


@pytest.fixture
def agent():
    return bearer(make_user("agent", "service_desk_agent"))


def send(client, method, url, headers, data=None, content_type="application/json"):
    return getattr(client, method)(url, data, content_type=content_type, headers=headers)


def test_a_source_is_created_its_secret_shown_once_and_it_receives_events(client, admin):
    made = send(
        client, "post", "/api/v1/event-sources", admin, {"name": "prom", "kind": "alertmanager"}
    )
    assert made.status_code == 201, made.content
    body = made.json()
    assert (
        body["secret"].startswith(body["token_prefix"])
        and body["endpoint"] == "/api/v1/events/alertmanager"
    )
    shown = client.get(f"/api/v1/event-sources/{body['id']}", headers=admin).json()
    assert "secret" not in shown
    assert (
        post(
            client, "/api/v1/events/alertmanager", am_payload(am_alert()), body["secret"]
        ).status_code
        == 202
    )
    journal = JournalEntry.objects.filter(object_repr="prom")
    assert journal.exists() and body["secret"] not in str(
        list(journal.values_list("changes", flat=True))
    )


def test_rotating_gives_a_new_secret_and_can_switch_to_hmac(client, admin):
    made = send(
        client, "post", "/api/v1/event-sources", admin, {"name": "own", "kind": "itline"}
    ).json()
    rotated = send(
        client, "post", f"/api/v1/event-sources/{made['id']}/rotate", admin, {"auth": "hmac"}
    )
    assert rotated.status_code == 200
    assert rotated.json()["auth"] == "hmac" and rotated.json()["secret"] != made["secret"]
    assert EventSource.objects.get().hmac_secret == rotated.json()["secret"]


def test_a_source_with_alerts_cannot_be_deleted_only_switched_off(client, admin):
    made = send(
        client, "post", "/api/v1/event-sources", admin, {"name": "prom", "kind": "alertmanager"}
    ).json()
    post(client, "/api/v1/events/alertmanager", am_payload(am_alert()), made["secret"])
    refused = client.delete(f"/api/v1/event-sources/{made['id']}", headers=admin)
    assert refused.status_code == 409 and refused.json()["errors"][0]["field"] == "active"
    off = send(client, "patch", f"/api/v1/event-sources/{made['id']}", admin, {"active": False})
    assert off.json()["active"] is False
    assert (
        post(
            client, "/api/v1/events/alertmanager", am_payload(am_alert()), made["secret"]
        ).status_code
        == 401
    )


def test_a_source_without_alerts_is_deleted(client, admin):
    made = send(
        client, "post", "/api/v1/event-sources", admin, {"name": "tmp", "kind": "itline"}
    ).json()
    assert client.delete(f"/api/v1/event-sources/{made['id']}", headers=admin).status_code == 204
    assert not EventSource.objects.exists()


def test_agents_read_sources_and_rules_but_cannot_change_them(client, admin, agent):
    send(client, "post", "/api/v1/event-sources", admin, {"name": "prom", "kind": "alertmanager"})
    assert client.get("/api/v1/event-sources", headers=agent).status_code == 200
    assert client.get("/api/v1/mapping-rules", headers=agent).status_code == 200
    assert (
        send(
            client, "post", "/api/v1/event-sources", agent, {"name": "x", "kind": "itline"}
        ).status_code
        == 403
    )
    rule = {"name": "host", "label": "host", "target": "component"}
    assert send(client, "post", "/api/v1/mapping-rules", agent, rule).status_code == 403


def test_duplicate_source_names_are_a_4xx_naming_the_field(client, admin):
    send(client, "post", "/api/v1/event-sources", admin, {"name": "prom", "kind": "alertmanager"})
    again = send(client, "post", "/api/v1/event-sources", admin, {"name": "prom", "kind": "itline"})
    assert again.status_code == 422 and again.json()["errors"][0]["field"] == "name"


def test_mapping_rules_crud_with_node_and_source_by_name(client, admin):
    web = make_component("web-01")
    send(client, "post", "/api/v1/event-sources", admin, {"name": "prom", "kind": "alertmanager"})
    made = send(
        client,
        "post",
        "/api/v1/mapping-rules",
        admin,
        {
            "name": "everything web",
            "label": "job",
            "target": "component",
            "node": web.reference,
            "source": "prom",
            "pattern": "web.*",
            "position": 5,
        },
    )
    assert made.status_code == 201, made.content
    rule = made.json()
    assert (rule["node"], rule["source"], rule["position"]) == (web.reference, "prom", 5)
    changed = send(
        client,
        "patch",
        f"/api/v1/mapping-rules/{rule['id']}",
        admin,
        {"pattern": "(", "position": 7},
    )
    assert changed.status_code == 422 and changed.json()["errors"][0]["field"] == "pattern"
    changed = send(
        client,
        "patch",
        f"/api/v1/mapping-rules/{rule['id']}",
        admin,
        {"source": None, "position": 7},
    )
    assert changed.json()["source"] is None and changed.json()["position"] == 7
    assert client.delete(f"/api/v1/mapping-rules/{rule['id']}", headers=admin).status_code == 204
    assert not MappingRule.objects.exists()


def test_unknown_source_or_node_in_a_rule_is_a_422_naming_it(client, admin):
    bad_node = send(
        client,
        "post",
        "/api/v1/mapping-rules",
        admin,
        {"name": "x", "label": "a", "target": "component", "node": "CMP-999"},
    )
    assert bad_node.status_code == 422 and bad_node.json()["errors"][0]["field"] == "node"
    bad_source = send(
        client,
        "post",
        "/api/v1/mapping-rules",
        admin,
        {"name": "x", "label": "a", "target": "service", "source": "nope"},
    )
    assert bad_source.json()["errors"][0]["field"] == "source"


RULES_YAML = """
mapping_rules:
  - name: instance to component
    label: instance
    pattern: '(.+?)(:\\d+)?'
    target: component
  - name: job to service
    label: job
    target: service
"""


def test_rules_import_from_yaml_is_idempotent_and_export_gives_the_same_file(client, admin):
    first = send(
        client, "post", "/api/v1/mapping-rules/import", admin, RULES_YAML, "application/yaml"
    )
    assert first.status_code == 200, first.content
    assert first.json() == {"created": 2, "updated": 0, "unchanged": 0, "deleted": 0}
    again = send(
        client, "post", "/api/v1/mapping-rules/import", admin, RULES_YAML, "application/yaml"
    )
    assert again.json() == {"created": 0, "updated": 0, "unchanged": 2, "deleted": 0}
    exported = client.get("/api/v1/mapping-rules/export", headers=admin)
    assert exported["Content-Disposition"].endswith('mapping-rules.yaml"')
    data = yaml.safe_load(exported.content)
    assert [r["name"] for r in data["mapping_rules"]] == ["instance to component", "job to service"]
    assert [r["position"] for r in data["mapping_rules"]] == [10, 20]
    back = send(client, "post", "/api/v1/mapping-rules/import", admin, data)
    assert back.json()["unchanged"] == 2
    as_json = client.get("/api/v1/mapping-rules/export?format=json", headers=admin).json()
    assert as_json == data


def test_import_with_prune_deletes_the_rules_the_file_does_not_name(client, admin):
    send(
        client,
        "post",
        "/api/v1/mapping-rules",
        admin,
        {"name": "old", "label": "x", "target": "service"},
    )
    result = send(
        client,
        "post",
        "/api/v1/mapping-rules/import?prune=true",
        admin,
        RULES_YAML,
        "application/yaml",
    )
    assert result.json()["deleted"] == 1
    assert sorted(MappingRule.objects.values_list("name", flat=True)) == [
        "instance to component",
        "job to service",
    ]


def test_a_bad_item_refuses_the_whole_import_and_names_the_item(client, admin):
    data = yaml.safe_load(RULES_YAML)
    data["mapping_rules"].append(
        {"name": "broken", "label": "x", "target": "component", "pattern": "(["}
    )
    refused = send(client, "post", "/api/v1/mapping-rules/import", admin, data)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "mapping_rules.2.pattern"
    assert not MappingRule.objects.exists()
    unreadable = send(
        client, "post", "/api/v1/mapping-rules/import", admin, "a: [", "application/yaml"
    )
    assert unreadable.status_code == 400


def test_an_imported_rule_maps_the_next_alert(client, admin):
    web = make_component("web-01")
    send(client, "post", "/api/v1/mapping-rules/import", admin, RULES_YAML, "application/yaml")
    secret = send(
        client, "post", "/api/v1/event-sources", admin, {"name": "prom", "kind": "alertmanager"}
    ).json()["secret"]
    post(
        client, "/api/v1/events/alertmanager", am_payload(am_alert(instance="web-01:9100")), secret
    )
    assert Alert.objects.get().component_id == web.pk
