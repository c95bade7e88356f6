"""What the global search finds among problems and known errors, for a given user (listed in
``settings.SEARCH_MODULES``)."""

from typing import Any

from itline.operation.problems_api import known_errors_for, problems_for


def sources(user: Any) -> list[tuple[str, Any, tuple[str, ...], str]]:
    return [
        ("Problem", problems_for(user), ("title", "reference"), "problems:problem-detail"),
        (
            "Known error",
            known_errors_for(user),
            ("title", "reference", "symptoms"),
            "problems:known-error-detail",
        ),
    ]
