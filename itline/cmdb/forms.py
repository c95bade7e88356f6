"""Forms of the service structure pages. They render and validate fields; writes go through the
verbs in ``services.py`` (which validate again through the models)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q

from itline.cmdb.models import Component, ComponentType, Node, RelationType, Service
from itline.org.models import Customer


class ServiceForm(forms.ModelForm):  # type: ignore[type-arg]
    customers = forms.ModelMultipleChoiceField(
        queryset=Customer.objects.select_related("business_unit"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The customers this service is delivered to.",
    )

    class Meta:
        model = Service
        fields = [
            "name",
            "service_kind",
            "lifecycle",
            "criticality",
            "description",
            "owner_function",
            "service_owner",
            "delivery_manager",
            "customers",
            "cost_centre",
            "catalogue_visible",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 4})}
        labels = {
            "service_kind": "Kind",
            "lifecycle": "Life-cycle state",
            "catalogue_visible": "Show in the service catalogue",
        }
        help_texts = {"catalogue_visible": ""}


class PrettyJSONField(forms.JSONField):
    """A JSON textarea that shows the stored object indented, one attribute a line."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, cls=self.encoder)


def describe_schema(ctype: ComponentType) -> str:
    """ "cpu (integer, required), os, engine (one of postgresql, mysql)" for a help text."""
    schema = ctype.attribute_schema or {}
    required = set(schema.get("required", []))
    parts = []
    for key, spec in (schema.get("properties") or {}).items():
        notes = []
        if "enum" in spec:
            notes.append("one of " + ", ".join(str(v) for v in spec["enum"]))
        elif spec.get("type") not in (None, "string"):
            notes.append(str(spec["type"]))
        if key in required:
            notes.append("required")
        parts.append(f"{key} ({'; '.join(notes)})" if notes else key)
    return ", ".join(parts) or "free-form"


class ComponentForm(forms.ModelForm):  # type: ignore[type-arg]
    tags = forms.CharField(
        required=False,
        max_length=500,
        help_text="Comma-separated labels, e.g. pci, dmz (letters, digits, - and _).",
    )
    attributes = PrettyJSONField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "class": "code"}),
    )

    class Meta:
        model = Component
        fields = [
            "name",
            "component_type",
            "status",
            "description",
            "owner_function",
            "location",
            "tags",
            "attributes",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        labels = {"component_type": "Type"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["tags"] = ", ".join(t.name for t in self.instance.tags.all())
            ctype = self.instance.component_type
            about = f"Attributes of a {ctype.name.lower()}: {describe_schema(ctype)}."
        else:
            types = ComponentType.objects.all()
            about = "Attributes per type: " + "; ".join(
                f"{t.name}: {describe_schema(t)}" for t in types
            )
        self.fields["attributes"].help_text = (
            'A JSON object such as {"os": "Debian 12"}, checked against the type. ' + about
        )

    def clean_tags(self) -> list[str]:
        raw = self.cleaned_data.get("tags") or ""
        return [t.strip() for t in raw.split(",") if t.strip()]

    def clean_attributes(self) -> Any:
        value = self.cleaned_data.get("attributes")
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValidationError('Attributes must be a JSON object, e.g. {"os": "Debian 12"}.')
        return value


class RelationForm(forms.Form):
    """Add a relation from a detail page: this node <type> other, or other <type> this node."""

    direction = forms.ChoiceField(
        choices=[("out", "This one … the other"), ("in", "The other … this one")],
        initial="out",
        label="Which way",
    )
    relation_type = forms.ModelChoiceField(
        queryset=RelationType.objects.all(), label="Relation", empty_label=None
    )
    other = forms.CharField(
        max_length=200,
        label="Other service or component",
        help_text="Its reference (CMP-000123, SVC-000004) or its exact name.",
    )

    def __init__(self, *args: Any, node: Node | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The most common relation first, whatever the alphabet says.
        self.fields["relation_type"].initial = (
            RelationType.objects.filter(slug="depends-on").values_list("pk", flat=True).first()
        )
        if node is not None:
            self.fields["direction"].choices = [  # type: ignore[attr-defined]
                ("out", f"{node.name} … the other"),
                ("in", f"The other … {node.name}"),
            ]

    def clean_other(self) -> Node:
        text = self.cleaned_data["other"].strip()
        found = Node.objects.filter(reference__iexact=text).first()
        if found is not None:
            return found
        matches = list(Node.objects.filter(Q(name__iexact=text))[:3])
        if not matches:
            raise ValidationError(f"There is no service or component {text!r}.")
        if len(matches) > 1:
            refs = ", ".join(n.reference for n in matches)
            raise ValidationError(f"Several nodes are named {text!r} ({refs}); use a reference.")
        return matches[0]
