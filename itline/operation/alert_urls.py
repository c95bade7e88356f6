"""Agent pages of event management: the alert console, alerts, alert groups, unmapped alerts,
event sources and mapping rules."""

from django.urls import path  # noqa: F401

app_name = "alerts"

urlpatterns: list = []
