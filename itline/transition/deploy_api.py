"""API: Releases, deployments, post-implementation reviews, change-caused incidents and change metrics."""

from __future__ import annotations

from ninja import Router

router = Router()
