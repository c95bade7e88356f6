"""The SLA clock partial on its own, so the incident page can refresh it every minute
(``hx-get``). Wire it in ``operation/urls.py`` as ``incidents/<ref>/sla/`` named
``incident-sla``."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from itline.core.record_views import require_agent
from itline.operation.models import Incident


@login_required
def incident_sla(request: HttpRequest, ref: str) -> HttpResponse:
    require_agent(request, "operation.view_incident")
    incident = get_object_or_404(Incident, reference=ref)
    return render(request, "operation/sla/_clocks.html", {"incident": incident})
