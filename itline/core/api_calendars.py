"""API of business calendars: CRUD plus the arithmetic, so integrations and admins can check
what a calendar does ("when is 8 business hours after Friday 16:00?")."""

import math
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, FilterSchema, Router, Schema

from itline.core.api import ERRORS
from itline.core.calendar import CalendarError
from itline.core.crud import Crud
from itline.core.errors import DomainError
from itline.core.models import BusinessCalendar
from itline.core.services import create_calendar, update_calendar

router = Router()


class CalendarOut(Schema):
    reference: str
    name: str
    time_zone: str
    working_hours: dict[str, list[str]]
    country: str
    subdivision: str
    custom_holidays: list[str]
    removed_holidays: list[str]
    description: str
    created_at: datetime
    updated_at: datetime


class CalendarIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    time_zone: str = "Europe/Amsterdam"
    working_hours: dict[str, list[str]] | None = None
    country: str = Field("", max_length=10)
    subdivision: str = Field("", max_length=10)
    custom_holidays: list[str] = []
    removed_holidays: list[str] = []
    description: str = ""


class CalendarPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    time_zone: str | None = None
    working_hours: dict[str, list[str]] | None = None
    country: str | None = Field(None, max_length=10)
    subdivision: str | None = Field(None, max_length=10)
    custom_holidays: list[str] | None = None
    removed_holidays: list[str] | None = None
    description: str | None = None


class CalendarFilters(FilterSchema):
    country: str | None = None


def _queryset(user: Any) -> Any:
    if user is not None and not user.has_perm("core.view_businesscalendar"):
        return BusinessCalendar.objects.none()
    return BusinessCalendar.objects.all()


Crud(
    path="calendars",
    model=BusinessCalendar,
    out=CalendarOut,
    create_in=CalendarIn,
    patch_in=CalendarPatch,
    filters=CalendarFilters,
    queryset_for=_queryset,
    create=create_calendar,
    update=update_calendar,
    search_fields=("name", "reference", "description"),
    tag="Business calendars",
).register(router)


class AddOut(Schema):
    start: datetime
    minutes: float
    deadline: datetime


class BetweenOut(Schema):
    start: datetime
    end: datetime
    business_minutes: float


def _engine(request: HttpRequest, ref: str) -> Any:
    calendar = get_object_or_404(_queryset(request.user), reference=ref)
    return calendar.engine()


@router.get(
    "/calendars/{ref}/add",
    response={200: AddOut, **ERRORS},
    tags=["Business calendars"],
    summary="The instant N business minutes after start",
)
def calendar_add(request: HttpRequest, ref: str, start: datetime, minutes: float) -> Any:
    engine = _engine(request, ref)
    if start.tzinfo is None:
        raise DomainError(
            "start needs a time zone offset, e.g. 2026-11-27T16:00:00+01:00", field="start"
        )
    if not math.isfinite(minutes) or abs(minutes) > 10 * 366 * 24 * 60:
        raise DomainError("minutes must be a number within ten years", field="minutes")
    try:
        return {"start": start, "minutes": minutes, "deadline": engine.add_minutes(start, minutes)}
    except (CalendarError, OverflowError, ValueError) as exc:
        raise DomainError(f"cannot compute: {exc}", field="minutes") from None


@router.get(
    "/calendars/{ref}/between",
    response={200: BetweenOut, **ERRORS},
    tags=["Business calendars"],
    summary="Business minutes between two instants",
)
def calendar_between(request: HttpRequest, ref: str, start: datetime, end: datetime) -> Any:
    engine = _engine(request, ref)
    for name, value in (("start", start), ("end", end)):
        if value.tzinfo is None:
            raise DomainError(f"{name} needs a time zone offset", field=name)
    if abs((end - start).days) > 10 * 366:
        raise DomainError("the span must be within ten years", field="end")
    try:
        minutes = engine.business_minutes_between(start, end)
    except (CalendarError, OverflowError, ValueError) as exc:
        raise DomainError(f"cannot compute: {exc}", field="end") from None
    return {"start": start, "end": end, "business_minutes": minutes}
