"""Ed25519 signing of rules bundles (detached JWS) and the published key set.

The key lives in the instance folder and is created on first use; `kid` is its
RFC 7638 thumbprint. The payload is the bundle in canonical JSON: keys sorted, no
spaces, UTF-8 (the bundle holds only strings, integers, booleans, lists, objects,
so this is the RFC 8785 form).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from flask import current_app
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

ALG = "Ed25519"  # RFC 9864 name for EdDSA over Ed25519
KEY_FILE = "rules-signing-key.json"


def canonical_json(value) -> bytes:
    """Canonical bytes of `value` (what the signature covers)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _key_path() -> Path:
    return Path(current_app.instance_path) / KEY_FILE


def signing_key() -> OKPKey:
    """The instance's private key, created atomically on first use."""
    path = _key_path()
    if not path.exists():
        key = OKPKey.generate_key("Ed25519")
        data = json.dumps(key.as_dict(private=True)).encode()
        # Write a private temporary file, then link it into place: another worker never
        # reads a half-written key, and if one linked its key first, that key wins.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".signing-key-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    return OKPKey.import_key(json.loads(path.read_text()))


def public_jwk() -> dict:
    key = signing_key()
    return {**key.as_dict(private=False), "kid": key.thumbprint(), "alg": ALG, "use": "sig"}


def sign_detached(payload: bytes) -> str:
    """A compact JWS over `payload` with the payload part left empty (RFC 7515 F)."""
    key = signing_key()
    token = jws.serialize_compact({"alg": ALG, "kid": key.thumbprint()}, payload, key,
                                  algorithms=[ALG])
    return jws.detach_content(token)


def verify_detached(signature: str, payload: bytes, jwks: dict) -> bool:
    """Check a detached JWS against a published key set.

    :raises ValueError: `jwks` is not a key set ({"keys": [...]})."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list):
        raise ValueError('not a key set: expected a JSON object {"keys": [...]}')
    for jwk in keys:
        if not isinstance(jwk, dict):
            continue
        try:
            jws.deserialize_compact(signature, OKPKey.import_key(jwk), algorithms=[ALG],
                                    payload=payload)
            return True
        except (JoseError, ValueError, TypeError, KeyError):  # "not this key"
            continue
    return False
