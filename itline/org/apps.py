from django.apps import AppConfig
from django.db.models.signals import post_migrate


class OrgConfig(AppConfig):
    name = "itline.org"
    label = "org"
    verbose_name = "Organisation"

    def ready(self) -> None:
        from itline.org.roles import sync_roles

        # Keeps role groups in step with the ROLES table; infrastructure, not business logic.
        post_migrate.connect(sync_roles, dispatch_uid="itline.org.sync_roles")
