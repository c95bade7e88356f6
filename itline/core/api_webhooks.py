"""API of outbound webhooks: subscriptions by reference (``WHK-000001``), their delivery log,
"send test event", "redeliver" and secret rotation. The signing secret is returned once, when
it is created or rotated; afterwards it can be replaced but never read.

No ``from __future__ import annotations``: ninja reads the annotations at registration."""

from datetime import datetime
from typing import Any
from uuid import UUID

from django.db.models import Q
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status

from itline.core import journal, webhooks
from itline.core.api import ERRORS, page_of
from itline.core.crud import JournalOut
from itline.core.errors import DomainError
from itline.core.pagination import keyset_page
from itline.core.services import require
from itline.core.webhook_models import (
    EVENTS,
    TEST_EVENT,
    WebhookDelivery,
    WebhookSubscription,
)

router = Router(tags=["Webhooks"])

VIEW = "core.view_webhooksubscription"


class WebhookOut(Schema):
    reference: str
    name: str
    url: str
    events: list[str]
    active: bool
    failure_count: int = Field(..., description="Failed delivery attempts in a row")
    disabled_at: datetime | None
    disabled_reason: str
    created_at: datetime
    updated_at: datetime


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(..., description="The signing secret; shown once, store it now")


class WebhookIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    url: str = Field(..., max_length=500, description="http(s) address of the receiver")
    events: list[str] = Field(..., description='Event names, "incident.*" or "*"')
    secret: str | None = Field(
        None,
        max_length=200,
        description="Signing secret (at least 16 characters); generated when left out",
    )
    active: bool = True


class WebhookPatch(Schema):
    name: str | None = Field(None, min_length=1, max_length=100)
    url: str | None = Field(None, max_length=500)
    events: list[str] | None = None
    secret: str | None = Field(
        None, max_length=200, description="A new signing secret (write-only)"
    )
    active: bool | None = Field(
        None, description="true switches a disabled subscription back on and clears its failures"
    )


class SecretOut(Schema):
    secret: str = Field(..., description="The new signing secret; shown once")


class DeliveryOut(Schema):
    id: int
    event: str
    event_id: UUID
    trigger: str
    attempt: int
    status: str
    created_at: datetime
    next_attempt_at: datetime
    attempted_at: datetime | None
    completed_at: datetime | None
    response_code: int | None
    response_excerpt: str
    error: str
    duration_ms: int | None


class DeliveryDetailOut(DeliveryOut):
    payload: dict[str, Any]


class EventOut(Schema):
    name: str
    description: str


def _subscription(request: HttpRequest, ref: str) -> WebhookSubscription:
    require(request.user, VIEW)
    return get_object_or_404(WebhookSubscription, reference=ref)


@router.get(
    "/webhook-events",
    response={200: list[EventOut], **ERRORS},
    summary="Events a webhook can subscribe to",
    description='Besides these names a subscription may list "<type>.*" or "*". '
    f"The test event is {TEST_EVENT!r}.",
)
def list_events(request: HttpRequest) -> Any:
    return [{"name": name, "description": text} for name, text in EVENTS]


@router.get("/webhooks", response={200: page_of(WebhookOut), **ERRORS}, summary="List webhooks")
def list_webhooks(
    request: HttpRequest,
    q: str | None = None,
    active: bool | None = None,
    sort: str = "name",
    cursor: str | None = None,
    limit: int = 50,
) -> Any:
    require(request.user, VIEW)
    qs = WebhookSubscription.objects.all()
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(url__icontains=q) | Q(reference__icontains=q))
    if active is not None:
        qs = qs.filter(active=active)
    page = keyset_page(
        qs,
        sort=sort,
        allowed=("name", "reference", "created_at", "updated_at"),
        cursor=cursor,
        limit=limit,
    )
    return {"items": page.items, "next_cursor": page.next_cursor}


@router.post("/webhooks", response={201: WebhookCreatedOut, **ERRORS}, summary="Create a webhook")
def create_webhook(request: HttpRequest, payload: WebhookIn) -> Any:
    sub, secret = webhooks.create_subscription(by=request.user, **payload.model_dump())
    return Status(201, {**WebhookOut.from_orm(sub).model_dump(), "secret": secret})


