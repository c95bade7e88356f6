"""Agent pages of the service desk: queues, incidents and service requests."""

from django.urls import path

from itline.operation import sla_views
from itline.operation.views import incidents, queues, requests

app_name = "operation"

urlpatterns = [
    # incidents
    path("incidents/", queues.incident_list, name="incident-list"),
    path("incidents/new/", incidents.incident_create, name="incident-create"),
    path("incidents/new/impact/", incidents.incident_impact_proposal, name="incident-impact"),
    path("incidents/bulk-assign/", queues.incident_bulk_assign, name="incident-bulk-assign"),
    path("incidents/<str:ref>/", incidents.incident_detail, name="incident-detail"),
    path("incidents/<str:ref>/edit/", incidents.incident_edit, name="incident-edit"),
    path("incidents/<str:ref>/sla/", sla_views.incident_sla, name="incident-sla"),
    path("incidents/<str:ref>/badge/", incidents.incident_badge, name="incident-badge"),
    path("incidents/<str:ref>/assign/", incidents.incident_assign, name="incident-assign"),
    path("incidents/<str:ref>/assign-me/", incidents.incident_assign_me, name="incident-assign-me"),
    path("incidents/<str:ref>/status/", incidents.incident_status, name="incident-status"),
    path("incidents/<str:ref>/hold/", incidents.incident_hold, name="incident-hold"),
    path("incidents/<str:ref>/resolve/", incidents.incident_resolve, name="incident-resolve"),
    path("incidents/<str:ref>/close/", incidents.incident_close, name="incident-close"),
    path("incidents/<str:ref>/reopen/", incidents.incident_reopen, name="incident-reopen"),
    path("incidents/<str:ref>/merge/", incidents.incident_merge, name="incident-merge"),
    path("incidents/<str:ref>/major/", incidents.incident_major, name="incident-major"),
    path(
        "incidents/<str:ref>/major-update/",
        incidents.incident_major_update,
        name="incident-major-update",
    ),
    path("incidents/<str:ref>/priority/", incidents.incident_priority, name="incident-priority"),
    path(
        "incidents/<str:ref>/known-error/",
        incidents.incident_known_error,
        name="incident-known-error",
    ),
    path(
        "incidents/<str:ref>/raise-problem/",
        incidents.incident_raise_problem,
        name="incident-raise-problem",
    ),
    path("incidents/<str:ref>/messages/", incidents.incident_message, name="incident-message"),
    # service requests
    path("requests/", queues.request_list, name="request-list"),
    path("requests/new/", requests.request_create, name="request-create"),
    path("requests/bulk-assign/", queues.request_bulk_assign, name="request-bulk-assign"),
    path("requests/<str:ref>/", requests.request_detail, name="request-detail"),
    path("requests/<str:ref>/edit/", requests.request_edit, name="request-edit"),
    path("requests/<str:ref>/assign/", requests.request_assign, name="request-assign"),
    path("requests/<str:ref>/assign-me/", requests.request_assign_me, name="request-assign-me"),
    path("requests/<str:ref>/answer/", requests.request_answer, name="request-answer"),
    path("requests/<str:ref>/convert/", requests.request_convert, name="request-convert"),
    path("requests/<str:ref>/link/", requests.request_link, name="request-link"),
    path(
        "requests/<str:ref>/improvement/",
        requests.request_improvement,
        name="request-improvement",
    ),
    path("requests/<str:ref>/status/", requests.request_status, name="request-status"),
    path("requests/<str:ref>/close/", requests.request_close, name="request-close"),
    path("requests/<str:ref>/reopen/", requests.request_reopen, name="request-reopen"),
    path("requests/<str:ref>/messages/", requests.request_message, name="request-message"),
    # shared
    path("desk/files/<int:pk>/", incidents.attachment_download, name="attachment"),
    path("desk/lookup/<slug:kind>/", queues.lookup, name="lookup"),
    path("desk/views/<slug:list_name>/save/", queues.saved_view_save, name="saved-view-save"),
    path(
        "desk/views/<slug:list_name>/<int:view_id>/delete/",
        queues.saved_view_delete,
        name="saved-view-delete",
    ),
]
