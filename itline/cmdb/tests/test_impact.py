"""The impact engine: closures up and down, explaining paths, cycles, depth limits, relation
types that do not propagate, index and SQL answering identically, and freshness."""

import itertools
import random

import numpy as np
import pytest
from django.db import connection

from itline.cmdb import impact, services
from itline.cmdb.models import (
    Component,
    ComponentType,
    GraphVersion,
    Node,
    Relation,
    RelationType,
)
from itline.cmdb.testing import make_component as component
from itline.cmdb.testing import relate
from itline.core.testing import make_unit
from itline.org.models import Customer

BOTH = pytest.mark.parametrize("use_index", [True, False], ids=["index", "sql"])


@pytest.fixture
def shop(db):
    """Retail buys the web shop; the shop needs payments; both run on applications on VMs of
    one host, which stores on a SAN and is wired (redundantly) to a switch."""
    unit = make_unit("Retail")
    retail = Customer(business_unit=unit)
    retail.save()
    s = {
        "shop": services.create_service(by=None, name="Web shop", customers=[retail]),
        "payments": services.create_service(by=None, name="Payments", service_kind="supporting"),
        "shop_app": component("shop-app", "application"),
        "pay_app": component("pay-app", "application"),
        "shop_db": component("shop-db", "database"),
        "vm1": component("vm-1", "virtual-machine"),
        "vm2": component("vm-2", "virtual-machine"),
        "host": component("host-1"),
        "san": component("san-1", "storage"),
        "switch": component("switch-1", "network-device"),
    }
    relate(s["shop"], s["payments"])
    relate(s["shop"], s["shop_app"], "runs-on")
    relate(s["payments"], s["pay_app"], "runs-on")
    relate(s["shop_app"], s["vm1"], "runs-on")
    relate(s["pay_app"], s["vm2"], "runs-on")
    relate(s["shop_app"], s["shop_db"])
    relate(s["shop_db"], s["vm2"], "runs-on")
    relate(s["vm1"], s["host"], "hosted-on")
    relate(s["vm2"], s["host"], "hosted-on")
    relate(s["host"], s["san"])
    relate(s["host"], s["switch"], "connects-to")
    s["retail"] = retail
    return s


def names(result, **kw):
    by_id = dict(Node.objects.values_list("id", "name"))
    return {by_id[n]: d for n, d in result.distances_by_node().items()}


@BOTH
def test_a_failing_host_impacts_everything_above_it_with_distances(shop, use_index):
    result = impact.impact([shop["host"].pk], "up", use_index=use_index)
    assert result.answered_by == ("index" if use_index else "sql")
    assert names(result) == {
        "host-1": 0,
        "vm-1": 1,
        "vm-2": 1,
        "shop-app": 2,
        "pay-app": 2,
        "shop-db": 2,
        "Web shop": 3,
        "Payments": 3,
    }


@BOTH
def test_the_path_explains_why_a_service_is_impacted(shop, use_index):
    result = impact.impact([shop["san"].pk], "up", use_index=use_index)
    path = [Node.objects.get(pk=n).name for n in result.path(shop["shop"].pk)]
    assert path == ["san-1", "host-1", "vm-1", "shop-app", "Web shop"]
    assert result.path(shop["switch"].pk) == []


@BOTH
def test_impacted_services_lead_to_their_customers(shop, use_index):
    result = impact.impact([shop["vm1"].pk], "up", use_index=use_index)
    assert set(result.service_ids.tolist()) == {shop["shop"].pk}
    assert result.customers() == [shop["retail"]]


@BOTH
def test_down_lists_what_a_service_depends_on(shop, use_index):
    result = impact.impact([shop["shop"].pk], "down", use_index=use_index)
    assert names(result) == {
        "Web shop": 0,
        "Payments": 1,
        "shop-app": 1,
        "pay-app": 2,
        "vm-1": 2,
        "shop-db": 2,
        "vm-2": 3,
        "host-1": 3,
        "san-1": 4,
    }


@BOTH
def test_relation_types_that_do_not_propagate_are_not_followed(shop, use_index):
    assert names(impact.impact([shop["switch"].pk], "up", use_index=use_index)) == {"switch-1": 0}
    down = impact.impact([shop["host"].pk], "down", use_index=use_index)
    assert "switch-1" not in names(down)


@BOTH
def test_a_relation_type_that_stops_propagating_takes_its_edges_out(shop, use_index):
    services.update_relation_type(
        RelationType.objects.get(slug="hosted-on"), by=None, propagates_impact=False
    )
    assert names(impact.impact([shop["host"].pk], "up", use_index=use_index)) == {"host-1": 0}


