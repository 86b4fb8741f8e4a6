"""The private calendar feed URL: the token in the path is the only credential."""

from __future__ import annotations

from flask import Blueprint, Response

from consent.auth.access import public
from consent.errors import NotFound
from consent.services import calendar
from consent.timeutil import utcnow

bp = Blueprint("calendar", __name__, url_prefix="/calendar")


@bp.get("/<token>.ics")
@public  # calendar programs cannot sign in; the token is checked below
def feed(token: str):
    """The organization's agreement calendar, or 404 for an unknown or retired token."""
    organization = calendar.organization_for(token)
    if organization is None:
        raise NotFound("no such calendar")
    body = calendar.build(organization, utcnow().replace(microsecond=0))
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Type"] = "text/calendar; charset=utf-8"
    response.headers["Cache-Control"] = "private, max-age=300"
    # The URL is a secret: keep it out of logs and other sites' Referer headers.
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
