from django.apps import AppConfig


class RelationsConfig(AppConfig):
    name = "itline.relations"
    label = "relations"
    verbose_name = "Relations"
