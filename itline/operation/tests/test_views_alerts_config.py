"""Event sources and mapping rules pages: administrators create a source and see its secret
exactly once (only its hash is kept), rotate it, and keep ordered mapping rules whose bad
patterns or nodes are refused next to the field; agents may read, not change."""

import re

import pytest

from itline.cmdb.testing import make_component
from itline.core.testing import PASSWORD, make_user
from itline.operation.models import EventSource, MappingRule
from itline.operation.testing import make_service


def _text(html):
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def admin(client, db):
    make_user("ada", "administrator")
    client.login(username="ada", password=PASSWORD)
    return client


def test_a_new_source_shows_its_token_once_and_keeps_only_the_hash(admin):
    page = admin.post(
        "/alerts/sources/new/",
        {"name": "prometheus", "kind": "alertmanager", "auth": "token", "active": "on"},
    )
    assert page.status_code == 200
    html = page.content.decode()
    secret = re.search(r'<code data-copy id="source-secret">([^<]+)</code>', html).group(1)
    source = EventSource.objects.get(name="prometheus")
    assert source.token_hash == EventSource.hash(secret) and secret not in source.token_hash
    assert "/api/v1/events/alertmanager" in html and "no-store" in page["Cache-Control"]
    again = admin.get(f"/alerts/sources/{source.pk}/").content.decode()
    assert secret not in again and source.token_prefix in again

    rotated = admin.post(f"/alerts/sources/{source.pk}/rotate/").content.decode()
    new_secret = re.search(r'id="source-secret">([^<]+)<', rotated).group(1)
    source.refresh_from_db()
    assert new_secret != secret and source.token_hash == EventSource.hash(new_secret)


def test_a_source_form_names_the_wrong_field(admin):
    EventSource.objects.create(name="prometheus", kind="alertmanager")
    page = admin.post("/alerts/sources/new/", {"name": "prometheus", "kind": "nagios"})
    assert page.status_code == 422
    text = _text(page.content.decode())
    assert "already exists" in text and "nagios is not one of the available choices" in text
    assert EventSource.objects.count() == 1


def test_mapping_rules_are_listed_in_order_created_edited_and_deleted(admin):
    svc = make_service("Webshop")
    made = admin.post(
        "/alerts/mapping-rules/new/",
        {
            "position": 10,
            "name": "instance to component",
            "label": "instance",
            "pattern": r"^(.+?)(:\d+)?$",
            "target": "component",
            "active": "on",
        },
    )
    assert made.status_code == 302
    admin.post(
        "/alerts/mapping-rules/new/",
        {
            "position": 5,
            "name": "checkout job",
            "label": "job",
            "target": "service",
            "node_ref": svc.reference.lower(),
            "active": "on",
        },
    )
    fixed = MappingRule.objects.get(name="checkout job")
    assert fixed.node_id == svc.pk
    html = admin.get("/alerts/mapping-rules/").content.decode()
    listing = _text(html[html.index("<tbody>") :])
    assert listing.index("checkout job") < listing.index("instance to component")

    rule = MappingRule.objects.get(name="instance to component")
    admin.post(
        f"/alerts/mapping-rules/{rule.pk}/edit/",
        {
            "position": 1,
            "name": rule.name,
            "label": "host",
            "pattern": "",
            "target": "component",
            "active": "on",
        },
    )
    rule.refresh_from_db()
    assert (rule.position, rule.label) == (1, "host")
    assert admin.post(f"/alerts/mapping-rules/{fixed.pk}/delete/").status_code == 302
    assert not MappingRule.objects.filter(pk=fixed.pk).exists()


def test_a_bad_pattern_or_a_node_of_the_wrong_kind_is_refused_next_to_its_field(admin):
    cmp = make_component("db-01", "database")
    page = admin.post(
        "/alerts/mapping-rules/new/",
        {
            "position": 1,
            "name": "broken",
            "label": "instance",
            "pattern": "^(unclosed",
            "target": "service",
            "node_ref": cmp.reference,
        },
    )
    assert page.status_code == 422
    html = page.content.decode()
    assert re.search(r'id="id_pattern_error">Not a valid regular expression', html)
    assert f"{cmp.reference} is a component, but the target is service." in html
    missing = admin.post(
        "/alerts/mapping-rules/new/",
        {"position": 1, "name": "x", "label": "job", "target": "service", "node_ref": "SVC-999999"},
    )
    assert "No component or service SVC-999999." in missing.content.decode()
    assert not MappingRule.objects.exists()


def test_agents_read_the_configuration_but_cannot_change_it(client, db):
    make_user("tom", "technician")
    client.login(username="tom", password=PASSWORD)
    source = EventSource.objects.create(name="prometheus", kind="alertmanager")
    listing = client.get("/alerts/sources/")
    assert listing.status_code == 200 and "New event source" not in listing.content.decode()
    assert client.get(f"/alerts/sources/{source.pk}/").status_code == 200
    assert "Issue a new secret" not in client.get(f"/alerts/sources/{source.pk}/").content.decode()
    assert client.get("/alerts/sources/new/").status_code == 403
    assert client.post(f"/alerts/sources/{source.pk}/rotate/").status_code == 403
    assert client.get("/alerts/mapping-rules/").status_code == 200
    assert client.post("/alerts/mapping-rules/new/", {"name": "x"}).status_code == 403
