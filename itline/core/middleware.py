"""Request metrics, labelled by URL route name (not path, so cardinality stays bounded)."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

from itline.core.metrics import LATENCY, REQUESTS


class MetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        start = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = (match.view_name or match.route) if match else "unmatched"
        if request.path.startswith("/static/"):
            route = "static"
        LATENCY.labels(route).observe(time.perf_counter() - start)
        REQUESTS.labels(request.method, route, f"{response.status_code // 100}xx").inc()
        return response


class ApiErrorBodyMiddleware:
    """Under /api/ every error has the API's JSON body, also the ones Django answers before
    the API sees the request (unknown path: 404; wrong method: 405)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            request.path.startswith("/api/")
            and response.status_code in (404, 405)
            and not response.get("Content-Type", "").startswith("application/json")
        ):
            detail = (
                "Not found."
                if response.status_code == 404
                else (
                    f"Method {request.method} is not allowed here; allowed: {response.get('Allow', '')}."
                )
            )
            replacement = JsonResponse(
                {"detail": detail, "errors": []}, status=response.status_code
            )
            if response.has_header("Allow"):
                replacement["Allow"] = response["Allow"]
            return replacement
        return response


NUL = "\x00"


class RejectNulMiddleware:
    """PostgreSQL text cannot hold NUL (0x00): one in a path, query string or cookie would
    reach a query and end as a database error. Refuse it first, naming where it was. (JSON
    bodies are checked by the API's parser, form fields by Django's forms.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        field = None
        if NUL in request.path:
            field = "path"
        else:
            for key, values in request.GET.lists():
                if NUL in key or any(NUL in v for v in values):
                    field = key
                    break
            else:
                for key, value in request.COOKIES.items():
                    if NUL in key or NUL in value:
                        field = key
                        break
        if field is None:
            return self.get_response(request)
        message = "must not contain the NUL character (\\u0000)."
        if request.path.startswith("/api/"):
            errors = [{"field": field.replace(NUL, "\\u0000"), "message": message}]
            return JsonResponse(
                {"detail": "The request is not valid.", "errors": errors}, status=422
            )
        return HttpResponseBadRequest(
            f"{field.replace(NUL, '')} {message}", content_type="text/plain"
        )
