"""Registers the standard API endpoints of a record type on a router: list (filtered, searched,
sorted, cursor-paginated), read, create, partial update and journal. Records are addressed by
their reference (``FUN-000003``). Each app supplies its schemas and its verbs, so the rules
stay in ``services.py`` and the endpoints stay thin.

No ``from __future__ import annotations`` here: ninja reads the endpoint annotations at
registration time, and they are built from the arguments."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import FilterSchema, Query, Router, Schema, Status

from itline.core import journal
from itline.core.api import ERRORS, page_of
from itline.core.errors import DomainError
from itline.core.pagination import keyset_page


class JournalOut(Schema):
    at: datetime
    actor: str
    verb: str
    changes: dict[str, Any]
    message: str

    @staticmethod
    def resolve_actor(obj: Any) -> str:
        return str(obj.actor_label)


def resolve_ref(
    model: type[models.Model], ref: str | None, field_name: str, *, required: bool = False
) -> Any:
    """The record ``ref`` names, or a validation error on ``field_name``. An empty reference
    means "none" for optional fields and is an error where a record is required."""
    if ref is None or ref == "":
        if required:
            raise ValidationError({field_name: "Give the reference of a record."})
        return None
    obj = model._default_manager.filter(reference=ref).first()  # type: ignore[attr-defined]
    if obj is None:
        label = model._meta.verbose_name
        raise ValidationError({field_name: f"There is no {label} with reference {ref!r}."})
    return obj


@dataclass
class Crud:
    """What the generic endpoints need to know about one record type."""

    path: str
    model: type[models.Model]
    out: type[Schema]
    create_in: type[Schema]
    patch_in: type[Schema]
    filters: type[FilterSchema]
    queryset_for: Callable[[Any], models.QuerySet[Any]]
    create: Callable[..., Any]
    update: Callable[..., Any]
    search_fields: tuple[str, ...] = ("name",)
    sort_fields: tuple[str, ...] = ("name", "reference", "created_at", "updated_at")
    default_sort: str = "name"
    # field name -> model the reference in the payload points to
    refs: dict[str, type[models.Model]] = field(default_factory=dict)
    tag: str = ""

    def to_fields(self, data: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for name, value in data.items():
            if name in self.refs:
                value = resolve_ref(self.refs[name], value, name)
            out[name] = value
        return out

    def register(self, router: Router) -> None:
        crud = self
        label = self.model._meta.verbose_name
        plural = self.model._meta.verbose_name_plural
        tags = [self.tag or str(plural).capitalize()]
        Filters = self.filters

        @router.get(
            f"/{self.path}",
            response={200: page_of(self.out), **ERRORS},
            tags=tags,
            summary=f"List {plural}",
            operation_id=f"list_{self.path.replace('-', '_')}",
        )
        def list_records(
            request: HttpRequest,
            filters: Query[Filters],  # type: ignore[valid-type]
            q: str | None = None,
            sort: str = crud.default_sort,
            cursor: str | None = None,
            limit: int = 50,
        ) -> Any:
            qs = filters.filter(crud.queryset_for(request.user))  # type: ignore[attr-defined]
            if q:
                cond = Q()
                for name in crud.search_fields:
                    cond |= Q(**{f"{name}__icontains": q})
                qs = qs.filter(cond)
            page = keyset_page(qs, sort=sort, allowed=crud.sort_fields, cursor=cursor, limit=limit)
            return {"items": page.items, "next_cursor": page.next_cursor}

        def get_visible(request: HttpRequest, ref: str) -> Any:
            return get_object_or_404(crud.queryset_for(request.user), reference=ref)

        @router.get(
            f"/{self.path}/{{ref}}",
            response={200: self.out, **ERRORS},
            tags=tags,
            summary=f"Read one {label}",
            operation_id=f"get_{self.path.replace('-', '_')}",
        )
        def read_record(request: HttpRequest, ref: str) -> Any:
            return get_visible(request, ref)

        @router.post(
            f"/{self.path}",
            response={201: self.out, **ERRORS},
            tags=tags,
            summary=f"Create a {label}",
            operation_id=f"create_{self.path.replace('-', '_')}",
        )
        def create_record(request: HttpRequest, payload: crud.create_in) -> Any:  # type: ignore[name-defined]
            fields = crud.to_fields(payload.model_dump(exclude_unset=True))
            return Status(201, crud.create(by=request.user, **fields))

        @router.patch(
            f"/{self.path}/{{ref}}",
            response={200: self.out, **ERRORS},
            tags=tags,
            summary=f"Change a {label}",
            operation_id=f"update_{self.path.replace('-', '_')}",
        )
        def update_record(request: HttpRequest, ref: str, payload: crud.patch_in) -> Any:  # type: ignore[name-defined]
            obj = get_visible(request, ref)
            data = payload.model_dump(exclude_unset=True)
            if not data:
                raise DomainError("Send at least one field to change.", field="request")
            return crud.update(obj, by=request.user, **crud.to_fields(data))

        @router.get(
            f"/{self.path}/{{ref}}/journal",
            response={200: list[JournalOut], **ERRORS},
            tags=tags,
            summary=f"History of a {label}",
            operation_id=f"journal_{self.path.replace('-', '_')}",
        )
        def record_journal(request: HttpRequest, ref: str) -> Any:
            return list(journal.entries_for(get_visible(request, ref)))
