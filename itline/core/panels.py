"""Panels other apps add to the component and service pages (current alerts, upcoming
maintenance, changes), without the structure app importing them: ``settings.NODE_PANELS``
lists dotted paths of functions ``(request, node) -> str`` returning one HTML section each
(an empty string when they have nothing to show or the user may not see it).

The structure sits left of operation and transition in the dependency order, so it must not
import them; this hook is the one place the page learns about them, configured as code."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.module_loading import import_string
from django.utils.safestring import SafeString, mark_safe

logger = logging.getLogger(__name__)

Panel = Callable[[HttpRequest, Any], str]


@cache
def _resolve(path: str) -> Panel | None:
    try:
        return import_string(path)  # type: ignore[no-any-return]
    except ImportError:
        # A panel whose app is not installed (or not written yet) must not take the
        # structure pages down; it is reported once per process.
        logger.error("NODE_PANELS entry %r cannot be imported; the panel is skipped", path)
        return None


def panels() -> list[Panel]:
    found = (_resolve(path) for path in getattr(settings, "NODE_PANELS", ()))
    return [panel for panel in found if panel is not None]


def render_node_panels(request: HttpRequest, node: Any) -> list[SafeString]:
    """The HTML of every configured panel for ``node`` (a Service or Component), in
    ``NODE_PANELS`` order, leaving out empty ones. Panels are trusted code: their output
    is marked safe here, so each must escape what it renders (templates do)."""
    out = []
    for panel in panels():
        html = panel(request, node)
        if html and html.strip():
            out.append(mark_safe(html))  # panel output is rendered templates
    return out
