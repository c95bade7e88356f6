"""Structure as code through the API: the same export and import as ``itline export`` and
``itline import`` (see :mod:`itline.cmdb.exchange` for the format).

* ``GET /structure/export?format=json`` returns one document, ``{"component_types": [...],
  "relation_types": [...], "services": [...], "components": [...], "relations": {...}}``;
  ``format=yaml`` returns the same document as YAML text (``application/yaml``), byte for byte
  what ``itline export`` prints. ``layout=files`` returns ``{"services.<format>": "<text>", ...}``
  instead (``services.json`` by default, ``services.yaml`` with ``format=yaml``): the
  directory layout, for tools that commit the files to git.
* ``POST /structure/import`` takes either of those as the body: a JSON document
  (``Content-Type: application/json``), a YAML document (``application/yaml``), or the
  ``{file name: text}`` object of ``layout=files``. ``dry_run=true`` only reports what would
  change; ``prune=true`` deletes what the sections present do not list. The answer is the
  change summary with a diff per record (the first ``limit`` changes), or 422 with every
  error, each ``{"field": "<file>:<line>", "message": ...}``; nothing is changed on an error.
* ``POST /structure/import-csv`` takes a CSV upload (multipart field ``file``) and the column
  mapping as form fields (``map``, ``status_map``, ``type_map``, ``default``: repeatable
  ``KEY=VALUE``), as ``itline import --csv`` does.

Import needs cmdb.add_component, cmdb.add_service and cmdb.add_relation (and the rights for
each change it makes); export needs cmdb.view_component. Inputs above
``ITLINE_IMPORT_MAX_BYTES`` get a 413."""

from __future__ import annotations

from typing import Any, Literal

import orjson
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from ninja import Field, File, Form, Query, Router, Schema, UploadedFile

from itline.cmdb.exchange import (
    FILES,
    ExchangeError,
    Report,
    dump_document,
    dump_files,
    export_structure,
    import_structure,
)
from itline.cmdb.exchange_csv import CsvMapping, import_components_csv
from itline.cmdb.exchange_io import Source, human_size, max_bytes
from itline.core.api import ERRORS, ErrorOut, api, error_body

router = Router(tags=["Structure as code"])

IMPORT_PERMISSIONS = ("cmdb.add_component", "cmdb.add_service", "cmdb.add_relation")
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")
SIZE_HINT = "an administrator can raise ITLINE_IMPORT_MAX_BYTES"


def _require_all(user: Any, perms: tuple[str, ...]) -> None:
    missing = [p for p in perms if not user.has_perm(p)]
    if missing:
        raise PermissionDenied(f"You are not allowed to do this ({', '.join(missing)}).")


class ChangeOut(Schema):
    action: Literal["create", "update", "delete"]
    section: str
    key: str = Field(
        ..., description="natural key: a slug, service/<name>, <type>/<name>, or an edge"
    )
    fields: dict[str, list[Any]] = Field(..., description="field -> [before, after]")


class ImportOut(Schema):
    dry_run: bool
    summary: dict[str, int] = Field(..., description="create, update and delete counts")
    sections: dict[str, dict[str, int]]
    changes: list[ChangeOut]
    truncated: bool = Field(..., description="more changes than `limit` were made")


class CsvMappingIn(Schema):
    map: list[str] = Field(
        ..., description="FIELD=COLUMN, e.g. name=Name, type=Role, attr.serial=Serial"
    )
    status_map: list[str] = Field([], description="VALUE=STATUS, e.g. active=in_use")
    type_map: list[str] = Field([], description="VALUE=TYPE, e.g. Core Switch=network-device")
    default: list[str] = Field([], description="FIELD=VALUE when unmapped or empty")
    encoding: str = "utf-8"
    delimiter: str | None = None


def _too_big(request: HttpRequest, size: int | None, limit: int) -> HttpResponse:
    what = f"{human_size(size)}, more" if size is not None else "more"
    message = f"The upload is {what} than the import limit of {human_size(limit)}; {SIZE_HINT}."
    return api.create_response(
        request, error_body(message, [{"field": "body", "message": message}]), status=413
    )


def _invalid(request: HttpRequest, exc: ExchangeError) -> HttpResponse:
    n = len(exc.problems)
    errors = [{"field": p.where, "message": p.message} for p in exc.problems]
    detail = f"The import has {n} error{'s' if n != 1 else ''}; nothing was changed."
    return api.create_response(request, error_body(detail, errors), status=422)


