from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CmdbConfig(AppConfig):
    name = "itline.cmdb"
    label = "cmdb"
    verbose_name = "Service structure"

    def ready(self) -> None:
        from itline.cmdb.defaults import ensure_default_types

        # Infrastructure like sync_roles: runs after migrate and after a test flush.
        post_migrate.connect(ensure_default_types, sender=self, dispatch_uid="itline.cmdb.defaults")
