"""Pages of outbound webhooks (Administration → Webhooks), mounted under ``/webhooks/``."""

from django.urls import path

from itline.core import webhook_views as views

app_name = "webhooks"

urlpatterns = [
    path("", views.webhook_list, name="list"),
    path("new/", views.webhook_create, name="create"),
    path("<str:ref>/", views.webhook_detail, name="detail"),
    path("<str:ref>/edit/", views.webhook_edit, name="edit"),
    path("<str:ref>/test/", views.webhook_test, name="test"),
    path("<str:ref>/rotate-secret/", views.webhook_rotate_secret, name="rotate-secret"),
    path("<str:ref>/delete/", views.webhook_delete, name="delete"),
    path("<str:ref>/deliveries/<int:delivery_id>/", views.delivery_detail, name="delivery"),
    path(
        "<str:ref>/deliveries/<int:delivery_id>/redeliver/",
        views.webhook_redeliver,
        name="redeliver",
    ),
]
