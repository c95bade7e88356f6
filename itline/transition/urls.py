"""Agent pages of Transition: changes, the standard change catalogue, approvals, CAB,
the change calendar, freeze windows, releases and deployments."""

from django.urls import path  # noqa: F401

app_name = "transition"

urlpatterns: list = []
