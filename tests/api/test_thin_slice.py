"""The whole thin slice through the HTTP API, asserting real values at each step."""

from __future__ import annotations

import hashlib
import io

from pypdf import PdfReader

from tests.api.helpers import agreement_payload, bearer, make_partnership


def test_mou_to_consent_to_rules_end_to_end(client, make):
    p = make_partnership(make)
    legal = bearer(make.user_token(p.legal))
    reviewer = bearer(make.user_token(p.reviewer))
    d_sig = bearer(make.user_token(p.district_signatory))
    p_sig = bearer(make.user_token(p.partner_signatory))
    family = bearer(make.user_token(p.guardian_user))
    enforcer = bearer(make.client_token(p.partner))

    # Legal staff drafts from the template, which fills the FERPA checklist.
    r = client.post("/api/v1/agreements", json=agreement_payload(), headers=legal)
    assert r.status_code == 201, r.json
    agreement = r.json["data"]
    aid = agreement["id"]
    assert agreement["state"] == "draft"
    assert agreement["recipients"] == ["promise"]
    assert agreement["no_reidentification"] is True
    assert set(agreement["actions"]) == {"submit", "withdraw", "comment"}

    r = client.post(f"/api/v1/agreements/{aid}/events/submit", json={}, headers=legal)
    assert r.status_code == 200, r.json
    assert r.json["data"]["state"] == "in_review"

    # The author cannot approve; the district reviewer can.
    r = client.post(f"/api/v1/agreements/{aid}/events/approve", json={}, headers=legal)
    assert r.status_code == 403
    r = client.post(f"/api/v1/agreements/{aid}/events/approve",
                    json={"comment": "Looks right."}, headers=reviewer)
    assert r.status_code == 200, r.json
    assert r.json["data"]["state"] == "approved"

    r = client.post(f"/api/v1/agreements/{aid}/events/send_for_signature", json={},
                    headers=legal)
    assert r.status_code == 200, r.json
    sent = r.json["data"]
    assert sent["state"] == "out_for_signature"
    doc_hash = sent["signing_document_sha256"]
    assert len(doc_hash) == 64
    assert [(s["organization"], s["state"]) for s in sent["signatures"]] == [
        ("riverside", "invited"), ("promise", "pending")]

    # The partner signs second: out of turn it gets 409 and nothing changes.
    sign = {"name": "Pat Director", "title": "Executive Director", "document_sha256": doc_hash}
    r = client.post(f"/api/v1/agreements/{aid}/signatures", json=sign, headers=p_sig)
    assert r.status_code == 409
    r = client.post(f"/api/v1/agreements/{aid}/signatures", headers=d_sig, json={
        "name": "Dana Superintendent", "title": "Superintendent",
        "authority": "Board resolution 2026-14", "document_sha256": doc_hash})
    assert r.status_code == 200, r.json
    assert [s["state"] for s in r.json["data"]["signatures"]] == ["signed", "invited"]
    r = client.post(f"/api/v1/agreements/{aid}/signatures", json=sign, headers=p_sig)
    assert r.status_code == 200, r.json
    executed = r.json["data"]
    # The start date is today, so the executed agreement is active at once.
    assert executed["state"] == "active"
    assert executed["executed_document_sha256"]

    r = client.get(f"/api/v1/agreements/{aid}/document.pdf", headers=legal)
    assert r.status_code == 200
    assert r.mimetype == "application/pdf"
    assert hashlib.sha256(r.data).hexdigest() == executed["executed_document_sha256"]
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(r.data)).pages)
    assert "Pat Director" in text and "Dana Superintendent" in text

    # The guardian sees their one child and grants consent for two categories.
    r = client.get("/api/v1/students", headers=family)
    assert [s["sourced_id"] for s in r.json["data"]] == ["S-1001"]
    sid = r.json["data"][0]["id"]
    r = client.get(f"/api/v1/students/{sid}", headers=family)
    assert [a["agreement"] for a in r.json["data"]["agreements"]] == [aid]
    r = client.post(f"/api/v1/students/{sid}/consents", headers=family, json={
        "agreement": aid, "recipient": "promise", "purposes": ["academic_support"],
        "categories": ["attendance", "quarterly_grades"]})
    assert r.status_code == 201, r.json
    consents = r.json["data"]
    assert sorted(c["category"] for c in consents) == ["attendance", "quarterly_grades"]
    assert {c["state"] for c in consents} == {"granted"}

    # The partner's bundle lists exactly that grant.
    r = client.get("/api/v1/rules/bundle", headers=enforcer)
    assert r.status_code == 200, r.json
    bundle = r.json["bundle"]
    version_after_grant = bundle["version"]
    assert bundle["recipient"] == "promise"
    assert len(bundle["grants"]) == 1
    grant = bundle["grants"][0]
    assert grant["students"] == ["S-1001"]
    assert grant["purposes"] == ["academic_support"]
    assert sorted(grant["categories"]) == ["attendance", "quarterly_grades"]
    assert grant["basis"] == "consent" and grant["exception"] is False
    assert grant["agreement"] == aid

    def decision(**kw):
        body = {"recipient": "promise", "student": "S-1001", "category": "attendance",
                "purpose": "academic_support"} | kw
        resp = client.post("/api/v1/decisions", json=body, headers=enforcer)
        assert resp.status_code == 200, resp.json
        return resp.json["data"]

    permitted = decision()
    assert permitted["decision"] == "permit"
    assert permitted["agreement"] == aid
    assert permitted["consent"] in {c["id"] for c in consents}
    assert permitted["bundle_version"] == version_after_grant
    assert decision(category="quarterly_grades")["decision"] == "permit"
    # Everything else is denied: a category the agreement covers but no consent does,
    # another purpose, another student, and another recipient's rules.
    assert decision(category="behavior")["decision"] == "deny"
    assert decision(purpose="program_evaluation")["decision"] == "deny"
    assert decision(student="S-1002")["decision"] == "deny"
    r = client.post("/api/v1/decisions", headers=enforcer, json={
        "recipient": "afterschool", "student": "S-1001", "category": "attendance",
        "purpose": "academic_support"})
    assert r.status_code == 403

    # The guardian revokes attendance: the very next decision is deny, grades remain.
    attendance = next(c for c in consents if c["category"] == "attendance")
    r = client.post(f"/api/v1/consents/{attendance['id']}/revoke",
                    json={"reason": "changed my mind"}, headers=family)
    assert r.status_code == 200, r.json
    assert r.json["data"]["state"] == "revoked"
    assert decision()["decision"] == "deny"
    assert decision(category="quarterly_grades")["decision"] == "permit"
    r = client.get("/api/v1/rules/bundle", headers=enforcer)
    assert r.json["bundle"]["version"] > version_after_grant
    assert [sorted(g["categories"]) for g in r.json["bundle"]["grants"]] == [["quarterly_grades"]]
