"""Which event source sent a request, from its own credential (never a user's API token).

* Token sources: ``Authorization: Bearer <token>`` (Alertmanager's ``http_config.authorization``
  sends exactly this), or HTTP Basic with the token as password (for senders that only do
  Basic auth). PagerDuty-shaped sources put the token in the body as ``routing_key``.
  Only the token's SHA-256 is stored; the lookup is by that hash.
* HMAC sources: ``X-Itline-Source: <source name>`` and
  ``X-Itline-Signature: sha256=<hex of HMAC-SHA256(secret, raw body)>``, compared in constant
  time.

Anything else -- no credential, an unknown one, an inactive source, a source of another kind
-- is ``Unauthorized`` (401) before anything is parsed or stored."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from typing import Any

from django.http import HttpRequest

from itline.operation.models import EventSource
from itline.operation.models.alerts import EventAuth

SIGNATURE_HEADER = "X-Itline-Signature"
SOURCE_HEADER = "X-Itline-Source"
_FIELDS = ("id", "name", "kind", "auth", "hmac_secret", "active", "last_event_at")

ENDPOINTS = {
    "itline": "/api/v1/events",
    "alertmanager": "/api/v1/events/alertmanager",
    "pagerduty": "/api/v1/events/pagerduty",
}


class Unauthorized(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def bearer_token(request: HttpRequest) -> str:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return value.strip()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[2]
    return ""


def authenticate(
    request: HttpRequest, kind: str, *, body: bytes = b"", token: str | None = None
) -> Any:
    """The active ``EventSource`` of ``kind`` the request's credential belongs to.
    ``token``: a credential found elsewhere (PagerDuty's ``routing_key``)."""
    signature = request.META.get("HTTP_X_ITLINE_SIGNATURE", "")
    if signature:
        source = _by_signature(request, signature, body)
    else:
        secret = token if token is not None else bearer_token(request)
        if not secret:
            raise Unauthorized(
                "Send the event source's token as 'Authorization: Bearer <token>'"
                + (" or as routing_key" if kind == "pagerduty" else "")
                + f", or sign the body ({SIGNATURE_HEADER} with {SOURCE_HEADER})."
            )
        source = (
            EventSource.objects.filter(token_hash=EventSource.hash(secret), auth=EventAuth.TOKEN)
            .only(*_FIELDS)
            .first()
        )
        if source is None:
            raise Unauthorized("This token belongs to no event source.")
    if not source.active:
        raise Unauthorized(f"Event source {source.name!r} is switched off.")
    if source.kind != kind:
        raise Unauthorized(
            f"Event source {source.name!r} sends {source.kind} events; post them to "
            f"{ENDPOINTS.get(source.kind, '/api/v1/events')}."
        )
    return source


def _by_signature(request: HttpRequest, signature: str, body: bytes) -> Any:
    name = request.META.get("HTTP_X_ITLINE_SOURCE", "")
    if not name:
        raise Unauthorized(f"A signed request names its source in {SOURCE_HEADER}.")
    source = EventSource.objects.filter(name=name, auth=EventAuth.HMAC).only(*_FIELDS).first()
    expected = "sha256=" + (
        hmac.new(source.hmac_secret.encode(), body, hashlib.sha256).hexdigest()
        if source is not None and source.hmac_secret
        else "0" * 64
    )
    # Compared even for an unknown source, so timing does not tell which names exist.
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()) or not source:
        raise Unauthorized(f"The {SIGNATURE_HEADER} does not match the body for this source.")
    return source


def sign(secret: str, body: bytes) -> str:
    """The signature header value a sender computes (used by tests and docs)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
