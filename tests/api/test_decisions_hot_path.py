"""The decision endpoint's short paths (one statement for the token and the rules
version, autocommit, a lone-surrogate check only when the body has an escape) still
refuse and revoke exactly as before."""

from __future__ import annotations

import sqlalchemy as sa

from consent.models import ApiToken, User, hash_token
from tests.api.helpers import bearer, make_partnership
from tests.api.test_roles import active_agreement


def _ask(client, headers, student="S-1001"):
    return client.post("/api/v1/decisions", headers=headers, json={
        "recipient": "promise", "student": student, "category": "attendance",
        "purpose": "academic_support"})


def test_a_revocation_shows_in_the_very_next_decision(client, make):
    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    enforcer = bearer(make.client_token(p.partner))
    family = bearer(make.user_token(p.guardian_user))
    assert _ask(client, enforcer).json["data"]["decision"] == "deny"
    r = client.post(f"/api/v1/students/{p.student.id}/consents", headers=family, json={
        "agreement": aid, "recipient": "promise", "purposes": ["academic_support"],
        "categories": ["attendance"]})
    assert r.status_code == 201
    granted = _ask(client, enforcer).json["data"]
    assert granted["decision"] == "permit"
    r = client.post(f"/api/v1/consents/{r.json['data'][0]['id']}/revoke", json={},
                    headers=family)
    assert r.status_code == 200
    after = _ask(client, enforcer).json["data"]
    assert after["decision"] == "deny"
    assert after["bundle_version"] > granted["bundle_version"]


def test_a_deactivated_client_token_is_refused_on_the_next_request(client, db, make):
    p = make_partnership(make)
    token = make.client_token(p.partner)
    assert _ask(client, bearer(token)).status_code == 200
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    row.active = False
    db.session.commit()
    r = _ask(client, bearer(token))
    assert r.status_code == 401
    assert r.json["error"]["code"] == "unauthenticated"


def test_a_deactivated_person_is_refused_on_the_next_request(client, db, make):
    p = make_partnership(make)
    token = make.user_token(p.legal)
    assert _ask(client, bearer(token)).status_code == 200
    db.session.get(User, p.legal.id).active = False
    db.session.commit()
    assert _ask(client, bearer(token)).status_code == 401


def test_a_client_token_decides_only_for_its_own_organization(client, make):
    p = make_partnership(make)
    other = bearer(make.client_token(p.other_partner))
    r = _ask(client, other)
    assert r.status_code == 403
    assert r.json["error"]["code"] == "forbidden"


def test_a_lone_surrogate_is_refused_in_a_batch(client, make):
    p = make_partnership(make)
    enforcer = bearer(make.client_token(p.partner))
    body = ('{"requests": [{"recipient": "promise", "student": "S-\\ud800", '
            '"category": "attendance", "purpose": "academic_support"}]}')
    r = client.post("/api/v1/decisions", data=body, headers={
        **enforcer, "Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json["error"]["field"] == "requests[0].student"


def test_security_headers_on_decisions(client, make):
    p = make_partnership(make)
    r = _ask(client, bearer(make.client_token(p.partner)))
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert len(r.headers.getlist("Content-Security-Policy")) == 1


def test_the_version_read_with_the_token_ends_with_the_request(app, client, make):
    from flask import g

    from consent.access.facts import rules_version

    p = make_partnership(make)
    enforcer = bearer(make.client_token(p.partner))
    with app.app_context():  # one context around several requests, as a script may hold
        assert _ask(client, enforcer).status_code == 200
        assert "rules_versions" not in g
        assert rules_version(p.partner.id) >= 0
