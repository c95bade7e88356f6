"""The OpenAPI document as served: clients (Swagger UI, code generators) parse it with strict
YAML/JSON parsers, so no object may hold the same key twice — which happens when an endpoint's
``openapi_extra`` names a status code as a string and its ``response=`` as a number."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.django_db


def test_the_openapi_document_has_no_duplicate_keys(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    duplicates: list[list[str]] = []

    def unique(pairs: list[tuple[str, object]]) -> dict[str, object]:
        keys = [key for key, _ in pairs]
        if len(keys) != len(set(keys)):
            duplicates.append(keys)
        return dict(pairs)

    document = json.loads(response.content, object_pairs_hook=unique)
    assert document["openapi"].startswith("3.")
    assert duplicates == []
