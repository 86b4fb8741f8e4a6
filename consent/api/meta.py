"""Tokens and the OpenAPI document."""

from __future__ import annotations

import sqlalchemy as sa
from flask import request

from consent.api import bp
from consent.api import schemas as s
from consent.api.spec import openapi_document, operation
from consent.api.validation import json_body
from consent.auth.access import Unauthenticated
from consent.extensions import db
from consent.models import ApiToken, User, hash_token, new_token
from consent.services import audit
from consent.services.actors import actor_for


@operation(bp, "/openapi.json", "GET", summary="This API's OpenAPI document", tag="meta",
           is_public=True)
def openapi():
    return openapi_document(request.host_url)


@operation(bp, "/auth/tokens", "POST",
           summary="Exchange email and password for a personal API token",
           tag="meta", is_public=True, body=s.TOKEN_REQUEST,
           responses={201: {"description": "The token (shown once)"}})
def create_token():
    payload = json_body(s.TOKEN_REQUEST)
    user = db.session.scalar(sa.select(User).where(User.email == payload["email"].lower()))
    if user is None or not user.active or not user.check_password(payload["password"]):
        raise Unauthenticated("that email and password do not match an active account")
    token = new_token()
    db.session.add(ApiToken(name=payload.get("name", "personal token"),
                            token_hash=hash_token(token), user_id=user.id))
    audit.record("api_token_created", "user", user.id, actor_for(user, "api"))
    db.session.commit()
    return {"data": {"token": token}}, 201
