"""Calendar feeds (``.ics``) that calendar clients subscribe to.

A calendar client cannot log in, so a feed URL may carry ``?token=<API token secret>``: any
active token of an active user (read scope is enough; a feed only reads). Without a token the
browser session counts, so the "subscribe" link also works when clicked. A bad token is never
silently ignored in favour of the session: it is refused, so a revoked subscription stops."""

from __future__ import annotations

import re
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def feed_user(request: HttpRequest) -> Any | None:
    """The user a feed request acts as: the owner of ``?token=`` (any scope), else the session
    user; None when neither authenticates (an unknown, revoked or expired token gives None)."""
    from itline.core.models import ApiToken

    secret = request.GET.get("token", "")
    if secret:
        token = (
            ApiToken.objects.select_related("user").filter(key_hash=ApiToken.hash(secret)).first()
        )
        if token is None or not token.is_active or not token.user.is_active:
            return None
        now = timezone.now()
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_active:
        return user
    return None


def ics_response(cal: Any, filename: str) -> HttpResponse:
    """``cal`` (an ``icalendar.Calendar``) as a ``text/calendar`` download named ``filename``."""
    name = _UNSAFE.sub("-", filename).strip("-") or "calendar"
    if not name.endswith(".ics"):
        name += ".ics"
    response = HttpResponse(cal.to_ical(), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{name}"'
    # Clients poll; a short private cache keeps them from hammering without going stale.
    response["Cache-Control"] = "private, max-age=300"
    return response
