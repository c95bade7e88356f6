from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _api_shape(schema_name: str, module: str = "itline.operation.api") -> Any:
    """Webhook payloads of a record are its API representation; the schema is looked up on
    first use so app loading does not import the API."""

    def build(obj: Any) -> dict[str, Any]:
        from importlib import import_module

        schema = getattr(import_module(module), schema_name)
        return dict(schema.from_orm(obj).model_dump(mode="json"))

    return build


class OperationConfig(AppConfig):
    name = "itline.operation"
    label = "operation"
    verbose_name = "Operation"

    def ready(self) -> None:
        from itline.core.webhooks import register_payload
        from itline.operation.correlation import ensure_default_rules
        from itline.operation.defaults import ensure_priority_matrix

        # Infrastructure like sync_roles: runs after migrate and after a test flush.
        post_migrate.connect(
            ensure_priority_matrix, sender=self, dispatch_uid="itline.operation.defaults"
        )
        post_migrate.connect(
            ensure_default_rules, sender=self, dispatch_uid="itline.operation.correlation.rules"
        )
        from django.db.models.signals import post_delete, post_save

        from itline.operation.sla import forget_shared_terms

        # Cache invalidation only (no business logic): the SLA badge caches calendars.
        for model in ("relations.Agreement", "relations.AgreementTarget", "core.BusinessCalendar"):
            post_save.connect(
                forget_shared_terms, sender=model, dispatch_uid=f"sla-badge-{model}-save"
            )
            post_delete.connect(
                forget_shared_terms, sender=model, dispatch_uid=f"sla-badge-{model}-del"
            )
        register_payload("operation.incident", _api_shape("IncidentOut"))
        register_payload("operation.servicerequest", _api_shape("RequestOut"))
        problems = "itline.operation.problems_api"
        register_payload("operation.problem", _api_shape("ProblemOut", problems))
        register_payload("operation.knownerror", _api_shape("KnownErrorOut", problems))
        register_payload(
            "operation.alertgroup", _api_shape("GroupOut", "itline.operation.correlation_api")
        )