@BOTH
def test_the_depth_limit_stops_the_traversal(shop, use_index):
    result = impact.impact([shop["host"].pk], "up", depth=1, use_index=use_index)
    assert names(result) == {"host-1": 0, "vm-1": 1, "vm-2": 1}
    assert names(impact.impact([shop["host"].pk], "up", depth=0, use_index=use_index)) == {
        "host-1": 0
    }


@BOTH
def test_several_start_nodes_count_from_the_nearest(shop, use_index):
    result = impact.impact([shop["host"].pk, shop["shop_app"].pk], "up", use_index=use_index)
    found = names(result)
    assert found["shop-app"] == 0 and found["Web shop"] == 1 and found["host-1"] == 0
    assert sorted(result.starts) == sorted([shop["host"].pk, shop["shop_app"].pk])


@BOTH
def test_cycles_terminate_and_are_reported(shop, use_index):
    assert impact.impact([shop["host"].pk], "up", use_index=use_index).cycles == []
    replica = component("shop-db-replica", "database")
    relate(shop["shop_db"], replica)
    relate(replica, shop["shop_db"])  # multi-primary: each needs the other
    result = impact.impact([replica.pk], "up", use_index=use_index)
    assert names(result) == {
        "shop-db-replica": 0,
        "shop-db": 1,
        "shop-app": 2,
        "Web shop": 3,
    }
    assert result.cycles == [sorted([shop["shop_db"].pk, replica.pk])]
    from_host = impact.impact([shop["host"].pk], "up", use_index=use_index)
    assert from_host.cycles == [sorted([shop["shop_db"].pk, replica.pk])]
    assert from_host.distance(replica.pk) == 3


@BOTH
def test_a_cycle_beyond_the_depth_limit_is_not_reported(shop, use_index):
    a, b = component("a"), component("b")
    relate(a, shop["shop_app"])
    relate(b, a)
    relate(a, b)
    # a (distance 1) and b (distance 2) are both reached at depth 2, but b is not expanded, so
    # its edge back to a is not examined: the cycle is only reported from depth 3 on.
    assert impact.impact([shop["shop_app"].pk], "up", depth=2, use_index=use_index).cycles == []
    cycles = impact.impact([shop["shop_app"].pk], "up", depth=3, use_index=use_index).cycles
    assert cycles == [sorted([a.pk, b.pk])]


def test_unknown_nodes_are_ignored_and_bad_arguments_refused(shop):
    result = impact.impact([shop["host"].pk, 10**9], "up", depth=0)
    assert result.starts == [shop["host"].pk]
    assert len(impact.impact([], "up")) == 0
    assert len(impact.impact_sql([], "up")) == 0
    with pytest.raises(ValueError, match="direction"):
        impact.impact([shop["host"].pk], "sideways")
    with pytest.raises(ValueError, match="depth"):
        impact.impact([shop["host"].pk], "up", depth=-1)


# --- index and SQL agree ------------------------------------------------------------------


def _random_graph(rng, nodes, types):
    Relation.objects.all().delete()
    pairs = set()
    n_edges = rng.randint(len(nodes), 3 * len(nodes))
    while len(pairs) < n_edges:
        a, b = rng.sample(nodes, 2)
        pairs.add((a, b, rng.choice(types)))
    Relation.objects.bulk_create(
        Relation(source_id=a, target_id=b, relation_type=t) for a, b, t in pairs
    )
    GraphVersion.bump()


def _edges(direction):
    """The propagating relations as traversal steps (from, to) in ``direction``."""
    pairs = Relation.objects.filter(relation_type__propagates_impact=True).values_list(
        "source_id", "target_id"
    )
    return {(t, s) if direction == "up" else (s, t) for s, t in pairs}


def _valid_paths(result, steps):
    """Every path runs from a start node along propagating relations, one step per unit of
    distance: a shortest path (equally short ones may differ between index and SQL)."""
    for n in result.node_ids.tolist():
        path = result.path(n)
        assert path[0] in result.starts and path[-1] == n
        assert len(path) - 1 == result.distance(n)
        assert all(step in steps for step in itertools.pairwise(path))


def _same(index_result, sql_result, steps=None):
    assert index_result.answered_by == "index" and sql_result.answered_by == "sql"
    assert index_result.distances_by_node() == sql_result.distances_by_node()
    assert sorted(index_result.starts) == sorted(sql_result.starts)
    kinds = dict(zip(index_result.node_ids.tolist(), index_result.is_service.tolist(), strict=True))
    assert kinds == dict(
        zip(sql_result.node_ids.tolist(), sql_result.is_service.tolist(), strict=True)
    )
    assert index_result.cycles == sql_result.cycles
    # BFS order: by distance in both
    assert np.all(np.diff(index_result.distances) >= 0)
    assert np.all(np.diff(sql_result.distances) >= 0)
    if steps is not None:
        _valid_paths(index_result, steps)
        _valid_paths(sql_result, steps)


