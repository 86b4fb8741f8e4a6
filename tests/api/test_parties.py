"""Required reviewers per party and the signing order with parallel groups."""

from __future__ import annotations

from tests.api.helpers import agreement_payload, bearer, make_partnership


def test_every_required_party_reviews_and_parallel_group_signs_together(client, make):
    p = make_partnership(make)
    legal = bearer(make.user_token(p.legal))
    payload = agreement_payload(reviewers=["riverside", "promise"],
                                signing_order={"riverside": 1, "promise": 1})
    r = client.post("/api/v1/agreements", json=payload, headers=legal)
    assert r.status_code == 201, r.json
    aid = r.json["data"]["id"]
    client.post(f"/api/v1/agreements/{aid}/events/submit", json={}, headers=legal)

    r = client.post(f"/api/v1/agreements/{aid}/events/approve", json={},
                    headers=bearer(make.user_token(p.reviewer)))
    assert (r.status_code, r.json["data"]["state"]) == (200, "in_review")
    partner_reviewer = make.user("reviewer", org=p.partner)
    r = client.post(f"/api/v1/agreements/{aid}/events/approve", json={},
                    headers=bearer(make.user_token(partner_reviewer)))
    assert (r.status_code, r.json["data"]["state"]) == (200, "approved")
    # A reviewer of an organization that does not review is refused.
    outsider = make.user("reviewer", org=p.other_partner)
    r = client.post(f"/api/v1/agreements/{aid}/events/approve", json={},
                    headers=bearer(make.user_token(outsider)))
    assert r.status_code == 404

    sent = client.post(f"/api/v1/agreements/{aid}/events/send_for_signature", json={},
                       headers=legal).json["data"]
    assert {s["organization"]: s["state"] for s in sent["signatures"]} == {
        "riverside": "invited", "promise": "invited"}
    r = client.post(f"/api/v1/agreements/{aid}/signatures", headers=bearer(
        make.user_token(p.partner_signatory)), json={
        "name": "Pat", "title": "Director", "document_sha256": sent["signing_document_sha256"]})
    assert r.status_code == 200, r.json


def test_party_settings_must_name_parties(client, make):
    p = make_partnership(make)
    legal = bearer(make.user_token(p.legal))
    r = client.post("/api/v1/agreements", headers=legal,
                    json=agreement_payload(signing_order={"afterschool": 1}))
    assert (r.status_code, r.json["error"]["field"]) == (422, "signing_order.afterschool")
    r = client.post("/api/v1/agreements", headers=legal,
                    json=agreement_payload(reviewers=["riverside", "dcfs"]))
    assert (r.status_code, r.json["error"]["field"]) == (422, "reviewers[1]")
