"""API: Changes, templates, approvals, delegations, CAB meetings and freeze windows."""

from __future__ import annotations

from ninja import Router

router = Router()
