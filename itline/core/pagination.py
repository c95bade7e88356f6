"""Keyset (cursor) pagination shared by the API and the UI lists.

A page is fetched with ``WHERE (sort, id) > (last_sort, last_id) ORDER BY sort, id LIMIT n``,
so page 10,000 costs the same as page 1. The cursor is opaque to clients: URL-safe base64 of
the sort key and the last row's values."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import models
from django.db.models import Q

from itline.core.errors import DomainError

M = TypeVar("M", bound=models.Model)


@dataclass
class Page[M: models.Model]:
    items: list[M]
    next_cursor: str | None
    sort: str


def _encode(sort: str, values: list[Any]) -> str:
    raw = json.dumps([sort, values], separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[str, list[Any]]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        sort, values = json.loads(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(sort, str) or not isinstance(values, list) or len(values) != 2:
            raise ValueError
        return sort, values
    except (ValueError, binascii.Error, TypeError, UnicodeDecodeError):
        raise DomainError("cursor is not valid; start again without it", field="cursor") from None


def keyset_page[M: models.Model](
    queryset: models.QuerySet[M],
    *,
    sort: str,
    allowed: tuple[str, ...],
    cursor: str | None = None,
    limit: int = 50,
) -> Page[M]:
    """Return one page of ``queryset`` ordered by ``sort`` (``name`` or ``-name``) then id.

    ``allowed`` names the sortable fields; each must be non-null so the keyset comparison
    is total."""
    field = sort.lstrip("-")
    if field not in allowed:
        raise DomainError(
            f"cannot sort by {field!r}; use one of: {', '.join(allowed)}", field="sort"
        )
    if not 1 <= limit <= 500:
        raise DomainError("limit must be between 1 and 500", field="limit")
    descending = sort.startswith("-")
    qs = queryset.order_by(f"-{field}" if descending else field, "-pk" if descending else "pk")
    if cursor:
        cursor_sort, (value, pk) = _decode(cursor)
        if cursor_sort != sort:
            raise DomainError("cursor belongs to another sort order", field="cursor")
        model_field = queryset.model._meta.get_field(field)
        try:
            value = model_field.to_python(value)  # type: ignore[union-attr]
            pk = queryset.model._meta.pk.to_python(pk)  # type: ignore[union-attr]
        except Exception:
            raise DomainError(
                "cursor is not valid; start again without it", field="cursor"
            ) from None
        op = "lt" if descending else "gt"
        qs = qs.filter(Q(**{f"{field}__{op}": value}) | Q(**{field: value, f"pk__{op}": pk}))
    rows = list(qs[: limit + 1])
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = _encode(sort, [getattr(last, field), last.pk])
    return Page(items=rows, next_cursor=next_cursor, sort=sort)
