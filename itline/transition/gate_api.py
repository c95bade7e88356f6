"""API: The deployment gate and collision/risk previews for pipelines."""

from __future__ import annotations

from ninja import Router

router = Router()
