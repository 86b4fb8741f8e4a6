"""API operations are declared once: the route, its access rule and its OpenAPI entry.

`operation()` registers the view on the API blueprint and records its description,
so the served OpenAPI document is generated from the same declarations as the
routes and cannot drift from them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask import Blueprint

from consent.auth.access import api_access, public, reads_only

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                       "field": {"type": ["string", "null"]}, "details": {"type": "object"}}}},
}


@dataclass
class Operation:
    path: str  # OpenAPI form, e.g. /api/v1/agreements/{agreement_id}
    method: str
    summary: str
    tag: str
    security: str  # "public" | "user" | "client" | "user_or_client"
    body: dict | None = None
    query: list[dict] = field(default_factory=list)
    responses: dict = field(default_factory=dict)


OPERATIONS: list[Operation] = []


def operation(bp: Blueprint, rule: str, method: str, *, summary: str, tag: str,
              roles: tuple[str, ...] = (), clients: bool = False, users: bool = True,
              is_public: bool = False, body: dict | None = None, query: list[dict] | None = None,
              responses: dict | None = None, prefix: str = "/api/v1", read_only: bool = False):
    """Register a view at `rule` and describe it for the OpenAPI document (`read_only`:
    see `reads_only`)."""

    def decorator(view):
        if read_only:
            view = reads_only(view)
        if is_public:
            declared, security = public(view), "public"
        else:
            declared = api_access(*roles, clients=clients)(view)
            security = "user_or_client" if clients and users else ("client" if clients else "user")
        bp.add_url_rule(rule, view_func=declared, methods=[method])
        path = prefix + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)
        OPERATIONS.append(Operation(path, method.lower(), summary, tag, security, body,
                                    query or [], responses or {}))
        return declared

    return decorator


def query_param(name: str, description: str, required: bool = False, schema=None) -> dict:
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema or {"type": "string"}}


def openapi_document(server_url: str = "/") -> dict:
    """The OpenAPI 3.1 description of every API operation."""
    paths: dict = {}
    for op in OPERATIONS:
        entry = {"summary": op.summary, "tags": [op.tag],
                 "operationId": f"{op.method}_{op.path.strip('/').replace('/', '_')}"
                 .replace("{", "").replace("}", "").replace("-", "_").replace(".", "_")}
        params = [{"name": p, "in": "path", "required": True, "schema": {"type": "integer"}
                   if p.endswith("_id") else {"type": "string"}}
                  for p in re.findall(r"{(\w+)}", op.path)]
        params += op.query
        if params:
            entry["parameters"] = params
        if op.body:
            entry["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": op.body}}}
        responses = {"200": {"description": "OK"}} | {
            str(k): v for k, v in op.responses.items()}
        for status, text in (("400", "Malformed request"), ("401", "No valid token"),
                             ("403", "Not allowed"), ("404", "Not found"),
                             ("409", "Conflicts with the current state"),
                             ("422", "Invalid field")):
            responses.setdefault(status, {"description": text, "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
        if op.security == "public":
            entry["security"] = []
            for status in ("401", "403"):
                responses.pop(status, None)
        else:
            entry["security"] = [{"bearerAuth": []}]
            entry["x-token-kinds"] = {"user": ["user"], "client": ["client"],
                                      "user_or_client": ["user", "client"]}[op.security]
        entry["responses"] = responses
        paths.setdefault(op.path, {})[op.method] = entry
    return {
        "openapi": "3.1.0",
        "info": {"title": "Accordant API", "version": "1.0.0",
                 "description": "Agreements, consents and the access rules compiled from them."},
        "servers": [{"url": server_url}],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Error": ERROR_SCHEMA},
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }
