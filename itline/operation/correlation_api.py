"""API: Alert groups, alert rules, acknowledge and silence."""

from __future__ import annotations

from ninja import Router

router = Router()
