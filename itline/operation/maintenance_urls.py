"""Agent pages of preventive maintenance: windows, plans, work orders, the calendar and its
iCalendar feeds."""

from django.urls import path  # noqa: F401

app_name = "maintenance"

urlpatterns: list = []
