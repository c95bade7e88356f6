"""The requester portal, mounted at /portal/: own requests and incidents only."""

from django.urls import path
from django.views.generic import RedirectView

from itline.operation import portal_views as views

app_name = "portal"

urlpatterns = [
    # The portal's home is the site's home page for portal users.
    path("", RedirectView.as_view(pattern_name="home", permanent=False), name="home"),
    path("requests/", views.request_list, name="request-list"),
    path("requests/new/", views.request_create, name="request-create"),
    path("requests/<str:ref>/", views.request_detail, name="request-detail"),
    path("requests/<str:ref>/reply/", views.request_reply, name="request-reply"),
    path("requests/<str:ref>/files/", views.request_attach, name="request-attach"),
    path("requests/<str:ref>/close/", views.request_close, name="request-close"),
    path("incidents/<str:ref>/", views.incident_detail, name="incident-detail"),
    path("incidents/<str:ref>/reply/", views.incident_reply, name="incident-reply"),
    path("incidents/<str:ref>/files/", views.incident_attach, name="incident-attach"),
    path("files/<int:pk>/", views.attachment_download, name="attachment"),
]
