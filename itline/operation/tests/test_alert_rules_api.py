"""Alert rules through the API and as files: CRUD with journaled changes, 4xx naming the field,
administrators only; export then import is a round trip; import is all-or-nothing, can
prune and can be tried with dry_run; the minute task sweeps and ticks."""

import pytest
import yaml

from itline.cmdb.testing import make_component
from itline.core.models import JournalEntry
from itline.core.testing import bearer, make_user
from itline.operation import maintenance
from itline.operation.alert_tasks import correlate_alerts
from itline.operation.correlation import ensure_default_rules
from itline.operation.models import AlertRule, Incident
from itline.operation.tests.correlation_world import at, fire, source


@pytest.fixture(autouse=True)
def _rules(db):
    ensure_default_rules()
    maintenance.forget()
    yield
    maintenance.forget()


@pytest.fixture
def admin(db):
    return bearer(make_user("ada", "administrator"))


@pytest.fixture
def tech(db):
    return bearer(make_user("tina", "technician"))


def send(client, method, url, headers, data=None, **extra):
    return getattr(client, method)(
        url,
        data if data is not None else {},
        content_type="application/json",
        headers=headers,
        **extra,
    )


def test_an_administrator_creates_changes_and_deletes_a_rule(client, admin):
    source("prometheus")
    made = send(
        client,
        "post",
        "/api/v1/alert-rules",
        admin,
        {
            "name": "prod db",
            "position": 5,
            "source": "prometheus",
            "matchers": {"env": "prod"},
            "min_severity": "warning",
            "min_duration_seconds": 120,
        },
    )
    assert made.status_code == 201, made.content
    rule = made.json()
    assert rule["source"] == "prometheus" and rule["matchers"] == {"env": "prod"}
    names = [r["name"] for r in client.get("/api/v1/alert-rules", headers=admin).json()]
    assert names == ["prod db", "Errors and worse open incidents"], "in the order they are tried"

    changed = send(
        client, "patch", f"/api/v1/alert-rules/{rule['id']}", admin, {"auto_resolve": False}
    )
    assert changed.status_code == 200 and changed.json()["auto_resolve"] is False
    verbs = list(
        JournalEntry.objects.filter(
            content_type__model="alertrule", object_id=str(rule["id"])
        ).values_list("verb", flat=True)
    )
    assert verbs == ["created", "updated"]

    gone = client.delete(f"/api/v1/alert-rules/{rule['id']}", headers=admin)
    assert gone.status_code == 204
    assert client.get(f"/api/v1/alert-rules/{rule['id']}", headers=admin).status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "source": "nowhere"}, "source"),
        ({"name": "x", "min_severity": "catastrophic"}, "min_severity"),
        ({"name": "x", "flap_threshold": 1}, "flap_threshold"),
        ({"name": "x", "matchers": {"env": 1}}, "matchers.env"),
        ({"name": "Errors and worse open incidents"}, "name"),
        ({"position": 3}, "name"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_field(client, admin, payload, field):
    response = send(client, "post", "/api/v1/alert-rules", admin, payload)
    assert response.status_code == 422, response.content
    assert field in [e["field"] for e in response.json()["errors"]]
    assert AlertRule.objects.count() == 1


def test_agents_read_rules_but_may_not_change_them(client, tech):
    assert client.get("/api/v1/alert-rules", headers=tech).status_code == 200
    assert send(client, "post", "/api/v1/alert-rules", tech, {"name": "x"}).status_code == 403
    assert (
        send(client, "post", "/api/v1/alert-rules/import", tech, {"alert_rules": []}).status_code
        == 403
    )


def test_export_then_import_elsewhere_gives_the_same_rules(client, admin):
    source("prometheus")
    send(
        client,
        "post",
        "/api/v1/alert-rules",
        admin,
        {
            "name": "staging",
            "position": 1,
            "source": "prometheus",
            "matchers": {"env": "staging"},
            "open_incident": False,
        },
    )
    exported = client.get("/api/v1/alert-rules/export", headers=admin).json()
    as_yaml = client.get("/api/v1/alert-rules/export?format=yaml", headers=admin)
    assert as_yaml["Content-Type"].startswith("application/yaml")
    assert yaml.safe_load(as_yaml.content) == exported

    AlertRule.objects.all().delete()
    imported = client.post(
        "/api/v1/alert-rules/import",
        as_yaml.content,
        content_type="application/yaml",
        headers=admin,
    )
    assert imported.status_code == 200, imported.content
    assert sorted(imported.json()["created"]) == ["Errors and worse open incidents", "staging"]
    assert client.get("/api/v1/alert-rules/export", headers=admin).json() == exported

    again = send(client, "post", "/api/v1/alert-rules/import", admin, exported)
    assert again.json()["unchanged"] == ["staging", "Errors and worse open incidents"]
    assert again.json()["created"] == again.json()["updated"] == []


def test_import_is_all_or_nothing_and_names_the_bad_item(client, admin):
    document = {
        "alert_rules": [
            {"name": "fine", "min_severity": "warning"},
            {"name": "broken", "min_duration_seconds": -5},
        ]
    }
    response = send(client, "post", "/api/v1/alert-rules/import", admin, document)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "alert_rules[1].min_duration_seconds"
    assert not AlertRule.objects.filter(name="fine").exists()

    unknown = send(
        client,
        "post",
        "/api/v1/alert-rules/import",
        admin,
        {"alert_rules": [{"name": "x", "colour": "red"}]},
    )
    assert unknown.json()["errors"][0]["field"] == "alert_rules[0].colour"
    not_json = client.post(
        "/api/v1/alert-rules/import", b"{", content_type="application/json", headers=admin
    )
    assert not_json.status_code == 400


def test_dry_run_reports_and_prune_deletes(client, admin):
    document = {"alert_rules": [{"name": "only this", "min_severity": "critical"}]}
    tried = send(
        client, "post", "/api/v1/alert-rules/import?prune=true&dry_run=true", admin, document
    )
    assert tried.json() == {
        "created": ["only this"],
        "updated": [],
        "deleted": ["Errors and worse open incidents"],
        "unchanged": [],
        "dry_run": True,
    }
    assert list(AlertRule.objects.values_list("name", flat=True)) == [
        "Errors and worse open incidents"
    ]
    done = send(client, "post", "/api/v1/alert-rules/import?prune=true", admin, document)
    assert done.status_code == 200
    assert list(AlertRule.objects.values_list("name", flat=True)) == ["only this"]


def test_the_minute_task_sweeps_alerts_a_crash_left_pending(db):
    fire("DatabaseDown", make_component("db-1", "database"), when=at(0))

    result = correlate_alerts.call()

    assert result["swept"] == 1
    assert Incident.objects.count() == 1
