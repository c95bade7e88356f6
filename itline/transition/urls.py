"""Agent pages of Transition: changes, the standard change catalogue, approvals, CAB,
the change calendar, freeze windows, releases and deployments."""

from django.urls import path

from itline.transition.views import approvals, calendar, changes, form, records

app_name = "transition"

urlpatterns = [
    path("changes/", changes.change_list, name="change-list"),
    path("changes/new/", form.change_create, name="change-create"),
    path("changes/preview/", form.change_preview, name="change-preview"),
    path("changes/nodes/", form.node_lookup, name="node-lookup"),
    path("changes/catalogue/", records.catalogue, name="catalogue"),
    path("changes/catalogue/<str:ref>/", records.template_detail, name="template-detail"),
    path("changes/<str:ref>/", changes.change_detail, name="change-detail"),
    path("changes/<str:ref>/edit/", form.change_edit, name="change-edit"),
    path("changes/<str:ref>/readiness/", changes.change_readiness, name="change-readiness"),
    path("changes/<str:ref>/review/", changes.review_complete, name="change-review"),
    path("changes/<str:ref>/caused/<int:pk>/", changes.link_decide, name="change-link"),
    path("changes/<str:ref>/<slug:action>/", changes.change_action, name="change-action"),
    path("approvals/", approvals.approval_inbox, name="approvals"),
    path("approvals/<int:pk>/", approvals.approval_decide, name="approval-decide"),
    path("cab/", approvals.cab_list, name="cab-list"),
    path("cab/new/", approvals.cab_create, name="cab-create"),
    path("cab/<str:ref>/", approvals.cab_detail, name="cab-detail"),
    path("cab/<str:ref>/items/<int:pk>/", approvals.cab_decide, name="cab-decide"),
    path("cab/<str:ref>/minutes.md", approvals.cab_minutes, name="cab-minutes"),
    path("change-calendar/", calendar.change_calendar, name="calendar"),
    path("change-calendar/feed.ics", calendar.calendar_feed, name="calendar-feed"),
    path("freeze-windows/", records.freeze_list, name="freeze-list"),
    path("freeze-windows/new/", records.freeze_create, name="freeze-create"),
    path("freeze-windows/<str:ref>/", records.freeze_detail, name="freeze-detail"),
    path("freeze-windows/<str:ref>/edit/", records.freeze_edit, name="freeze-edit"),
    path("releases/", records.release_list, name="release-list"),
    path("releases/<str:ref>/", records.release_detail, name="release-detail"),
    path("deployments/", records.deployment_list, name="deployment-list"),
    path("deployments/<str:ref>/", records.deployment_detail, name="deployment-detail"),
]
