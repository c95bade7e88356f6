"""Named test personas and small builders, so each test states its data explicitly."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group

from itline.core.models import ApiToken
from itline.org.models import BusinessUnit, Person

PASSWORD = "correct horse battery staple"  # noqa: S105  (test persona password)


def make_unit(name: str, parent: BusinessUnit | None = None) -> BusinessUnit:
    unit = BusinessUnit(name=name, code=name[:3].upper(), parent=parent)
    unit.save()
    return unit


def make_person(name: str, *, unit: BusinessUnit | None = None, email: str = "") -> Person:
    person = Person(name=name, business_unit=unit, email=email or None)
    person.save()
    return person


def make_user(
    username: str, *roles: str, unit: BusinessUnit | None = None, name: str | None = None
) -> Any:
    """A person with a login and the given roles (group names from ``itline.org.roles``)."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(
        username=username, password=PASSWORD, email=f"{username}@example.com"
    )
    user.groups.set(Group.objects.filter(name__in=roles))
    person = make_person(name or username.title(), unit=unit, email=f"{username}@example.com")
    person.user = user
    person.save()
    return user


def bearer(user: Any, scope: str = "write") -> dict[str, str]:
    _, secret = ApiToken.issue(
        user=user, name=f"test-{scope}-{ApiToken.objects.count()}", scope=scope
    )
    return {"Authorization": f"Bearer {secret}"}
