from django.apps import AppConfig


class CmdbConfig(AppConfig):
    name = "itline.cmdb"
    label = "cmdb"
    verbose_name = "Service structure"
