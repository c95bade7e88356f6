"""Display helpers of the problem management pages, and the suggestions tag behind the
known-error partial that incident and request pages include."""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils.http import urlencode

register = template.Library()

PROBLEM_TONE = {
    "new": "",
    "investigating": "amber",
    "known_error": "amber",
    "resolved": "green",
    "closed": "",
    "proposed": "amber",
    "accepted": "green",
    "dismissed": "",
}
PRIORITY_TONE = {1: "red", 2: "amber", 3: "", 4: ""}


@register.filter
def problem_tone(status: str) -> str:
    return PROBLEM_TONE.get(str(status), "")


@register.filter
def problem_priority_tone(priority: int) -> str:
    return PRIORITY_TONE.get(int(priority or 4), "")


@register.filter
def record_url(record: Any) -> str:
    """The page of a record; records whose pages are not built yet are found by search."""
    getter = getattr(record, "get_absolute_url", None)
    if getter is not None:
        try:
            return str(getter())
        except NoReverseMatch:
            pass
    ref = getattr(record, "reference", "")
    return reverse("search") + "?" + urlencode({"q": ref})


@register.simple_tag(takes_context=True)
def problem_suggestions(context: Any, record: Any, limit: int = 5) -> dict[str, Any]:
    """Known errors (and similar open incidents) for ``record``, an incident or a service
    request, filtered by what the user may see and do."""
    from itline.operation.models import Incident
    from itline.operation.problem_views import suggestion_context

    request = context.get("request")
    if not record or request is None:
        return {"known_errors": [], "similar": [], "record": None}
    # The incident and request pages compute ``suggestions`` for themselves already.
    computed = context.get("suggestions")
    if not (isinstance(computed, dict) and "known_errors" in computed):
        computed = None
    return suggestion_context(
        request, record, limit=limit, is_incident=isinstance(record, Incident), computed=computed
    )
