"""Forms of the service desk pages: they render and validate fields; every write goes through
the verbs in ``itline.operation.services`` (which validate again through the models).

Records that can be many (services, components, people, incidents, known errors) are typed,
not picked from a long select: a reference (``CMP-000042``) or an exact name, with
suggestions fetched while typing (a ``<datalist>`` filled by HTMX)."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from itline.cmdb.models import Component, Service
from itline.operation.choices import (
    Channel,
    HoldReason,
    Impact,
    MessageKind,
    RequestOutcome,
    RequestType,
    ResolutionCategory,
    Urgency,
)
from itline.operation.models import Incident, KnownError
from itline.org.models import Function, Person

REFERENCE = re.compile(r"^([A-Z]{2,4}-\d{1,12})\b", re.IGNORECASE)


# --- typed record references ----------------------------------------------------------------


class LookupInput(forms.TextInput):
    """A text input with a ``<datalist>`` of suggestions that HTMX refreshes while typing."""

    def __init__(self, kind: str, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.kind = kind

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        attrs = dict(attrs or {})
        list_id = f"{attrs.get('id', name)}-options"
        attrs.update(
            {
                "list": list_id,
                "autocomplete": "off",
                "hx-get": reverse("operation:lookup", args=[self.kind]),
                "hx-trigger": "focus once, input changed delay:250ms",
                "hx-target": f"#{list_id}",
                "hx-swap": "innerHTML",
                "hx-sync": "this:replace",
            }
        )
        field = super().render(name, value, attrs, renderer)
        return format_html('{}<datalist id="{}"></datalist>', field, list_id)


class RecordField(forms.CharField):
    """A record typed as its reference, "reference name" (what the suggestions offer) or an
    exact name (or e-mail address, for people). Cleans to the record or ``None``."""

    def __init__(
        self,
        model: type[models.Model],
        kind: str,
        *,
        names: tuple[str, ...] = ("name",),
        queryset: models.QuerySet[Any] | None = None,
        noun: str | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("widget", LookupInput(kind))
        kwargs.setdefault("max_length", 250)
        super().__init__(**kwargs)
        self.model = model
        self.names = names
        self.queryset = queryset if queryset is not None else model._default_manager.all()
        self.noun = noun or str(model._meta.verbose_name)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, models.Model):
            label = getattr(value, "name", None) or getattr(value, "title", None) or ""
            return f"{value.reference} {label}".strip()  # type: ignore[attr-defined]
        return value

    def clean(self, value: Any) -> Any:  # type: ignore[override]
        text = super().clean(value)
        text = (text or "").strip()
        if not text:
            return None
        match = REFERENCE.match(text)
        if match:
            found = self.queryset.filter(reference__iexact=match.group(1)).first()
            if found is not None:
                return found
        cond = Q()
        for name in self.names:
            cond |= Q(**{f"{name}__iexact": text})
        hits = list(self.queryset.filter(cond)[:2])
        if len(hits) == 1:
            return hits[0]
        if hits:
            raise ValidationError(
                f"Several {self.noun}s are called “{text}”; type the reference instead."
            )
        raise ValidationError(
            f"There is no {self.noun} “{text}”. Type a reference or pick a suggestion."
        )


def service_field(**kwargs: Any) -> RecordField:
    kwargs.setdefault("required", False)
    return RecordField(Service, "service", noun="service", **kwargs)


def component_field(**kwargs: Any) -> RecordField:
    kwargs.setdefault("required", False)
    return RecordField(Component, "component", noun="component", **kwargs)


def person_field(**kwargs: Any) -> RecordField:
    return RecordField(
        Person,
        "person",
        names=("name", "email"),
        queryset=Person.objects.filter(active=True),
        noun="person",
        **kwargs,
    )


def incident_field(**kwargs: Any) -> RecordField:
    return RecordField(Incident, "incident", names=("title",), noun="incident", **kwargs)


def known_error_field(**kwargs: Any) -> RecordField:
    return RecordField(
        KnownError,
        "known_error",
        names=("title",),
        queryset=KnownError.objects.filter(active=True),
        noun="known error",
        **kwargs,
    )


class VersionForm(forms.Form):
    """Carries the version of the record the user saw (optimistic concurrency)."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)


