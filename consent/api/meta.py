"""Tokens and the OpenAPI document."""

from __future__ import annotations

import sqlalchemy as sa
from flask import request

from consent.api import bp
from consent.api import schemas as s
from consent.api.spec import openapi_document, operation
from consent.api.validation import json_body
from consent.auth import throttle
from consent.auth.access import Unauthenticated
from consent.extensions import db
from consent.models import ApiToken, User, hash_token, new_token
from consent.services import audit
from consent.services.actors import actor_for
from consent.timeutil import utcnow


@operation(bp, "/openapi.json", "GET", summary="This API's OpenAPI document", tag="meta",
           is_public=True)
def openapi():
    return openapi_document(request.host_url)


@operation(bp, "/auth/tokens", "POST",
           summary="Exchange email and password for a personal API token",
           tag="meta", is_public=True, body=s.TOKEN_REQUEST,
           responses={201: {"description": "The token (shown once)"},
                      429: {"description": "Too many failed sign-ins; see Retry-After"}})
def create_token():
    payload = json_body(s.TOKEN_REQUEST)
    email, now = payload["email"].strip().lower(), utcnow()
    throttle.check(email, request.remote_addr, now)
    user = db.session.scalar(sa.select(User).where(User.email == email))
    if user is None or not user.active or not user.check_password(payload["password"]):
        throttle.record_failure(email, request.remote_addr, now)
        db.session.commit()
        raise Unauthenticated("that email and password do not match an active account")
    throttle.clear(email)
    token = new_token()
    db.session.add(ApiToken(name=payload.get("name", "personal token"),
                            token_hash=hash_token(token), user_id=user.id))
    audit.record("api_token_created", "user", user.id, actor_for(user, "api"))
    db.session.commit()
    return {"data": {"token": token}}, 201
