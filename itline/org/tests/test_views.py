"""Organisation pages: lists with filters/sort/search/pagination, forms with validation,
members and purchasers, logins and roles, history on detail pages."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from itline.core.testing import PASSWORD, make_person, make_unit, make_user
from itline.org.models import Customer, Function, Membership, Person


def _text(html):
    """The visible text of a page, markup removed, whitespace collapsed."""
    import re

    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def admin_client(client, db):
    make_user("admin", "administrator")
    client.login(username="admin", password=PASSWORD)
    return client


def test_creating_a_function_through_the_form_redirects_to_it_with_history(admin_client):
    lead = make_person("Nadia")
    response = admin_client.post(
        "/org/functions/new/",
        {
            "name": "Service Desk",
            "governance_level": "operational",
            "lead": lead.pk,
            "active": "on",
        },
    )
    function = Function.objects.get(name="Service Desk")
    assert response.status_code == 302
    assert response["Location"] == f"/org/functions/{function.reference}/"
    page = admin_client.get(response["Location"])
    assert b"Service Desk" in page.content
    assert b"Alex" not in page.content  # no stray data
    assert b"created" in page.content and b"History" in page.content


def test_a_form_with_bad_input_shows_the_errors_next_to_the_fields_and_saves_nothing(admin_client):
    Function(name="CAB").save()
    response = admin_client.post(
        "/org/functions/new/", {"name": "CAB", "governance_level": "cosmic", "email": "nope"}
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert "Please correct the following" in body
    assert "Function with this Name already exists." in body
    assert "Select a valid choice" in body
    assert "Enter a valid email address" in body
    assert Function.objects.count() == 1


def test_editing_a_person_journals_the_change_and_shows_it(admin_client):
    person = make_person("Tom", email="tom@example.com")
    response = admin_client.post(
        f"/org/people/{person.reference}/edit/",
        {"name": "Tom Tanaka", "email": "tom@example.com", "active": "on"},
    )
    assert response.status_code == 302
    page = admin_client.get(f"/org/people/{person.reference}/").content.decode()
    assert "Tom Tanaka" in page
    assert 'class="before">Tom<' in page and 'class="after">Tom Tanaka<' in page


def test_lists_search_filter_sort_and_count(admin_client):
    finance = make_unit("Finance")
    for name in ["Ann", "Bea", "Cid"]:
        make_person(name, unit=finance)
    make_person("Zed")
    body = admin_client.get(f"/org/people/?unit={finance.reference}&sort=-name").content.decode()
    assert body.index("Cid") < body.index("Bea") < body.index("Ann")
    assert "Zed" not in body
    assert "3 people match" in _text(body)
    body = admin_client.get("/org/people/?q=ze").content.decode()
    assert "Zed" in body and "Ann" not in body
    body = admin_client.get("/org/people/?unit=BU-999999&sort=password").content.decode()
    assert "the filter was ignored" in body and "Cannot sort by" in body


def test_pagination_walks_forward_with_a_next_link(admin_client):
    for i in range(60):
        make_person(f"Person {i:02d}")
    first = admin_client.get("/org/people/").content.decode()
    assert "Person 00" in first and "Person 55" not in first
    import re

    next_url = (
        re.search(r'href="(\?[^"]*cursor=[^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    )
    second = admin_client.get("/org/people/" + next_url).content.decode()
    assert "Person 55" in second and "Person 00" not in second


def test_an_htmx_request_gets_the_same_page_for_the_list_region(admin_client):
    make_person("Ann")
    response = admin_client.get(
        "/org/people/?q=an", headers={"HX-Request": "true", "HX-Target": "list-region"}
    )
    assert response.status_code == 200
    assert b'id="list-region"' in response.content


@pytest.mark.parametrize(
    "url", ["/org/people/", "/org/functions/", "/org/customers/", "/org/business-units/"]
)
def test_list_pages_use_a_fixed_number_of_queries_whatever_the_row_count(admin_client, url):
    unit = make_unit("Ops")
    admin_client.get(url)  # warm caches (content types, sessions)

    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(url).status_code == 200
        return len(ctx)

    few = count()
    for i in range(15):
        person = make_person(f"P{i}", unit=unit)
        function = Function(name=f"F{i}", lead=person)
        function.save()
        Membership(function=function, person=person).save()
        sub = make_unit(f"U{i}", parent=unit)
        Customer(business_unit=sub, decision_maker=person).save()
    assert count() == few


def test_members_can_be_added_and_removed_on_the_function_page(admin_client):
    function = Function(name="Network")
    function.save()
    person = make_person("Isla")
    admin_client.post(
        f"/org/functions/{function.reference}/members/", {"person": person.pk, "role": "lead"}
    )
    assert Membership.objects.get(function=function, person=person).role == "lead"
    admin_client.post(f"/org/functions/{function.reference}/members/{person.reference}/remove/")
    assert not Membership.objects.exists()


def test_an_administrator_gives_a_person_a_login_and_changes_roles(admin_client):
    person = make_person("Rita", email="rita@example.com")
    admin_client.post(
        f"/org/people/{person.reference}/login/",
        {"username": "rita", "password": "a long enough passphrase", "roles": ["requester"]},
    )
    person.refresh_from_db()
    assert person.user.username == "rita"
    admin_client.post(
        f"/org/people/{person.reference}/roles/", {"roles": ["purchaser", "requester"]}
    )
    assert set(person.user.groups.values_list("name", flat=True)) == {"purchaser", "requester"}
    response = admin_client.post(
        f"/org/people/{make_person('Other').reference}/login/",
        {"username": "rita", "roles": ["requester"]},
        follow=True,
    )
    assert "The username &#x27;rita&#x27; is taken." in response.content.decode()


def test_a_technician_sees_people_but_cannot_create_them(client, db):
    make_user("tom", "technician")
    client.login(username="tom", password=PASSWORD)
    assert client.get("/org/people/").status_code == 200
    assert b"New person" not in client.get("/org/people/").content
    assert client.get("/org/people/new/").status_code == 403
    assert client.post("/org/people/new/", {"name": "X"}).status_code == 403
    assert not Person.objects.filter(name="X").exists()


def test_global_search_finds_people_and_jumps_to_an_exact_reference(admin_client):
    person = make_person("Greta Gruber")
    body = admin_client.get("/search/?q=gret").content.decode()
    assert "Greta Gruber" in body
    response = admin_client.get(f"/search/?q={person.reference.lower()}")
    assert response.status_code == 302
    assert response["Location"] == person.get_absolute_url()
