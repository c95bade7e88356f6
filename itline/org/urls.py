from django.urls import path

from itline.org import views

app_name = "org"

urlpatterns = [
    path("people/", views.person_list, name="person-list"),
    path("people/new/", views.person_create, name="person-create"),
    path("people/<str:ref>/", views.person_detail, name="person-detail"),
    path("people/<str:ref>/edit/", views.person_edit, name="person-edit"),
    path("people/<str:ref>/login/", views.person_login, name="person-login"),
    path("people/<str:ref>/roles/", views.person_roles, name="person-roles"),
    path("functions/", views.function_list, name="function-list"),
    path("functions/new/", views.function_create, name="function-create"),
    path("functions/<str:ref>/", views.function_detail, name="function-detail"),
    path("functions/<str:ref>/edit/", views.function_edit, name="function-edit"),
    path("functions/<str:ref>/members/", views.function_add_member, name="function-add-member"),
    path(
        "functions/<str:ref>/members/<str:person_ref>/remove/",
        views.function_remove_member,
        name="function-remove-member",
    ),
    path("business-units/", views.businessunit_list, name="businessunit-list"),
    path("business-units/new/", views.businessunit_create, name="businessunit-create"),
    path("business-units/<str:ref>/", views.businessunit_detail, name="businessunit-detail"),
    path("business-units/<str:ref>/edit/", views.businessunit_edit, name="businessunit-edit"),
    path("customers/", views.customer_list, name="customer-list"),
    path("customers/new/", views.customer_create, name="customer-create"),
    path("customers/<str:ref>/", views.customer_detail, name="customer-detail"),
    path("customers/<str:ref>/edit/", views.customer_edit, name="customer-edit"),
    path(
        "customers/<str:ref>/purchasers/",
        views.customer_add_purchaser,
        name="customer-add-purchaser",
    ),
    path(
        "customers/<str:ref>/purchasers/<str:person_ref>/remove/",
        views.customer_remove_purchaser,
        name="customer-remove-purchaser",
    ),
]
