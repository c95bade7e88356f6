from django.apps import AppConfig


class TransitionConfig(AppConfig):
    name = "itline.transition"
    label = "transition"
    verbose_name = "Transition"
