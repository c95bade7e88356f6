"""Agent pages of event management: the alert console, alerts, alert groups, unmapped alerts,
event sources and mapping rules."""

from django.urls import path

from itline.operation.views import alerts as views
from itline.operation.views import alerts_config as config

app_name = "alerts"

urlpatterns = [
    path("", views.console, name="console"),
    path("unmapped/", views.unmapped_list, name="unmapped"),
    path("groups/", views.group_list, name="group-list"),
    path("groups/<str:ref>/", views.group_detail, name="group-detail"),
    path("groups/<str:ref>/acknowledge/", views.group_acknowledge, name="group-acknowledge"),
    path("<int:pk>/", views.alert_detail, name="alert-detail"),
    path("<int:pk>/acknowledge/", views.alert_acknowledge, name="alert-acknowledge"),
    path("<int:pk>/silence/", views.alert_silence, name="alert-silence"),
    path("<int:pk>/unsilence/", views.alert_unsilence, name="alert-unsilence"),
    path("sources/", config.source_list, name="source-list"),
    path("sources/new/", config.source_create, name="source-create"),
    path("sources/<int:pk>/", config.source_detail, name="source-detail"),
    path("sources/<int:pk>/edit/", config.source_edit, name="source-edit"),
    path("sources/<int:pk>/rotate/", config.source_rotate, name="source-rotate"),
    path("mapping-rules/", config.rule_list, name="mapping-list"),
    path("mapping-rules/new/", config.rule_create, name="mapping-create"),
    path("mapping-rules/<int:pk>/edit/", config.rule_edit, name="mapping-edit"),
    path("mapping-rules/<int:pk>/delete/", config.rule_delete, name="mapping-delete"),
]
