"""Verbs of the organisation app and the visibility rules every caller (UI, API, CLI) uses.

Each verb checks the actor's permission, validates through the model, saves and journals in one
transaction. ``by=None`` means the system itself (migrations, demo loader, an operator's CLI
command acting as the installation)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet

from itline.core import journal
from itline.core.models import JournalEntry
from itline.core.services import create_record, require, update_record
from itline.org.models import (
    BusinessUnit,
    Customer,
    Function,
    Membership,
    Person,
    Purchaser,
    person_of,
)
from itline.org.roles import ROLE_BY_SLUG, roles_of

# --- visibility ---------------------------------------------------------------------------


def visible_unit_ids(user: Any) -> set[int] | None:
    """Business units whose records ``user`` may see; ``None`` means all of them."""
    if user is None or user.has_perm("core.agent_access"):
        return None
    person = person_of(user)
    if person is None or person.business_unit_id is None:
        return set()
    units = {person.business_unit_id}
    if "customer_representative" in roles_of(user):
        for customer in Customer.objects.filter(decision_maker=person).select_related(
            "business_unit"
        ):
            units |= customer.business_unit.subtree_ids()
    return units


def people_for(user: Any) -> QuerySet[Person]:
    qs = Person.objects.select_related("business_unit", "user")
    units = visible_unit_ids(user)
    if units is None:
        return qs
    me = person_of(user)
    if "customer_representative" in roles_of(user):
        return qs.filter(business_unit_id__in=units)
    return qs.filter(pk=me.pk) if me else qs.none()


def units_for(user: Any) -> QuerySet[BusinessUnit]:
    qs = BusinessUnit.objects.select_related("parent")
    units = visible_unit_ids(user)
    return qs if units is None else qs.filter(pk__in=units)


def customers_for(user: Any) -> QuerySet[Customer]:
    """Agents see every customer; a customer representative the customers they decide for;
    a purchaser the customers they may order for; a requester none."""
    qs = Customer.objects.select_related("business_unit", "decision_maker", "relationship_manager")
    if visible_unit_ids(user) is None:
        return qs
    me = person_of(user)
    if me is None:
        return qs.none()
    mine = roles_of(user)
    cond = Q(pk__in=[])
    if "customer_representative" in mine:
        cond |= Q(decision_maker=me)
    if "purchaser" in mine:
        cond |= Q(purchasers__person=me)
    return qs.filter(cond).distinct()


def functions_for(user: Any) -> QuerySet[Function]:
    qs = Function.objects.select_related("lead")
    if user is None or user.has_perm("org.view_function"):
        return qs
    return qs.none()


def purchasers_for(user: Any) -> QuerySet[Purchaser]:
    """Agents see all; a customer representative their customers' purchasers; a purchaser
    only their own entries."""
    qs = Purchaser.objects.select_related("customer__business_unit", "person")
    if visible_unit_ids(user) is None:
        return qs
    me = person_of(user)
    if me is None:
        return qs.none()
    mine = roles_of(user)
    cond = Q(person=me) if "purchaser" in mine else Q(pk__in=[])
    if "customer_representative" in mine:
        cond |= Q(customer__decision_maker=me)
    return qs.filter(cond)


# --- verbs --------------------------------------------------------------------------------


def create_business_unit(*, by: Any, **fields: Any) -> BusinessUnit:
    require(by, "org.add_businessunit")
    return create_record(BusinessUnit(**fields), by=by)


def update_business_unit(unit: BusinessUnit, *, by: Any, **fields: Any) -> BusinessUnit:
    require(by, "org.change_businessunit")
    return update_record(unit, by=by, **fields)


def create_person(*, by: Any, **fields: Any) -> Person:
    require(by, "org.add_person")
    return create_record(Person(**fields), by=by)


def update_person(person: Person, *, by: Any, **fields: Any) -> Person:
    require(by, "org.change_person")
    return update_record(person, by=by, **fields)


def create_function(*, by: Any, **fields: Any) -> Function:
    require(by, "org.add_function")
    return create_record(Function(**fields), by=by)


def update_function(function: Function, *, by: Any, **fields: Any) -> Function:
    require(by, "org.change_function")
    return update_record(function, by=by, **fields)


def add_member(function: Function, person: Person, *, by: Any, role: str = "member") -> Membership:
    """Put ``person`` in ``function`` (or change their role there), journaled on the function."""
    require(by, "org.add_membership")
    with transaction.atomic():
        existing = Membership.objects.filter(function=function, person=person).first()
        if existing is not None:
            if existing.role == role:
                return existing
            before = existing.role
            update_record(existing, by=by, role=role)
            journal.record(
                function,
                by=by,
                verb=JournalEntry.Verb.MEMBERSHIP,
                changes={f"member {person}": [before, role]},
            )
            return existing
        membership = create_record(Membership(function=function, person=person, role=role), by=by)
        journal.record(
            function,
            by=by,
            verb=JournalEntry.Verb.MEMBERSHIP,
            changes={f"member {person}": [None, role]},
        )
    return membership


def remove_member(membership: Membership, *, by: Any) -> None:
    require(by, "org.delete_membership")
    with transaction.atomic():
        function, person, role = membership.function, membership.person, membership.role
        journal.record(membership, by=by, verb=JournalEntry.Verb.DELETED)
        membership.delete()
        journal.record(
            function,
            by=by,
            verb=JournalEntry.Verb.MEMBERSHIP,
            changes={f"member {person}": [role, None]},
        )


def create_customer(*, by: Any, **fields: Any) -> Customer:
    require(by, "org.add_customer")
    return create_record(Customer(**fields), by=by)


def update_customer(customer: Customer, *, by: Any, **fields: Any) -> Customer:
    require(by, "org.change_customer")
    return update_record(customer, by=by, **fields)


def add_purchaser(customer: Customer, person: Person, *, by: Any, **fields: Any) -> Purchaser:
    require(by, "org.add_purchaser")
    return create_record(Purchaser(customer=customer, person=person, **fields), by=by)


def remove_purchaser(purchaser: Purchaser, *, by: Any) -> None:
    require(by, "org.delete_purchaser")
    with transaction.atomic():
        journal.record(purchaser, by=by, verb=JournalEntry.Verb.DELETED)
        journal.record(
            purchaser.customer,
            by=by,
            verb=JournalEntry.Verb.UPDATED,
            changes={f"purchaser {purchaser.person}": ["yes", None]},
        )
        purchaser.delete()


def create_login(
    person: Person, *, by: Any, username: str, password: str | None, roles: list[str]
) -> Any:
    """Give ``person`` a login with ``roles``. Unknown roles and taken usernames are refused
    with a message naming the field."""
    require(by, "auth.change_user")
    unknown = [r for r in roles if r not in ROLE_BY_SLUG]
    if unknown:
        raise ValidationError(
            {"roles": f"Unknown role(s): {', '.join(unknown)}. Known: {', '.join(ROLE_BY_SLUG)}"}
        )
    User = get_user_model()
    if person.user_id is not None:
        raise ValidationError({"username": f"{person} already has the login {person.user}."})
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": f"The username {username!r} is taken."})
    with transaction.atomic():
        first, _, last = person.name.partition(" ")
        user = User(username=username, email=person.email or "", first_name=first, last_name=last)
        if password:
            from django.contrib.auth.password_validation import validate_password

            try:
                validate_password(password, user)
            except ValidationError as exc:
                raise ValidationError({"password": exc.messages}) from None
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.full_clean(exclude=["password"])
        user.save()
        user.groups.set(Group.objects.filter(name__in=roles))
        update_record(person, by=by, user=user)
        journal.record(
            person,
            by=by,
            verb=JournalEntry.Verb.UPDATED,
            changes={"roles": [None, sorted(roles)]},
        )
    return user


def set_roles(person: Person, *, by: Any, roles: list[str]) -> None:
    require(by, "auth.change_user")
    unknown = [r for r in roles if r not in ROLE_BY_SLUG]
    if unknown:
        raise ValidationError({"roles": f"Unknown role(s): {', '.join(unknown)}"})
    if person.user is None:
        raise ValidationError({"roles": f"{person} has no login; create one first."})
    with transaction.atomic():
        before = sorted(roles_of(person.user))
        person.user.groups.set(Group.objects.filter(name__in=roles))
        person.user.__dict__.pop("_itline_roles", None)
        if before != sorted(roles):
            journal.record(
                person,
                by=by,
                verb=JournalEntry.Verb.UPDATED,
                changes={"roles": [before, sorted(roles)]},
            )
