"""API of the organisation: people, functions, memberships, business units, customers,
purchasers. Lookups by reference; writes go through ``itline.org.services``."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from django.db.models import Q
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, FilterLookup, FilterSchema, Router, Schema, Status

from itline.core.api import ERRORS
from itline.core.crud import Crud, resolve_ref
from itline.org import services
from itline.org.choices import GovernanceLevel, MembershipRole
from itline.org.models import BusinessUnit, Customer, Function, Membership, Person, Purchaser

router = Router()


def _ref(obj: Any) -> str | None:
    return None if obj is None else str(obj.reference)


class RecordOut(Schema):
    reference: str
    created_at: datetime
    updated_at: datetime


# --- business units -------------------------------------------------------------------------


class BusinessUnitOut(RecordOut):
    name: str
    code: str
    parent: str | None
    description: str

    @staticmethod
    def resolve_parent(obj: BusinessUnit) -> str | None:
        return _ref(obj.parent)


class BusinessUnitIn(Schema):
    name: str = Field(..., min_length=1, max_length=120)
    code: str = Field("", max_length=20)
    parent: str | None = Field(None, description="Reference of the parent unit")
    description: str = ""


class BusinessUnitPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=120)
    code: str | None = Field(None, max_length=20)
    parent: str | None = None
    description: str | None = None


class BusinessUnitFilters(FilterSchema):
    parent: Annotated[str | None, FilterLookup("parent__reference")] = None
    code: Annotated[str | None, FilterLookup("code__iexact")] = None


# --- people ---------------------------------------------------------------------------------


class PersonOut(RecordOut):
    name: str
    email: str | None
    phone: str
    job_title: str
    business_unit: str | None
    active: bool
    username: str | None

    @staticmethod
    def resolve_business_unit(obj: Person) -> str | None:
        return _ref(obj.business_unit)

    @staticmethod
    def resolve_username(obj: Person) -> str | None:
        return obj.user.username if obj.user else None


class PersonIn(Schema):
    name: str = Field(..., min_length=1, max_length=150)
    email: str | None = Field(None, max_length=254)
    phone: str = Field("", max_length=40)
    job_title: str = Field("", max_length=120)
    business_unit: str | None = None
    active: bool = True


class PersonPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=150)
    email: str | None = Field(None, max_length=254)
    phone: str | None = Field(None, max_length=40)
    job_title: str | None = Field(None, max_length=120)
    business_unit: str | None = None
    active: bool | None = None


class PersonFilters(FilterSchema):
    business_unit: Annotated[str | None, FilterLookup("business_unit__reference")] = None
    active: bool | None = None
    function: Annotated[str | None, FilterLookup("memberships__function__reference")] = None
    has_login: bool | None = None

    def filter_has_login(self, value: bool | None) -> Q:
        return Q() if value is None else Q(user__isnull=not value)


def _person_fields(fields: dict[str, Any]) -> dict[str, Any]:
    if "email" in fields:
        fields["email"] = (fields["email"] or "").strip().lower() or None
    return fields


# --- functions ------------------------------------------------------------------------------


class FunctionOut(RecordOut):
    name: str
    governance_level: GovernanceLevel
    lead: str | None
    lead_name: str | None
    email: str
    description: str
    active: bool

    @staticmethod
    def resolve_lead(obj: Function) -> str | None:
        return _ref(obj.lead)

    @staticmethod
    def resolve_lead_name(obj: Function) -> str | None:
        return obj.lead.name if obj.lead else None


class FunctionIn(Schema):
    name: str = Field(..., min_length=1, max_length=120)
    governance_level: GovernanceLevel = GovernanceLevel.OPERATIONAL
    lead: str | None = Field(None, description="Reference of the lead person")
    email: str | None = Field(None, max_length=254)
    description: str = ""
    active: bool = True


class FunctionPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=120)
    governance_level: GovernanceLevel | None = None
    lead: str | None = None
    email: str | None = Field(None, max_length=254)
    description: str | None = None
    active: bool | None = None


class FunctionFilters(FilterSchema):
    governance_level: GovernanceLevel | None = None
    active: bool | None = None
    lead: Annotated[str | None, FilterLookup("lead__reference")] = None


# --- customers ------------------------------------------------------------------------------


class CustomerOut(RecordOut):
    name: str
    business_unit: str
    decision_maker: str | None
    relationship_manager: str | None
    active: bool

    @staticmethod
    def resolve_business_unit(obj: Customer) -> str:
        return str(obj.business_unit.reference)

    @staticmethod
    def resolve_decision_maker(obj: Customer) -> str | None:
        return _ref(obj.decision_maker)

    @staticmethod
    def resolve_relationship_manager(obj: Customer) -> str | None:
        return _ref(obj.relationship_manager)


class CustomerIn(Schema):
    business_unit: str = Field(..., description="Reference of the business unit")
    decision_maker: str | None = None
    relationship_manager: str | None = None
    active: bool = True


class CustomerPatch(Schema):
    decision_maker: str | None = None
    relationship_manager: str | None = None
    active: bool | None = None


class CustomerFilters(FilterSchema):
    active: bool | None = None


# --- registration ---------------------------------------------------------------------------

Crud(
    path="business-units",
    model=BusinessUnit,
    out=BusinessUnitOut,
    create_in=BusinessUnitIn,
    patch_in=BusinessUnitPatch,
    filters=BusinessUnitFilters,
    queryset_for=services.units_for,
    create=services.create_business_unit,
    update=services.update_business_unit,
    search_fields=("name", "code", "reference"),
    refs={"parent": BusinessUnit},
).register(router)

Crud(
    path="people",
    model=Person,
    out=PersonOut,
    create_in=PersonIn,
    patch_in=PersonPatch,
    filters=PersonFilters,
    queryset_for=services.people_for,
    create=lambda *, by, **f: services.create_person(by=by, **_person_fields(f)),
    update=lambda obj, *, by, **f: services.update_person(obj, by=by, **_person_fields(f)),
    search_fields=("name", "email", "reference", "job_title"),
    refs={"business_unit": BusinessUnit},
).register(router)

Crud(
    path="functions",
    model=Function,
    out=FunctionOut,
    create_in=FunctionIn,
    patch_in=FunctionPatch,
    filters=FunctionFilters,
    queryset_for=services.functions_for,
    create=lambda *, by, **f: services.create_function(by=by, **_person_fields(f)),
    update=lambda obj, *, by, **f: services.update_function(obj, by=by, **_person_fields(f)),
    search_fields=("name", "reference", "description"),
    refs={"lead": Person},
).register(router)

Crud(
    path="customers",
    model=Customer,
    out=CustomerOut,
    create_in=CustomerIn,
    patch_in=CustomerPatch,
    filters=CustomerFilters,
    queryset_for=services.customers_for,
    create=services.create_customer,
    update=services.update_customer,
    search_fields=("business_unit__name", "reference"),
    sort_fields=("reference", "created_at", "updated_at"),
    default_sort="reference",
    refs={"business_unit": BusinessUnit, "decision_maker": Person, "relationship_manager": Person},
).register(router)


# --- memberships and purchasers (sub-resources) ---------------------------------------------


class MembershipOut(Schema):
    reference: str
    function: str
    person: str
    person_name: str
    role: MembershipRole

    @staticmethod
    def resolve_function(obj: Membership) -> str:
        return str(obj.function.reference)

    @staticmethod
    def resolve_person(obj: Membership) -> str:
        return str(obj.person.reference)

    @staticmethod
    def resolve_person_name(obj: Membership) -> str:
        return obj.person.name


class MembershipIn(Schema):
    person: str = Field(..., description="Reference of the person")
    role: MembershipRole = MembershipRole.MEMBER


@router.get(
    "/functions/{ref}/members",
    response={200: list[MembershipOut], **ERRORS},
    tags=["Functions"],
    summary="Members of a function",
)
def list_members(request: HttpRequest, ref: str) -> Any:
    function = get_object_or_404(services.functions_for(request.user), reference=ref)
    return list(function.memberships.select_related("person", "function"))


@router.post(
    "/functions/{ref}/members",
    response={201: MembershipOut, **ERRORS},
    tags=["Functions"],
    summary="Add a member to a function, or change their role",
)
def add_member(request: HttpRequest, ref: str, payload: MembershipIn) -> Any:
    function = get_object_or_404(services.functions_for(request.user), reference=ref)
    person = resolve_ref(Person, payload.person, "person", required=True)
    return Status(201, services.add_member(function, person, by=request.user, role=payload.role))


@router.delete(
    "/functions/{ref}/members/{person_ref}",
    response={204: None, **ERRORS},
    tags=["Functions"],
    summary="Remove a member from a function",
)
def remove_member(request: HttpRequest, ref: str, person_ref: str) -> Any:
    function = get_object_or_404(services.functions_for(request.user), reference=ref)
    membership = get_object_or_404(function.memberships, person__reference=person_ref)
    services.remove_member(membership, by=request.user)
    return Status(204, None)


class PurchaserOut(Schema):
    reference: str
    customer: str
    person: str
    person_name: str
    spending_limit: Decimal | None

    @staticmethod
    def resolve_customer(obj: Purchaser) -> str:
        return str(obj.customer.reference)

    @staticmethod
    def resolve_person(obj: Purchaser) -> str:
        return str(obj.person.reference)

    @staticmethod
    def resolve_person_name(obj: Purchaser) -> str:
        return obj.person.name


class PurchaserIn(Schema):
    person: str
    spending_limit: Decimal | None = Field(None, ge=0, max_digits=12, decimal_places=2)


@router.get(
    "/customers/{ref}/purchasers",
    response={200: list[PurchaserOut], **ERRORS},
    tags=["Customers"],
    summary="Purchasers of a customer",
)
def list_purchasers(request: HttpRequest, ref: str) -> Any:
    customer = get_object_or_404(services.customers_for(request.user), reference=ref)
    return list(services.purchasers_for(request.user).filter(customer=customer))


@router.post(
    "/customers/{ref}/purchasers",
    response={201: PurchaserOut, **ERRORS},
    tags=["Customers"],
    summary="Allow a person to order for a customer",
)
def add_purchaser(request: HttpRequest, ref: str, payload: PurchaserIn) -> Any:
    customer = get_object_or_404(services.customers_for(request.user), reference=ref)
    person = resolve_ref(Person, payload.person, "person", required=True)
    purchaser = services.add_purchaser(
        customer, person, by=request.user, spending_limit=payload.spending_limit
    )
    return Status(201, purchaser)


@router.delete(
    "/customers/{ref}/purchasers/{person_ref}",
    response={204: None, **ERRORS},
    tags=["Customers"],
    summary="Withdraw a purchaser",
)
def remove_purchaser(request: HttpRequest, ref: str, person_ref: str) -> Any:
    customer = get_object_or_404(services.customers_for(request.user), reference=ref)
    purchaser = get_object_or_404(customer.purchasers, person__reference=person_ref)
    services.remove_purchaser(purchaser, by=request.user)
    return Status(204, None)
