"""What the global search finds in the service structure, for a given user."""

from typing import Any

from itline.cmdb.api import components_for, services_for


def sources(user: Any) -> list[tuple[str, Any, tuple[str, ...], str]]:
    return [
        ("Service", services_for(user), ("name", "reference"), "cmdb:service-detail"),
        (
            "Component",
            components_for(user),
            ("name", "reference", "location"),
            "cmdb:component-detail",
        ),
    ]
