"""Forms of the agreement pages: the agreement's fields plus one response and one resolution
target per priority on the same page, so an agreement is edited as one thing."""

from __future__ import annotations

from typing import Any

from django import forms

from itline.relations.models import Agreement, PauseState

PRIORITIES = ((1, "P1 critical"), (2, "P2 high"), (3, "P3 medium"), (4, "P4 low"))
MAX_MINUTES = 10 * 366 * 24 * 60


def parse_minutes(text: str) -> int:
    """``90``, ``90m``, ``4h``, ``1h30``, ``1h 30m``, ``2d`` (business days of 24 h are rarely
    meant, so ``d`` is refused) -> minutes."""
    raw = text.strip().lower().replace(" ", "")
    if not raw:
        raise ValueError("empty")
    if raw.isdigit():
        return int(raw)
    hours, sep, rest = raw.partition("h")
    if sep and hours.isdigit():
        rest = rest.removesuffix("min").removesuffix("m")
        if rest == "" or rest.isdigit():
            return int(hours) * 60 + int(rest or 0)
    minutes = raw.removesuffix("min").removesuffix("m")
    if minutes.isdigit():
        return int(minutes)
    raise ValueError(raw)


def format_minutes(minutes: int | None) -> str:
    if minutes is None:
        return ""
    hours, rest = divmod(int(minutes), 60)
    if hours and rest:
        return f"{hours}h {rest}m"
    if hours:
        return f"{hours}h"
    return f"{rest}m"


class MinutesField(forms.CharField):
    """Business minutes, typed as ``240``, ``4h`` or ``1h 30m``."""

    def to_python(self, value: Any) -> int | None:  # type: ignore[override]
        text = super().to_python(value)
        if not text:
            return None
        try:
            minutes = parse_minutes(text)
        except ValueError:
            raise forms.ValidationError("Give minutes (90), hours (4h) or both (1h 30m).") from None
        if not 1 <= minutes <= MAX_MINUTES:
            raise forms.ValidationError("Give at least one minute and at most ten years.")
        return minutes


class AgreementForm(forms.ModelForm):  # type: ignore[type-arg]
    pause_states_choice = forms.MultipleChoiceField(
        label="Pause the resolution clock while on hold",
        choices=PauseState.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Other on-hold reasons keep the clock running.",
    )

    class Meta:
        model = Agreement
        fields = [
            "name",
            "customer",
            "service",
            "is_default",
            "calendar",
            "warning_percent",
            "description",
            "active",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        labels = {
            "is_default": "Default agreement",
            "calendar": "Support hours",
            "warning_percent": "Warn at (% of a target used)",
        }
        help_texts = {
            "customer": "Empty: every customer of the service.",
            "service": "Empty: every service of the customer.",
            "is_default": "Applies where no agreement names the customer or the service.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["warning_percent"] = forms.IntegerField(
            label="Warn at (% of a target used)", min_value=1, max_value=99, initial=75
        )
        calendar = self.fields["calendar"]
        if isinstance(calendar, forms.ModelChoiceField):
            calendar.empty_label = "Around the clock (24x7)"
        instance: Agreement = self.instance
        self.fields["pause_states_choice"].initial = (
            list(instance.pause_states or []) if instance.pk else [PauseState.WAITING_FOR_CUSTOMER]
        )
        current = {t.priority: t for t in instance.targets.all()} if instance.pk else {}
        for priority, label in PRIORITIES:
            target = current.get(priority)
            self.fields[f"p{priority}_response"] = MinutesField(
                label=f"{label}: response",
                required=False,
                initial=format_minutes(target.response_minutes) if target else "",
                help_text="Business time, e.g. 30m or 4h; leave both empty for no clock."
                if priority == 1
                else "",
            )
            self.fields[f"p{priority}_resolution"] = MinutesField(
                label=f"{label}: resolution",
                required=False,
                initial=format_minutes(target.resolution_minutes) if target else "",
            )
        self.order_fields(
            [
                "name",
                "description",
                "customer",
                "service",
                "is_default",
                "active",
                "calendar",
                "warning_percent",
                "pause_states_choice",
            ]
        )

    def target_fields(self) -> list[tuple[Any, Any]]:
        """Bound fields in pairs (response, resolution) per priority, for the template."""
        return [
            (self[f"p{priority}_response"], self[f"p{priority}_resolution"])
            for priority, _ in PRIORITIES
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        targets = []
        for priority, _ in PRIORITIES:
            response = data.get(f"p{priority}_response")
            resolution = data.get(f"p{priority}_resolution")
            if self.has_error(f"p{priority}_response") or self.has_error(f"p{priority}_resolution"):
                continue
            if (response is None) != (resolution is None):
                missing = "response" if response is None else "resolution"
                self.add_error(
                    f"p{priority}_{missing}", "Give both targets of a priority, or neither."
                )
                continue
            if response is None:
                continue
            if response > resolution:
                self.add_error(
                    f"p{priority}_response",
                    "The response target cannot be longer than the resolution target.",
                )
                continue
            targets.append(
                {
                    "priority": priority,
                    "response_minutes": response,
                    "resolution_minutes": resolution,
                }
            )
        data["targets"] = targets
        states = data.get("pause_states_choice") or []
        data["pause_states"] = list(states)
        # The model validates the whole agreement with these values.
        self.instance.pause_states = list(states)
        return data

    def _update_errors(self, errors: Any) -> None:
        if hasattr(errors, "error_dict") and "pause_states" in errors.error_dict:
            errors.error_dict["pause_states_choice"] = errors.error_dict.pop("pause_states")
        super()._update_errors(errors)  # type: ignore[misc]  # private hook of ModelForm

    def validate_unique(self) -> None:
        # The single-default and range constraints are checked by Agreement.clean() with
        # readable messages; the generic constraint messages would only repeat them.
        try:
            # private helper of ModelForm: the fields the form does not edit
            exclude = self._get_validation_exclusions()  # type: ignore[attr-defined]
            self.instance.validate_unique(exclude=exclude)
        except forms.ValidationError as exc:
            self._update_errors(exc)

    def values(self) -> dict[str, Any]:
        """The arguments of the agreement verbs."""
        data = self.cleaned_data
        return {
            "name": data["name"],
            "customer": data["customer"],
            "service": data["service"],
            "is_default": data["is_default"],
            "calendar": data["calendar"],
            "warning_percent": data["warning_percent"],
            "pause_states": data["pause_states"],
            "description": data["description"],
            "active": data["active"],
            "targets": data["targets"],
        }
