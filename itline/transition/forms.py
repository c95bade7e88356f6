"""Forms of the Transition pages. They render and validate input; every write goes through
the verbs in ``itline.transition.services`` (which validate again through the models).

Affected services and components are chips: each chosen node is a checked checkbox named
``nodes`` (unticking one drops it, with or without JavaScript) and ``node_add`` takes a
typed reference or name with suggestions. Reason links and implementers are typed as
references, as everywhere else in itline."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from itline.cmdb.models import Node
from itline.operation.forms import person_field
from itline.operation.models import Incident, KnownError, Problem
from itline.org.models import Function, Person
from itline.transition.choices import (
    ChangeOutcome,
    ChangeType,
    Decision,
    DeploymentStatus,
    MeetingKind,
    RiskLevel,
)
from itline.transition.models import ChangeTemplate, FreezeWindow

REF = re.compile(r"\b([A-Z]{2,4}-\d{1,12})\b", re.IGNORECASE)
DATETIME_FORMAT = "%Y-%m-%dT%H:%M"
MAX_NODES = 500


class DateTimeLocal(forms.DateTimeInput):
    """``<input type=datetime-local>`` in the site's time zone (shown next to the field)."""

    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs, format=DATETIME_FORMAT)


def datetime_field(**kwargs: Any) -> forms.DateTimeField:
    kwargs.setdefault("required", False)
    return forms.DateTimeField(
        widget=DateTimeLocal(), input_formats=[DATETIME_FORMAT, "%Y-%m-%d %H:%M"], **kwargs
    )


