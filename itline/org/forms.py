"""Forms of the organisation pages. They render and validate fields; writes go through the
verbs in ``services.py``."""

from __future__ import annotations

from django import forms

from itline.org.choices import MembershipRole
from itline.org.models import BusinessUnit, Customer, Function, Person
from itline.org.roles import ROLES


class PersonForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Person
        fields = ["name", "email", "phone", "job_title", "business_unit", "active"]


class FunctionForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Function
        fields = ["name", "governance_level", "lead", "email", "description", "active"]
        widgets = {"description": forms.Textarea(attrs={"rows": 4})}


class BusinessUnitForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = BusinessUnit
        fields = ["name", "code", "parent", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class CustomerForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Customer
        fields = ["business_unit", "decision_maker", "relationship_manager", "active"]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if self.instance.pk:
            # The unit is the customer's identity; changing it would be another customer.
            self.fields["business_unit"].disabled = True


class MemberForm(forms.Form):
    person = forms.ModelChoiceField(queryset=Person.objects.filter(active=True))
    role = forms.ChoiceField(choices=MembershipRole.choices)


class PurchaserForm(forms.Form):
    person = forms.ModelChoiceField(queryset=Person.objects.filter(active=True))
    spending_limit = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=12,
        decimal_places=2,
        label="Spending limit per order",
    )


class LoginForm(forms.Form):
    username = forms.RegexField(
        regex=r"^[\w.@+-]+$",
        max_length=150,
        error_messages={"invalid": "Use letters, digits and @ . + - _ only."},
    )
    password = forms.CharField(
        widget=forms.PasswordInput,
        required=False,
        help_text="Leave empty to let them set it via password reset.",
    )
    roles = forms.MultipleChoiceField(
        choices=[(r.slug, r.name) for r in ROLES], widget=forms.CheckboxSelectMultiple
    )


class RolesForm(forms.Form):
    roles = forms.MultipleChoiceField(
        choices=[(r.slug, r.name) for r in ROLES],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
