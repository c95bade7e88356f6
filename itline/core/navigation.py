"""The left navigation: the five phases plus administration. Entries for record types that are
not built yet are listed as planned and lead to a page that says so plainly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import reverse


@dataclass(frozen=True)
class Entry:
    label: str
    url_name: str | None  # None: planned, not built yet
    perm: str | None = None
    slug: str = ""


@dataclass(frozen=True)
class Group:
    label: str
    slug: str
    entries: tuple[Entry, ...]


NAVIGATION: tuple[Group, ...] = (
    Group(
        "Service structure",
        "structure",
        (
            Entry("Services", "cmdb:service-list", "cmdb.view_service"),
            Entry("Components", "cmdb:component-list", "cmdb.view_component"),
            Entry("Dependency graph", "cmdb:graph", "cmdb.view_component"),
            Entry("Impact analysis", "cmdb:impact", "cmdb.view_component"),
        ),
    ),
    Group(
        "Operation",
        "operation",
        (
            Entry("Alert console", "alerts:console", "operation.view_alert"),
            Entry("Incidents", "operation:incident-list", "operation.view_incident"),
            Entry("Service requests", "operation:request-list", "operation.view_servicerequest"),
            Entry("Problems", "problems:problem-list", "operation.view_problem"),
            Entry("Known errors", "problems:known-error-list", "operation.view_knownerror"),
            Entry(
                "Recurrence proposals",
                "problems:proposal-list",
                "operation.view_recurrenceproposal",
            ),
            Entry("Maintenance", "maintenance:calendar", "operation.view_maintenancewindow"),
            Entry("Work orders", "maintenance:work-order-list", "operation.view_workorder"),
        ),
    ),
    Group(
        "Transition",
        "transition",
        (
            Entry("Changes", "transition:change-list", "transition.view_change"),
            Entry("Standard changes", "transition:catalogue", "transition.view_changetemplate"),
            Entry("Approvals", "transition:approvals", "transition.view_change"),
            Entry("CAB", "transition:cab-list", "transition.view_cabmeeting"),
            Entry("Change calendar", "transition:calendar", "transition.view_change"),
            Entry("Freeze windows", "transition:freeze-list", "transition.view_freezewindow"),
            Entry("Releases", "transition:release-list", "transition.view_release"),
            Entry("Deployments", "transition:deployment-list", "transition.view_deployment"),
        ),
    ),
    Group(
        "Delivery Control",
        "delivery",
        (
            Entry("KPIs", None, slug="kpis"),
            Entry("Improvements", "delivery:improvement-list", "delivery.view_improvement"),
            Entry("Knowledge", None, slug="knowledge"),
            Entry("Competence", None, slug="competence"),
            Entry("Suppliers", None, slug="suppliers"),
        ),
    ),
    Group(
        "Relations",
        "relations",
        (
            Entry("Customers", "org:customer-list", "org.view_customer"),
            Entry("Service catalogue", None, slug="catalogue"),
            Entry("Agreements", "relations:agreement-list", "relations.view_agreement"),
            Entry("Service reviews", None, slug="service-reviews"),
        ),
    ),
    Group(
        "Strategy",
        "strategy",
        (
            Entry("Goals", None, slug="goals"),
            Entry("Portfolio", None, slug="portfolio"),
            Entry("Decisions", None, slug="decisions"),
        ),
    ),
    Group(
        "Administration",
        "administration",
        (
            Entry("People", "org:person-list", "org.view_person"),
            Entry("Functions", "org:function-list", "org.view_function"),
            Entry("Business units", "org:businessunit-list", "org.view_businessunit"),
            Entry("Business calendars", "calendar-list", "core.view_businesscalendar"),
            Entry("Webhooks", "webhooks:list", "core.view_webhooksubscription"),
            Entry("Journal", "journal", "core.view_journalentry"),
            Entry("API documentation", "api:openapi-view"),
            Entry("Django admin", "admin:index", "is_staff"),
        ),
    ),
)

PLANNED = {e.slug: (g.label, e.label) for g in NAVIGATION for e in g.entries if e.url_name is None}


def navigation_for(request: HttpRequest) -> list[dict[str, Any]]:
    user = request.user
    path = request.path
    groups: list[dict[str, Any]] = []
    for group in NAVIGATION:
        items: list[dict[str, Any]] = []
        for entry in group.entries:
            if entry.perm == "is_staff":
                if not user.is_staff:
                    continue
            elif entry.perm and not user.has_perm(entry.perm):
                continue
            if entry.url_name is None:
                url = reverse("planned", args=[entry.slug])
            else:
                url = reverse(entry.url_name)
            matches = path == url or (url != "/" and path.startswith(url))
            items.append(
                {
                    "label": entry.label,
                    "url": url,
                    "planned": entry.url_name is None,
                    "current": matches,
                }
            )
        if items:
            groups.append({"label": group.label, "slug": group.slug, "items": items})
    # /changes/catalogue/ lies under /changes/ too: only the most specific entry is current.
    current = [item for g in groups for item in g["items"] if item["current"]]
    if len(current) > 1:
        best = max(current, key=lambda item: len(item["url"]))
        for item in current:
            item["current"] = item is best
    return groups
