"""Forms of the maintenance pages. Dates are entered in the record's own time zone (a window
"Sunday 02:00 Europe/Amsterdam" is typed as 02:00, whatever the browser's zone), services and
components by reference or exact name. The verbs validate the rest."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from itline.cmdb.models import Node
from itline.core.models import validate_timezone
from itline.org.models import Function, Person

LOCAL_FORMAT = "%Y-%m-%dT%H:%M"
RRULE_PRESETS = [
    ("FREQ=WEEKLY;BYDAY=SU", "every Sunday"),
    ("FREQ=WEEKLY", "every week on the start's weekday"),
    ("FREQ=DAILY", "every day"),
    ("FREQ=MONTHLY;BYDAY=1SU", "first Sunday of each month"),
    ("FREQ=MONTHLY;BYMONTHDAY=1", "first day of each month"),
    ("FREQ=MONTHLY;INTERVAL=3", "every three months"),
    ("FREQ=YEARLY", "every year"),
]


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self) -> None:
        super().__init__(format=LOCAL_FORMAT)


class RruleInput(forms.TextInput):
    """A text input with the common rules offered as suggestions (a datalist)."""

    def render(self, name: str, value: Any, attrs: Any = None, renderer: Any = None) -> Any:
        from django.utils.html import format_html, format_html_join

        list_id = f"{(attrs or {}).get('id', name)}-presets"
        html = super().render(name, value, {**(attrs or {}), "list": list_id}, renderer)
        options = format_html_join(
            "", '<option value="{}">{}</option>', ((v, lbl) for v, lbl in RRULE_PRESETS)
        )
        return format_html('{}<datalist id="{}">{}</datalist>', html, list_id, options)


def _local_field(label: str, help_text: str = "") -> forms.DateTimeField:
    return forms.DateTimeField(
        label=label,
        widget=LocalDateTimeInput(),
        input_formats=[LOCAL_FORMAT, "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        help_text=help_text,
    )


def _in_zone(value: datetime | None, zone_name: str) -> datetime | None:
    """A wall time typed in the form, read in ``zone_name`` (the form's time zone field)."""
    if value is None:
        return None
    naive = value.replace(tzinfo=None) if value.tzinfo else value
    return naive.replace(tzinfo=zoneinfo.ZoneInfo(zone_name))


def _wall(value: datetime | None, zone_name: str) -> str:
    if value is None:
        return ""
    return value.astimezone(zoneinfo.ZoneInfo(zone_name)).strftime(LOCAL_FORMAT)


class NodesField(forms.CharField):
    """Services and components by reference (SVC-000001, CMP-000002) or exact name, separated
    by commas or new lines."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "help_text", "References or exact names, separated by commas (e.g. CMP-000012, db-1)"
        )
        super().__init__(**kwargs)

    def clean(self, value: Any) -> list[Node]:  # type: ignore[override]
        text = super().clean(value) or ""
        wanted = [p.strip() for p in text.replace("\n", ",").split(",") if p.strip()]
        if not wanted and self.required:
            raise ValidationError("Name at least one service or component.")
        found: list[Node] = []
        for item in dict.fromkeys(wanted):
            node = Node.objects.filter(reference=item.upper()).first()
            if node is None:
                matches = list(Node.objects.filter(name__iexact=item)[:2])
                if len(matches) > 1:
                    raise ValidationError(f"{item!r} names several records; use its reference.")
                node = matches[0] if matches else None
            if node is None:
                raise ValidationError(f"There is no service or component {item!r}.")
            found.append(node)
        return found


def _nodes_text(record: Any) -> str:
    if record is None or record.pk is None:
        return ""
    return ", ".join(f"{n.reference}" for n in record.nodes.all().order_by("name"))


class _ZonedForm(forms.Form):
    """Reads its datetime fields in the time zone chosen in the same form."""

    zoned: tuple[str, ...] = ()

    time_zone = forms.CharField(
        max_length=64, initial="Europe/Amsterdam", help_text="e.g. Europe/Amsterdam, UTC"
    )

    def clean_time_zone(self) -> str:
        value = self.cleaned_data["time_zone"].strip()
        validate_timezone(value)
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        zone = data.get("time_zone")
        if zone:
            for name in self.zoned:
                if data.get(name) is not None:
                    data[name] = _in_zone(data[name], zone)
        return data


class WindowForm(_ZonedForm):
    zoned = ("starts_at", "ends_at")

    title = forms.CharField(max_length=200)
    nodes = NodesField(label="Services and components")
    starts_at = _local_field("Starts", "In the time zone below")
    ends_at = _local_field("Ends", "Of the first occurrence, for a recurring window")
    rrule = forms.CharField(
        label="Repeats (RRULE)",
        required=False,
        max_length=500,
        help_text="Empty for once; e.g. FREQ=WEEKLY;BYDAY=SU or FREQ=MONTHLY;BYDAY=1SU",
        widget=RruleInput(),
    )
    include_dependencies = forms.BooleanField(
        required=False,
        initial=True,
        label="Also cover what these run on",
    )
    function = forms.ModelChoiceField(
        Function.objects.order_by("name"), required=False, to_field_name="reference"
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    field_order = [
        "title",
        "nodes",
        "starts_at",
        "ends_at",
        "time_zone",
        "rrule",
        "include_dependencies",
        "function",
        "description",
    ]

    def __init__(self, data: Any = None, *, instance: Any = None) -> None:
        initial = {}
        if instance is not None and instance.pk:
            zone = instance.time_zone
            initial = {
                "title": instance.title,
                "nodes": _nodes_text(instance),
                "starts_at": _wall(instance.starts_at, zone),
                "ends_at": _wall(instance.ends_at, zone),
                "time_zone": zone,
                "rrule": instance.rrule,
                "include_dependencies": instance.include_dependencies,
                "function": instance.function.reference if instance.function else None,
                "description": instance.description,
            }
        super().__init__(data, initial=initial)
        self.instance = instance


class PlanForm(_ZonedForm):
    zoned = ("first_due_at",)

    title = forms.CharField(max_length=200)
    nodes = NodesField(label="Services and components")
    rrule = forms.CharField(
        label="Recurs (RRULE)",
        max_length=500,
        help_text="e.g. FREQ=MONTHLY;BYMONTHDAY=1 or FREQ=WEEKLY;BYDAY=MO",
        widget=RruleInput(),
    )
    first_due_at = _local_field("First due", "In the time zone below")
    function = forms.ModelChoiceField(
        Function.objects.order_by("name"), to_field_name="reference", label="Responsible function"
    )
    lead_days = forms.IntegerField(
        min_value=0,
        max_value=365,
        initial=7,
        help_text="Work orders are created this many days ahead",
    )
    estimated_minutes = forms.IntegerField(min_value=0, max_value=100_000, initial=60)
    checklist = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        required=False,
        help_text="One step per line",
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    field_order = [
        "title",
        "nodes",
        "rrule",
        "first_due_at",
        "time_zone",
        "function",
        "lead_days",
        "estimated_minutes",
        "checklist",
        "description",
    ]

    def __init__(self, data: Any = None, *, instance: Any = None) -> None:
        initial = {}
        if instance is not None and instance.pk:
            zone = instance.time_zone
            initial = {
                "title": instance.title,
                "nodes": _nodes_text(instance),
                "rrule": instance.rrule,
                "first_due_at": _wall(instance.first_due_at, zone),
                "time_zone": zone,
                "function": instance.function.reference,
                "lead_days": instance.lead_days,
                "estimated_minutes": instance.estimated_minutes,
                "checklist": "\n".join(instance.checklist),
                "description": instance.description,
            }
        super().__init__(data, initial=initial)
        self.instance = instance

    def clean_checklist(self) -> list[str]:
        text = self.cleaned_data.get("checklist") or ""
        return [line.strip() for line in text.splitlines() if line.strip()]


class WorkOrderForm(forms.Form):
    """A one-off work order (plans create the recurring ones)."""

    title = forms.CharField(max_length=200)
    function = forms.ModelChoiceField(Function.objects.order_by("name"), to_field_name="reference")
    due_at = forms.DateTimeField(
        label="Due", widget=LocalDateTimeInput(), input_formats=[LOCAL_FORMAT, "%Y-%m-%d %H:%M"]
    )
    nodes = NodesField(label="Services and components", required=False)
    checklist = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), required=False, help_text="One step per line"
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)

    def __init__(self, data: Any = None, *, instance: Any = None) -> None:
        super().__init__(data)
        self.instance = instance

    def clean_checklist(self) -> list[str]:
        text = self.cleaned_data.get("checklist") or ""
        return [line.strip() for line in text.splitlines() if line.strip()]


class CompleteForm(forms.Form):
    notes = forms.CharField(
        label="What was done",
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Required: findings, readings, follow-ups",
    )


class CancelForm(forms.Form):
    reason = forms.CharField(label="Why is it not done?", widget=forms.Textarea(attrs={"rows": 2}))


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        Person.objects.none(), required=False, to_field_name="reference"
    )

    def __init__(
        self, data: Any = None, *, function: Any = None, initial: dict[str, Any] | None = None
    ) -> None:
        super().__init__(data, initial=initial)
        if function is not None:
            self.fields["assignee"].queryset = Person.objects.filter(  # type: ignore[attr-defined]
                memberships__function=function
            ).order_by("name")
