from django.urls import path

from itline.cmdb import views

app_name = "cmdb"

urlpatterns = [
    path("services/", views.service_list, name="service-list"),
    path("services/new/", views.service_create, name="service-create"),
    path("services/<str:ref>/", views.service_detail, name="service-detail"),
    path("services/<str:ref>/edit/", views.service_edit, name="service-edit"),
    path("components/", views.component_list, name="component-list"),
    path("components/new/", views.component_create, name="component-create"),
    path("components/<str:ref>/", views.component_detail, name="component-detail"),
    path("components/<str:ref>/edit/", views.component_edit, name="component-edit"),
    path("nodes/<str:ref>/relations/", views.relation_add, name="relation-add"),
    path("relations/<int:relation_id>/remove/", views.relation_remove, name="relation-remove"),
    path("graph/", views.graph, name="graph"),
    path("graph/data/", views.graph_json, name="graph-data"),
    path("impact/", views.impact_view, name="impact"),
]
