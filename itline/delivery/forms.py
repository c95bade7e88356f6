"""Forms of the Delivery Control pages; writes go through ``services.py``."""

from __future__ import annotations

from django import forms

from itline.delivery.models import Improvement


class ImprovementForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Improvement
        fields = ["title", "description", "status", "service", "proposed_by"]
        widgets = {"description": forms.Textarea(attrs={"rows": 5})}
