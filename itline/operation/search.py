"""What the global search finds among incidents and service requests, for a given user
(listed in ``settings.SEARCH_MODULES``). Requesters find their own records only."""

from typing import Any

from itline.operation.api import incidents_for, requests_for


def sources(user: Any) -> list[tuple[str, Any, tuple[str, ...], str]]:
    return [
        ("Incident", incidents_for(user), ("title", "reference"), "operation:incident-detail"),
        ("Service request", requests_for(user), ("title", "reference"), "operation:request-detail"),
    ]
