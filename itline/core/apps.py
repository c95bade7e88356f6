from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "itline.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from itline.core import checks  # noqa: F401  (registers the system checks)
