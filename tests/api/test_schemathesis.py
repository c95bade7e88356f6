"""Schemathesis over the whole OpenAPI document of ``/api/v1/``, in process through the WSGI app.

Every operation gets valid and invalid requests (schemathesis' examples, coverage and fuzzing
phases; positive and negative modes) from an administrator with a read-write token, against the
demo data of every app (``itline demo``). Two rules of the house are checked on every response:

* never a 5xx (schemathesis' ``not_a_server_error``);
* every 4xx has the common error body ``{"detail": str, "errors": list}``.

Random references (``ref`` in a path, ``business_unit`` in a payload, ...) would nearly always
end in a 404, so the fuzzer swaps some of them for references that exist: those the API's own
list endpoints return for the demo data. It also mixes in a few edge values (NUL, null, "",
an integer beyond 64 bits) that have each broken an endpoint before. Each generated request
runs in a savepoint that is rolled back afterwards, so every example sees the same data and a
DELETE in one example does not starve the next.

The run is deterministic (derandomized) so CI is repeatable; for a deeper local search set
``ITLINE_SCHEMATHESIS_EXAMPLES`` (fuzzed requests per operation; by default 25, fewer once the
API has more than 40 operations).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from itline.wsgi import application

API = "/api/v1"
# Fuzzed requests in all, shared by the operations (at most 25 and at least 5 each), so the file
# stays within about a minute as the API grows.
FUZZ_BUDGET = 1000

CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {"deterministic": True, "database": "none"},
        "phases": {"stateful": {"enabled": False}},
    }
)

schema = schemathesis.openapi.from_wsgi(f"{API}/openapi.json", application, config=CONFIG)
MAX_EXAMPLES = int(
    os.environ.get("ITLINE_SCHEMATHESIS_EXAMPLES")
    or min(25, max(5, FUZZ_BUDGET // max(1, len(schema))))
)
schema.config.generation.update(max_examples=MAX_EXAMPLES)

# No xdist_group here: schemathesis gives all its items one node id, and xdist's grouped
# schedulers (loadgroup, loadscope) key items by node id, so they would run only one of them.
pytestmark = pytest.mark.schemathesis

# kind (the list path, e.g. "business-units") -> references (or slugs) the API lists for the
# demo data; filled by the `api_headers` fixture before any example is generated.
KNOWN_REFS: dict[str, list[str]] = {}
# parameter and payload names whose references are of kinds not spelt like the name; any other
# name is looked up as its plural ("business_unit" -> "business-units")
REF_KINDS: dict[str, tuple[str, ...]] = {
    "person": ("people",),
    "person_ref": ("people",),
    "lead": ("people",),
    "decision_maker": ("people",),
    "relationship_manager": ("people",),
    "service_owner": ("people",),
    "delivery_manager": ("people",),
    "owner": ("functions",),
    "owner_function": ("functions",),
    "type": ("component-types",),
    "source": ("components", "services"),
    "target": ("components", "services"),
    "node": ("components", "services"),
}


def _refs_for(name: str, operation_path: str) -> list[str]:
    if name in {"ref", "slug", "parent"}:
        match = re.match(rf"{re.escape(API)}/([a-z-]+)", operation_path)
        kinds: tuple[str, ...] = (match.group(1),) if match else ()
    else:
        kinds = REF_KINDS.get(name) or (name.removesuffix("_ref").replace("_", "-") + "s",)
    return [ref for kind in kinds for ref in KNOWN_REFS.get(kind, ())]


# Values that random generation rarely hits but that have each broken an endpoint: NUL (which
# PostgreSQL text refuses), an explicit null, an empty string and an integer beyond 64 bits
# (which the JSON renderer refuses). Each field sometimes gets one, as it sometimes gets a
# real reference.
EDGE_VALUES: dict[str, tuple[Any, ...]] = {
    "body": ("a\x00b", None, "", 2**64 + 1),
    "query": ("a\x00b", ""),
    "path": ("a\x00b",),
}


def _mixed_in(where: str) -> Any:
    def hook(context: Any, values: Any) -> Any:
        """A strategy that keeps each generated value or swaps it for a real reference or an
        edge value."""
        if not isinstance(values, dict):
            return st.just(values)
        parts = {}
        for name, value in values.items():
            choices = [st.just(value), st.sampled_from(EDGE_VALUES[where])]
            refs = _refs_for(name, context.operation.path)
            if refs:
                choices.insert(1, st.sampled_from(refs))
            parts[name] = st.one_of(choices)
        return st.fixed_dictionaries(parts)

    return hook


schema.hook("flatmap_path_parameters")(_mixed_in("path"))
schema.hook("flatmap_query")(_mixed_in("query"))
schema.hook("flatmap_body")(_mixed_in("body"))


@contextmanager
def _connection_kept_open() -> Iterator[None]:
    """The real WSGI handler closes the database connection when a request starts and ends;
    inside a test transaction that would abort the test. Django's test client disconnects the
    same two receivers around each request for the same reason."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture(scope="module")
def api_headers(django_db_setup, django_db_blocker) -> Iterator[dict[str, str]]:
    """The demo data of every app and an administrator's read-write token, loaded once for the
    module inside a transaction that is rolled back at its end."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    from itline.core.management.commands.demo import load as load_demo
    from itline.core.models import ApiToken
    from itline.org.roles import sync_roles

    with django_db_blocker.unblock(), transaction.atomic():
        sync_roles()
        load_demo()
        user = get_user_model().objects.create_user(
            username="schemathesis", email="schemathesis@example.org", password=None
        )
        user.groups.add(Group.objects.get(name="administrator"))
        _, secret = ApiToken.issue(user=user, name="schemathesis", scope="write")
        headers = {"Authorization": f"Bearer {secret}"}

        client = Client(HTTP_HOST="localhost", headers=headers)
        for path in schema.raw_schema["paths"]:
            kind = path.removeprefix(f"{API}/")
            if "/" in kind or "{" in kind:
                continue
            response = client.get(path, {"limit": 200})
            body = response.json() if response.status_code == 200 else None
            items = body.get("items") if isinstance(body, dict) else body
            refs = [
                item.get("reference") or item.get("slug")
                for item in (items if isinstance(items, list) else ())
                if isinstance(item, dict)
            ]
            if any(refs):
                KNOWN_REFS[kind] = sorted(str(ref) for ref in refs if ref)
        assert KNOWN_REFS, "the demo data gave no references to fuzz with"

        yield headers
        KNOWN_REFS.clear()
        transaction.set_rollback(True)


def _error_body_problem(response: Any) -> str | None:
    """Why a 4xx body is not ``{"detail": str, "errors": list}``, or None when it is."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return f"body is not JSON: {response.content[:200]!r}"
    if not isinstance(body, dict):
        return f"body is not an object: {body!r:.200}"
    if not isinstance(body.get("detail"), str):
        return f"'detail' is not a string: {body!r:.300}"
    if not isinstance(body.get("errors"), list):
        return f"'errors' is not a list: {body!r:.300}"
    return None


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_answers_5xx_and_every_4xx_has_the_error_body(case, api_headers, db):
    with transaction.atomic(), _connection_kept_open():
        response = case.call(headers=api_headers)
        transaction.set_rollback(True)
    case.validate_response(response, checks=[not_a_server_error])
    if 400 <= response.status_code < 500:
        problem = _error_body_problem(response)
        assert problem is None, (
            f"{case.method} {case.formatted_path} -> {response.status_code}: {problem}\n"
            f"Reproduce with: {case.as_curl_command(headers=api_headers)}"
        )
