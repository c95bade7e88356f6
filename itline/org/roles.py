"""Personas and what each may do. Roles are Django groups, kept in step with this table by
``sync_roles()`` after every migrate; the table is the single source, so roles are config as
code and reviewable in a diff.

Portal roles (requester, purchaser, customer representative) never reach agent screens and
only ever see records of their own business unit (customer representatives: their customer's
unit and the units below it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction


@dataclass(frozen=True)
class Role:
    slug: str
    name: str
    description: str
    portal: bool
    permissions: tuple[str, ...]


_VIEW_ORG = (
    "org.view_person",
    "org.view_function",
    "org.view_businessunit",
    "org.view_customer",
    "org.view_membership",
    "org.view_purchaser",
)
_VIEW_STRUCTURE = (
    "cmdb.view_service",
    "cmdb.view_component",
    "cmdb.view_relation",
    "cmdb.view_componenttype",
    "cmdb.view_relationtype",
)
_MANAGE_COMPONENTS = (
    "cmdb.add_component",
    "cmdb.change_component",
    "cmdb.add_relation",
    "cmdb.delete_relation",
)
_MANAGE_SERVICES = ("cmdb.add_service", "cmdb.change_service")
_MANAGE_STRUCTURE = (
    *_MANAGE_COMPONENTS,
    *_MANAGE_SERVICES,
    "cmdb.delete_component",
    "cmdb.delete_service",
    "cmdb.add_componenttype",
    "cmdb.change_componenttype",
    "cmdb.add_relationtype",
    "cmdb.change_relationtype",
)
# Every agent works the service desk and incident queues and reads problems/known errors.
_OPERATE = (
    "operation.view_incident",
    "operation.add_incident",
    "operation.change_incident",
    "operation.view_servicerequest",
    "operation.add_servicerequest",
    "operation.change_servicerequest",
    "operation.view_problem",
    "operation.view_knownerror",
    "operation.add_knownerror",
    "operation.view_recurrenceproposal",
    "delivery.view_improvement",
    "delivery.add_improvement",
)
_MANAGE_PROBLEMS = (
    "operation.add_problem",
    "operation.change_problem",
    "operation.change_knownerror",
    "operation.change_recurrenceproposal",
)
# Every agent sees the alert console and maintenance, acknowledges and silences alerts, and
# works work orders; sources, mapping and alert rules are configuration (administrators).
_EVENTS = (
    "operation.view_alert",
    "operation.change_alert",
    "operation.view_alertgroup",
    "operation.view_eventsource",
    "operation.view_mappingrule",
    "operation.view_alertrule",
    "operation.view_maintenancewindow",
    "operation.view_maintenanceplan",
    "operation.view_workorder",
    "operation.change_workorder",
)
_MANAGE_MAINTENANCE = (
    "operation.add_maintenancewindow",
    "operation.change_maintenancewindow",
    "operation.add_maintenanceplan",
    "operation.change_maintenanceplan",
    "operation.add_workorder",
)
_MANAGE_EVENTS = (
    "operation.add_eventsource",
    "operation.change_eventsource",
    "operation.delete_eventsource",
    "operation.add_mappingrule",
    "operation.change_mappingrule",
    "operation.delete_mappingrule",
    "operation.add_alertrule",
    "operation.change_alertrule",
    "operation.delete_alertrule",
)
# Every agent reads the change calendar and changes and may raise a change; approving is
# the approvers' (checked per approval), managing the process is the change manager's.
_VIEW_TRANSITION = (
    "transition.view_change",
    "transition.add_change",
    "transition.view_changetemplate",
    "transition.view_freezewindow",
    "transition.view_release",
    "transition.view_deployment",
    "transition.view_cabmeeting",
    "transition.view_changereview",
    "transition.add_delegation",
)
_MANAGE_CHANGES = (
    "transition.add_deployment",
    "transition.change_change",
    "transition.add_changetemplate",
    "transition.change_changetemplate",
    "transition.add_freezewindow",
    "transition.change_freezewindow",
    "transition.delete_freezewindow",
    "transition.add_release",
    "transition.change_release",
    "transition.add_cabmeeting",
    "transition.change_cabmeeting",
    "transition.change_approvalpolicy",
    "transition.view_approvalpolicy",
    "transition.change_changereview",
    "transition.change_changeincidentlink",
)
_AGENT = (
    "core.agent_access",
    "core.view_businesscalendar",
    *_VIEW_ORG,
    *_VIEW_STRUCTURE,
    *_OPERATE,
    *_EVENTS,
    *_VIEW_TRANSITION,
    "relations.view_agreement",
)
# Agreements (SLAs): service owners agree them with customers; administrators also delete.
_MANAGE_AGREEMENTS = ("relations.add_agreement", "relations.change_agreement")
_MANAGE_FUNCTIONS = (
    "org.add_function",
    "org.change_function",
    "org.add_membership",
    "org.change_membership",
    "org.delete_membership",
)
_MANAGE_ORG = (
    *_MANAGE_FUNCTIONS,
    "org.add_person",
    "org.change_person",
    "org.add_businessunit",
    "org.change_businessunit",
    "org.add_customer",
    "org.change_customer",
    "org.add_purchaser",
    "org.change_purchaser",
    "org.delete_purchaser",
)

_MANAGE_WEBHOOKS = (
    "core.view_webhooksubscription",
    "core.add_webhooksubscription",
    "core.change_webhooksubscription",
    "core.delete_webhooksubscription",
    "core.view_webhookdelivery",
)

ROLES: tuple[Role, ...] = (
    Role("requester", "Requester", "Business user who asks the service desk for help.", True, ()),
    Role(
        "purchaser",
        "Purchaser",
        "May order existing services for their unit, not change what a service contains.",
        True,
        ("org.view_customer",),
    ),
    Role(
        "customer_representative",
        "Customer representative",
        "Decides on and funds services for a customer; sees the customer's reports.",
        True,
        ("org.view_customer", "org.view_purchaser", "org.view_person"),
    ),
    Role(
        "service_desk_agent",
        "Service desk agent",
        "Single point of contact: takes requests, registers and routes incidents.",
        False,
        (*_AGENT, "org.add_person", "org.change_person"),
    ),
    Role(
        "technician",
        "Technician",
        "Works on incidents, problems, changes; keeps components up to date.",
        False,
        # Technicians investigate: they raise problems and write the analysis and workaround.
        (
            *_AGENT,
            *_MANAGE_COMPONENTS,
            *_MANAGE_MAINTENANCE,
            "transition.add_deployment",
            "operation.add_problem",
            "operation.change_problem",
        ),
    ),
    Role(
        "incident_manager",
        "Incident manager",
        "Owns the incident process; major incidents.",
        False,
        # A major incident usually gets a problem raised for its cause.
        (*_AGENT, "operation.add_problem"),
    ),
    Role(
        "problem_manager",
        "Problem manager",
        "Owns problem and known error management.",
        False,
        (*_AGENT, *_MANAGE_PROBLEMS),
    ),
    Role(
        "change_manager",
        "Change manager",
        "Owns change enablement; chairs the CAB.",
        False,
        (*_AGENT, *_MANAGE_FUNCTIONS, *_MANAGE_CHANGES, *_MANAGE_MAINTENANCE),
    ),
    Role(
        "service_owner",
        "Service owner",
        "Accountable for one or more services end to end.",
        False,
        (
            *_AGENT,
            *_MANAGE_FUNCTIONS,
            *_MANAGE_SERVICES,
            "cmdb.add_relation",
            "cmdb.delete_relation",
            *_MANAGE_AGREEMENTS,
        ),
    ),
    Role(
        "steering_group_member",
        "IT steering group member",
        "Strategic level: strategy, policy, portfolio, escalations.",
        False,
        (*_AGENT, *_MANAGE_ORG),
    ),
    Role(
        "administrator",
        "Administrator",
        "Configures itline: people, functions, roles, tokens, settings.",
        False,
        (
            *_AGENT,
            *_MANAGE_ORG,
            "auth.view_user",
            "auth.change_user",
            "core.view_journalentry",
            "core.add_businesscalendar",
            "core.change_businesscalendar",
            *_MANAGE_WEBHOOKS,
            *_MANAGE_EVENTS,
            *_MANAGE_MAINTENANCE,
            *_MANAGE_CHANGES,
            *_MANAGE_STRUCTURE,
            *_MANAGE_PROBLEMS,
            "delivery.change_improvement",
            "operation.change_priorityrule",
            *_MANAGE_AGREEMENTS,
            "relations.delete_agreement",
        ),
    ),
)
ROLE_BY_SLUG = {role.slug: role for role in ROLES}
PORTAL_ROLES = frozenset(role.slug for role in ROLES if role.portal)


def sync_roles(**kwargs: Any) -> None:
    """Create one group per role and give it exactly the permissions in ``ROLES``."""
    from django.contrib.auth.models import Group, Permission

    with transaction.atomic():
        perms = {
            f"{p.content_type.app_label}.{p.codename}": p
            for p in Permission.objects.select_related("content_type")
        }
        for role in ROLES:
            group = Group.objects.get_or_create(name=role.slug)[0]
            # post_migrate fires once per app and an app's permissions exist only after its
            # own signal; the run after the last app sees them all.
            group.permissions.set([perms[p] for p in role.permissions if p in perms])


def roles_of(user: Any) -> set[str]:
    if not getattr(user, "is_authenticated", False):
        return set()
    cached = getattr(user, "_itline_roles", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True)) & set(ROLE_BY_SLUG)
        if user.is_superuser:
            cached.add("administrator")
        user._itline_roles = cached  # per-request cache on the user object
    return set(cached)


def is_agent(user: Any) -> bool:
    return bool(getattr(user, "is_authenticated", False) and user.has_perm("core.agent_access"))


def primary_role(user: Any) -> str | None:
    """The role that decides the home page: the first in ``ROLES`` order reversed, so an
    administrator who is also a technician lands on the administrator's home."""
    mine = roles_of(user)
    for role in reversed(ROLES):
        if role.slug in mine:
            return role.slug
    return None