@pytest.mark.django_db
def test_index_and_sql_agree_on_random_graphs_with_cycles_and_depth_limits():
    server = ComponentType.objects.get(slug="server")
    nodes = [Component.objects.create(name=f"n{i}", component_type=server).pk for i in range(36)]
    nodes += [services.create_service(by=None, name=f"s{i}").pk for i in range(4)]
    types = list(RelationType.objects.all())
    assert any(not t.propagates_impact for t in types)
    rng = random.Random(20240607)
    cyclic = 0
    for _ in range(10):
        _random_graph(rng, nodes, types)
        index = impact.warm()  # published: also checks that a fresh index is picked up
        steps = {d: _edges(d) for d in ("up", "down")}
        for _ in range(6):
            starts = rng.sample(nodes, rng.choice([1, 1, 2, 3]))
            direction = rng.choice(["up", "down"])
            for depth in (None, 0, 1, 2, 3):
                via_index = impact.impact(starts, direction, depth)
                assert via_index.version == index.version
                via_sql = impact.impact(starts, direction, depth, use_index=False)
                _same(via_index, via_sql, steps[direction])
                cyclic += bool(via_index.cycles)
    assert cyclic > 20  # the draw really exercised cycles


@pytest.mark.django_db
def test_index_and_sql_agree_on_a_small_generated_estate():
    from benchmarks.generate_structure import generate, write_structure

    structure = generate(7, scale=0.01)
    write_structure(structure, progress=False)
    impact.warm()
    ids = np.array(Node.objects.order_by("id").values_list("id", flat=True))
    rng = np.random.default_rng(3)
    for start in rng.choice(ids, 12, replace=False).tolist():
        for direction in ("up", "down"):
            for depth in (None, 2):
                _same(
                    impact.impact([start], direction, depth),
                    impact.impact([start], direction, depth, use_index=False),
                )


# --- freshness ----------------------------------------------------------------------------


def test_the_next_query_after_a_new_relation_sees_it(shop):
    index = impact.warm()
    before = impact.impact([shop["san"].pk], "up")
    assert before.version == index.version and before.answered_by == "index"
    extra = component("backup-app", "application")
    relate(extra, shop["san"])
    after = impact.impact([shop["san"].pk], "up")
    assert after.version == GraphVersion.current() > index.version
    assert after.distance(extra.pk) == 1
    assert after.answered_by == "index"


def test_a_removed_relation_is_gone_from_the_next_answer(shop):
    impact.warm()
    relation = Relation.objects.get(source=shop["vm1"], target=shop["host"])
    services.unrelate(relation, by=None)
    assert shop["vm1"].pk not in impact.impact([shop["host"].pk], "up")


def test_a_fresh_published_index_answers_without_a_rebuild(shop, monkeypatch):
    impact.warm()

    def no_build(*args, **kwargs):
        raise AssertionError("rebuilt although fresh")

    monkeypatch.setattr(impact, "build_index", no_build)
    assert impact.impact([shop["host"].pk], "up").answered_by == "index"


def test_an_index_built_inside_a_transaction_is_not_published(shop):
    assert connection.in_atomic_block
    assert impact.impact([shop["host"].pk], "up").answered_by == "index"
    assert impact.status()["built"] is False


def test_with_background_builds_a_stale_index_falls_back_to_sql_and_starts_one_build(
    shop, settings, monkeypatch
):
    settings.IMPACT_BACKGROUND_BUILD = True
    started = []
    monkeypatch.setattr(impact._Holder, "start_build", lambda self: started.append(self.using))
    result = impact.impact([shop["host"].pk], "up")
    assert result.answered_by == "sql"
    assert names(result)["Web shop"] == 3
    assert started == ["default"]


def test_a_background_build_publishes_the_index(shop, monkeypatch):
    built = impact.build_index()
    monkeypatch.setattr(impact, "build_index", lambda using: built)
    assert impact._holder("default").start_build()
    impact.wait_for_build()
    state = impact.status()
    assert state["built"] and state["version"] == built.version and not state["building"]
    assert state["nodes"] == Node.objects.count()


def test_the_sql_fallback_keeps_the_recursive_step_on_the_relation_index(shop):
    plan = impact.explain_sql([shop["host"].pk], "up")
    if connection.vendor == "postgresql":
        recursive = plan.split("Recursive Union")[1].split("CTE best")[0]
        assert "Nested Loop" in recursive and "Hash Join" not in recursive, plan
    else:
        assert "relation_target" in plan or "USING INDEX" in plan, plan