@router.get("/webhooks/{ref}", response={200: WebhookOut, **ERRORS}, summary="Read one webhook")
def read_webhook(request: HttpRequest, ref: str) -> Any:
    return _subscription(request, ref)


@router.patch("/webhooks/{ref}", response={200: WebhookOut, **ERRORS}, summary="Change a webhook")
def update_webhook(request: HttpRequest, ref: str, payload: WebhookPatch) -> Any:
    sub = _subscription(request, ref)
    data = payload.model_dump(exclude_unset=True)
    if not data:
        raise DomainError("Send at least one field to change.", field="request")
    return webhooks.update_subscription(sub, by=request.user, **data)


@router.delete("/webhooks/{ref}", response={204: None, **ERRORS}, summary="Delete a webhook")
def delete_webhook(request: HttpRequest, ref: str) -> Any:
    webhooks.delete_subscription(_subscription(request, ref), by=request.user)
    return Status(204, None)


@router.get(
    "/webhooks/{ref}/journal",
    response={200: list[JournalOut], **ERRORS},
    summary="History of a webhook",
)
def webhook_journal(request: HttpRequest, ref: str) -> Any:
    return list(journal.entries_for(_subscription(request, ref)))


@router.post(
    "/webhooks/{ref}/rotate-secret",
    response={200: SecretOut, **ERRORS},
    summary="Replace the signing secret with a new random one",
)
def rotate_webhook_secret(request: HttpRequest, ref: str) -> Any:
    return {"secret": webhooks.rotate_secret(_subscription(request, ref), by=request.user)}


@router.post(
    "/webhooks/{ref}/test",
    response={202: DeliveryOut, **ERRORS},
    summary="Send a test event",
    description=f"Queues a {TEST_EVENT!r} event to this webhook only, also when it is "
    "disabled; the answer is the delivery (already finished when the worker was quick).",
)
def test_webhook(request: HttpRequest, ref: str) -> Any:
    delivery = webhooks.send_test(_subscription(request, ref), by=request.user)
    delivery.refresh_from_db()  # an immediate backend has already made the attempt
    return Status(202, delivery)


@router.get(
    "/webhooks/{ref}/deliveries",
    response={200: page_of(DeliveryOut), **ERRORS},
    summary="Delivery log of a webhook, newest first",
)
def list_deliveries(
    request: HttpRequest,
    ref: str,
    status: WebhookDelivery.Status | None = None,
    event: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Any:
    sub = _subscription(request, ref)
    qs = sub.deliveries.all()
    if status:
        qs = qs.filter(status=status)
    if event:
        qs = qs.filter(event=event)
    page = keyset_page(qs, sort="-created_at", allowed=("created_at",), cursor=cursor, limit=limit)
    return {"items": page.items, "next_cursor": page.next_cursor}


def _delivery(request: HttpRequest, ref: str, delivery_id: int) -> WebhookDelivery:
    sub = _subscription(request, ref)
    return get_object_or_404(
        WebhookDelivery.objects.select_related("subscription"), pk=delivery_id, subscription=sub
    )


@router.get(
    "/webhooks/{ref}/deliveries/{delivery_id}",
    response={200: DeliveryDetailOut, **ERRORS},
    summary="One delivery attempt with its payload",
)
def read_delivery(request: HttpRequest, ref: str, delivery_id: int) -> Any:
    return _delivery(request, ref, delivery_id)


@router.post(
    "/webhooks/{ref}/deliveries/{delivery_id}/redeliver",
    response={202: DeliveryOut, **ERRORS},
    summary="Send a delivered, failed or given-up event again",
)
def redeliver_delivery(request: HttpRequest, ref: str, delivery_id: int) -> Any:
    delivery = webhooks.redeliver(_delivery(request, ref, delivery_id), by=request.user)
    delivery.refresh_from_db()
    return Status(202, delivery)
