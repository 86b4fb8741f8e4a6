"""Check a rules bundle before using it: signature, schema, recipient and freshness.

No HTTP here and no application: the caller passes the server's answer and the key set.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator

from consent import rfc3339
from consent.access.signing import canonical_json, verify_detached
from consent.enforcer.errors import BundleRefused

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "access" / "schema" / "rules-bundle.v1.json"


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def parse_time(text: str) -> datetime:
    """An RFC 3339 instant (as the server reads them), as aware UTC.

    :raises ValueError: not RFC 3339.
    """
    return rfc3339.parse_utc(text)


def verify_bundle(response: dict, jwks: dict, now: datetime,
                  recipient: str | None = None) -> dict:
    """The bundle from a {"bundle", "signature"} answer, once it is safe to use at `now`.

    :raises BundleRefused: the signature does not verify against `jwks` (altered, or
        not issued by the district), the bundle is not a v1 rules bundle, it is for
        another recipient, or `now` is at or past its not_after time.
    """
    if not isinstance(response, dict) or not isinstance(response.get("bundle"), dict) \
            or not isinstance(response.get("signature"), str):
        raise BundleRefused("the server's answer is not a signed rules bundle")
    bundle = response["bundle"]
    if not verify_detached(response["signature"], canonical_json(bundle), jwks):
        raise BundleRefused("the rules bundle's signature does not verify against the "
                            "district's published key: it was altered or not issued by the "
                            "district; refusing to use it")
    error = next(iter(sorted(_validator().iter_errors(bundle), key=lambda e: list(e.path))),
                 None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top)"
        raise BundleRefused(f"the rules bundle is not a valid v1 bundle at {where}: "
                            f"{error.message}")
    if recipient is not None and bundle["recipient"] != recipient:
        raise BundleRefused(f"the rules bundle is for '{bundle['recipient']}', "
                            f"not '{recipient}'")
    try:
        not_after = parse_time(bundle["not_after"])
    except ValueError:
        raise BundleRefused("the rules bundle's not_after is not an instant") from None
    if now >= not_after:
        raise BundleRefused(f"the rules bundle is stale: it may be used until "
                            f"{bundle['not_after']}, and the time is now "
                            f"{now.astimezone(UTC).isoformat().replace('+00:00', 'Z')}; "
                            f"fetch a fresh bundle")
    return bundle
