"""API: Maintenance windows, maintenance plans and work orders."""

from __future__ import annotations

from ninja import Router

router = Router()
