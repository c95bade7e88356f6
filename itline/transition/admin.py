"""Read-only views of Transition records in the Django admin; changes, approvals, policies,
templates and freeze windows are edited through itline's pages and API (the verbs validate
and journal every change)."""

from django.contrib import admin

from itline.core.admin_helpers import ReadOnlyAdmin
from itline.transition.models import (
    Approval,
    ApprovalPolicy,
    ApprovalRequest,
    CabItem,
    CabMeeting,
    Change,
    ChangeIncidentLink,
    ChangeReview,
    ChangeTemplate,
    Delegation,
    Deployment,
    FreezeWindow,
    Release,
)


@admin.register(Change)
class ChangeAdmin(ReadOnlyAdmin):
    list_display = (
        "reference",
        "title",
        "change_type",
        "status",
        "risk_level",
        "risk_override",
        "approval_path",
        "planned_start",
        "planned_end",
    )
    list_filter = ("change_type", "status", "risk_level", "approval_path")
    search_fields = ("reference", "title")
    date_hierarchy = "planned_start"


@admin.register(ChangeTemplate)
class ChangeTemplateAdmin(ReadOnlyAdmin):
    list_display = ("reference", "name", "max_duration_minutes", "active")
    list_filter = ("active",)
    search_fields = ("reference", "name")


@admin.register(ApprovalPolicy)
class ApprovalPolicyAdmin(ReadOnlyAdmin):
    list_display = ("path", "rule", "quorum", "function", "forbid_self_approval")


@admin.register(ApprovalRequest)
class ApprovalRequestAdmin(ReadOnlyAdmin):
    list_display = ("change", "path", "rule", "quorum", "status", "created_at", "decided_at")
    list_filter = ("path", "status")


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    list_display = ("request", "approver", "decision", "decided_by", "decided_at")
    list_filter = ("decision",)


@admin.register(Delegation)
class DelegationAdmin(ReadOnlyAdmin):
    list_display = ("person", "delegate", "starts_at", "ends_at")


@admin.register(FreezeWindow)
class FreezeWindowAdmin(ReadOnlyAdmin):
    list_display = ("reference", "title", "starts_at", "ends_at", "rrule", "active")
    list_filter = ("active",)


@admin.register(CabMeeting)
class CabMeetingAdmin(ReadOnlyAdmin):
    list_display = ("reference", "title", "kind", "starts_at", "chair", "closed_at")
    list_filter = ("kind",)


for model in (CabItem, Release, Deployment, ChangeReview, ChangeIncidentLink):
    admin.site.register(model, ReadOnlyAdmin)
