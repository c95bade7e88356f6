"""Forms of the problem management pages. They render and validate fields; writes go through
the verbs (which validate again through the models). Services, components, people and
incidents are typed as references or names with suggestions (``itline.operation.forms``)."""

from __future__ import annotations

from typing import Any

from django import forms

from itline.operation.choices import Priority
from itline.operation.forms import (
    RecordField,
    component_field,
    incident_field,
    person_field,
    service_field,
)
from itline.operation.models import Problem
from itline.org.models import Function


class _InstanceForm(forms.Form):
    """A plain form that ``form_page`` can drive: ``instance`` fills the initial values."""

    FIELDS: tuple[str, ...] = ()

    def __init__(self, *args: Any, instance: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.instance = instance
        if instance is not None:
            for name in self.FIELDS:
                if name in self.fields:
                    self.initial[name] = getattr(instance, name)


def _function_field() -> forms.ModelChoiceField:  # type: ignore[type-arg]
    return forms.ModelChoiceField(
        queryset=Function.objects.filter(active=True),
        required=False,
        label="Owner function",
        empty_label="The owner of the component or service",
        to_field_name="reference",
    )


def _text(rows: int = 3, **kwargs: Any) -> forms.CharField:
    return forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": rows}), **kwargs)


class ProblemCreateForm(_InstanceForm):
    title = forms.CharField(max_length=200)
    description = _text(4)
    priority = forms.TypedChoiceField(
        choices=[(str(v), label) for v, label in Priority.choices], coerce=int, initial="3"
    )
    service = service_field(help_text="The service whose incidents share the cause.")
    component = component_field(help_text="The component suspected of causing them.")
    owner = person_field(required=False, help_text="Who drives the investigation.")
    owner_function = _function_field()
    symptoms = _text(3, help_text="What users and monitoring see.")
    incidents = forms.CharField(
        required=False,
        max_length=2000,
        help_text="References of incidents to link, separated by commas or spaces.",
    )

    def clean_incidents(self) -> list[Any]:
        from itline.operation.models import Incident

        raw = (self.cleaned_data.get("incidents") or "").replace(",", " ").split()
        refs = list(dict.fromkeys(r.upper() for r in raw))
        found = {i.reference: i for i in Incident.objects.filter(reference__in=refs)}
        missing = [r for r in refs if r not in found]
        if missing:
            raise forms.ValidationError(f"There is no incident {', '.join(missing)}.")
        return [found[r] for r in refs]


class ProblemEditForm(_InstanceForm):
    FIELDS = (
        "title",
        "description",
        "priority",
        "service",
        "component",
        "owner",
        "owner_function",
        "symptoms",
        "root_cause",
        "analysis",
        "workaround",
        "resolution",
    )

    title = forms.CharField(max_length=200)
    description = _text(4)
    priority = forms.TypedChoiceField(
        choices=[(str(v), label) for v, label in Priority.choices], coerce=int
    )
    service = service_field()
    component = component_field()
    owner = person_field(required=False)
    owner_function = _function_field()
    symptoms = _text(3)
    root_cause = _text(3, label="Root cause")
    analysis = _text(5, help_text="How the cause was found: 5 whys, timeline, evidence.")
    workaround = _text(3, help_text="How to restore service until the fix is in.")
    resolution = _text(3, help_text="The permanent fix (often a change).")

    def __init__(self, *args: Any, instance: Problem | None = None, **kwargs: Any) -> None:
        super().__init__(*args, instance=instance, **kwargs)
        if instance is not None and instance.owner_function_id:
            self.initial["owner_function"] = instance.owner_function.reference  # type: ignore[union-attr]


class KnownErrorEditForm(_InstanceForm):
    FIELDS = ("title", "symptoms", "root_cause", "workaround", "problem", "service", "component")

    title = forms.CharField(max_length=200)
    symptoms = _text(3, help_text="What the user sees; the words agents will search with.")
    root_cause = _text(3, label="Root cause")
    workaround = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Copied onto incidents it is applied to, and sent to requesters.",
    )
    problem = RecordField(
        Problem,
        "problem",
        names=("title",),
        noun="problem",
        required=False,
        widget=forms.TextInput(),
        help_text="Reference of the problem it comes from (PRB-000012), if any.",
    )
    service = service_field()
    component = component_field()


class LinkIncidentForm(forms.Form):
    incident = incident_field(help_text="Reference of the incident to link.")


class AcceptForm(forms.Form):
    title = forms.CharField(max_length=200, help_text="Title of the problem to raise.")
    owner = person_field(required=False, help_text="Who drives the investigation.")
    note = forms.CharField(required=False, max_length=2000, label="Note")


class DismissForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        help_text="Why these incidents do not share a cause worth a problem.",
    )