class NodeLookupInput(forms.TextInput):
    """The "add a service or component" input, with a ``<datalist>`` HTMX fills."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        attrs = dict(attrs or {})
        list_id = f"{attrs.get('id', name)}-options"
        attrs.update(
            {
                "list": list_id,
                "autocomplete": "off",
                "data-node-add": "",
                "hx-get": reverse("transition:node-lookup"),
                "hx-trigger": "focus once, input changed delay:250ms",
                "hx-target": f"#{list_id}",
                "hx-swap": "innerHTML",
                "hx-sync": "this:replace",
            }
        )
        field = super().render(name, value, attrs, renderer)
        return format_html('{}<datalist id="{}"></datalist>', field, list_id)


def find_nodes(texts: Iterable[str]) -> tuple[list[Node], list[str]]:
    """Nodes named by references ("CMP-000042", "CMP-000042 db-01") or exact names; returns
    the nodes (in the given order, once each) and the texts that named nothing or several."""
    found: list[Node] = []
    missing: list[str] = []
    wanted = [t.strip() for t in texts if t and t.strip()]
    refs = {m.group(1).upper() for t in wanted if (m := REF.match(t))}
    by_ref = {n.reference: n for n in Node.objects.filter(reference__in=refs)}
    for text in wanted:
        match = REF.match(text)
        node = by_ref.get(match.group(1).upper()) if match else None
        if node is None:
            hits = list(Node.objects.filter(name__iexact=text)[:2])
            node = hits[0] if len(hits) == 1 else None
        if node is None:
            missing.append(text)
        elif node not in found:
            found.append(node)
    return found, missing


def _refs(text: str) -> list[str]:
    return list(dict.fromkeys(m.upper() for m in REF.findall(text or "")))


class ChangeForm(forms.Form):
    """Create and edit a change. ``nodes`` holds the chosen chips; ``node_add`` one more."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)
    title = forms.CharField(max_length=200)
    change_type = forms.ChoiceField(
        choices=ChangeType.choices,
        initial=ChangeType.NORMAL,
        widget=forms.RadioSelect,
        label="Type",
        help_text="Standard: a pre-approved template. Emergency: approved after the fact.",
    )
    template = forms.ModelChoiceField(
        queryset=ChangeTemplate.objects.filter(active=True),
        required=False,
        to_field_name="reference",
        empty_label="No template",
        label="Standard change template",
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    reason = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why the change is needed.",
    )
    reason_links = forms.CharField(
        required=False,
        max_length=2000,
        label="Reason records",
        help_text="Problems, known errors or incidents it fixes: PRB-000012, KE-000003, INC-000042.",
    )
    nodes = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Affected services and components",
    )
    node_add = forms.CharField(
        required=False,
        max_length=250,
        label="Add a service or component",
        widget=NodeLookupInput(),
        help_text="Type a reference or name and pick a suggestion; Enter adds it.",
    )
    planned_start = datetime_field(label="Window start")
    planned_end = datetime_field(label="Window end")
    implementation_plan = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))
    backout_plan = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    test_plan = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    owner = person_field(required=False, help_text="Accountable for the change.")
    implementers = forms.CharField(
        required=False,
        max_length=2000,
        help_text="References or e-mail addresses of the people doing it, comma separated.",
    )
    function = forms.ModelChoiceField(
        queryset=Function.objects.filter(active=True),
        required=False,
        to_field_name="reference",
        empty_label="The owner function of the first affected item",
        label="Implementing function",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The chips on offer are the ones submitted (or set initially): any node may be one.
        if self.is_bound:
            raw = self.data.getlist("nodes")  # type: ignore[attr-defined]
        else:
            raw = [n.reference for n in self.initial.get("nodes") or []]
        chosen, _ = find_nodes(raw)
        field: Any = self.fields["nodes"]
        field.choices = [(n.reference, n.name) for n in chosen]
        self.chosen_nodes = chosen

    def clean_reason_links(self) -> dict[str, list[Any]]:
        refs = _refs(self.cleaned_data.get("reason_links", ""))
        kinds: dict[str, tuple[Any, str]] = {
            "PRB": (Problem, "problems"),
            "KE": (KnownError, "known_errors"),
            "INC": (Incident, "incidents"),
        }
        out: dict[str, list[Any]] = {"problems": [], "known_errors": [], "incidents": []}
        missing = []
        for ref in refs:
            prefix = ref.split("-", 1)[0]
            if prefix not in kinds:
                missing.append(ref)
                continue
            model, key = kinds[prefix]
            obj = model.objects.filter(reference=ref).first()
            if obj is None:
                missing.append(ref)
            else:
                out[key].append(obj)
        if missing:
            raise ValidationError(f"Not a problem, known error or incident: {', '.join(missing)}.")
        return out

    def clean_implementers(self) -> list[Person]:
        texts = [t.strip() for t in (self.cleaned_data.get("implementers") or "").split(",")]
        people: list[Person] = []
        missing = []
        for text in filter(None, texts):
            match = REF.match(text)
            cond = Q(reference__iexact=match.group(1)) if match else Q(email__iexact=text)
            cond |= Q(name__iexact=text)
            hits = list(Person.objects.filter(cond, active=True)[:2])
            if len(hits) != 1:
                missing.append(text)
            elif hits[0] not in people:
                people.append(hits[0])
        if missing:
            raise ValidationError(f"No single person matches: {', '.join(missing)}.")
        return people

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        # Unticked chips are not submitted: the chosen nodes are exactly the ticked ones.
        nodes = list(self.chosen_nodes)
        add = (data.get("node_add") or "").strip()
        if add:
            more, missing = find_nodes([add])
            if missing:
                self.add_error(
                    "node_add",
                    f"There is no service or component “{add}”. Type a reference or pick a "
                    "suggestion.",
                )
            nodes += [n for n in more if n not in nodes]
        if not nodes and not self.has_error("node_add"):
            self.add_error("node_add", "Name at least one affected service or component.")
        data["node_list"] = nodes[:MAX_NODES]
        start, end = data.get("planned_start"), data.get("planned_end")
        if start and end and end <= start:
            self.add_error("planned_end", "The window must end after it starts.")
        if data.get("change_type") == ChangeType.STANDARD and not data.get("template"):
            self.add_error("template", "A standard change is made from a standard change template.")
        return data

    def verb_fields(self) -> dict[str, Any]:
        """The cleaned input as keyword arguments of create_change/update_change."""
        data = self.cleaned_data
        links = data.get("reason_links") or {}
        return {
            "title": data["title"],
            "change_type": data["change_type"],
            "template": data.get("template"),
            "description": data.get("description", ""),
            "reason": data.get("reason", ""),
            "nodes": data.get("node_list", []),
            "planned_start": data.get("planned_start"),
            "planned_end": data.get("planned_end"),
            "implementation_plan": data.get("implementation_plan", ""),
            "backout_plan": data.get("backout_plan", ""),
            "test_plan": data.get("test_plan", ""),
            "owner": data.get("owner"),
            "implementers": data.get("implementers") or [],
            "function": data.get("function"),
            "problems": links.get("problems", []),
            "known_errors": links.get("known_errors", []),
            "incidents": links.get("incidents", []),
        }

    @staticmethod
    def initial_for(change: Any) -> dict[str, Any]:
        links = [
            *(p.reference for p in change.problems.all()),
            *(k.reference for k in change.known_errors.all()),
            *(i.reference for i in change.incidents.all()),
        ]
        return {
            "version": change.version,
            "title": change.title,
            "change_type": change.change_type,
            "template": change.template,
            "description": change.description,
            "reason": change.reason,
            "reason_links": ", ".join(links),
            "nodes": list(change.nodes.order_by("name")),
            "planned_start": _local(change.planned_start),
            "planned_end": _local(change.planned_end),
            "implementation_plan": change.implementation_plan,
            "backout_plan": change.backout_plan,
            "test_plan": change.test_plan,
            "owner": change.owner,
            "implementers": ", ".join(p.reference for p in change.implementers.all()),
            "function": change.function,
        }

    @staticmethod
    def initial_from_template(template: ChangeTemplate) -> dict[str, Any]:
        return {
            "title": template.name,
            "change_type": ChangeType.STANDARD,
            "template": template,
            "description": template.description,
            "nodes": list(template.nodes.order_by("name")[:MAX_NODES]),
            "implementation_plan": template.implementation_plan,
            "backout_plan": template.backout_plan,
            "test_plan": template.test_plan,
            "function": template.function,
        }


def _local(value: dt.datetime | None) -> dt.datetime | None:
    return timezone.localtime(value) if value else None


class VersionForm(forms.Form):
    version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)


