"""API: Event ingestion (own JSON, Alertmanager, PagerDuty), alerts, alert history, event sources and mapping rules."""

from __future__ import annotations

from ninja import Router

router = Router()
