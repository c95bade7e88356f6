"""The readiness checklist Transition requires before approval: can staff and systems run
the changed line afterwards, and does the change fit the architecture. Items are
configurable per template (``ChangeTemplate.readiness_items``) and per type (settings
``CHANGE_READINESS_ITEMS``: ``{"normal": [...], "emergency": [...], "standard": [...]}``)."""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings

# (key, text): the key is stable so the API and the UI can tick an item by it.
DEFAULT_ITEMS: tuple[tuple[str, str], ...] = (
    ("monitoring", "Monitoring is in place for what the change adds or alters"),
    ("documentation", "Documentation and runbook are updated"),
    ("support_trained", "The support function is trained"),
    ("service_desk_informed", "The service desk is informed"),
    ("architecture", "The change fits the architecture"),
)
# Emergencies are fixed first; the checklist is completed before the ECAB decides.
DEFAULTS_BY_TYPE: dict[str, tuple[tuple[str, str], ...]] = {
    "normal": DEFAULT_ITEMS,
    "emergency": (
        ("monitoring", "Monitoring is in place for what the change adds or alters"),
        ("service_desk_informed", "The service desk is informed"),
    ),
    # A standard change's template was checked once, when it entered the catalogue.
    "standard": (),
}


def slug(text: str) -> str:
    """A stable key for a free-text item: lower case words joined by underscores."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40] or "item"


def item(key: str, text: str) -> dict[str, Any]:
    return {"key": key, "text": text, "done": False, "by": "", "at": ""}


def default_items(change_type: str, template: Any = None) -> list[dict[str, Any]]:
    """The checklist a new change starts with: the template's items when it names any,
    else those configured for the type, else the built-in defaults for the type."""
    if template is not None and template.readiness_items:
        texts: list[Any] = list(template.readiness_items)
        return _unique([item(slug(str(t)), str(t)) for t in texts])
    configured = getattr(settings, "CHANGE_READINESS_ITEMS", None) or {}
    if change_type in configured:
        return _unique([item(slug(str(t)), str(t)) for t in configured[change_type]])
    return [item(k, t) for k, t in DEFAULTS_BY_TYPE.get(change_type, DEFAULT_ITEMS)]


def _unique(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, int] = {}
    for entry in items:
        base = entry["key"]
        if base in seen:
            seen[base] += 1
            entry["key"] = f"{base}_{seen[base]}"
        else:
            seen[base] = 1
    return items


def open_items(readiness: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i for i in readiness if not i.get("done")]
