from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class TransitionConfig(AppConfig):
    name = "itline.transition"
    label = "transition"
    verbose_name = "Transition"

    def ready(self) -> None:
        # Infrastructure like sync_roles: runs after migrate and after a test flush.
        post_migrate.connect(
            ensure_approval_policies, sender=self, dispatch_uid="itline.transition.policies"
        )


# (path, rule, quorum): change managers (any one) for low/medium risk, the CAB function
# (two members agree) for high risk, the change managers (any one) as emergency CAB. With
# no function or people named, approvals.approvers_for picks the defaults of the path.
DEFAULT_POLICIES = (
    ("change_manager", "any", 1),
    ("cab", "quorum", 2),
    ("ecab", "any", 1),
)


def ensure_approval_policies(**kwargs: Any) -> None:
    """One approval policy per path, created once; edits (API, admin) are never overwritten."""
    from itline.transition.models import ApprovalPolicy

    using = kwargs.get("using", "default")
    for path, rule, quorum in DEFAULT_POLICIES:
        ApprovalPolicy.objects.using(using).get_or_create(
            path=path, defaults={"rule": rule, "quorum": quorum}
        )
