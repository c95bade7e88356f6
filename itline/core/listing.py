"""Server-side list pages: free-text search, filter chips, sortable columns, result count and
keyset pagination, all held in the URL so reload, back and shared links give the same page.
With HTMX only the list region is re-rendered."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from itline.core.errors import DomainError
from itline.core.pagination import keyset_page


@dataclass(frozen=True)
class Filter:
    """One filter chip group: a GET parameter, its label, choices and the lookup it applies."""

    param: str
    label: str
    choices: Sequence[tuple[str, str]] | Callable[[], Sequence[tuple[str, str]]]
    lookup: str | Callable[[str], Q]

    def options(self) -> Sequence[tuple[str, str]]:
        return self.choices() if callable(self.choices) else self.choices

    def q(self, value: str) -> Q:
        return self.lookup(value) if callable(self.lookup) else Q(**{self.lookup: value})


@dataclass(frozen=True)
class Column:
    label: str
    sort: str | None = None  # model field to sort by, when sortable


@dataclass
class ListSpec:
    title: str
    template: str  # extends core/list_page.html and fills the "rows" block
    search_fields: tuple[str, ...]
    columns: tuple[Column, ...]
    default_sort: str
    filters: tuple[Filter, ...] = ()
    page_size: int = 50
    create_url: str | None = None
    create_label: str = "New"
    empty_text: str = "Nothing here yet."
    extra: dict[str, Any] = field(default_factory=dict)
    # Count at most this many rows (shown as "1,000+"): a COUNT over every open record of a
    # large installation costs more than the page itself. None: exact counts.
    count_cap: int | None = None


def capped_count(qs: QuerySet[Any], cap: int | None) -> tuple[int, bool]:
    """``(count, capped)``: the number of rows, counting at most ``cap`` (a LIMIT in a
    subquery, so the database stops early)."""
    if cap is None:
        return qs.count(), False
    n = qs.order_by()[: cap + 1].count()
    return (cap, True) if n > cap else (n, False)


def _url(params: Mapping[str, str | None]) -> str:
    clean = {k: v for k, v in params.items() if v}
    return "?" + urlencode(clean) if clean else "?"


def render_list(request: HttpRequest, spec: ListSpec, queryset: QuerySet[Model]) -> HttpResponse:
    params: dict[str, str] = {k: str(v) for k, v in request.GET.items() if k != "cursor"}
    q = request.GET.get("q", "").strip()
    sort = request.GET.get("sort", spec.default_sort)
    sortable = tuple(c.sort for c in spec.columns if c.sort)
    errors: list[str] = []

    qs = queryset
    if q:
        cond = Q()
        for name in spec.search_fields:
            cond |= Q(**{f"{name}__icontains": q})
        qs = qs.filter(cond)
    chips = []
    for flt in spec.filters:
        value = request.GET.get(flt.param, "")
        options = list(flt.options())
        valid = {v for v, _ in options}
        if value and value not in valid:
            errors.append(f"Unknown {flt.label.lower()} {value!r}; the filter was ignored.")
            value = ""
        if value:
            qs = qs.filter(flt.q(value))
        chips.append(
            {
                "param": flt.param,
                "label": flt.label,
                "value": value,
                "options": [
                    {
                        "value": v,
                        "label": lbl,
                        "active": v == value,
                        "url": _url({**params, flt.param: "" if v == value else v}),
                    }
                    for v, lbl in options
                ],
                "clear_url": _url({**params, flt.param: ""}),
            }
        )
    if sort.lstrip("-") not in sortable:
        errors.append(f"Cannot sort by {sort!r}; sorted by {spec.default_sort} instead.")
        sort = spec.default_sort
    try:
        page = keyset_page(
            qs, sort=sort, allowed=sortable, cursor=request.GET.get("cursor"), limit=spec.page_size
        )
    except DomainError as exc:
        errors.append(exc.message)
        page = keyset_page(qs, sort=sort, allowed=sortable, limit=spec.page_size)
    columns = []
    for col in spec.columns:
        entry: dict[str, Any] = {"label": col.label, "sortable": bool(col.sort)}
        if col.sort:
            active = sort.lstrip("-") == col.sort
            descending = sort.startswith("-")
            entry["active"] = active
            entry["direction"] = ("descending" if descending else "ascending") if active else "none"
            entry["url"] = _url(
                {**params, "sort": f"-{col.sort}" if active and not descending else col.sort}
            )
        columns.append(entry)
    filtered = bool(q) or any(c["value"] for c in chips)
    count, count_capped = capped_count(qs, spec.count_cap)
    context = {
        "spec": spec,
        "rows": page.items,
        "count": count,
        "count_capped": count_capped,
        "q": q,
        "sort": sort,
        "chips": chips,
        "columns": columns,
        "filtered": filtered,
        "errors": errors,
        "next_url": _url({**params, "cursor": page.next_cursor}) if page.next_cursor else None,
        "first_url": _url(params) if request.GET.get("cursor") else None,
        "clear_url": _url({"sort": sort if sort != spec.default_sort else ""}),
        **spec.extra,
    }
    # HTMX requests get the same page and swap in only #list-region (hx-select), so a
    # reload or a shared URL renders exactly what the user saw.
    return render(request, spec.template, context)
