"""Pages of the organisation: lists, details, create and edit for people, functions, business
units and customers; members, purchasers, logins and roles. Thin: reads plus verbs."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from itline.core.listing import Column, Filter, ListSpec, render_list
from itline.core.record_views import form_page, require_agent, timeline
from itline.org import services
from itline.org.choices import GovernanceLevel
from itline.org.forms import (
    BusinessUnitForm,
    CustomerForm,
    FunctionForm,
    LoginForm,
    MemberForm,
    PersonForm,
    PurchaserForm,
    RolesForm,
)
from itline.org.models import BusinessUnit, Customer, Function, Person
from itline.org.roles import ROLE_BY_SLUG, roles_of


def _units() -> list[tuple[str, str]]:
    return list(BusinessUnit.objects.values_list("reference", "name"))


def _functions() -> list[tuple[str, str]]:
    return list(Function.objects.values_list("reference", "name"))


# --- people ---------------------------------------------------------------------------------

PERSON_LIST = ListSpec(
    title="People",
    template="org/person_list.html",
    search_fields=("name", "email", "reference", "job_title"),
    columns=(
        Column("Reference", "reference"),
        Column("Name", "name"),
        Column("Job title"),
        Column("Business unit"),
        Column("E-mail"),
        Column("Login"),
        Column("Updated", "updated_at"),
    ),
    default_sort="name",
    filters=(
        Filter("unit", "Business unit", _units, "business_unit__reference"),
        Filter("function", "Function", _functions, lambda v: Q(memberships__function__reference=v)),
        Filter(
            "active",
            "Status",
            [("yes", "Active"), ("no", "Inactive")],
            lambda v: Q(active=v == "yes"),
        ),
        Filter(
            "login",
            "Login",
            [("yes", "Has a login"), ("no", "No login")],
            lambda v: Q(user__isnull=v == "no"),
        ),
    ),
    create_label="New person",
    empty_text="People are requesters, staff and contacts. Add the first one.",
)


@login_required
def person_list(request: HttpRequest) -> HttpResponse:
    require_agent(request, "org.view_person")
    can_add = request.user.has_perm("org.add_person")
    spec = replace(PERSON_LIST, create_url=reverse("org:person-create") if can_add else None)
    return render_list(request, spec, services.people_for(request.user).distinct())


@login_required
def person_detail(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "org.view_person")
    person = get_object_or_404(services.people_for(request.user), reference=ref)
    return render(
        request,
        "org/person_detail.html",
        {
            "person": person,
            "memberships": person.memberships.select_related("function"),
            "purchaser_for": person.purchaser_for.select_related("customer__business_unit"),
            "roles": [ROLE_BY_SLUG[r] for r in sorted(roles_of(person.user))]
            if person.user
            else [],
            "login_form": LoginForm() if not person.user_id else None,
            "roles_form": RolesForm(initial={"roles": sorted(roles_of(person.user))})
            if person.user
            else None,
            "timeline": timeline(person),
        },
    )


@login_required
def person_create(request: HttpRequest) -> HttpResponse:
    require_agent(request, "org.add_person")
    return form_page(
        request,
        form_class=PersonForm,
        instance=None,
        save=lambda data: services.create_person(by=request.user, **data),
        title="New person",
        cancel_url=reverse("org:person-list"),
        success_message="{obj} created.",
    )


@login_required
def person_edit(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "org.change_person")
    person = get_object_or_404(Person, reference=ref)
    return form_page(
        request,
        form_class=PersonForm,
        instance=Person.objects.get(pk=person.pk),
        save=lambda data: services.update_person(person, by=request.user, **data),
        title=f"Edit {person}",
        cancel_url=person.get_absolute_url(),
        success_message="{obj} saved.",
    )


def _post_and_back(request: HttpRequest, url: str, action: Any, success: str) -> HttpResponse:
    """Run ``action``; report its validation or permission error as a message."""
    try:
        action()
        messages.success(request, success)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    return redirect(url)


@login_required
@require_POST
def person_login(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "auth.change_user")
    person = get_object_or_404(Person, reference=ref)
    form = LoginForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(f"{k}: {' '.join(str(e) for e in v)}" for k, v in form.errors.items())
        messages.error(request, f"Login not created. {errors}")
        return redirect(person.get_absolute_url())
    return _post_and_back(
        request,
        person.get_absolute_url(),
        lambda: services.create_login(person, by=request.user, **form.cleaned_data),
        f"Login {form.cleaned_data['username']} created for {person}.",
    )


@login_required
@require_POST
def person_roles(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "auth.change_user")
    person = get_object_or_404(Person, reference=ref)
    form = RolesForm(request.POST)
    roles = form.cleaned_data["roles"] if form.is_valid() else request.POST.getlist("roles")
    return _post_and_back(
        request,
        person.get_absolute_url(),
        lambda: services.set_roles(person, by=request.user, roles=roles),
        f"Roles of {person} saved.",
    )


# --- functions ------------------------------------------------------------------------------

FUNCTION_LIST = ListSpec(
    title="Functions",
    template="org/function_list.html",
    search_fields=("name", "reference", "description"),
    columns=(
        Column("Reference", "reference"),
        Column("Name", "name"),
        Column("Governance"),
        Column("Lead"),
        Column("Members"),
        Column("Updated", "updated_at"),
    ),
    default_sort="name",
    filters=(
        Filter("level", "Governance level", GovernanceLevel.choices, "governance_level"),
        Filter(
            "active",
            "Status",
            [("yes", "Active"), ("no", "Inactive")],
            lambda v: Q(active=v == "yes"),
        ),
    ),
    create_label="New function",
    empty_text="Functions are the teams that own records: service desk, operations, the CAB.",
)


@login_required
def function_list(request: HttpRequest) -> HttpResponse:
    require_agent(request, "org.view_function")
    can_add = request.user.has_perm("org.add_function")
    spec = replace(FUNCTION_LIST, create_url=reverse("org:function-create") if can_add else None)
    qs = services.functions_for(request.user).annotate(member_count=Count("memberships"))
    return render_list(request, spec, qs)


@login_required
def function_detail(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "org.view_function")
    function = get_object_or_404(services.functions_for(request.user), reference=ref)
    return render(
        request,
        "org/function_detail.html",
        {
            "function": function,
            "memberships": function.memberships.select_related("person__business_unit"),
            "member_form": MemberForm() if request.user.has_perm("org.add_membership") else None,
            "timeline": timeline(function),
        },
    )


@login_required
def function_create(request: HttpRequest) -> HttpResponse:
    require_agent(request, "org.add_function")
    return form_page(
        request,
        form_class=FunctionForm,
        instance=None,
        save=lambda data: services.create_function(by=request.user, **data),
        title="New function",
        cancel_url=reverse("org:function-list"),
        success_message="Function {obj} created.",
    )


@login_required
def function_edit(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "org.change_function")
    function = get_object_or_404(Function, reference=ref)
    return form_page(
        request,
        form_class=FunctionForm,
        instance=Function.objects.get(pk=function.pk),
        save=lambda data: services.update_function(function, by=request.user, **data),
        title=f"Edit {function}",
        cancel_url=function.get_absolute_url(),
        success_message="Function {obj} saved.",
    )


@login_required
@require_POST
def function_add_member(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "org.add_membership")
    function = get_object_or_404(Function, reference=ref)
    form = MemberForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a person and a role.")
        return redirect(function.get_absolute_url())
    person = form.cleaned_data["person"]
    return _post_and_back(
        request,
        function.get_absolute_url(),
        lambda: services.add_member(
            function, person, by=request.user, role=form.cleaned_data["role"]
        ),
        f"{person} is now in {function}.",
    )


@login_required
@require_POST
def function_remove_member(request: HttpRequest, ref: str, person_ref: str) -> HttpResponse:
    require_agent(request, "org.delete_membership")
    function = get_object_or_404(Function, reference=ref)
    membership = get_object_or_404(function.memberships, person__reference=person_ref)
    return _post_and_back(
        request,
        function.get_absolute_url(),
        lambda: services.remove_member(membership, by=request.user),
        f"{membership.person} removed from {function}.",
    )


# --- business units -------------------------------------------------------------------------

UNIT_LIST = ListSpec(
    title="Business units",
    template="org/businessunit_list.html",
    search_fields=("name", "code", "reference"),
    columns=(
        Column("Reference", "reference"),
        Column("Name", "name"),
        Column("Code", "code"),
        Column("Parent"),
        Column("People"),
    ),
    default_sort="name",
    filters=(
        Filter(
            "top",
            "Level",
            [("yes", "Top level"), ("no", "Below another unit")],
            lambda v: Q(parent__isnull=v == "yes"),
        ),
    ),
    create_label="New business unit",
    empty_text="Business units are the divisions and departments IT serves.",
)


@login_required
def businessunit_list(request: HttpRequest) -> HttpResponse:
    require_agent(request, "org.view_businessunit")
    can_add = request.user.has_perm("org.add_businessunit")
    spec = replace(UNIT_LIST, create_url=reverse("org:businessunit-create") if can_add else None)
    qs = services.units_for(request.user).annotate(people_count=Count("people"))
    return render_list(request, spec, qs)


@login_required
def businessunit_detail(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "org.view_businessunit")
    unit = get_object_or_404(services.units_for(request.user), reference=ref)
    return render(
        request,
        "org/businessunit_detail.html",
        {
            "unit": unit,
            "children": unit.children.all(),
            "people": unit.people.all()[:100],
            "customer": Customer.objects.filter(business_unit=unit).first(),
            "timeline": timeline(unit),
        },
    )


@login_required
def businessunit_create(request: HttpRequest) -> HttpResponse:
    require_agent(request, "org.add_businessunit")
    return form_page(
        request,
        form_class=BusinessUnitForm,
        instance=None,
        save=lambda data: services.create_business_unit(by=request.user, **data),
        title="New business unit",
        cancel_url=reverse("org:businessunit-list"),
        success_message="{obj} created.",
    )


@login_required
def businessunit_edit(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "org.change_businessunit")
    unit = get_object_or_404(BusinessUnit, reference=ref)
    return form_page(
        request,
        form_class=BusinessUnitForm,
        instance=BusinessUnit.objects.get(pk=unit.pk),
        save=lambda data: services.update_business_unit(unit, by=request.user, **data),
        title=f"Edit {unit}",
        cancel_url=unit.get_absolute_url(),
        success_message="{obj} saved.",
    )


# --- customers ------------------------------------------------------------------------------

CUSTOMER_LIST = ListSpec(
    title="Customers",
    template="org/customer_list.html",
    search_fields=("business_unit__name", "reference"),
    columns=(
        Column("Reference", "reference"),
        Column("Customer"),
        Column("Decision-maker"),
        Column("Relationship manager"),
        Column("Purchasers"),
        Column("Updated", "updated_at"),
    ),
    default_sort="reference",
    filters=(
        Filter(
            "active",
            "Status",
            [("yes", "Active"), ("no", "Inactive")],
            lambda v: Q(active=v == "yes"),
        ),
    ),
    create_label="New customer",
    empty_text="Customers are business units that decide on and fund services.",
)


@login_required
def customer_list(request: HttpRequest) -> HttpResponse:
    require_agent(request, "org.view_customer")
    can_add = request.user.has_perm("org.add_customer")
    spec = replace(CUSTOMER_LIST, create_url=reverse("org:customer-create") if can_add else None)
    qs = services.customers_for(request.user).annotate(purchaser_count=Count("purchasers"))
    return render_list(request, spec, qs)


@login_required
def customer_detail(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "org.view_customer")
    customer = get_object_or_404(services.customers_for(request.user), reference=ref)
    return render(
        request,
        "org/customer_detail.html",
        {
            "customer": customer,
            "purchasers": customer.purchasers.select_related("person"),
            "purchaser_form": PurchaserForm()
            if request.user.has_perm("org.add_purchaser")
            else None,
            "timeline": timeline(customer),
        },
    )


@login_required
def customer_create(request: HttpRequest) -> HttpResponse:
    require_agent(request, "org.add_customer")
    return form_page(
        request,
        form_class=CustomerForm,
        instance=None,
        save=lambda data: services.create_customer(by=request.user, **data),
        title="New customer",
        cancel_url=reverse("org:customer-list"),
        success_message="Customer {obj} created.",
    )


@login_required
def customer_edit(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "org.change_customer")
    customer = get_object_or_404(Customer, reference=ref)
    return form_page(
        request,
        form_class=CustomerForm,
        instance=Customer.objects.get(pk=customer.pk),
        save=lambda data: services.update_customer(
            customer, by=request.user, **{k: v for k, v in data.items() if k != "business_unit"}
        ),
        title=f"Edit customer {customer}",
        cancel_url=customer.get_absolute_url(),
        success_message="Customer {obj} saved.",
    )


@login_required
@require_POST
def customer_add_purchaser(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "org.add_purchaser")
    customer = get_object_or_404(Customer, reference=ref)
    form = PurchaserForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a person; the spending limit must be a positive amount.")
        return redirect(customer.get_absolute_url())
    data = form.cleaned_data
    return _post_and_back(
        request,
        customer.get_absolute_url(),
        lambda: services.add_purchaser(
            customer, data["person"], by=request.user, spending_limit=data["spending_limit"]
        ),
        f"{data['person']} may now order for {customer}.",
    )


@login_required
@require_POST
def customer_remove_purchaser(request: HttpRequest, ref: str, person_ref: str) -> HttpResponse:
    require_agent(request, "org.delete_purchaser")
    customer = get_object_or_404(Customer, reference=ref)
    purchaser = get_object_or_404(customer.purchasers, person__reference=person_ref)
    return _post_and_back(
        request,
        customer.get_absolute_url(),
        lambda: services.remove_purchaser(purchaser, by=request.user),
        f"{purchaser.person} may no longer order for {customer}.",
    )
