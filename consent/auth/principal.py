"""Who is calling the JSON API: a person (through their token) or an enforcer client."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import g, request

from consent.access.facts import newest_change_columns, remember_rules_version
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


# Built once (every API request runs it): the token's state, and for a client token its
# organization row, which rules requests look up next. Only the columns that decide
# validity are read; a person's token loads the user by its primary key.
_BY_HASH = (sa.select(ApiToken.id, ApiToken.active, ApiToken.expires_at, ApiToken.user_id,
                      Organization)
            .outerjoin(Organization, Organization.id == ApiToken.organization_id)
            .where(ApiToken.token_hash == sa.bindparam("token_hash")))
# The same, with the rules version of the client's organization read in the same round
# trip (a decision request reads it next).
_BY_HASH_WITH_VERSION = _BY_HASH.add_columns(*newest_change_columns(ApiToken.organization_id))


def load_principal(read_rules_version: bool = False) -> Principal | None:
    """Resolve `Authorization: Bearer` into `g.principal` (None when absent or invalid).

    Cookies are never used by the API, so it needs no CSRF protection.
    `read_rules_version` (for requests that never write) also reads a client's rules
    version with the token and keeps it for the request (`remember_rules_version`).
    """
    g.principal = None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    statement = _BY_HASH_WITH_VERSION if read_rules_version else _BY_HASH
    row = db.session.execute(statement, {"token_hash": hash_token(token.strip())}).first()
    if row is None:
        return None
    token_id, active, expires_at, user_id, client_organization = row[:5]
    if not active or (expires_at and expires_at <= utcnow()):
        return None
    if user_id is None:
        if read_rules_version:
            remember_rules_version(client_organization.id, *row[5:])
        g.principal = Principal(token_id, None, client_organization.id, client_organization)
        return g.principal
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        return None
    g.principal = Principal(token_id, user, user.organization_id)
    return g.principal
