"""The organisation: business units, people, functions (teams), memberships, customers and
purchasers. Every other record names an owner function and people from here."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from itline.core.models import ReferencedRecord
from itline.org.choices import GovernanceLevel, MembershipRole


class BusinessUnit(ReferencedRecord):
    """A division, department or team of the business, in a hierarchy. Customers are business
    units with a mandate to decide on and fund services; requesters belong to a unit."""

    REFERENCE_PREFIX = "BU"

    name = models.CharField(max_length=120, unique=True)
    code = models.CharField(max_length=20, blank=True, help_text="Short code, e.g. FIN")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def get_absolute_url(self) -> str:
        return reverse("org:businessunit-detail", args=[self.reference])

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # Walk up from the new parent: meeting ourselves means the edit would close a loop.
        node = self.parent
        seen: set[int] = set()
        while node is not None and self.pk is not None:
            if node.pk == self.pk:
                raise ValidationError({"parent": "A unit cannot be placed below itself."})
            if node.pk in seen:
                break
            seen.add(node.pk)
            node = node.parent

    def subtree_ids(self) -> set[int]:
        """This unit and every unit below it (one query per level)."""
        ids = {self.pk}
        frontier = {self.pk}
        while frontier:
            frontier = (
                set(
                    BusinessUnit.objects.filter(parent_id__in=frontier).values_list("id", flat=True)
                )
                - ids
            )
            ids |= frontier
        return ids


class Person(ReferencedRecord):
    """Someone the IT organisation deals with: staff, requesters, supplier contacts. A person
    may have a login (``user``) or not (a phone caller, an external contact)."""

    REFERENCE_PREFIX = "PER"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="person",
    )
    name = models.CharField(max_length=150)
    # NULL, not "", when unknown: unique=True then names the field on a duplicate.
    email = models.EmailField(null=True, blank=True, unique=True)
    phone = models.CharField(max_length=40, blank=True)
    job_title = models.CharField(max_length=120, blank=True)
    business_unit = models.ForeignKey(
        BusinessUnit, null=True, blank=True, on_delete=models.PROTECT, related_name="people"
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "people"

    def get_absolute_url(self) -> str:
        return reverse("org:person-detail", args=[self.reference])

    def __str__(self) -> str:
        return self.name

    @property
    def initials(self) -> str:
        parts = [p for p in self.name.split() if p[:1].isalpha()]
        return "".join(p[0] for p in (parts[:1] + parts[-1:] if len(parts) > 1 else parts)).upper()


class Function(ReferencedRecord):
    """A group with a responsibility, often virtual and staffed across units: the service
    desk, an operations team, the CAB, the IT steering group. Every record has an owner
    function; governance level says where its decisions sit."""

    REFERENCE_PREFIX = "FUN"

    name = models.CharField(max_length=120, unique=True)
    governance_level = models.CharField(
        max_length=12, choices=GovernanceLevel.choices, default=GovernanceLevel.OPERATIONAL
    )
    lead = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="functions_led"
    )
    email = models.EmailField(blank=True, help_text="Shared mailbox of the function, if any")
    description = models.TextField(blank=True)
    members = models.ManyToManyField(Person, through="Membership", related_name="functions")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def get_absolute_url(self) -> str:
        return reverse("org:function-detail", args=[self.reference])

    def __str__(self) -> str:
        return self.name


class Membership(ReferencedRecord):
    """A person's place in a function, with the role they play there."""

    REFERENCE_PREFIX = "MEM"

    function = models.ForeignKey(Function, on_delete=models.CASCADE, related_name="memberships")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(
        max_length=12, choices=MembershipRole.choices, default=MembershipRole.MEMBER
    )

    class Meta:
        ordering = ["function__name", "person__name"]
        constraints = [
            models.UniqueConstraint(fields=["function", "person"], name="membership_unique")
        ]

    def __str__(self) -> str:
        return f"{self.person} in {self.function} ({self.role})"


class Customer(ReferencedRecord):
    """A business unit with the mandate to decide on and fund services, represented by its
    decision-maker. Agreements, reviews and cost are per customer."""

    REFERENCE_PREFIX = "CUS"

    business_unit = models.OneToOneField(
        BusinessUnit, on_delete=models.PROTECT, related_name="customer"
    )
    decision_maker = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="customers_decided"
    )
    relationship_manager = models.ForeignKey(
        Person,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customers_managed",
        help_text="Business relationship manager on the IT side",
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["business_unit__name"]

    def get_absolute_url(self) -> str:
        return reverse("org:customer-detail", args=[self.reference])

    def __str__(self) -> str:
        return self.business_unit.name if self.business_unit_id else "(new customer)"

    @property
    def name(self) -> str:
        return str(self)


class Purchaser(ReferencedRecord):
    """A person allowed to order existing services for a customer."""

    REFERENCE_PREFIX = "PUR"

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="purchasers")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="purchaser_for")
    spending_limit = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, help_text="Per order, optional"
    )

    class Meta:
        ordering = ["customer__business_unit__name", "person__name"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "person"], name="purchaser_unique")
        ]

    def __str__(self) -> str:
        return f"{self.person} for {self.customer}"


def person_of(user: Any) -> Person | None:
    if not getattr(user, "is_authenticated", False):
        return None
    try:
        return user.person  # type: ignore[no-any-return]
    except Person.DoesNotExist:
        return None