def _service_or_component(form: forms.Form) -> None:
    data = form.cleaned_data
    if (
        "service" in data
        and "component" in data
        and data.get("service") is None
        and data.get("component") is None
        and not form.has_error("service")
        and not form.has_error("component")
    ):
        form.add_error("service", "Name the affected service or component (at least one).")


# --- incidents ------------------------------------------------------------------------------

IMPACT_CHOICES = [
    ("", "Proposed from the structure"),
    *[(str(v), lbl) for v, lbl in Impact.choices],
]
URGENCY_CHOICES = [(str(v), lbl) for v, lbl in Urgency.choices]


def proposed_impact_field() -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        choices=IMPACT_CHOICES,
        coerce=int,
        empty_value=None,
        required=False,
        help_text="Leave it to the structure, or set it yourself.",
    )


class IncidentCreateForm(forms.Form):
    title = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))
    service = service_field(help_text="The affected service, or a component below; one is needed.")
    component = component_field()
    impact = proposed_impact_field()
    urgency = forms.TypedChoiceField(choices=URGENCY_CHOICES, coerce=int, initial="2")
    caller = person_field(required=False, help_text="Who reported it: reference, name or e-mail.")
    channel = forms.ChoiceField(choices=Channel.choices, initial=Channel.PHONE, label="Reported by")
    assigned_function = forms.ModelChoiceField(
        queryset=Function.objects.filter(active=True),
        required=False,
        label="Function",
        empty_label="Routed to the owner function",
        to_field_name="reference",
    )
    major = forms.BooleanField(required=False, label="Major incident")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        _service_or_component(self)
        return data


class IncidentEditForm(VersionForm):
    title = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 5}))
    service = service_field()
    component = component_field()
    impact = forms.TypedChoiceField(
        choices=[(str(v), lbl) for v, lbl in Impact.choices], coerce=int
    )
    urgency = forms.TypedChoiceField(choices=URGENCY_CHOICES, coerce=int)
    caller = person_field(required=False)
    workaround = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        _service_or_component(self)
        return data

    @classmethod
    def initial_for(cls, incident: Incident) -> dict[str, Any]:
        return {
            "version": incident.version,
            "title": incident.title,
            "description": incident.description,
            "service": incident.service,
            "component": incident.component,
            "impact": incident.impact,
            "urgency": incident.urgency,
            "caller": incident.caller,
            "workaround": incident.workaround,
        }


class PriorityForm(VersionForm):
    """Impact and urgency edited in place on the record page."""

    impact = forms.TypedChoiceField(
        choices=[(str(v), lbl) for v, lbl in Impact.choices], coerce=int
    )
    urgency = forms.TypedChoiceField(choices=URGENCY_CHOICES, coerce=int)


def agents() -> models.QuerySet[Person]:
    return Person.objects.filter(memberships__isnull=False, active=True).distinct().order_by("name")


class AssignForm(VersionForm):
    function = forms.ModelChoiceField(
        queryset=Function.objects.filter(active=True),
        required=False,
        to_field_name="reference",
        empty_label="Keep the current function",
    )
    assignee = forms.ModelChoiceField(
        queryset=agents(),
        required=False,
        to_field_name="reference",
        label="Person",
        empty_label="Nobody (the function's queue)",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = agents()  # type: ignore[attr-defined]
        self.fields["function"].queryset = Function.objects.filter(active=True)  # type: ignore[attr-defined]


def pick_function(
    function: Function | None, assignee: Person | None, current: Function | None
) -> Function | None:
    """The function to give a record to when only a person was chosen: the current one if
    the person works there, else the person's first function."""
    if function is not None or assignee is None:
        return function
    if current is not None and current.memberships.filter(person=assignee).exists():
        return current
    return Function.objects.filter(memberships__person=assignee).order_by("name").first() or current


class HoldForm(VersionForm):
    hold_reason = forms.ChoiceField(choices=HoldReason.choices[1:], label="Reason")
    note = forms.CharField(
        required=False,
        max_length=500,
        label="Note (optional)",
        help_text="Recorded with the state change.",
    )


class ResolveForm(VersionForm):
    resolution = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), label="How was it resolved?"
    )
    category = forms.ChoiceField(
        choices=ResolutionCategory.choices[1:], initial=ResolutionCategory.FIXED
    )
    workaround = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Only if a workaround restored the service; the fix may still be pending.",
    )


