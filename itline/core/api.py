"""The one API instance (``/api/v1/``): authentication, the common error body, and helpers for
cursor-paginated lists. Apps add routers in ``itline/urls.py``.

Every 4xx has the body ``{"detail": "...", "errors": [{"field": "...", "message": "..."}]}``."""

from __future__ import annotations

import json
from typing import Any

import orjson
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DataError, IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from ninja import NinjaAPI, Schema, Status
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.parser import Parser
from ninja.renderers import BaseRenderer
from ninja.security import APIKeyCookie, HttpBearer
from pydantic import Field, create_model

from itline.core.errors import DomainError, TransitionError
from itline.core.models import ApiToken

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class ORJSONRenderer(BaseRenderer):
    media_type = "application/json"

    def render(self, request: HttpRequest, data: Any, *, response_status: int) -> bytes:
        try:
            return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS, default=str)
        except orjson.JSONEncodeError:
            # orjson stops at 64-bit integers; stored data may hold bigger ones.
            return json.dumps(data, cls=DjangoJSONEncoder, default=str).encode()


INT64 = 2**63


class BodyError(ValueError):
    """A JSON body that parses but holds a value no field can take; names where it is."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _bounded_int(text: str) -> int:
    value = int(text)
    if not -INT64 <= value < INT64:
        raise BodyError("request", f"the number {text[:30]} is out of range (64-bit integers only)")
    return value


def _nul_path(value: Any, where: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    """Where in a parsed JSON body a string holds NUL (the database cannot store it)."""
    if isinstance(value, str):
        return where if "\x00" in value else None
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return (*where, key)
        found = _nul_path(item, (*where, key))
        if found is not None:
            return found
    return None


class StrictJSONParser(Parser):
    """JSON bodies with integers the database can hold and no NUL characters; anything else
    is a 4xx naming the place, never a failure deep in a query or the renderer."""

    def parse_body(self, request: HttpRequest) -> Any:
        data = json.loads(request.body, parse_int=_bounded_int)
        where = _nul_path(data)
        if where is not None:
            field = ".".join(str(p).replace("\x00", "\\u0000") for p in where) or "request"
            raise BodyError(field, "must not contain the NUL character (\\u0000)")
        return data


class TokenAuth(HttpBearer):
    """``Authorization: Bearer itl_…``. Read tokens are refused on unsafe methods."""

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        try:
            api_token = ApiToken.objects.select_related("user").get(key_hash=ApiToken.hash(token))
        except ApiToken.DoesNotExist:
            return None
        if not api_token.is_active or not api_token.user.is_active:
            return None
        if request.method not in SAFE_METHODS and api_token.scope != ApiToken.Scope.WRITE:
            raise HttpError(403, "This token is read-only; use a read-write token to change data.")
        now = timezone.now()
        # Writing last_used_at on every call would turn reads into writes; a minute is precise
        # enough to answer "is this token still in use?".
        if api_token.last_used_at is None or (now - api_token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=api_token.pk).update(last_used_at=now)
        request.user = api_token.user
        request.api_token = api_token  # type: ignore[attr-defined]
        return api_token.user


class SessionAuth(APIKeyCookie):
    """The browser session, with Django's CSRF check on unsafe methods."""

    param_name = "sessionid"

    def __init__(self) -> None:
        super().__init__(csrf=True)

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:
        if request.user.is_authenticated:
            return request.user
        return None


api = NinjaAPI(
    title="itline API",
    version="1",
    description=(
        "REST API of itline. Authenticate with `Authorization: Bearer <token>` "
        "(create tokens with `itline token create` or on your profile page) or the browser "
        "session. Lists are cursor-paginated: pass `cursor` from `next_cursor`."
    ),
    auth=[TokenAuth(), SessionAuth()],
    renderer=ORJSONRenderer(),
    parser=StrictJSONParser(),
    urls_namespace="api",
    docs_url="/docs",
)