class DecisionForm(VersionForm):
    decision = forms.ChoiceField(
        choices=[(Decision.APPROVED, "Approve"), (Decision.REJECTED, "Reject")]
    )
    comment = forms.CharField(
        required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("decision") == Decision.REJECTED and not (data.get("comment") or "").strip():
            self.add_error("comment", "Say why you reject it; the requester reads this.")
        return data


class OutcomeForm(VersionForm):
    outcome = forms.ChoiceField(
        choices=[c for c in ChangeOutcome.choices if c[0]], initial=ChangeOutcome.SUCCESSFUL
    )


class CloseForm(VersionForm):
    outcome = forms.ChoiceField(
        choices=ChangeOutcome.choices, required=False, help_text="Correct the outcome if needed."
    )


class RescheduleForm(VersionForm):
    planned_start = datetime_field(required=True, label="New window start")
    planned_end = datetime_field(required=True, label="New window end")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("planned_start"), data.get("planned_end")
        if start and end and end <= start:
            self.add_error("planned_end", "The window must end after it starts.")
        return data


class CancelForm(VersionForm):
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))


class OverrideRiskForm(VersionForm):
    level = forms.ChoiceField(choices=RiskLevel.choices, label="Risk level")
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Why the computed risk is wrong; it is journaled.",
    )


class ReviewForm(forms.Form):
    summary = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), max_length=10000)
    lessons = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), max_length=10000
    )


class MeetingForm(forms.Form):
    title = forms.CharField(max_length=200, required=False, help_text="Empty: a dated title.")
    kind = forms.ChoiceField(choices=MeetingKind.choices, initial=MeetingKind.CAB)
    starts_at = datetime_field(required=True, label="Starts")


class CabDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        choices=[(Decision.APPROVED, "Approve"), (Decision.REJECTED, "Reject")]
    )
    notes = forms.CharField(
        required=False, max_length=4000, widget=forms.Textarea(attrs={"rows": 2})
    )


class FreezeWindowForm(forms.Form):
    title = forms.CharField(max_length=200)
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    services = forms.CharField(
        required=False,
        max_length=4000,
        label="Services",
        help_text="Service references, comma separated. Empty: a global freeze.",
    )
    starts_at = datetime_field(required=True, label="Starts")
    ends_at = datetime_field(required=True, label="Ends")
    rrule = forms.CharField(
        required=False,
        max_length=500,
        label="Repeats (RRULE)",
        help_text="e.g. FREQ=MONTHLY;BYMONTHDAY=-3 for the last days of every month. Empty: once.",
    )
    time_zone = forms.CharField(max_length=64, initial="Europe/Amsterdam")
    active = forms.BooleanField(required=False, initial=True)

    def clean_services(self) -> list[Node]:
        from itline.cmdb.models import NodeKind

        texts = [t for t in (self.cleaned_data.get("services") or "").split(",") if t.strip()]
        nodes, missing = find_nodes(texts)
        not_services = [n.reference for n in nodes if n.kind != NodeKind.SERVICE]
        if missing or not_services:
            raise ValidationError(f"Not a service: {', '.join([*missing, *not_services])}.")
        return nodes

    def clean_rrule(self) -> str:
        text = (self.cleaned_data.get("rrule") or "").strip()
        if text:
            try:
                from itline.core.rrule import validate_rrule
            except ImportError:  # M's module lands in the same change set
                from dateutil.rrule import rrulestr

                try:
                    rrulestr(text, dtstart=timezone.now())
                except (ValueError, TypeError) as exc:
                    raise ValidationError(f"Not a valid RRULE: {exc}") from None
            else:
                validate_rrule(text)
        return text

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("starts_at"), data.get("ends_at")
        if start and end and end <= start:
            self.add_error("ends_at", "The freeze window must end after it starts.")
        return data

    @staticmethod
    def initial_for(window: FreezeWindow) -> dict[str, Any]:
        return {
            "title": window.title,
            "reason": window.reason,
            "services": ", ".join(s.reference for s in window.services.all()),
            "starts_at": _local(window.starts_at),
            "ends_at": _local(window.ends_at),
            "rrule": window.rrule,
            "time_zone": window.time_zone,
            "active": window.active,
        }


DEPLOYMENT_STATUSES = DeploymentStatus.choices
