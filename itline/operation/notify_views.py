"""Each person chooses which notification e-mails they get (portal users and agents alike)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from itline.operation import notify
from itline.operation.choices import NotificationEvent
from itline.org.models import person_of
from itline.org.roles import is_agent

# What each event means, in the words of the person reading the settings page.
EXPLAIN = {
    NotificationEvent.NEW: "Confirmation with the reference when a request or incident of yours is registered.",
    NotificationEvent.ASSIGNED: "A request, incident or problem is assigned to you or your function.",
    NotificationEvent.UPDATED: "Replies, status changes and new messages on records you are involved in.",
    NotificationEvent.RESOLVED: "A request or incident of yours is resolved.",
    NotificationEvent.BREACH_WARNING: "An SLA clock of an incident you work on passes its warning threshold.",
    NotificationEvent.BREACH: "An SLA clock of an incident you work on passes its target.",
    NotificationEvent.MAJOR_UPDATE: "Updates on major incidents that affect you.",
}
# Requesters never receive assignment or SLA mails; the page does not offer them.
PORTAL_EVENTS = (
    NotificationEvent.NEW,
    NotificationEvent.UPDATED,
    NotificationEvent.RESOLVED,
    NotificationEvent.MAJOR_UPDATE,
)


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    person = person_of(request.user)
    events = list(NotificationEvent) if is_agent(request.user) else list(PORTAL_EVENTS)
    if person is None:
        return render(
            request,
            "operation/notification_preferences.html",
            {"person": None, "rows": []},
        )
    if request.method == "POST":
        # A checkbox that is not ticked is simply absent: absent means "off".
        wanted = {str(e): request.POST.get(f"event-{e.value}") == "on" for e in events}
        notify.set_preferences(person, wanted, by=request.user)
        messages.success(request, "Your notification settings are saved.")
        return redirect("notify:preferences")
    current = notify.preferences_of(person)
    rows = [
        {"event": e.value, "label": e.label, "help": EXPLAIN[e], "on": current[e.value]}
        for e in events
    ]
    return render(
        request,
        "operation/notification_preferences.html",
        {"person": person, "rows": rows},
    )
