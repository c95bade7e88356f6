"""What the global search finds in the organisation, for a given user."""

from typing import Any

from itline.org.services import customers_for, functions_for, people_for, units_for


def sources(user: Any) -> list[tuple[str, Any, tuple[str, ...], str]]:
    return [
        (
            "Person",
            people_for(user),
            ("name", "email", "reference", "job_title"),
            "org:person-detail",
        ),
        ("Function", functions_for(user), ("name", "reference"), "org:function-detail"),
        (
            "Business unit",
            units_for(user),
            ("name", "code", "reference"),
            "org:businessunit-detail",
        ),
        (
            "Customer",
            customers_for(user),
            ("business_unit__name", "reference"),
            "org:customer-detail",
        ),
    ]
