from django.apps import AppConfig
from django.db.models.signals import post_migrate


class OperationConfig(AppConfig):
    name = "itline.operation"
    label = "operation"
    verbose_name = "Operation"

    def ready(self) -> None:
        from itline.operation.defaults import ensure_priority_matrix

        # Infrastructure like sync_roles: runs after migrate and after a test flush.
        post_migrate.connect(
            ensure_priority_matrix, sender=self, dispatch_uid="itline.operation.defaults"
        )
