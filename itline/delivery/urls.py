from django.urls import path

from itline.delivery import views

app_name = "delivery"

urlpatterns = [
    path("", views.improvement_list, name="improvement-list"),
    path("new/", views.improvement_create, name="improvement-create"),
    path("<str:ref>/", views.improvement_detail, name="improvement-detail"),
    path("<str:ref>/edit/", views.improvement_edit, name="improvement-edit"),
]