class ReopenForm(VersionForm):
    reason = forms.CharField(max_length=500, label="Why reopen it?")


class MergeForm(forms.Form):
    into = incident_field(label="Merge into (the incident that stays)")


class MajorUpdateForm(forms.Form):
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Update to stakeholders",
        help_text="Shown on the timeline and e-mailed to the caller, the requesters and the customers.",
    )


class KnownErrorForm(forms.Form):
    known_error = known_error_field(label="Known error")


# --- the composer ---------------------------------------------------------------------------


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> Any:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(d, initial) for d in data if d]
        return [single(data, initial)] if data else []


class ComposerForm(forms.Form):
    kind = forms.ChoiceField(
        choices=[(MessageKind.REPLY, "Public reply"), (MessageKind.NOTE, "Internal note")],
        initial=MessageKind.NOTE,
        widget=forms.RadioSelect,
        label="Kind",
    )
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), label="Message", required=False
    )
    attachments = MultipleFileField(required=False, label="Attachments")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not (data.get("body") or "").strip() and not data.get("attachments") and not self.errors:
            self.add_error("body", "Write something or attach a file.")
        return data


# --- service requests -----------------------------------------------------------------------


class RequestCreateForm(forms.Form):
    """Phone (or walk-in) intake by an agent."""

    requester = person_field(help_text="Reference, name or e-mail of the caller.")
    title = forms.CharField(max_length=200, label="Subject")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 5}))
    request_type = forms.ChoiceField(choices=RequestType.choices, label="Type")
    channel = forms.ChoiceField(choices=Channel.choices, initial=Channel.PHONE)
    service = service_field()


class RequestEditForm(VersionForm):
    title = forms.CharField(max_length=200, label="Subject")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 5}))
    request_type = forms.ChoiceField(choices=RequestType.choices, label="Type")
    service = service_field()


class AnswerForm(VersionForm):
    answer = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), help_text="The requester reads this."
    )
    outcome = forms.ChoiceField(
        choices=[
            (RequestOutcome.ANSWERED, "Answered"),
            (RequestOutcome.FULFILLED, "Fulfilled"),
            (RequestOutcome.REJECTED, "Rejected"),
        ],
        widget=forms.RadioSelect,
        initial=RequestOutcome.ANSWERED,
    )


class ConvertForm(forms.Form):
    """Turn a request into an incident; prefilled from the request."""

    title = forms.CharField(max_length=200)
    service = service_field()
    component = component_field()
    impact = proposed_impact_field()
    urgency = forms.TypedChoiceField(choices=URGENCY_CHOICES, coerce=int, initial="2")
    assigned_function = forms.ModelChoiceField(
        queryset=Function.objects.filter(active=True),
        required=False,
        label="Function",
        empty_label="Routed to the owner function",
        to_field_name="reference",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        _service_or_component(self)
        return data


class LinkForm(forms.Form):
    incident = incident_field(required=False, label="Existing incident")
    known_error = known_error_field(required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors and (data.get("incident") is None) == (data.get("known_error") is None):
            self.add_error("incident", "Name either an incident or a known error (one of them).")
        return data


class BulkAssignForm(forms.Form):
    """Assign many records at once: a function and/or a person ("me" for oneself)."""

    function = forms.ModelChoiceField(
        queryset=Function.objects.filter(active=True),
        required=False,
        to_field_name="reference",
        empty_label="Keep each one's function",
    )
    assignee = forms.CharField(required=False, max_length=30, label="Person")

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["function"].queryset = Function.objects.filter(active=True)  # type: ignore[attr-defined]

    def clean_assignee(self) -> Person | None:
        from itline.org.models import person_of

        value = (self.cleaned_data.get("assignee") or "").strip()
        if not value:
            return None
        if value == "me":
            me = person_of(self.user)
            if me is None:
                raise ValidationError("Your login has no person record; ask an administrator.")
            return me
        person = agents().filter(reference=value).first()
        if person is None:
            raise ValidationError(f"There is no agent {value!r}.")
        return person

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors and data.get("function") is None and data.get("assignee") is None:
            raise ValidationError("Choose a function, a person, or both.")
        return data
