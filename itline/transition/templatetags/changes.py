"""Template filters of the Transition pages: pill tones for statuses, risk and outcomes."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()

STATUS_TONE = {
    "draft": "",
    "submitted": "blue",
    "assessed": "blue",
    "awaiting_approval": "amber",
    "approved": "green",
    "rejected": "red",
    "scheduled": "green",
    "implementing": "amber",
    "implemented": "blue",
    "in_review": "blue",
    "closed": "",
    "cancelled": "",
}
RISK_TONE = {"low": "green", "medium": "amber", "high": "red"}
DEPLOY_TONE = {"started": "amber", "succeeded": "green", "failed": "red", "rolled_back": "red"}
OUTCOME_TONE = {
    "successful": "green",
    "successful_with_issues": "amber",
    "failed": "red",
    "backed_out": "red",
}


@register.filter
def change_tone(status: str) -> str:
    return STATUS_TONE.get(str(status), "")


@register.filter
def risk_tone(level: str) -> str:
    return RISK_TONE.get(str(level), "")


@register.filter
def deploy_tone(status: str) -> str:
    return DEPLOY_TONE.get(str(status), "")


@register.filter
def outcome_tone(outcome: str) -> str:
    return OUTCOME_TONE.get(str(outcome), "")


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def evidence_label(key: str) -> str:
    return str(key).replace("_", " ").capitalize()
