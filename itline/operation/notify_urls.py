"""Notification settings of the signed-in person (mounted at the site root)."""

from django.urls import path

from itline.operation import notify_views as views

app_name = "notify"

urlpatterns = [
    path("profile/notifications/", views.preferences, name="preferences"),
]
