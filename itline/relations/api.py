"""API of agreements (SLAs): list, read, create, change, replace and delete by reference.

Config as code: an agreement's body is the whole agreement, targets included, so
``GET /agreements/{ref}`` followed by ``PUT`` of the same body changes nothing, and a file
of agreements can be kept in version control and applied. Writes go through
``itline.relations.services``."""

from datetime import datetime
from typing import Annotated, Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, FilterLookup, FilterSchema, Router, Schema, Status

from itline.cmdb.models import Service
from itline.core.api import ERRORS
from itline.core.crud import Crud
from itline.core.models import BusinessCalendar
from itline.org.models import Customer
from itline.relations import services
from itline.relations.models import Agreement, PauseState

router = Router()

TEN_YEARS = 10 * 366 * 24 * 60
REFS: dict[str, Any] = {"customer": Customer, "service": Service, "calendar": BusinessCalendar}


class Target(Schema):
    priority: int = Field(..., ge=1, le=4, description="1 critical .. 4 low")
    response_minutes: int = Field(..., ge=1, le=TEN_YEARS, description="Business minutes")
    resolution_minutes: int = Field(..., ge=1, le=TEN_YEARS, description="Business minutes")


def _ref(obj: Any) -> str | None:
    return None if obj is None else str(obj.reference)


class AgreementOut(Schema):
    reference: str
    name: str
    customer: str | None = Field(None, description="Customer reference; null: every customer")
    customer_name: str | None
    service: str | None = Field(None, description="Service reference; null: every service")
    service_name: str | None
    is_default: bool
    calendar: str | None = Field(None, description="Calendar reference; null: 24x7")
    calendar_name: str | None
    warning_percent: int
    pause_states: list[str]
    description: str
    active: bool
    targets: list[Target]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_customer(obj: Agreement) -> str | None:
        return _ref(obj.customer)

    @staticmethod
    def resolve_customer_name(obj: Agreement) -> str | None:
        return None if obj.customer is None else str(obj.customer)

    @staticmethod
    def resolve_service(obj: Agreement) -> str | None:
        return _ref(obj.service)

    @staticmethod
    def resolve_service_name(obj: Agreement) -> str | None:
        return None if obj.service is None else obj.service.name

    @staticmethod
    def resolve_calendar(obj: Agreement) -> str | None:
        return _ref(obj.calendar)

    @staticmethod
    def resolve_calendar_name(obj: Agreement) -> str | None:
        return None if obj.calendar is None else obj.calendar.name

    @staticmethod
    def resolve_targets(obj: Agreement) -> list[dict[str, int]]:
        return [
            {
                "priority": t.priority,
                "response_minutes": t.response_minutes,
                "resolution_minutes": t.resolution_minutes,
            }
            for t in sorted(obj.targets.all(), key=lambda t: t.priority)
        ]


class AgreementIn(Schema):
    """The whole agreement. Read-only fields of the output (reference, names, timestamps)
    are ignored, so a body read with GET can be sent back as it is."""

    name: str = Field(..., min_length=1, max_length=150)
    customer: str | None = None
    service: str | None = None
    is_default: bool = False
    calendar: str | None = None
    warning_percent: int = Field(75, ge=1, le=99)
    pause_states: list[PauseState] = Field(
        default_factory=lambda: [PauseState.WAITING_FOR_CUSTOMER],
        description="On-hold reasons that pause the resolution clock",
    )
    description: str = ""
    active: bool = True
    targets: list[Target] = Field(default_factory=list, description="One per priority")


class AgreementPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=150)
    customer: str | None = None
    service: str | None = None
    is_default: bool | None = None
    calendar: str | None = None
    warning_percent: int | None = Field(None, ge=1, le=99)
    pause_states: list[PauseState] | None = None
    description: str | None = None
    active: bool | None = None
    targets: list[Target] | None = None


class AgreementFilters(FilterSchema):
    customer: Annotated[str | None, FilterLookup("customer__reference")] = None
    service: Annotated[str | None, FilterLookup("service__reference")] = None
    calendar: Annotated[str | None, FilterLookup("calendar__reference")] = None
    is_default: bool | None = None
    active: bool | None = None


def _normalise(fields: dict[str, Any]) -> dict[str, Any]:
    """Enums as plain strings; ``null`` for a list or text means "leave as it is"."""
    if fields.get("pause_states") is not None:
        fields["pause_states"] = [str(getattr(s, "value", s)) for s in fields["pause_states"]]
    for name in ("targets", "description", "pause_states"):
        if name in fields and fields[name] is None:
            fields.pop(name)
    return fields


def _create(*, by: Any, **fields: Any) -> Agreement:
    return services.create_agreement(by=by, **_normalise(fields))


def _update(agreement: Agreement, *, by: Any, **fields: Any) -> Agreement:
    return services.update_agreement(agreement, by=by, **_normalise(fields))


CRUD = Crud(
    path="agreements",
    model=Agreement,
    out=AgreementOut,
    create_in=AgreementIn,
    patch_in=AgreementPatch,
    filters=AgreementFilters,
    queryset_for=services.agreements_for,
    create=_create,
    update=_update,
    search_fields=("name", "reference", "description"),
    refs=REFS,
    tag="Agreements",
)
CRUD.register(router)


def _visible(request: HttpRequest, ref: str) -> Agreement:
    return get_object_or_404(services.agreements_for(request.user), reference=ref)


@router.put(
    "/agreements/{ref}",
    response={200: AgreementOut, **ERRORS},
    tags=["Agreements"],
    summary="Replace an agreement (the whole body, targets included)",
    operation_id="replace_agreements",
)
def replace_agreement(request: HttpRequest, ref: str, payload: AgreementIn) -> Any:
    agreement = _visible(request, ref)
    return _update(agreement, by=request.user, **CRUD.to_fields(payload.model_dump()))


@router.delete(
    "/agreements/{ref}",
    response={204: None, **ERRORS},
    tags=["Agreements"],
    summary="Delete an agreement",
    operation_id="delete_agreements",
)
def delete_agreement(request: HttpRequest, ref: str) -> Any:
    services.delete_agreement(_visible(request, ref), by=request.user)
    return Status(204, None)
