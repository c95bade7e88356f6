"""Configuration sanity checks, run by ``itline check`` (Django's check framework) and at
start-up of ``itline serve``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Info, Warning, register
from django.db import connection
from django.db.utils import OperationalError


@register("itline")
def itline_essentials(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Errors that must stop any command."""
    if not settings.DEBUG and settings.SECRET_KEY.startswith("insecure-"):
        return [
            Error("SECRET_KEY is the development key.", hint="Set SECRET_KEY.", id="itline.E001")
        ]
    return []


@register("itline", deploy=True)
def itline_configuration(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Advice shown by `itline check` (which runs the deployment checks)."""
    problems: list[CheckMessage] = []
    if kwargs.get("databases"):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except OperationalError as exc:
            problems.append(
                Error(
                    f"Cannot connect to the database: {exc}".strip(),
                    hint="Check DATABASE_URL and that the server is running.",
                    id="itline.E002",
                )
            )
    if str(settings.MAILERS["default"]["BACKEND"]).endswith("console.EmailBackend"):
        problems.append(
            Info(
                "E-mail is printed to the console, not sent.",
                hint="Set EMAIL_URL=smtp+tls://user:password@host:587 to send mail.",
                id="itline.I001",
            )
        )
    if settings.SITE_URL.startswith("http://") and settings.HTTPS:
        problems.append(Warning("HTTPS is on but SITE_URL starts with http://", id="itline.W002"))
    return problems
