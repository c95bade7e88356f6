"""Forms of the framework pages: business calendars, edited one weekday per line."""

from __future__ import annotations

from typing import Any

from django import forms

from itline.core.calendar import CalendarError, WorkingHours
from itline.core.models import BusinessCalendar

WEEKDAYS = (
    ("mon", "Monday"),
    ("tue", "Tuesday"),
    ("wed", "Wednesday"),
    ("thu", "Thursday"),
    ("fri", "Friday"),
    ("sat", "Saturday"),
    ("sun", "Sunday"),
)


def _is_date(text: str) -> bool:
    import datetime as dt

    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _dates_text(values: list[str]) -> str:
    return "\n".join(values)


class CalendarForm(forms.ModelForm):  # type: ignore[type-arg]
    """Working hours as one text field per weekday ("08:00-12:00, 13:00-17:00"), holidays as
    one date per line, so the form needs no JavaScript and reads like a timetable."""

    custom_holidays_text = forms.CharField(
        label="Extra days off",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One date per line, YYYY-MM-DD.",
    )
    removed_holidays_text = forms.CharField(
        label="Public holidays that are working days here",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="One date per line, YYYY-MM-DD.",
    )

    class Meta:
        model = BusinessCalendar
        fields = ["name", "time_zone", "country", "subdivision", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        hours = (
            self.instance.working_hours if self.instance.pk else BusinessCalendar().working_hours
        )
        for key, label in WEEKDAYS:
            self.fields[f"hours_{key}"] = forms.CharField(
                label=label,
                required=False,
                initial=", ".join(hours.get(key, [])),
                help_text="e.g. 08:00-12:00, 13:00-17:00; empty for a day off"
                if key == "mon"
                else "",
            )
        # Put the weekday fields right after the time zone, where people look for them.
        order = ["name", "time_zone", *[f"hours_{k}" for k, _ in WEEKDAYS]]
        self.order_fields(order)
        if self.instance.pk:
            self.fields["custom_holidays_text"].initial = _dates_text(self.instance.custom_holidays)
            self.fields["removed_holidays_text"].initial = _dates_text(
                self.instance.removed_holidays
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        hours: dict[str, list[str]] = {}
        for key, _label in WEEKDAYS:
            raw = (data.get(f"hours_{key}") or "").strip()
            intervals = [part.strip() for part in raw.replace(";", ",").split(",") if part.strip()]
            if intervals:
                hours[key] = intervals
        try:
            parsed = WorkingHours.from_dict(hours)
        except CalendarError as exc:
            day = next((k for k, lbl in WEEKDAYS if lbl in str(exc)), "mon")
            self.add_error(f"hours_{day}", str(exc))
        else:
            if parsed.is_empty():
                self.add_error("hours_mon", "Give at least one working interval in the week.")
        data["working_hours"] = hours
        for field in ("custom_holidays", "removed_holidays"):
            raw = data.get(f"{field}_text") or ""
            lines = [line.strip() for line in raw.splitlines() if line.strip()]
            bad = [line for line in lines if not _is_date(line)]
            if bad:
                self.add_error(f"{field}_text", f"Not a date (YYYY-MM-DD): {', '.join(bad)}")
            data[field] = lines
        # The model validates the whole calendar (country, subdivision) with these values.
        if not any(self.has_error(f"hours_{key}") for key, _ in WEEKDAYS):
            self.instance.working_hours = hours
        self.instance.custom_holidays = (
            data["custom_holidays"] if not self.has_error("custom_holidays_text") else []
        )
        self.instance.removed_holidays = (
            data["removed_holidays"] if not self.has_error("removed_holidays_text") else []
        )
        return data

    # Model fields edited through other form fields: their model errors go there.
    ERROR_FIELDS = {
        "working_hours": "hours_mon",
        "custom_holidays": "custom_holidays_text",
        "removed_holidays": "removed_holidays_text",
    }

    def _update_errors(self, errors: Any) -> None:
        if hasattr(errors, "error_dict"):
            for model_field, form_field in self.ERROR_FIELDS.items():
                if model_field in errors.error_dict:
                    moved = errors.error_dict.pop(model_field)
                    if not self.has_error(form_field):
                        errors.error_dict.setdefault(form_field, []).extend(moved)
        super()._update_errors(errors)  # type: ignore[misc]  # private hook of ModelForm

    def values(self) -> dict[str, Any]:
        """The fields the calendar verbs take."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "time_zone": data["time_zone"],
            "country": data["country"],
            "subdivision": data["subdivision"],
            "description": data["description"],
            "working_hours": data["working_hours"],
            "custom_holidays": data["custom_holidays"],
            "removed_holidays": data["removed_holidays"],
        }
