"""What each role may not do: 403 or 404, and nothing changes."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from consent.models import Agreement, AuditEntry, Consent, RulesChange
from consent.timeutil import utcnow
from tests.api.helpers import agreement_payload, bearer, make_partnership
from tests.factories import district_today


def active_agreement(client, make, p) -> int:
    """Run an agreement through the API to active; returns its id."""
    legal = bearer(make.user_token(p.legal))
    aid = client.post("/api/v1/agreements", json=agreement_payload(), headers=legal).json[
        "data"]["id"]
    assert run_to_execution(client, make, p, aid)["state"] == "active"
    return aid


def run_to_execution(client, make, p, aid) -> dict:
    """Submit, approve, send and sign a draft through the API; returns the agreement."""
    legal = bearer(make.user_token(p.legal))
    client.post(f"/api/v1/agreements/{aid}/events/submit", json={}, headers=legal)
    r = client.post(f"/api/v1/agreements/{aid}/events/approve", json={},
                    headers=bearer(make.user_token(p.reviewer)))
    assert r.status_code == 200, r.json
    sent = client.post(f"/api/v1/agreements/{aid}/events/send_for_signature", json={},
                       headers=legal).json["data"]
    for signer in (p.district_signatory, p.partner_signatory):
        r = client.post(f"/api/v1/agreements/{aid}/signatures", headers=bearer(
            make.user_token(signer)), json={"name": signer.name, "title": "Signatory",
                                            "document_sha256": sent["signing_document_sha256"]})
        assert r.status_code == 200, r.json
    return r.json["data"]


def _snapshot(db):
    db.session.expire_all()
    return (
        [(a.id, a.state, a.version_id) for a in db.session.scalars(sa.select(Agreement))],
        db.session.scalar(sa.select(sa.func.count(AuditEntry.id))),
        [(c.id, c.state) for c in db.session.scalars(sa.select(Consent))],
    )


def test_roles_cannot_do_what_is_not_theirs(client, db, make):
    p = make_partnership(make)
    legal = bearer(make.user_token(p.legal))
    reviewer = bearer(make.user_token(p.reviewer))
    p_sig = bearer(make.user_token(p.partner_signatory))
    family = bearer(make.user_token(p.guardian_user))
    enforcer = bearer(make.client_token(p.partner))
    aid = client.post("/api/v1/agreements", json=agreement_payload(), headers=legal).json[
        "data"]["id"]
    before = _snapshot(db)

    # Only legal staff draft and edit.
    for who in (reviewer, p_sig, family):
        assert client.post("/api/v1/agreements", json=agreement_payload(),
                           headers=who).status_code == 403
    assert client.patch(f"/api/v1/agreements/{aid}", json={"title": "x"},
                        headers=reviewer).status_code == 403
    # A reviewer cannot submit; the author cannot approve their own draft later.
    assert client.post(f"/api/v1/agreements/{aid}/events/submit", json={},
                       headers=reviewer).status_code == 403
    # Families and enforcers cannot see agreements at all.
    assert client.get(f"/api/v1/agreements/{aid}", headers=family).status_code == 403
    assert client.get("/api/v1/agreements", headers=enforcer).status_code == 403
    # Staff of an organization that is not a party do not see the agreement.
    outsider = make.user("staff", org=p.other_partner)
    assert client.get(f"/api/v1/agreements/{aid}",
                      headers=bearer(make.user_token(outsider))).status_code == 404
    # A partner does not see the district's draft at all, so cannot sign it.
    r = client.post(f"/api/v1/agreements/{aid}/signatures", headers=p_sig, json={
        "name": "Pat", "title": "Director", "document_sha256": "0" * 64})
    assert r.status_code == 404
    assert client.get(f"/api/v1/agreements/{aid}", headers=p_sig).status_code == 404
    assert _snapshot(db) == before


def test_families_see_only_their_own_children(client, db, make):
    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    stranger_user = make.user("guardian", email="stranger@family.example")
    make.link(p.other_student, make.guardian(stranger_user, given="Sol", family="Stranger"))
    stranger = bearer(make.user_token(stranger_user))
    family = bearer(make.user_token(p.guardian_user))
    granted = client.post(f"/api/v1/students/{p.student.id}/consents", headers=family, json={
        "agreement": aid, "recipient": "promise", "purposes": ["academic_support"],
        "categories": ["attendance"]}).json["data"]
    before = _snapshot(db)

    r = client.get(f"/api/v1/students/{p.student.id}", headers=stranger)
    assert r.status_code == 404
    assert "O'Brien" not in r.get_data(as_text=True)
    assert [s["sourced_id"] for s in client.get("/api/v1/students", headers=stranger)
            .json["data"]] == ["S-1002"]
    r = client.post(f"/api/v1/students/{p.student.id}/consents", headers=stranger, json={
        "agreement": aid, "recipient": "promise", "purposes": ["academic_support"],
        "categories": ["attendance"]})
    assert r.status_code == 404
    r = client.post(f"/api/v1/consents/{granted[0]['id']}/revoke", json={}, headers=stranger)
    assert r.status_code == 404
    # Staff and enforcers cannot act as families.
    enforcer = bearer(make.client_token(p.partner))
    assert client.post(f"/api/v1/consents/{granted[0]['id']}/revoke", json={},
                       headers=enforcer).status_code == 403
    assert _snapshot(db) == before


def test_guardian_without_educational_rights_can_do_nothing(client, db, make):
    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    other_parent = make.user("guardian", email="noncustodial@family.example")
    make.link(p.student, make.guardian(other_parent, given="Ray", family="O'Brien"),
              rights=False)
    token = bearer(make.user_token(other_parent))
    before = _snapshot(db)
    r = client.post(f"/api/v1/students/{p.student.id}/consents", headers=token, json={
        "agreement": aid, "recipient": "promise", "purposes": ["academic_support"],
        "categories": ["attendance"]})
    assert r.status_code == 403
    assert "educational rights" in r.json["error"]["message"]
    assert _snapshot(db) == before


def test_enforcer_reads_only_its_own_rules(client, make):
    p = make_partnership(make)
    enforcer = bearer(make.client_token(p.partner))
    assert client.get("/api/v1/rules/bundle?recipient=afterschool",
                      headers=enforcer).status_code == 403
    assert client.get("/api/v1/rules/bundle?recipient=promise",
                      headers=enforcer).status_code == 200
    # Partner staff read their own organization's rules, not another's.
    staff = bearer(make.user_token(make.user("staff", org=p.partner)))
    assert client.get("/api/v1/rules/bundle?recipient=afterschool",
                      headers=staff).status_code == 403
    assert client.get("/api/v1/rules/bundle", headers=staff).json["bundle"][
        "recipient"] == "promise"


def test_enforcer_change_feed_and_decisions_are_its_own_only(client, db, make):
    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    make.agreement(p.district, [p.other_partner], basis="school_official", state="active",
                   categories=("attendance",), executed_at=utcnow() - timedelta(hours=1))
    client.post(f"/api/v1/students/{p.student.id}/consents",
                headers=bearer(make.user_token(p.guardian_user)),
                json={"agreement": aid, "recipient": "promise",
                      "purposes": ["academic_support"], "categories": ["attendance"]})
    enforcer = bearer(make.client_token(p.other_partner))

    r = client.get("/api/v1/rules/changes?since=0&recipient=promise", headers=enforcer)
    assert r.status_code == 403
    own = client.get("/api/v1/rules/changes?since=0", headers=enforcer).json["data"]
    theirs = client.get("/api/v1/rules/changes?since=0", headers=bearer(
        make.client_token(p.partner))).json["data"]
    assert "consent_granted" in {c["reason"] for c in theirs}
    assert "consent_granted" not in {c["reason"] for c in own}
    rows = db.session.scalars(sa.select(RulesChange).where(
        RulesChange.id.in_([c["version"] for c in own]))).all()
    assert {row.recipient_id for row in rows} <= {None, p.other_partner.id}

    request = {"recipient": "promise", "student": "S-1001", "category": "attendance",
               "purpose": "academic_support"}
    assert client.post("/api/v1/decisions", json=request, headers=enforcer).status_code == 403
    r = client.post("/api/v1/decisions", headers=enforcer, json={"requests": [
        {**request, "recipient": "afterschool"}, request]})
    assert r.status_code == 403
    r = client.post("/api/v1/decisions", headers=enforcer, json={
        **request, "recipient": "afterschool"})
    assert (r.status_code, r.json["data"]["decision"]) == (200, "permit")
    assert r.json["data"]["basis"] == "school_official" and r.json["data"]["exception"] is True


def test_admin_staff_and_student_cannot_act_outside_their_roles(client, db, make):
    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    family = bearer(make.user_token(p.guardian_user))
    granted = client.post(f"/api/v1/students/{p.student.id}/consents", headers=family, json={
        "agreement": aid, "recipient": "promise", "purposes": ["academic_support"],
        "categories": ["attendance"]}).json["data"]
    legal = bearer(make.user_token(p.legal))
    draft = client.post("/api/v1/agreements", json=agreement_payload(), headers=legal).json[
        "data"]
    client.post(f"/api/v1/agreements/{draft['id']}/events/submit", json={}, headers=legal)
    adult = make.student("Eli", "Adult", school=p.school, sourced_id="S-1003",
                         birth_date=district_today() - timedelta(days=365 * 19))
    student_user = make.user("student", email="eli@student.example")
    adult.user_id = student_user.id
    db.session.commit()
    people = {"admin": make.user("admin", org=p.district), "staff": make.user(
        "staff", org=p.district), "student": student_user}
    before = _snapshot(db)
    consent_body = {"agreement": aid, "recipient": "promise", "purposes": ["academic_support"],
                    "categories": ["quarterly_grades"]}
    sign_body = {"name": "X", "title": "Y", "document_sha256": "0" * 64}
    for role, user in people.items():
        h = bearer(make.user_token(user))
        calls = [
            ("post", "/api/v1/agreements", agreement_payload()),
            ("patch", f"/api/v1/agreements/{draft['id']}", {"title": "Changed"}),
            ("post", f"/api/v1/agreements/{draft['id']}/events/approve", {}),
            ("post", f"/api/v1/agreements/{aid}/signatures", sign_body),
            ("post", f"/api/v1/students/{p.student.id}/consents", consent_body),
            ("post", f"/api/v1/consents/{granted[0]['id']}/revoke", {}),
        ]
        for method, path, body in calls:
            r = getattr(client, method)(path, json=body, headers=h)
            assert r.status_code in (403, 404), (role, method, path, r.status_code)
        if role == "student":  # a student sees no agreements, rules or others' records
            for path in (f"/api/v1/agreements/{aid}", "/api/v1/rules/bundle?recipient=promise",
                         f"/api/v1/students/{p.student.id}", "/api/v1/disclosures"):
                assert client.get(path, headers=h).status_code in (403, 404), path
            assert [s["sourced_id"] for s in client.get("/api/v1/students", headers=h)
                    .json["data"]] == ["S-1003"]
    assert _snapshot(db) == before


@pytest.mark.parametrize("path", [
    "/api/v1/rules/bundle?recipient={slug}", "/api/v1/rules/changes?since=0&recipient={slug}",
    "/api/v1/exports/opa?recipient={slug}", "/api/v1/exports/cedar?recipient={slug}",
    "/api/v1/exports/fhir?recipient={slug}"])
def test_a_partner_learns_nothing_of_which_other_organizations_exist(client, make, path):
    p = make_partnership(make)
    partner_staff = make.user("staff", org=p.other_partner)
    for headers in (bearer(make.client_token(p.other_partner)),
                    bearer(make.user_token(partner_staff))):
        answers = []
        for slug in ("promise", "no-such-org", "Pro%00mise", "x" * 300):
            r = client.get(path.format(slug=slug), headers=headers)
            answers.append((r.status_code, r.json["error"]["field"],
                            r.json["error"]["message"]))
        assert answers == [(403, "recipient", "you may only read your own organization's "
                            "rules")] * 4
    r = client.post("/api/v1/decisions", headers=bearer(make.client_token(p.other_partner)),
                    json={"recipient": "no-such-org", "student": "S-1001",
                          "category": "attendance", "purpose": "academic_support"})
    assert (r.status_code, r.json["error"]["field"]) == (403, "recipient")


def test_district_staff_get_a_plain_message_for_a_slug_that_cannot_be_one(client, make):
    p = make_partnership(make)
    staff = bearer(make.user_token(make.user("staff", org=p.district)))
    for slug in ("Pro%00mise", "%E2%80%AEpromise", "x" * 300, "promise--x"):
        r = client.get(f"/api/v1/rules/bundle?recipient={slug}", headers=staff)
        assert (r.status_code, r.json["error"]["field"]) == (422, "recipient")
        assert r.json["error"]["message"].startswith("must be an organization slug")
        assert len(r.data) < 500  # the value is not echoed back
    r = client.get("/api/v1/rules/bundle?recipient=no-such-org", headers=staff)
    assert (r.status_code, r.json["error"]["message"]) == (422, "no organization 'no-such-org'")
