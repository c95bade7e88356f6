"""Data every page's frame needs: navigation, the user's roles."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from itline.core.navigation import navigation_for
from itline.org.roles import is_agent


def shell(request: HttpRequest) -> dict[str, Any]:
    # Portal roles get the simple portal layout: no agent navigation at all.
    if not is_agent(getattr(request, "user", None)):
        return {}
    return {"nav": navigation_for(request)}
