"""Every response forbids framing and sniffing and carries a content policy."""

from __future__ import annotations

import pytest

from consent.security_headers import CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("path", ["/auth/login", "/healthz", "/api/v1/openapi.json",
                                  "/verify", "/no-such-page", "/api/v1/students"])
def test_headers_on_pages_api_and_errors(client, path):
    r = client.get(path)
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin"
    policy = r.headers["Content-Security-Policy"]
    assert policy == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in policy and "script-src 'none'" in policy
