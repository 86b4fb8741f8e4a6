"""Who is calling the JSON API: a person (through their token) or an enforcer client."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import g, request
from sqlalchemy.orm import joinedload

from consent.extensions import db
from consent.models import ApiToken, Organization, User, hash_token
from consent.timeutil import utcnow


@dataclass(frozen=True)
class Principal:
    token_id: int
    user: User | None
    organization_id: int | None  # the client's organization, or the user's
    # A client's organization row, loaded with the token (the session holds rows only
    # while something refers to them); None for a person's token.
    client_organization: Organization | None = None

    @property
    def is_client(self) -> bool:
        return self.user is None


def load_principal() -> Principal | None:
    """Resolve `Authorization: Bearer` into `g.principal` (None when absent or invalid).

    Cookies are never used by the API, so it needs no CSRF protection.
    """
    g.principal = None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    # The organization comes along: rules requests look it up next.
    row = db.session.scalar(
        sa.select(ApiToken).options(joinedload(ApiToken.organization))
        .where(ApiToken.token_hash == hash_token(token.strip())))
    now = utcnow()
    if row is None or not row.active or (row.expires_at and row.expires_at <= now):
        return None
    if row.user is not None and not row.user.active:
        return None
    g.principal = Principal(
        row.id, row.user, row.organization_id if row.user is None else row.user.organization_id,
        row.organization if row.user is None else None,
    )
    return g.principal
