"""Mapping rules, from labels to the structure: in order, first component and first service
win, patterns with a (named) group, fixed nodes, per-source rules, hints from the event win,
a fallback to "unmapped" that is visible, and edits (rules, renamed nodes) apply at once."""

import pytest
from django.core.exceptions import ValidationError

from itline.cmdb import services as cmdb
from itline.cmdb.testing import make_component
from itline.operation.ingest import config, map_labels
from itline.operation.ingest.testing import make_source
from itline.operation.testing import make_service

pytestmark = pytest.mark.django_db

PORT = r"(.+?)(:\d+)?"


@pytest.fixture
def source():
    return make_source()[0]


def rule(name, label, target, pattern="", position=100, **fields):
    return config.create_rule(
        by=None, name=name, label=label, target=target, pattern=pattern, position=position, **fields
    )


def test_the_instance_label_without_port_names_a_component(source):
    web = make_component("web-01")
    r = rule("instance", "instance", "component", PORT)
    assert map_labels(source.pk, {"instance": "web-01:9100"}) == (web.pk, None, r.pk)


def test_a_job_label_names_a_service_and_both_are_set(source):
    web = make_component("web-01")
    shop = make_service("Shop")
    c = rule("instance", "instance", "component", PORT, position=10)
    rule("job", "job", "service", position=20)
    assert map_labels(source.pk, {"instance": "web-01:9100", "job": "Shop"}) == (
        web.pk,
        shop.pk,
        c.pk,
    )


def test_rules_run_in_position_order_and_the_first_finding_a_component_wins(source):
    web = make_component("web-01")
    make_component("nas-01")
    host = rule("host", "host", "component", position=20)
    rule("instance", "instance", "component", PORT, position=30)
    assert map_labels(source.pk, {"host": "web-01", "instance": "nas-01:9100"})[::2] == (
        web.pk,
        host.pk,
    )


def test_a_rule_that_finds_nothing_falls_through_to_the_next(source):
    nas = make_component("nas-01")
    rule("host", "host", "component", position=10)
    second = rule("instance", "instance", "component", PORT, position=20)
    assert map_labels(source.pk, {"host": "unknown-box", "instance": "nas-01:9100"}) == (
        nas.pk,
        None,
        second.pk,
    )


def test_a_named_group_is_the_name_looked_up(source):
    db = make_component("db-01", "database")
    rule("fqdn", "instance", "component", r"(?P<port>\d+)@(?P<name>[^.]+)\..*")
    assert map_labels(source.pk, {"instance": "5432@db-01.prod.example"})[0] == db.pk


def test_a_pattern_must_match_the_whole_value(source):
    make_component("web-01")
    rule("web only", "instance", "component", r"(web-\d+)")
    assert map_labels(source.pk, {"instance": "web-01:9100"}) == (None, None, None)


def test_a_rule_with_a_fixed_node_maps_every_matching_value_to_it(source):
    shop = make_service("Shop")
    r = rule("shop jobs", "job", "service", r"shop-.*", node=shop)
    assert map_labels(source.pk, {"job": "shop-frontend"}) == (None, shop.pk, r.pk)
    assert map_labels(source.pk, {"job": "payroll"}) == (None, None, None)


def test_names_match_exactly_else_in_lower_case(source):
    web = make_component("web-01")
    rule("host", "host", "component")
    assert map_labels(source.pk, {"host": "WEB-01"})[0] == web.pk


def test_a_rule_for_one_source_does_not_map_another_sources_events(source):
    web = make_component("web-01")
    other, _ = make_source("zabbix", kind="itline")
    rule("host", "host", "component", source=other)
    assert map_labels(source.pk, {"host": "web-01"}) == (None, None, None)
    assert map_labels(other.pk, {"host": "web-01"})[0] == web.pk


def test_an_inactive_rule_does_not_map(source):
    make_component("web-01")
    rule("host", "host", "component", active=False)
    assert map_labels(source.pk, {"host": "web-01"}) == (None, None, None)


def test_hints_naming_an_existing_node_win_over_the_rules(source):
    web = make_component("web-01")
    db = make_component("db-01", "database")
    shop = make_service("Shop")
    rule("host", "host", "component")
    assert map_labels(source.pk, {"host": "web-01"}, db.reference, "Shop") == (db.pk, shop.pk, None)
    # a hint naming nothing falls back to the rules
    assert map_labels(source.pk, {"host": "web-01"}, "no-such-box")[0] == web.pk


def test_a_component_hint_naming_a_service_is_not_taken_as_component(source):
    make_service("Shop")
    assert map_labels(source.pk, {}, "Shop") == (None, None, None)


def test_a_changed_rule_applies_to_the_next_event(source):
    make_component("web-01")
    nas = make_component("nas-01")
    r = rule("host", "host", "component")
    assert map_labels(source.pk, {"box": "nas-01"}) == (None, None, None)
    config.update_rule(r, by=None, label="box")
    assert map_labels(source.pk, {"box": "nas-01"})[0] == nas.pk
    config.delete_rule(r, by=None)
    assert map_labels(source.pk, {"box": "nas-01"}) == (None, None, None)


def test_a_renamed_component_maps_by_its_new_name_at_once(source):
    web = make_component("web-01")
    rule("host", "host", "component")
    assert map_labels(source.pk, {"host": "web-01"})[0] == web.pk
    cmdb.update_component(web, by=None, name="shop-web-01")
    assert map_labels(source.pk, {"host": "web-01"})[0] is None
    assert map_labels(source.pk, {"host": "shop-web-01"})[0] == web.pk


def test_an_invalid_pattern_is_refused_naming_the_field():
    with pytest.raises(ValidationError) as exc:
        rule("bad", "instance", "component", "(unclosed")
    assert "pattern" in exc.value.message_dict


def test_a_fixed_node_of_the_wrong_kind_is_refused():
    shop = make_service("Shop")
    with pytest.raises(ValidationError) as exc:
        rule("bad", "host", "component", node=shop)
    assert "node" in exc.value.message_dict
