"""Agreements between IT and its customers. Operation reads them to run SLA clocks."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from itline.core.models import Record, ReferencedRecord


class PauseState(models.TextChoices):
    """The on-hold reasons an agreement may count as paused time."""

    WAITING_FOR_CUSTOMER = "waiting_for_customer", "Waiting for customer"
    WAITING_FOR_SUPPLIER = "waiting_for_supplier", "Waiting for supplier"
    WAITING_FOR_CHANGE = "waiting_for_change", "Waiting for change"


def default_pause_states() -> list[str]:
    return [PauseState.WAITING_FOR_CUSTOMER.value]


class Agreement(ReferencedRecord):
    """A service level agreement between IT and a customer for a service: the support hours
    (a business calendar), response and resolution targets per priority, the warning threshold
    and the states in which the clock pauses. An agreement without customer applies to every
    customer of its service; one without service to every service of its customer; the single
    default agreement applies where nothing more specific exists."""

    REFERENCE_PREFIX = "SLA"

    name = models.CharField(max_length=150, unique=True)
    customer = models.ForeignKey(
        "org.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="agreements"
    )
    service = models.ForeignKey(
        "cmdb.Service", null=True, blank=True, on_delete=models.PROTECT, related_name="agreements"
    )
    is_default = models.BooleanField(default=False)
    calendar = models.ForeignKey(
        "core.BusinessCalendar",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="agreements",
        help_text="Support hours; empty means around the clock",
    )
    warning_percent = models.PositiveSmallIntegerField(
        default=75, help_text="Warn when this share of a target is used up"
    )
    pause_states = models.JSONField(default=default_pause_states, blank=True)
    description = models.TextField(blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="agreement_single_default",
            ),
            models.CheckConstraint(
                condition=models.Q(warning_percent__gte=1, warning_percent__lte=99),
                name="agreement_warning_percent_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("relations:agreement-detail", args=[self.reference])

    @property
    def scope(self) -> str:
        """Who and what the agreement covers, in words."""
        if self.is_default:
            return "Default: every customer and service without a more specific agreement"
        if self.customer_id and self.service_id:
            return f"{self.customer} for {self.service}"
        if self.service_id:
            return f"Every customer of {self.service}"
        if self.customer_id:
            return f"Every service of {self.customer}"
        return "Nothing (name a customer, a service or make it the default)"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        valid = set(PauseState.values)
        states = self.pause_states
        if (
            not isinstance(states, list)
            or any(not isinstance(s, str) or s not in valid for s in states)
            or len(set(states)) != len(states)
        ):
            errors["pause_states"] = f"Use a list without repeats of: {', '.join(sorted(valid))}."
        if not isinstance(self.warning_percent, int) or not 1 <= self.warning_percent <= 99:
            errors["warning_percent"] = "Give a share between 1 and 99 percent."
        if self.is_default and (self.customer_id or self.service_id):
            errors["is_default"] = (
                "The default agreement applies everywhere: leave customer and service empty."
            )
        elif self.is_default:
            other = Agreement.objects.filter(is_default=True).exclude(pk=self.pk).first()
            if other is not None:
                errors["is_default"] = (
                    f"{other.reference} {other.name} is already the default agreement; "
                    "make that one specific first."
                )
        elif not self.customer_id and not self.service_id:
            errors["service"] = (
                "Name a customer, a service or both, or make this the default agreement."
            )
        elif self.active:
            # Two active agreements for the same customer and service would make the choice
            # of agreement for an incident arbitrary.
            clash = (
                Agreement.objects.filter(
                    active=True,
                    is_default=False,
                    # None means IS NULL here: "every customer" clashes only with itself.
                    **{"customer_id": self.customer_id, "service_id": self.service_id},
                )
                .exclude(pk=self.pk)
                .first()
            )
            if clash is not None:
                errors["service" if self.service_id else "customer"] = (
                    f"{clash.reference} {clash.name} already covers this customer and service."
                )
        if errors:
            raise ValidationError(errors)


class AgreementTarget(Record):
    """The response and resolution targets of one priority under an agreement, in business
    minutes of the agreement's calendar."""

    agreement = models.ForeignKey(Agreement, on_delete=models.CASCADE, related_name="targets")
    priority = models.PositiveSmallIntegerField()
    response_minutes = models.PositiveIntegerField()
    resolution_minutes = models.PositiveIntegerField()

    class Meta:
        ordering = ["agreement", "priority"]
        constraints = [
            models.UniqueConstraint(
                fields=["agreement", "priority"], name="agreement_target_unique_priority"
            ),
            models.CheckConstraint(
                condition=models.Q(priority__gte=1, priority__lte=4),
                name="agreement_target_priority_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agreement} P{self.priority}"

    def clean(self) -> None:
        if not isinstance(self.priority, int) or not 1 <= self.priority <= 4:
            raise ValidationError({"priority": "Priority is 1 (critical) to 4 (low)."})
        for field in ("response_minutes", "resolution_minutes"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise ValidationError({field: "Give a target of at least one business minute."})
        if (
            self.response_minutes
            and self.resolution_minutes
            and (self.response_minutes > self.resolution_minutes)
        ):
            raise ValidationError(
                {
                    "response_minutes": "The response target cannot be longer than the resolution target."
                }
            )
