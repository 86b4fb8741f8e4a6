"""Every route is either declared public or refuses an anonymous caller.

A new route without an access declaration is refused at runtime (fail closed) and
fails this test, so nothing is reachable by accident.
"""

from __future__ import annotations

import re

import pytest

from consent.auth.access import access_of

PUBLIC_ENDPOINTS = {
    "static", "auth.login", "web.home", "web.healthz", "api.openapi", "api.create_token",
    "api.rules_schema", "well_known.jwks", "verify.index", "verify.certificate",
    "sign_in_link.request_link", "sign_in_link.confirm", "sign_in_link.use",
    "sign_in_link.set_language",
    "calendar.feed",  # the private token in its URL is the credential
}


def _concrete(rule) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>",
                  lambda m: "1" if "id" in m.group(1) else "x", rule.rule)


def test_every_view_declares_who_may_call_it(app):
    undeclared = sorted(ep for ep, view in app.view_functions.items() if access_of(view) is None)
    assert undeclared == []


def test_public_routes_are_exactly_the_intended_ones(app):
    public = {ep for ep, view in app.view_functions.items() if access_of(view)[0] == "public"}
    assert public == PUBLIC_ENDPOINTS


def _routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_anonymous_caller_is_refused_everywhere_else(app, client):
    checked = 0
    for rule, method in _routes(app):
        path = _concrete(rule)
        response = client.open(path, method=method)
        if path.startswith("/api/"):
            assert response.status_code == 401, (method, path, response.status_code)
            assert response.json["error"]["code"] == "unauthenticated"
        else:
            assert response.status_code == 302, (method, path, response.status_code)
            assert response.headers["Location"].startswith("/auth/login")
        checked += 1
    assert checked > 10


def test_a_new_route_without_a_declaration_is_refused(app, make, login):
    @app.route("/forgotten")
    def forgotten():
        return "secret"

    admin = make.user("admin")
    response = login(admin).get("/forgotten")
    assert response.status_code == 403
    assert b"secret" not in response.data


@pytest.mark.parametrize("path", ["/api/v1/openapi.json", "/healthz", "/.well-known/jwks.json"])
def test_public_routes_answer_anonymous_callers(client, path):
    assert client.get(path).status_code == 200
