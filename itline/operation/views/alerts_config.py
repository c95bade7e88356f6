"""Configuration pages of event management, for administrators: event sources (the secret is
shown once, on creation or rotation) and the ordered mapping rules from labels to the
structure. Everyone who may see the console may read them."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from itline.cmdb.models import Node
from itline.core.listing import Column, Filter, ListSpec, render_list
from itline.core.record_views import require_agent
from itline.operation.ingest import config
from itline.operation.models.alerts import (
    EventAuth,
    EventSource,
    EventSourceKind,
    MappingRule,
    MappingTarget,
)

ENDPOINTS: dict[str, str] = {
    EventSourceKind.ITLINE: "/api/v1/events",
    EventSourceKind.ALERTMANAGER: "/api/v1/events/alertmanager",
    EventSourceKind.PAGERDUTY: "/api/v1/events/pagerduty",
}


def _form(
    request: HttpRequest,
    form: forms.ModelForm,  # type: ignore[type-arg]
    *,
    save: Any,
    title: str,
    cancel_url: str,
    done_url: Any,
    success: str,
) -> HttpResponse:
    """Like core ``form_page``, for records without a page of their own: back to ``done_url``."""
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                obj = save(form.cleaned_data)
            except ValidationError as exc:
                for field, errs in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
                    form.add_error(field if field in form.fields else None, errs)
            except PermissionDenied as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, success.format(obj=obj))
                return redirect(done_url(obj))
        status = 422
    return render(
        request,
        "core/form_page.html",
        {"form": form, "title": title, "cancel_url": cancel_url},
        status=status,
    )


# --- event sources --------------------------------------------------------------------------


class SourceForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = EventSource
        fields = ["name", "kind", "auth", "description", "active"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class SourceEditForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = EventSource
        fields = ["name", "description", "active"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


SOURCE_LIST = ListSpec(
    title="Event sources",
    template="operation/alerts/source_list.html",
    search_fields=("name", "description"),
    columns=(
        Column("Name", "name"),
        Column("Kind"),
        Column("Credential"),
        Column("Active"),
        Column("Last event", "created_at"),
    ),
    default_sort="name",
    filters=(Filter("kind", "Kind", EventSourceKind.choices, "kind"),),
    create_label="New event source",
    empty_text="An event source is a monitoring system allowed to send events, with its own "
    "token or HMAC secret. Create one for Alertmanager, PagerDuty-style senders or scripts.",
)


@login_required
def source_list(request: HttpRequest) -> HttpResponse:
    require_agent(request, "operation.view_eventsource")
    can_add = request.user.has_perm("operation.add_eventsource")
    spec = replace(SOURCE_LIST, create_url=reverse("alerts:source-create") if can_add else None)
    return render_list(request, spec, EventSource.objects.all())


def _source_page(
    request: HttpRequest, source: EventSource, secret: str | None = None
) -> HttpResponse:
    endpoint = request.build_absolute_uri(ENDPOINTS.get(source.kind, "/api/v1/events"))
    return render(
        request,
        "operation/alerts/source_detail.html",
        {
            "source": source,
            "secret": secret,
            "endpoint": endpoint,
            "hmac": source.auth == EventAuth.HMAC,
            "can_change": request.user.has_perm("operation.change_eventsource"),
            "rules": list(source.mapping_rules.select_related("node")),
        },
    )


@login_required
def source_detail(request: HttpRequest, pk: int) -> HttpResponse:
    require_agent(request, "operation.view_eventsource")
    return _source_page(request, get_object_or_404(EventSource, pk=pk))


@never_cache
@login_required
def source_create(request: HttpRequest) -> HttpResponse:
    require_agent(request, "operation.add_eventsource")
    form = SourceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            source, secret = config.create_source(by=request.user, **form.cleaned_data)
        except ValidationError as exc:
            for field, errs in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
                form.add_error(field if field in form.fields else None, errs)
        else:
            messages.success(request, f"Event source {source.name} created.")
            # The secret is shown in this response only (never stored in clear, not cached).
            return _source_page(request, source, secret)
    status = 422 if request.method == "POST" else 200
    return render(
        request,
        "core/form_page.html",
        {"form": form, "title": "New event source", "cancel_url": reverse("alerts:source-list")},
        status=status,
    )


@login_required
def source_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require_agent(request, "operation.change_eventsource")
    source = get_object_or_404(EventSource, pk=pk)
    detail = reverse("alerts:source-detail", args=[source.pk])
    return _form(
        request,
        SourceEditForm(request.POST or None, instance=EventSource.objects.get(pk=source.pk)),
        save=lambda data: config.update_source(source, by=request.user, **data),
        title=f"Edit {source.name}",
        cancel_url=detail,
        done_url=lambda obj: detail,
        success="Event source {obj} saved.",
    )


@never_cache
@login_required
@require_POST
def source_rotate(request: HttpRequest, pk: int) -> HttpResponse:
    require_agent(request, "operation.change_eventsource")
    source = get_object_or_404(EventSource, pk=pk)
    try:
        secret = config.rotate_credential(source, by=request.user)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
        return redirect("alerts:source-detail", pk=source.pk)
    messages.success(request, "New secret issued. Update the sender now: the old one is refused.")
    return _source_page(request, source, secret)


# --- mapping rules --------------------------------------------------------------------------


class RuleForm(forms.ModelForm):  # type: ignore[type-arg]
    node_ref = forms.CharField(
        label="Fixed node",
        required=False,
        max_length=20,
        help_text="Reference of a component or service (CMP-…/SVC-…) every matching value maps "
        "to; leave empty to look the value up by name.",
    )

    class Meta:
        model = MappingRule
        fields = ["position", "name", "source", "label", "pattern", "target", "active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and self.instance.node_id:
            self.fields["node_ref"].initial = self.instance.node.reference

    def clean_pattern(self) -> str:
        pattern: str = self.cleaned_data.get("pattern", "")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValidationError(f"Not a valid regular expression: {exc}.") from None
        return pattern

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        ref = (data.pop("node_ref", "") or "").strip().upper()
        data["node"] = None
        if ref:
            node = Node.objects.filter(reference=ref).first()
            if node is None:
                self.add_error("node_ref", f"No component or service {ref}.")
            elif node.kind != data.get("target"):
                self.add_error(
                    "node_ref", f"{ref} is a {node.kind}, but the target is {data.get('target')}."
                )
            else:
                data["node"] = node
        return data


RULE_LIST = ListSpec(
    title="Mapping rules",
    template="operation/alerts/mapping_list.html",
    search_fields=("name", "label", "pattern"),
    columns=(
        Column("Order", "position"),
        Column("Name", "name"),
        Column("Label"),
        Column("Pattern"),
        Column("Maps to"),
        Column("Source"),
        Column("Active"),
    ),
    default_sort="position",
    filters=(Filter("target", "Maps to", MappingTarget.choices, "target"),),
    create_label="New mapping rule",
    empty_text="Mapping rules turn alert labels into components and services, e.g. the "
    "instance label names a component and the job label a service. Alerts no rule maps are "
    "listed as unmapped.",
)


@login_required
def rule_list(request: HttpRequest) -> HttpResponse:
    require_agent(request, "operation.view_mappingrule")
    can_add = request.user.has_perm("operation.add_mappingrule")
    spec = replace(
        RULE_LIST,
        create_url=reverse("alerts:mapping-create") if can_add else None,
        extra={
            "can_change": request.user.has_perm("operation.change_mappingrule"),
            "can_delete": request.user.has_perm("operation.delete_mappingrule"),
        },
    )
    return render_list(request, spec, MappingRule.objects.select_related("source", "node"))


@login_required
def rule_create(request: HttpRequest) -> HttpResponse:
    require_agent(request, "operation.add_mappingrule")

    def save(data: dict[str, Any]) -> MappingRule:
        return config.create_rule(by=request.user, **data)

    back = reverse("alerts:mapping-list")
    return _form(
        request,
        RuleForm(request.POST or None),
        save=save,
        title="New mapping rule",
        cancel_url=back,
        done_url=lambda obj: back,
        success="Mapping rule {obj} created.",
    )


@login_required
def rule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    require_agent(request, "operation.change_mappingrule")
    rule = get_object_or_404(MappingRule, pk=pk)
    back = reverse("alerts:mapping-list")
    return _form(
        request,
        RuleForm(request.POST or None, instance=MappingRule.objects.get(pk=rule.pk)),
        save=lambda data: config.update_rule(rule, by=request.user, **data),
        title=f"Edit mapping rule {rule.name}",
        cancel_url=back,
        done_url=lambda obj: back,
        success="Mapping rule {obj} saved.",
    )


@login_required
@require_POST
def rule_delete(request: HttpRequest, pk: int) -> HttpResponse:
    require_agent(request, "operation.delete_mappingrule")
    rule = get_object_or_404(MappingRule, pk=pk)
    config.delete_rule(rule, by=request.user)
    messages.success(request, f"Mapping rule {rule.name} deleted.")
    return redirect("alerts:mapping-list")
