"""The served OpenAPI document is valid and describes exactly the API's routes."""

from __future__ import annotations

import re

from openapi_spec_validator import validate


def _api_routes(app) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((path, method.lower()))
    return routes


def test_document_is_valid_openapi(client):
    document = client.get("/api/v1/openapi.json").json
    validate(document)
    assert document["openapi"].startswith("3.1")


def test_document_and_routes_match_exactly(app, client):
    document = client.get("/api/v1/openapi.json").json
    described = {(path, method) for path, ops in document["paths"].items() for method in ops}
    assert described == _api_routes(app)


def test_request_bodies_in_the_document_are_the_ones_enforced(client, make):
    from tests.api.helpers import agreement_payload, bearer, make_partnership

    document = client.get("/api/v1/openapi.json").json
    schema = document["paths"]["/api/v1/agreements"]["post"]["requestBody"]["content"][
        "application/json"]["schema"]
    p = make_partnership(make)
    legal = bearer(make.user_token(p.legal))
    # Leaving out any field the document calls required is refused, naming that field.
    for field in schema["required"]:
        payload = {k: v for k, v in agreement_payload().items() if k != field}
        r = client.post("/api/v1/agreements", json=payload, headers=legal)
        assert (r.status_code, r.json["error"]["field"]) == (422, field)
    # A field the document does not list is refused too.
    r = client.post("/api/v1/agreements", json={**agreement_payload(), "extra": 1},
                    headers=legal)
    assert (r.status_code, r.json["error"]["field"]) == (422, "extra")


def test_protected_operations_declare_bearer_auth(client):
    document = client.get("/api/v1/openapi.json").json
    public = {("/api/v1/openapi.json", "get"), ("/api/v1/auth/tokens", "post"),
              ("/api/v1/rules/schema", "get")}
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            expected = [] if (path, method) in public else [{"bearerAuth": []}]
            assert op["security"] == expected, (path, method)
