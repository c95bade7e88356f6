"""Pages of problem management: problems, known errors, recurrence proposals, suggestions."""

from django.urls import path

from itline.operation import problem_views as views

app_name = "problems"

urlpatterns = [
    path("problems/", views.problem_list, name="problem-list"),
    path("problems/new/", views.problem_create, name="problem-create"),
    path(
        "problems/from-incident/<str:ref>/",
        views.raise_from_incident,
        name="raise-from-incident",
    ),
    path("problems/<str:ref>/", views.problem_detail, name="problem-detail"),
    path("problems/<str:ref>/edit/", views.problem_edit, name="problem-edit"),
    path("problems/<str:ref>/transition/", views.problem_transition, name="problem-transition"),
    path("problems/<str:ref>/incidents/", views.problem_link_incident, name="problem-link"),
    path(
        "problems/<str:ref>/known-error/",
        views.problem_record_known_error,
        name="problem-record-known-error",
    ),
    path("known-errors/", views.known_error_list, name="known-error-list"),
    path("known-errors/new/", views.known_error_create, name="known-error-create"),
    path("known-errors/<str:ref>/", views.known_error_detail, name="known-error-detail"),
    path("known-errors/<str:ref>/edit/", views.known_error_edit, name="known-error-edit"),
    path("known-errors/<str:ref>/active/", views.known_error_active, name="known-error-active"),
    path("known-errors/<str:ref>/apply/", views.known_error_apply, name="known-error-apply"),
    path("known-error-suggestions/", views.suggestion_fragment, name="suggestions"),
    path("recurrence-proposals/", views.proposal_list, name="proposal-list"),
    path("recurrence-proposals/scan/", views.proposal_scan, name="proposal-scan"),
    path("recurrence-proposals/<int:pk>/", views.proposal_detail, name="proposal-detail"),
    path("recurrence-proposals/<int:pk>/accept/", views.proposal_accept, name="proposal-accept"),
    path("recurrence-proposals/<int:pk>/dismiss/", views.proposal_dismiss, name="proposal-dismiss"),
]
