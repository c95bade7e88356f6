"""API of Delivery Control: the improvement register, and the service desk's hand-off of an
improvement proposal to it.

No ``from __future__ import annotations``: ninja reads the annotations at registration."""

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, FilterSchema, Router, Schema, Status

from itline.cmdb.models import Service
from itline.core.api import ERRORS
from itline.core.crud import Crud
from itline.delivery import services
from itline.delivery.models import Improvement, ImprovementStatus
from itline.org.models import Person

router = Router()


class ImprovementOut(Schema):
    reference: str
    title: str
    description: str
    status: ImprovementStatus
    service: str | None
    proposed_by: str | None
    source_reference: str
    created_at: datetime

    @staticmethod
    def resolve_service(obj: Improvement) -> str | None:
        return None if obj.service is None else str(obj.service.reference)

    @staticmethod
    def resolve_proposed_by(obj: Improvement) -> str | None:
        return None if obj.proposed_by is None else str(obj.proposed_by.reference)


class ImprovementIn(Schema):
    title: str = Field(..., min_length=1, max_length=200)
    description: str = ""
    service: str | None = None
    proposed_by: str | None = None


class ImprovementPatch(Schema):
    title: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = None
    status: ImprovementStatus | None = None
    service: str | None = None


class ImprovementFilters(FilterSchema):
    status: ImprovementStatus | None = None


def improvements_for(user: Any) -> Any:
    qs = Improvement.objects.select_related("service", "proposed_by")
    if user is not None and not user.has_perm("delivery.view_improvement"):
        return qs.none()
    return qs


Crud(
    path="improvements",
    model=Improvement,
    out=ImprovementOut,
    create_in=ImprovementIn,
    patch_in=ImprovementPatch,
    filters=ImprovementFilters,
    queryset_for=improvements_for,
    create=services.create_improvement,
    update=services.update_improvement,
    search_fields=("title", "reference", "description"),
    sort_fields=("created_at", "reference", "title", "status"),
    default_sort="-created_at",
    refs={"service": Service, "proposed_by": Person},
    tag="Improvements",
).register(router)


@router.post(
    "/requests/{ref}/improvement",
    response={201: ImprovementOut, **ERRORS},
    tags=["Service requests"],
    summary="Pass an improvement proposal to the improvement register",
)
def pass_to_register(request: HttpRequest, ref: str) -> Any:
    from itline.operation.services import visible_requests

    req = get_object_or_404(visible_requests(request.user), reference=ref)
    return Status(201, services.register_improvement_from_request(req, by=request.user))
