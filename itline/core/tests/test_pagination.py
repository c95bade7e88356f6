import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from itline.core.errors import DomainError
from itline.core.pagination import keyset_page
from itline.org.models import Person


def _people(names):
    for name in names:
        Person(name=name).save()


@pytest.mark.django_db
@pytest.mark.parametrize("sort", ["name", "-name", "created_at", "-reference"])
def test_walking_all_pages_returns_every_row_exactly_once_even_with_ties(sort):
    _people(["Ann", "Bob", "Bob", "Bob", "Cid", "Dan", "Dan", "Eve", "Fay", "Gus", "Hal"])
    seen, cursor = [], None
    while True:
        page = keyset_page(
            Person.objects.all(),
            sort=sort,
            allowed=("name", "created_at", "reference"),
            cursor=cursor,
            limit=3,
        )
        seen += [p.pk for p in page.items]
        cursor = page.next_cursor
        if not cursor:
            break
    assert sorted(seen) == sorted(Person.objects.values_list("pk", flat=True))
    assert len(seen) == len(set(seen))
    field = sort.lstrip("-")
    values = [getattr(Person.objects.get(pk=pk), field) for pk in seen]
    assert values == sorted(values, reverse=sort.startswith("-"))


@pytest.mark.django_db
def test_a_deep_page_costs_one_query_like_the_first():
    _people([f"Person {i:03d}" for i in range(60)])
    first = keyset_page(Person.objects.all(), sort="name", allowed=("name",), limit=10)
    with CaptureQueriesContext(connection) as ctx:
        keyset_page(
            Person.objects.all(), sort="name", allowed=("name",), cursor=first.next_cursor, limit=10
        )
    assert len(ctx) == 1
    assert "OFFSET" not in ctx.captured_queries[0]["sql"].upper()


@pytest.mark.django_db
@pytest.mark.parametrize("cursor", ["garbage", "W10", "eyJhIjoxfQ", "WyJuYW1lIiwgWzFdXQ"])
def test_a_malformed_cursor_is_a_clear_error(cursor):
    with pytest.raises(DomainError) as exc:
        keyset_page(Person.objects.all(), sort="name", allowed=("name",), cursor=cursor)
    assert exc.value.field == "cursor"


@pytest.mark.django_db
def test_a_cursor_from_another_sort_order_is_refused():
    _people(["A", "B", "C"])
    page = keyset_page(Person.objects.all(), sort="name", allowed=("name", "reference"), limit=1)
    with pytest.raises(DomainError, match="another sort"):
        keyset_page(
            Person.objects.all(),
            sort="reference",
            allowed=("name", "reference"),
            cursor=page.next_cursor,
        )


@pytest.mark.django_db
def test_sorting_by_a_field_that_is_not_allowed_names_the_allowed_ones():
    with pytest.raises(DomainError, match="name, reference"):
        keyset_page(Person.objects.all(), sort="email", allowed=("name", "reference"))
