"""Filters shared by the structure pages and the API."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Q


def attribute_q(value: str) -> Q:
    """``key:value`` -> components whose attribute ``key`` equals ``value`` (as text, or as the
    number or boolean it spells)."""
    key, sep, expected = value.partition(":")
    if not sep or not key or not key.replace("_", "").replace("-", "").isalnum():
        raise ValidationError("The attribute filter must look like key:value, e.g. os:linux.")
    cond = Q(**{f"attributes__{key}": expected})
    for parse in (int, float):
        try:
            cond |= Q(**{f"attributes__{key}": parse(expected)})
            break
        except ValueError:
            continue
    if expected in ("true", "false"):
        cond |= Q(**{f"attributes__{key}": expected == "true"})
    return cond
