"""Service structure pages: lists with filters and a fixed query count, records with relations
both ways, forms that validate attributes against the type, relations added and removed, the
graph's data and the impact view with its explaining paths."""

import html
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from itline.cmdb import impact, services
from itline.cmdb.models import Component, ComponentType, Relation, RelationType, Service
from itline.cmdb.views import neighbourhood
from itline.core.testing import PASSWORD, make_unit, make_user
from itline.org.models import Customer, Function


def _text(html):
    """The visible text of a page, markup removed, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture(autouse=True)
def _no_shared_index():
    # A graph index published by another test could carry the same version number.
    impact.forget()
    yield
    impact.forget()


@pytest.fixture
def admin_client(client, db):
    make_user("admin", "administrator")
    client.login(username="admin", password=PASSWORD)
    return client


def component(name, type_slug="server", **fields):
    ctype = ComponentType.objects.get(slug=type_slug)
    return services.create_component(by=None, name=name, component_type=ctype, **fields)


def relate(source, target, slug="depends-on"):
    return services.relate(source, target, RelationType.objects.get(slug=slug), by=None)


@pytest.fixture
def shop(db):
    """Retail buys the web shop; it depends on the payments service and runs on an application
    on a VM of one host; the host stores on a SAN. The switch only connects to the host."""
    retail = Customer(business_unit=make_unit("Retail"))
    retail.save()
    ops = Function(name="Operations")
    ops.save()
    s = {
        "retail": retail,
        "ops": ops,
        "shop": services.create_service(
            by=None, name="Web shop", customers=[retail], criticality=5, lifecycle="live"
        ),
        "payments": services.create_service(by=None, name="Payments", service_kind="supporting"),
        "app": component("shop-app", "application", owner_function=ops),
        "vm": component("vm-1", "virtual-machine", attributes={"os": "Debian 12", "vcpu": 4}),
        "host": component("host-1", tags=["dmz"], location="AMS-DC1", status="in_maintenance"),
        "san": component("san-1", "storage"),
        "switch": component("switch-1", "network-device", attributes={"role": "switch"}),
    }
    relate(s["shop"], s["payments"])
    relate(s["shop"], s["app"], "runs-on")
    relate(s["app"], s["vm"], "runs-on")
    relate(s["vm"], s["host"], "hosted-on")
    relate(s["host"], s["san"])
    relate(s["switch"], s["host"], "connects-to")
    return s


# --- lists ----------------------------------------------------------------------------------


def test_the_service_list_filters_by_kind_criticality_and_customer_and_searches(admin_client, shop):
    body = _text(admin_client.get("/structure/services/").content.decode())
    assert "Web shop" in body and "Payments" in body and "2 services" in body
    body = admin_client.get("/structure/services/?kind=supporting").content.decode()
    assert "Payments" in body and "Web shop" not in body
    body = admin_client.get("/structure/services/?criticality=5").content.decode()
    assert "Web shop" in body and "Payments" not in body
    customer = shop["retail"].reference
    body = admin_client.get(f"/structure/services/?customer={customer}").content.decode()
    assert "Web shop" in body and "Payments" not in body
    body = admin_client.get("/structure/services/?q=pay").content.decode()
    assert "Payments" in body and "Web shop" not in body
    body = admin_client.get("/structure/services/?sort=-criticality").content.decode()
    assert body.index("Web shop") < body.index("Payments")


def test_the_component_list_filters_by_type_status_tag_location_owner_and_attribute(
    admin_client, shop
):
    def names(query):
        body = admin_client.get(f"/structure/components/?{query}").content.decode()
        return {c.name for c in Component.objects.all() if f">{c.name}<" in body}

    assert names("type=storage") == {"san-1"}
    assert names("status=in_maintenance") == {"host-1"}
    assert names("tag=dmz") == {"host-1"}
    assert names("location=AMS-DC1") == {"host-1"}
    assert names(f"owner={shop['ops'].reference}") == {"shop-app"}
    assert names("attr=os:Debian 12") == {"vm-1"}
    assert names("attr=vcpu:4") == {"vm-1"}  # a number in the JSON, typed as text
    assert names("attr=role:switch") == {"switch-1"}
    body = admin_client.get("/structure/components/?attr=nonsense").content.decode()
    assert "the filter was ignored" in body


@pytest.mark.parametrize("url", ["/structure/services/", "/structure/components/"])
def test_list_pages_use_a_fixed_number_of_queries_whatever_the_row_count(admin_client, url):
    customer = Customer(business_unit=make_unit("Ops"))
    customer.save()

    def add(i):
        services.create_service(by=None, name=f"Service {i}", customers=[customer])
        component(f"node-{i}", tags=["a", f"t{i}"])

    add(0)
    admin_client.get(url)  # warm caches (content types, sessions)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(url).status_code == 200
        return len(ctx)

    few = count()
    for i in range(1, 12):
        add(i)
    assert count() == few


# --- record pages ---------------------------------------------------------------------------


def test_a_component_page_shows_attributes_relations_both_ways_impact_and_history(
    admin_client, shop
):
    page = admin_client.get(f"/structure/components/{shop['vm'].reference}/").content.decode()
    text = _text(page)
    assert "Attributes of a virtual machine" in text
    assert "os Debian 12" in text and "memory_gb not set" in text
    assert "?attr=os%3ADebian+12" in page  # each value lists its look-alikes
    assert "What it needs" in text and "Is hosted on (1) host-1" in text
    assert "What needs it" in text and "Runs (1) shop-app" in text
    assert "2 other records fail with it" in text  # the app and the shop
    assert "Customers affected: Retail" in text
    assert "Open records" in text and "No open incidents or problems" in text
    assert "History" in text and "created" in text
    assert f"/structure/impact/?node={shop['vm'].reference}" in page


def test_a_service_page_shows_customers_owner_and_that_its_own_customers_are_affected(
    admin_client, shop
):
    page = admin_client.get(f"/structure/services/{shop['shop'].reference}/").content.decode()
    text = _text(page)
    assert "Depends on (1) Payments" in text and "Runs on (1) shop-app" in text
    assert "No other record depends on it." in text
    assert "Customers affected: Retail" in text
    assert "Nothing recorded needs it." in text


def test_a_service_desk_agent_sees_the_structure_but_no_edit_or_relation_forms(client, shop):
    make_user("dana", "service_desk_agent")
    client.login(username="dana", password=PASSWORD)
    page = client.get(f"/structure/components/{shop['vm'].reference}/").content.decode()
    assert "Add a relation" not in page and ">Remove<" not in page and ">Edit<" not in page
    assert client.get(f"/structure/components/{shop['vm'].reference}/edit/").status_code == 403
    assert client.post(f"/structure/nodes/{shop['vm'].reference}/relations/").status_code == 403


def test_portal_users_never_reach_the_structure_pages(client, shop):
    make_user("rita", "requester")
    client.login(username="rita", password=PASSWORD)
    for url in ["/structure/services/", "/structure/graph/", "/structure/impact/"]:
        assert client.get(url).status_code == 403, url


# --- forms -----------------------------------------------------------------------------------


def test_a_component_with_attributes_against_its_type_schema_is_refused_next_to_the_field(
    admin_client, db
):
    server = ComponentType.objects.get(slug="server")
    response = admin_client.post(
        "/structure/components/new/",
        {
            "name": "web-01",
            "component_type": server.pk,
            "status": "in_use",
            "attributes": '{"cpu": "four"}',
            "tags": "pci, dmz",
        },
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert re.search(r'id="id_attributes_error">[^<]*cpu: &#x27;four&#x27; is not', body)
    assert "Please correct the following" in body
    bad_json = admin_client.post(
        "/structure/components/new/",
        {"name": "web-01", "component_type": server.pk, "status": "in_use", "attributes": "{"},
    )
    assert bad_json.status_code == 422 and "Enter a valid JSON" in bad_json.content.decode()
    assert not Component.objects.exists()


def test_creating_and_editing_a_component_sets_tags_from_text_and_journals_the_change(
    admin_client, db
):
    server = ComponentType.objects.get(slug="server")
    response = admin_client.post(
        "/structure/components/new/",
        {
            "name": "web-01",
            "component_type": server.pk,
            "status": "in_use",
            "attributes": '{"cpu": 4}',
            "tags": "PCI, dmz, ",
        },
    )
    web = Component.objects.get(name="web-01")
    assert response.status_code == 302 and response["Location"] == web.get_absolute_url()
    assert sorted(web.tags.values_list("name", flat=True)) == ["dmz", "pci"]
    edit = admin_client.get(f"/structure/components/{web.reference}/edit/").content.decode()
    assert 'value="dmz, pci"' in edit and "&quot;cpu&quot;: 4" in edit
    response = admin_client.post(
        f"/structure/components/{web.reference}/edit/",
        {
            "name": "web-01",
            "component_type": server.pk,
            "status": "in_maintenance",
            "attributes": '{"cpu": 8}',
            "tags": "dmz",
        },
    )
    assert response.status_code == 302
    web.refresh_from_db()
    assert web.status == "in_maintenance" and web.attributes == {"cpu": 8}
    page = _text(admin_client.get(web.get_absolute_url()).content.decode())
    assert re.search(r"Tags\W+dmz\W+pci\W+dmz\W", html.unescape(page))  # before -> after
    bad_tag = admin_client.post(
        f"/structure/components/{web.reference}/edit/",
        {"name": "web-01", "component_type": server.pk, "status": "in_use", "tags": "no spaces"},
    )
    assert bad_tag.status_code == 422
    assert re.search(r'id="id_tags_error">[^<]*is not a valid tag', bad_tag.content.decode())


def test_creating_a_service_with_customers_and_a_duplicate_name_is_refused(admin_client, shop):
    response = admin_client.post(
        "/structure/services/new/",
        {
            "name": "Fleet",
            "service_kind": "it_service",
            "lifecycle": "live",
            "criticality": 4,
            "customers": [shop["retail"].pk],
        },
    )
    fleet = Service.objects.get(name="Fleet")
    assert response.status_code == 302 and list(fleet.customers.all()) == [shop["retail"]]
    dup = admin_client.post(
        "/structure/services/new/",
        {"name": "web SHOP", "service_kind": "it_service", "lifecycle": "live", "criticality": 3},
    )
    assert dup.status_code == 422 and "already exists" in dup.content.decode()


def test_relations_are_added_and_removed_on_the_record_page_and_errors_become_messages(
    admin_client, shop
):
    vm, san = shop["vm"], shop["san"]
    depends = RelationType.objects.get(slug="depends-on")
    url = f"/structure/nodes/{vm.reference}/relations/"
    response = admin_client.post(
        url, {"direction": "out", "relation_type": depends.pk, "other": "SAN-1"}, follow=True
    )
    assert "Added: vm-1 depends on san-1." in response.content.decode()
    assert Relation.objects.filter(source=vm, target=san, relation_type=depends).exists()
    again = admin_client.post(
        url, {"direction": "out", "relation_type": depends.pk, "other": san.reference}, follow=True
    )
    assert "already depends on" in again.content.decode()
    loop = admin_client.post(
        url, {"direction": "in", "relation_type": depends.pk, "other": "vm-1"}, follow=True
    )
    assert "cannot be related to itself" in loop.content.decode()
    missing = admin_client.post(
        url, {"direction": "in", "relation_type": depends.pk, "other": "nope"}, follow=True
    )
    assert "There is no service or component" in missing.content.decode()
    incoming = admin_client.post(
        url, {"direction": "in", "relation_type": depends.pk, "other": "switch-1"}
    )
    assert incoming.status_code == 302
    relation = Relation.objects.get(source=shop["switch"], target=vm, relation_type=depends)
    removed = admin_client.post(
        f"/structure/relations/{relation.pk}/remove/", {"from": vm.reference}
    )
    assert removed["Location"] == vm.get_absolute_url()
    assert not Relation.objects.filter(pk=relation.pk).exists()


# --- graph -----------------------------------------------------------------------------------


def test_the_graph_data_is_the_neighbourhood_with_what_fails_with_the_centre_marked(
    admin_client, shop
):
    host = shop["host"]
    data = admin_client.get(f"/structure/graph/data/?node={host.reference}&depth=2").json()
    nodes = {n["name"]: n for n in data["nodes"]}
    assert set(nodes) == {"host-1", "vm-1", "san-1", "switch-1", "shop-app"}
    assert nodes["host-1"]["distance"] == 0 and nodes["shop-app"]["distance"] == 2
    assert nodes["shop-app"]["parent"] == shop["vm"].reference
    assert {n for n, v in nodes.items() if v["impacted"]} == {"vm-1", "shop-app"}
    impact_edges = {(e["source"], e["target"]) for e in data["edges"] if e["impact"]}
    assert impact_edges == {
        (shop["vm"].reference, host.reference),
        (shop["app"].reference, shop["vm"].reference),
    }
    connects = next(e for e in data["edges"] if e["type"] == "connects-to")
    assert connects["propagates"] is False and connects["impact"] is False
    assert data["impact"]["total"] == 3 and data["impact"]["customers"] == ["Retail"]
    assert data["capped"] is False
    missing = admin_client.get("/structure/graph/data/?node=CMP-999999")
    assert missing.status_code == 404 and missing.json()["errors"][0]["field"] == "node"


def test_the_neighbourhood_stops_at_the_cap_and_says_so(shop):
    distance, _, capped = neighbourhood(shop["host"].pk, depth=3, cap=3)
    assert capped and len(distance) == 3 and distance[shop["host"].pk] == 0
    distance, _, capped = neighbourhood(shop["host"].pk, depth=1)
    assert not capped and len(distance) == 4  # vm, san, switch around the host


def test_the_graph_page_lists_the_records_in_a_table_and_accepts_a_typed_name(admin_client, shop):
    page = admin_client.get(f"/structure/graph/?node={shop['vm'].reference}&depth=1")
    text = _text(page.content.decode())
    assert "Dependency graph of vm-1" in text
    assert "Table of the 3 records in the graph" in text
    assert "If vm-1 fails" in text and "2 records fail with it" in text
    assert 'data-src="/structure/graph/data/"' in page.content.decode()
    typed = admin_client.get("/structure/graph/?node=VM-1&depth=3&impact=1")
    assert typed["Location"] == f"/structure/graph/?node={shop['vm'].reference}&depth=3&impact=1"
    unknown = admin_client.get("/structure/graph/?node=nothing-like-this")
    assert unknown.status_code == 404 and "There is no service or component" in _text(
        unknown.content.decode()
    )
    several = admin_client.get("/structure/graph/?node=1").content.decode()
    assert "Which one did you mean" in several and "vm-1" in several and "host-1" in several
    start = _text(admin_client.get("/structure/graph/").content.decode())
    assert "Start from a service" in start and "Web shop" in start


# --- impact ----------------------------------------------------------------------------------


def test_the_impact_view_explains_each_impacted_service_and_names_the_customers(admin_client, shop):
    page = admin_client.get(f"/structure/impact/?node={shop['san'].reference}").content.decode()
    text = _text(page)
    assert "If san-1 fails" in text
    assert "Customers affected Retail" in text
    # the path that explains why the shop fails, start first
    assert "san-1 host-1 vm-1 shop-app Web shop" in text
    assert "Records impacted 4" in text and "IT services 1" in text  # not the switch
    assert "Payments" not in text  # the shop depends on it, not the other way round


def test_the_impact_view_answers_what_records_need_for_several_nodes_with_a_depth(
    admin_client, shop
):
    refs = f"node={shop['shop'].reference}&node=switch-1"
    text = _text(admin_client.get(f"/structure/impact/?{refs}&direction=down").content.decode())
    assert "What Web shop and switch-1 need" in text
    assert "Web shop shop-app vm-1 host-1 san-1" in text
    assert "Payments" in text
    shallow = _text(
        admin_client.get(
            f"/structure/impact/?node={shop['shop'].reference}&direction=down&depth=1"
        ).content.decode()
    )
    assert "Records needed 2" in shallow and "san-1" not in shallow
    unknown = admin_client.get("/structure/impact/?node=NOPE-1")
    assert unknown.status_code == 404
    assert "There is no service or component “NOPE-1”" in unknown.content.decode()
