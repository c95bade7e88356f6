"""Pages of outbound webhooks: the list, a subscription with its delivery log (response codes,
errors, redeliver), one delivery with its body, and the create/edit form. Thin: reads plus the
verbs in ``itline.core.webhooks``."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from itline.core import webhooks
from itline.core.errors import DomainError
from itline.core.listing import Column, Filter, ListSpec, render_list
from itline.core.pagination import keyset_page
from itline.core.record_views import form_page, require_agent, timeline
from itline.core.webhook_models import (
    EVENT_GROUPS,
    EVENTS,
    TEST_EVENT,
    WebhookDelivery,
    WebhookSubscription,
)

VIEW = "core.view_webhooksubscription"
CHANGE = "core.change_webhooksubscription"
SECRET_SESSION_KEY = "webhook-secret:{ref}"  # noqa: S105  (session key of a secret shown once)


def _event_choices() -> list[tuple[str, Any]]:
    choices: list[tuple[str, Any]] = [("Everything", [("*", "* — every event, now and later")])]
    for group in EVENT_GROUPS:
        label = group.replace("_", " ").capitalize()
        options = [(f"{group}.*", f"{group}.* — every {group.replace('_', ' ')} event")]
        options += [(name, f"{name} — {text}") for name, text in EVENTS if name.startswith(group)]
        choices.append((label, options))
    return choices


class WebhookForm(forms.ModelForm):  # type: ignore[type-arg]
    """Events as grouped checkboxes; the secret is write-only: typed on create (or left empty
    to have one generated) and replaced, never shown, on edit."""

    events = forms.MultipleChoiceField(
        label="Events",
        choices=_event_choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="Which record events are posted to the receiver.",
        error_messages={"required": "Choose at least one event (or * for every event)."},
    )
    new_secret = forms.CharField(
        label="Signing secret",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
        help_text="Leave empty to have a strong secret generated; it is shown once after saving.",
    )

    class Meta:
        model = WebhookSubscription
        fields = ["name", "url", "events", "active"]
        widgets = {"url": forms.URLInput(attrs={"placeholder": "https://example.com/hooks/itline"})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["new_secret"].label = "New signing secret"
            self.fields[
                "new_secret"
            ].help_text = "Leave empty to keep the current secret (it is never shown again)."
            if self.instance.disabled_at:
                self.fields["active"].help_text = (
                    f"Disabled: {self.instance.disabled_reason} "
                    "Ticking this switches it back on and clears the failure count."
                )
        else:
            del self.fields["active"]
        self.order_fields(["name", "url", "events", "new_secret", "active"])

    def clean_new_secret(self) -> str:
        value: str = self.cleaned_data.get("new_secret") or ""
        if value and len(value) < 16:
            raise forms.ValidationError("A signing secret needs at least 16 characters.")
        return value


WEBHOOK_LIST = ListSpec(
    title="Webhooks",
    template="core/webhooks/list.html",
    search_fields=("name", "url", "reference"),
    columns=(
        Column("Reference", "reference"),
        Column("Name", "name"),
        Column("Address"),
        Column("Events"),
        Column("Status"),
        Column("Updated", "updated_at"),
    ),
    default_sort="name",
    filters=(
        Filter(
            "status",
            "Status",
            (("active", "active"), ("off", "off")),
            lambda value: Q(active=value == "active"),
        ),
    ),
    create_label="New webhook",
    empty_text="Webhooks post signed JSON to other systems when incidents, requests and "
    "problems change.",
)


@login_required
def webhook_list(request: HttpRequest) -> HttpResponse:
    require_agent(request, VIEW)
    can_add = request.user.has_perm("core.add_webhooksubscription")
    spec = replace(WEBHOOK_LIST, create_url=reverse("webhooks:create") if can_add else None)
    return render_list(request, spec, WebhookSubscription.objects.all())


DELIVERY_STATUSES = WebhookDelivery.Status.choices


@login_required
def webhook_detail(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, VIEW)
    sub = get_object_or_404(WebhookSubscription, reference=ref)
    status = request.GET.get("status", "")
    qs = sub.deliveries.all()
    notes = []
    if status and status not in WebhookDelivery.Status.values:
        notes.append(f"Unknown status {status!r}; showing every delivery.")
        status = ""
    if status:
        qs = qs.filter(status=status)
    try:
        page = keyset_page(
            qs, sort="-created_at", allowed=("created_at",), cursor=request.GET.get("cursor")
        )
    except DomainError as exc:
        notes.append(exc.message)
        page = keyset_page(qs, sort="-created_at", allowed=("created_at",))
    secret = request.session.pop(SECRET_SESSION_KEY.format(ref=sub.reference), None)
    return render(
        request,
        "core/webhooks/detail.html",
        {
            "sub": sub,
            "deliveries": page.items,
            "next_cursor": page.next_cursor,
            "status": status,
            "statuses": DELIVERY_STATUSES,
            "notes": notes,
            "secret": secret,
            "test_event": TEST_EVENT,
            "timeline": timeline(sub),
            "can_change": request.user.has_perm(CHANGE),
            "can_delete": request.user.has_perm("core.delete_webhooksubscription"),
        },
    )


@login_required
def delivery_detail(request: HttpRequest, ref: str, delivery_id: int) -> HttpResponse:
    require_agent(request, VIEW)
    sub = get_object_or_404(WebhookSubscription, reference=ref)
    delivery = get_object_or_404(WebhookDelivery, pk=delivery_id, subscription=sub)
    attempts = WebhookDelivery.objects.filter(
        subscription=sub, event_id=delivery.event_id
    ).order_by("created_at", "id")
    return render(
        request,
        "core/webhooks/delivery.html",
        {
            "sub": sub,
            "delivery": delivery,
            "attempts": attempts,
            "body": json.dumps(delivery.payload, indent=2, ensure_ascii=False),
            "can_change": request.user.has_perm(CHANGE),
        },
    )


def _remember_secret(request: HttpRequest, sub: WebhookSubscription, secret: str) -> None:
    request.session[SECRET_SESSION_KEY.format(ref=sub.reference)] = secret


@login_required
def webhook_create(request: HttpRequest) -> HttpResponse:
    require_agent(request, "core.add_webhooksubscription")

    def save(form: WebhookForm) -> WebhookSubscription:
        data = form.cleaned_data
        sub, secret = webhooks.create_subscription(
            by=request.user,
            name=data["name"],
            url=data["url"],
            events=list(data["events"]),
            secret=data["new_secret"] or None,
        )
        _remember_secret(request, sub, secret)
        return sub

    return form_page(
        request,
        form_class=WebhookForm,
        instance=None,
        save=save,
        title="New webhook",
        cancel_url=reverse("webhooks:list"),
        success_message="Webhook {obj} created.",
        pass_form=True,
    )


@login_required
def webhook_edit(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, CHANGE)
    sub = get_object_or_404(WebhookSubscription, reference=ref)

    def save(form: WebhookForm) -> WebhookSubscription:
        data = form.cleaned_data
        return webhooks.update_subscription(
            sub,
            by=request.user,
            secret=data["new_secret"] or None,
            name=data["name"],
            url=data["url"],
            events=list(data["events"]),
            active=data["active"],
        )

    return form_page(
        request,
        form_class=WebhookForm,
        # the form validates on its own copy; the verb applies the change to ``sub``
        instance=WebhookSubscription.objects.get(pk=sub.pk),
        save=save,
        title=f"Edit {sub}",
        cancel_url=sub.get_absolute_url(),
        success_message="Webhook {obj} saved.",
        pass_form=True,
    )


def _outcome_message(request: HttpRequest, delivery: WebhookDelivery, what: str) -> None:
    delivery.refresh_from_db()
    if delivery.status == WebhookDelivery.Status.DELIVERED:
        messages.success(request, f"{what} delivered: {delivery.outcome}.")
    elif delivery.status in (WebhookDelivery.Status.PENDING, WebhookDelivery.Status.SENDING):
        messages.success(request, f"{what} queued; its outcome appears in the delivery log.")
    else:
        messages.warning(request, f"{what} failed: {delivery.outcome}. See the delivery log.")


@login_required
@require_POST
def webhook_test(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, CHANGE)
    sub = get_object_or_404(WebhookSubscription, reference=ref)
    _outcome_message(request, webhooks.send_test(sub, by=request.user), "Test event")
    return redirect(sub.get_absolute_url())


@login_required
@require_POST
def webhook_redeliver(request: HttpRequest, ref: str, delivery_id: int) -> HttpResponse:
    require_agent(request, CHANGE)
    sub = get_object_or_404(WebhookSubscription, reference=ref)
    delivery = get_object_or_404(
        WebhookDelivery.objects.select_related("subscription"), pk=delivery_id, subscription=sub
    )
    try:
        again = webhooks.redeliver(delivery, by=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        _outcome_message(request, again, f"Redelivery of {delivery.event}")
    return redirect(sub.get_absolute_url())


@login_required
@require_POST
def webhook_rotate_secret(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, CHANGE)
    sub = get_object_or_404(WebhookSubscription, reference=ref)
    _remember_secret(request, sub, webhooks.rotate_secret(sub, by=request.user))
    messages.success(request, "A new signing secret was generated; update the receiver now.")
    return redirect(sub.get_absolute_url())


@login_required
@require_POST
def webhook_delete(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "core.delete_webhooksubscription")
    sub = get_object_or_404(WebhookSubscription, reference=ref)
    name = str(sub)
    webhooks.delete_subscription(sub, by=request.user)
    messages.success(request, f"Webhook {name} deleted; nothing more is sent to it.")
    return redirect("webhooks:list")
