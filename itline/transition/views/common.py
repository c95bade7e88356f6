"""What the Transition pages share: permission checks, the acting person, running a verb
with its error turned into a field error or a message."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest

from itline.core.errors import DomainError
from itline.core.record_views import require_agent
from itline.operation.views.common import describe, form_error, safe_next, status_for
from itline.org.models import Person, person_of

VIEW = "transition.view_change"
ADD = "transition.add_change"
MANAGE = "transition.change_change"
VERB_ERRORS = (ValidationError, DomainError, PermissionDenied)

__all__ = [
    "ADD",
    "MANAGE",
    "VERB_ERRORS",
    "VIEW",
    "describe",
    "form_error",
    "me",
    "require_agent",
    "run",
    "safe_next",
    "status_for",
]


def me(request: HttpRequest) -> Person | None:
    return person_of(request.user)


def run(request: HttpRequest, action: Callable[[], Any], success: str = "") -> Any:
    """Run a verb for a button without input to keep; its error becomes a message. Returns
    the verb's result, or None when it was refused."""
    try:
        result = action()
    except VERB_ERRORS as exc:
        messages.error(request, describe(exc))
        return None
    if success:
        messages.success(request, success)
    return result if result is not None else True
