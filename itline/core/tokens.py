"""Verbs for API tokens, used by the API, the profile page and ``itline token``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from itline.core.errors import ConflictError
from itline.core.models import ApiToken


def create_token(
    *, user: Any, name: str, scope: str, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Issue a token for ``user``; returns the token and its secret (shown once)."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the token a name, e.g. 'monitoring'."})
    if scope not in ApiToken.Scope.values:
        raise ValidationError(
            {"scope": f"Scope must be one of: {', '.join(ApiToken.Scope.values)}."}
        )
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    if ApiToken.objects.filter(user=user, name=name).exists():
        raise ValidationError({"name": f"You already have a token named {name!r}."})
    with transaction.atomic():
        return ApiToken.issue(user=user, name=name, scope=scope, expires_at=expires_at)


def revoke_token(token: ApiToken, *, by: Any) -> ApiToken:
    if token.revoked_at is not None:
        raise ConflictError(f"Token {token.name!r} is already revoked.")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    return token
