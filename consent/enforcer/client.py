"""HTTP calls to the district's server, with the standard library only (no new dependency)."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request

from consent import strict_json
from consent.enforcer.errors import ServerError

logger = logging.getLogger(__name__)

USER_AGENT = "accordant-enforcer/1"
# No answer at all, or a status that says "try again later".
RETRY_STATUSES = {None, 429, 500, 502, 503, 504}


def _url(server: str, path: str, query: dict | None = None) -> str:
    base = server.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise ServerError(f"the server URL must start with http:// or https:// ({server!r})")
    query = {k: v for k, v in (query or {}).items() if v is not None}
    return base + path + (("?" + urllib.parse.urlencode(query)) if query else "")


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read().decode("utf-8"))
        error = body["error"]
        field = f" (field {error['field']})" if error.get("field") else ""
        return f"{exc.code} {error.get('code', '')}: {error.get('message', '')}{field}"
    except (ValueError, KeyError, TypeError, RecursionError):
        return f"{exc.code} {exc.reason}"


def request_json(method: str, url: str, *, token: str | None = None, body: dict | None = None,
                 timeout: float = 30.0) -> tuple[int, dict]:
    """Send one request and return (status, parsed JSON body).

    :raises ServerError: not reachable, an error status, or an answer that is not JSON.
    """
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    data = None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310 (http/https only)
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            raise ServerError(f"{method} {url} was refused: {_error_text(exc)}",
                              exc.code) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ServerError(f"cannot reach {url}: {reason}") from None
    try:
        return status, strict_json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        # The server sends strict JSON: anything else did not come from it as sent.
        raise ServerError(f"{method} {url} did not answer with strict JSON", status) from None


def fetch_bundle(server: str, token: str, recipient: str | None = None, *,
                 timeout: float = 30.0) -> dict:
    """The signed bundle response {"bundle", "signature"} for the token's organization."""
    url = _url(server, "/api/v1/rules/bundle", {"recipient": recipient})
    return request_json("GET", url, token=token, timeout=timeout)[1]


def fetch_jwks(server: str, *, timeout: float = 30.0) -> dict:
    """The server's published signing keys."""
    return request_json("GET", _url(server, "/.well-known/jwks.json"), timeout=timeout)[1]


def report_disclosures(server: str, token: str, body: dict, *, timeout: float = 30.0,
                       attempts: int = 3, pause: float = 1.0) -> tuple[int, dict]:
    """POST the disclosure report, retrying failures that a retry can fix.

    The body carries an idempotency key, so a retry after a lost answer stores
    nothing twice. Returns (status, body): 201 stored, 200 already stored.

    :raises ServerError: still failing after `attempts`, or refused (4xx).
    """
    url = _url(server, "/api/v1/disclosures")
    for attempt in range(1, attempts + 1):
        try:
            return request_json("POST", url, token=token, body=body, timeout=timeout)
        except ServerError as exc:
            if exc.status not in RETRY_STATUSES or attempt == attempts:
                raise
            logger.warning("disclosure report attempt %s failed; retrying", attempt)
            time.sleep(pause * attempt)
    raise AssertionError("unreachable")
