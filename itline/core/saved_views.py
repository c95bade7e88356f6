"""Saved views: a user's named filter sets on a list page (queue tabs, chips, free text and
sort held as the list's query string), shown as chips above the list. Framework only: any
list page may offer them by naming itself."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

# Parameters that describe a position in a list, not a filter: never saved.
UNSAVED_PARAMS = frozenset({"cursor", "csrfmiddlewaretoken", "name", "next"})


def clean_query(query: str) -> str:
    """The query string with paging and form bookkeeping removed, in a stable order."""
    pairs = [
        (k, v)
        for k, v in parse_qsl(query.lstrip("?"), keep_blank_values=False)
        if k not in UNSAVED_PARAMS and v
    ]
    return urlencode(sorted(pairs))


class SavedView(models.Model):
    """A named filter set one user keeps for one list (``list_name``, e.g. ``incidents``):
    the list's query string without its page position. Saving under an existing name
    replaces that view."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    list_name = models.CharField(max_length=60)
    name = models.CharField(max_length=60)
    query = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "list_name", "name"], name="saved_view_unique_name"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.list_name})"

    def clean(self) -> None:
        self.name = (self.name or "").strip()
        if not self.name:
            raise ValidationError({"name": "Give the view a name."})
        self.query = clean_query(self.query or "")

    @property
    def url_query(self) -> str:
        return "?" + self.query if self.query else "?"

    @classmethod
    def save_for(cls, *, user: Any, list_name: str, name: str, query: str) -> SavedView:
        """Create or replace the user's view ``name`` on ``list_name``."""
        view = cls(user=user, list_name=list_name, name=name, query=query)
        view.full_clean(exclude=["user"], validate_unique=False, validate_constraints=False)
        obj, _ = cls.objects.update_or_create(
            user=user, list_name=list_name, name=view.name, defaults={"query": view.query}
        )
        return obj
