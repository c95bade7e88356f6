"""What the global search finds among changes, releases and deployments (listed in
``settings.SEARCH_MODULES``). Agents who may read Transition find them all; others none."""

from typing import Any

from itline.org.roles import is_agent
from itline.transition.models import Change, Deployment, Release


def sources(user: Any) -> list[tuple[str, Any, tuple[str, ...], str]]:
    if not is_agent(user) or not user.has_perm("transition.view_change"):
        return []
    out: list[tuple[str, Any, tuple[str, ...], str]] = [
        (
            "Change",
            Change.objects.order_by("-created_at"),
            ("title", "reference"),
            "transition:change-detail",
        ),
    ]
    if user.has_perm("transition.view_release"):
        out.append(
            (
                "Release",
                Release.objects.order_by("-created_at"),
                ("name", "version", "reference"),
                "transition:release-detail",
            )
        )
    if user.has_perm("transition.view_deployment"):
        out.append(
            (
                "Deployment",
                Deployment.objects.order_by("-started_at"),
                ("reference", "version"),
                "transition:deployment-detail",
            )
        )
    return out
