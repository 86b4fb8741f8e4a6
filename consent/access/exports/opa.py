"""An Open Policy Agent bundle: data.json (the grants), policy.rego and a .manifest.

The tarball is byte-for-byte the same for the same rules (no timestamps in it), so
its revision doubles as the ETag OPA's bundle polling sends back.
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

from consent.access.exports import epoch_us, parse_instant, revision

FORMAT = "accordant.opa-data.v1"
ROOT = "accordant"
POLICY_PATH = Path(__file__).resolve().parent / "policies" / "authz.rego"
# Rego engines compare integers exactly within 64 bits; a window reaching past
# 2262-04-11 (the last nanosecond a signed 64-bit count holds) is cut off there.
NS_MAX = 2**63 - 1
NS_MIN = -(2**63)


def policy_text() -> str:
    """The Rego policy that evaluates data.json (package accordant.authz)."""
    return POLICY_PATH.read_text(encoding="utf-8")


def _ns(text: str) -> int:
    return min(max(epoch_us(parse_instant(text)) * 1000, NS_MIN), NS_MAX)


def opa_data(bundles: list[dict]) -> dict:
    """data.json: each recipient's bundle version and grants, windows also in ns."""
    recipients = {}
    for bundle in bundles:
        grants = [{**grant, "valid_from_ns": _ns(grant["valid_from"]),
                   "valid_until_ns": _ns(grant["valid_until"])} for grant in bundle["grants"]]
        recipients[bundle["recipient"]] = {"version": bundle["version"], "grants": grants}
    return {ROOT: {"format": FORMAT, "recipients": recipients}}


def _member(tar: tarfile.TarFile, name: str, content: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(content), 0, 0o644
    tar.addfile(info, io.BytesIO(content))


def opa_bundle(bundles: list[dict]) -> tuple[bytes, str]:
    """The bundle as tar.gz bytes, and its revision (also in .manifest)."""
    data = json.dumps(opa_data(bundles), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()
    policy = policy_text().encode()
    rev = revision(bundles, policy)
    manifest = json.dumps({"revision": rev, "roots": [ROOT]}, sort_keys=True).encode()
    raw = io.BytesIO()
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            _member(tar, ".manifest", manifest)
            _member(tar, "data.json", data)
            _member(tar, "policy.rego", policy)
    return raw.getvalue(), rev
