from django.urls import path  # noqa: F401  (patterns are added by the structure pages)

app_name = "cmdb"

urlpatterns: list = []
