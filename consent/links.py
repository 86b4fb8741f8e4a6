"""Absolute links that leave the site (in emails and feeds).

They are built on `PUBLIC_URL` (e.g. https://accordant.riverside.example), never on the
request's Host header: a client chooses that header, and a sign-in link built on it would
carry a working token to whatever site the client named. Development and tests, which
have no public address, fall back to the request's own address.
"""

from __future__ import annotations

from flask import current_app, url_for


def external_url(endpoint: str, **values) -> str:
    """The absolute URL of `endpoint` on the site's public address.

    :raises RuntimeError: `PUBLIC_URL` is not set outside development and tests.
    """
    base = current_app.config.get("PUBLIC_URL")
    if not base:
        if current_app.config.get("DEVELOPMENT_MODE") or current_app.testing:
            return url_for(endpoint, _external=True, **values)
        raise RuntimeError(MISSING)
    return base.rstrip("/") + url_for(endpoint, **values)


MISSING = ("ACCORDANT_PUBLIC_URL is not set. Set it to the site's public address, e.g. "
           "https://accordant.example.org: links in emails are built on it.")