def error_body(detail: str, errors: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {"detail": detail, "errors": errors or []}


def _respond(request: HttpRequest, status: int, detail: str, errors: Any = None) -> HttpResponse:
    return api.create_response(request, error_body(detail, errors), status=status)


def _loc(loc: Any) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "payload")]
    # ninja nests the body under the parameter name; drop that noise
    return ".".join(parts) or "request"


@api.exception_handler(NinjaValidationError)
def _validation(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    errors = []
    for err in exc.errors:
        loc = err.get("loc", ())
        field = _loc(loc[1:] if len(loc) > 1 and loc[0] in ("body", "query", "path") else loc)
        errors.append({"field": field, "message": str(err.get("msg", "is not valid"))})
    return _respond(request, 422, "The request is not valid.", errors)


@api.exception_handler(DjangoValidationError)
def _model_validation(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    errors = []
    if hasattr(exc, "error_dict"):
        for field, field_errors in exc.message_dict.items():
            name = "request" if field == "__all__" else field
            errors += [{"field": name, "message": m} for m in field_errors]
    else:
        errors = [{"field": "request", "message": m} for m in exc.messages]
    return _respond(request, 422, "The request is not valid.", errors)


@api.exception_handler(TransitionError)
def _transition(request: HttpRequest, exc: TransitionError) -> HttpResponse:
    body = error_body(exc.message, [{"field": exc.field or "status", "message": exc.message}])
    body["allowed"] = exc.allowed
    return api.create_response(request, body, status=409)


@api.exception_handler(DomainError)
def _domain(request: HttpRequest, exc: DomainError) -> HttpResponse:
    errors = [{"field": exc.field, "message": exc.message}] if exc.field else []
    return _respond(request, exc.status_code, exc.message, errors)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _respond(request, 401, "Authentication required: send a valid Bearer token.")


@api.exception_handler(HttpError)
def _http(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # ninja wraps every body parsing failure as 400 "Cannot parse request body"; say why.
    cause = exc.__cause__
    if isinstance(cause, BodyError):
        errors = [{"field": cause.field, "message": cause.message}]
        return _respond(request, 422, "The request is not valid.", errors)
    if isinstance(cause, ValueError):
        return _respond(request, 400, f"The request body is not valid JSON: {cause}")
    return _respond(request, exc.status_code, str(exc))


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
    return _respond(request, 403, str(exc) or "You are not allowed to do this.")


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _respond(request, 404, str(exc) or "Not found.")


@api.exception_handler(ObjectDoesNotExist)
def _does_not_exist(request: HttpRequest, exc: ObjectDoesNotExist) -> HttpResponse:
    return _respond(request, 404, "Not found.")


@api.exception_handler(DataError)
def _data_error(request: HttpRequest, exc: DataError) -> HttpResponse:
    # Values the checks above let through but the database refuses (a NUL byte inside an
    # uploaded file, a number out of the column's range): the request is at fault.
    return _respond(
        request,
        422,
        f"The database cannot store a value of this request: {str(exc).splitlines()[0][:200]}",
    )


@api.exception_handler(IntegrityError)
def _integrity(request: HttpRequest, exc: IntegrityError) -> HttpResponse:
    return _respond(request, 409, "The change conflicts with existing data (a duplicate?).")


# --- list helpers -------------------------------------------------------------------------

_page_models: dict[str, type[Schema]] = {}


def page_of(item: type[Schema]) -> type[Schema]:
    """A response schema ``{"items": [item], "next_cursor": str | null}`` for ``item``."""
    name = f"{item.__name__}Page"
    if name not in _page_models:
        _page_models[name] = create_model(  # type: ignore[call-overload]
            name,
            __base__=Schema,
            items=(list[item], ...),  # type: ignore[valid-type]
            next_cursor=(str | None, Field(None, description="Pass as `cursor` for the next page")),
        )
    return _page_models[name]


CONFIG_FILE_MAX_BYTES = 1024 * 1024


def read_config_document(request: HttpRequest, *, max_bytes: int = CONFIG_FILE_MAX_BYTES) -> Any:
    """The body of a config-as-code import: JSON, or YAML when the request says
    ``Content-Type: application/yaml`` (or ``text/yaml``). Unreadable or oversized files are a
    400/413 naming the problem; nothing is parsed past the limit."""
    import yaml

    body = request.body
    if len(body) > max_bytes:
        raise HttpError(413, f"The file is larger than {max_bytes // 1024} KiB.")
    if b"\x00" in body:
        raise DomainError("The file must not contain the NUL character.", field="request")
    try:
        if "yaml" in (request.content_type or "").lower():
            return yaml.safe_load(body.decode("utf-8"))
        return orjson.loads(body)
    except (yaml.YAMLError, UnicodeDecodeError, orjson.JSONDecodeError) as exc:
        raise DomainError(f"The file cannot be read: {str(exc)[:200]}", field="request") from None


def config_file_response(document: Any, *, format: str, name: str) -> HttpResponse:
    """A config-as-code export as a downloadable ``<name>.<format>`` (``yaml`` or ``json``)."""
    import yaml

    if format not in ("yaml", "json"):
        raise DomainError("format is yaml or json", field="format")
    if format == "json":
        body = orjson.dumps(document, option=orjson.OPT_INDENT_2)
        content_type = "application/json"
    else:
        body = yaml.safe_dump(document, sort_keys=False, allow_unicode=True).encode()
        content_type = "application/yaml; charset=utf-8"
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}.{format}"'
    return response


class ErrorItem(Schema):
    field: str
    message: str


class ErrorOut(Schema):
    detail: str
    errors: list[ErrorItem] = []


ERRORS: dict[int, type[Schema]] = {
    400: ErrorOut,
    401: ErrorOut,
    403: ErrorOut,
    404: ErrorOut,
    409: ErrorOut,
    422: ErrorOut,
}


# --- the caller and their tokens ----------------------------------------------------------

from datetime import datetime  # noqa: E402

from django.shortcuts import get_object_or_404  # noqa: E402
from ninja import Router  # noqa: E402

router = Router(tags=["Me"])


class MeOut(Schema):
    username: str
    name: str
    email: str
    roles: list[str]
    person: str | None
    agent: bool


@router.get("/me", response={200: MeOut, **ERRORS}, summary="Who am I")
def me(request: HttpRequest) -> Any:
    from itline.org.models import person_of
    from itline.org.roles import is_agent, roles_of

    user = request.user
    person = person_of(user)
    return {
        "username": user.get_username(),
        "name": user.get_full_name() or user.get_username(),  # type: ignore[union-attr]
        "email": user.email,  # type: ignore[union-attr]
        "roles": sorted(roles_of(user)),
        "person": person.reference if person else None,
        "agent": is_agent(user),
    }


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    scope: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenIn(Schema):
    name: str = Field(..., min_length=1, max_length=100)
    scope: ApiToken.Scope = ApiToken.Scope.READ
    expires_at: datetime | None = None


class TokenCreatedOut(TokenOut):
    secret: str = Field(..., description="Shown once; store it now")


@router.get("/tokens", response={200: list[TokenOut], **ERRORS}, summary="My API tokens")
def list_tokens(request: HttpRequest) -> Any:
    return list(ApiToken.objects.filter(user_id=request.user.pk or 0))


@router.post("/tokens", response={201: TokenCreatedOut, **ERRORS}, summary="Create an API token")
def create_token(request: HttpRequest, payload: TokenIn) -> Any:
    from itline.core import tokens

    token, secret = tokens.create_token(
        user=request.user, name=payload.name, scope=payload.scope, expires_at=payload.expires_at
    )
    data = TokenOut.from_orm(token).model_dump()
    return Status(201, {**data, "secret": secret})


@router.delete(
    "/tokens/{token_id}", response={204: None, **ERRORS}, summary="Revoke one of my API tokens"
)
def revoke_token(request: HttpRequest, token_id: int) -> Any:
    from itline.core import tokens

    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    tokens.revoke_token(token, by=request.user)
    return Status(204, None)
