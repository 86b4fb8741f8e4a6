"""Headers that every response carries: no framing (the consent and signing pages must
not be embedded elsewhere to trick clicks), no MIME sniffing, no referrer to other
sites, and a content policy that allows this site's own style sheets and nothing else.
The pages use no scripts; a view that needs a different policy sets its own."""

from __future__ import annotations

from flask import Flask, Response

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'; img-src 'self' data:"
)
HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


_DEFAULTS = [*HEADERS.items(), ("Content-Security-Policy", CONTENT_SECURITY_POLICY)]


def add_security_headers(response: Response) -> Response:
    """Fill in the headers a view did not set itself."""
    # One pass over the response's headers, instead of one search per default.
    present = {name.lower() for name, _ in response.headers.items()}
    for name, value in _DEFAULTS:
        if name.lower() not in present:
            response.headers.add(name, value)
    return response


def register(app: Flask) -> None:
    """Apply the headers to every response."""
    app.after_request(add_security_headers)