def _answer(report: Report, limit: int) -> dict[str, Any]:
    return report.as_dict(limit=limit)


@router.get(
    "/structure/export",
    response={200: dict[str, Any], **ERRORS},
    summary="Export the service structure",
    openapi_extra={
        "responses": {
            200: {
                "description": "The structure: a JSON document, YAML text, or {file: text}",
                "content": {
                    "application/json": {"schema": {"type": "object"}},
                    "application/yaml": {"schema": {"type": "string"}},
                },
            }
        }
    },
)
def export(
    request: HttpRequest,
    format: Literal["json", "yaml"] = "json",
    layout: Literal["document", "files"] = "document",
) -> Any:
    _require_all(request.user, ("cmdb.view_component",))
    try:
        structure = export_structure()
    except ExchangeError as exc:
        return _invalid(request, exc)
    if layout == "files":
        return dump_files(structure, format)
    if format == "yaml":
        return HttpResponse(
            dump_document(structure, "yaml"), content_type="application/yaml; charset=utf-8"
        )
    return structure


def _sources(request: HttpRequest, body: bytes) -> list[Source]:
    content_type = (request.content_type or "").lower()
    if content_type in YAML_TYPES:
        return [Source("structure.yaml", body)]
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None  # the import reports it with its line
    stems = set(FILES.values())
    if (
        isinstance(data, dict)
        and data
        and all(
            isinstance(k, str) and k.rsplit(".", 1)[0] in stems and isinstance(v, str)
            for k, v in data.items()
        )
    ):
        return [Source(name, text.encode()) for name, text in data.items()]
    return [Source("structure.json", body)]


@router.post(
    "/structure/import",
    response={200: ImportOut, 413: ErrorOut, **ERRORS},
    summary="Import the service structure",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "description": "the export document, or {file name: text}",
                    }
                },
                "application/yaml": {
                    "schema": {"type": "string", "description": "the export document as YAML"}
                },
            },
        }
    },
)
def import_(
    request: HttpRequest,
    dry_run: bool = False,
    prune: bool = False,
    limit: int = Query(1000, ge=0, le=1_000_000, description="changes listed in the answer"),
) -> Any:
    _require_all(request.user, IMPORT_PERMISSIONS)
    cap = max_bytes()
    declared = request.META.get("CONTENT_LENGTH")
    if declared and declared.isdigit() and int(declared) > cap:
        return _too_big(request, int(declared), cap)
    # Read the stream, not request.body: that refuses anything above
    # DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), far below a real structure.
    body = request.read(cap + 1)
    if len(body) > cap:
        return _too_big(request, None, cap)
    try:
        report = import_structure(
            _sources(request, body), by=request.user, dry_run=dry_run, prune=prune
        )
    except ExchangeError as exc:
        return _invalid(request, exc)
    return _answer(report, limit)


@router.post(
    "/structure/import-csv",
    response={200: ImportOut, 413: ErrorOut, **ERRORS},
    summary="Import components from a CSV file with a column mapping",
)
def import_csv(
    request: HttpRequest,
    file: File[UploadedFile],
    mapping: Form[CsvMappingIn],
    dry_run: bool = False,
    limit: int = Query(1000, ge=0, le=1_000_000, description="changes listed in the answer"),
) -> Any:
    _require_all(request.user, ("cmdb.add_component", "cmdb.change_component"))
    cap = max_bytes()
    if file.size is not None and file.size > cap:
        return _too_big(request, file.size, cap)
    try:
        parsed = CsvMapping.parse(
            fields=mapping.map,
            statuses=mapping.status_map,
            types=mapping.type_map,
            defaults=mapping.default,
            encoding=mapping.encoding,
            delimiter=mapping.delimiter or None,
            prefix="",
        )
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        return api.create_response(
            request,
            error_body(
                "The mapping is not valid.",
                [{"field": field.replace("-", "_"), "message": message}],
            ),
            status=422,
        )
    source = Source(file.name or "upload.csv", file.read())
    try:
        report = import_components_csv(source, parsed, by=request.user, dry_run=dry_run)
    except ExchangeError as exc:
        return _invalid(request, exc)
    return _answer(report, limit)
