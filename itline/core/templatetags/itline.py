"""Template filters shared by every app."""

from __future__ import annotations

import json
from typing import Any

from django import template

register = template.Library()


@register.filter
def journal_value(value: Any) -> str:
    """A journaled value as people read it: lists joined, objects as compact JSON,
    booleans as Yes/No, empty as a dash."""
    if value is True:
        return "Yes"
    if value is False:
        return "No"
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, list):
        return ", ".join(journal_value(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(", ", ": "))
    return str(value)
