from django.urls import path

from itline.relations import views

app_name = "relations"

urlpatterns = [
    path("", views.agreement_list, name="agreement-list"),
    path("new/", views.agreement_create, name="agreement-create"),
    path("<str:ref>/", views.agreement_detail, name="agreement-detail"),
    path("<str:ref>/edit/", views.agreement_edit, name="agreement-edit"),
]
