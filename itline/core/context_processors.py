"""Data every page's frame needs: navigation, the user's roles."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from itline.core.navigation import navigation_for


def shell(request: HttpRequest) -> dict[str, Any]:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    return {"nav": navigation_for(request)}
