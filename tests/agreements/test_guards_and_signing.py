"""Guards check organization as well as role; signing order, evidence and refusals.

Everything goes through the JSON API as the people involved would, and every refusal
is checked to leave the agreement, its signatures, the audit trail and the outbox
exactly as they were.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from consent.models import Agreement, AuditEntry, OutboxMessage, Review, Signature
from consent.services import agreements as service
from consent.timeutil import utcnow
from tests.api.helpers import agreement_payload, bearer, make_partnership
from tests.api.test_roles import run_to_execution
from workflows import AGREEMENT, SIGNATURE


@pytest.fixture
def p(make):
    return make_partnership(make)


def _as(make, user) -> dict:
    return bearer(make.user_token(user))


def _draft(client, make, p, **overrides) -> int:
    r = client.post("/api/v1/agreements", json=agreement_payload(**overrides),
                    headers=_as(make, p.legal))
    assert r.status_code == 201, r.json
    return r.json["data"]["id"]


def _sent(client, make, p, **overrides) -> dict:
    """A draft submitted, approved by the district and sent for signature."""
    aid = _draft(client, make, p, **overrides)
    legal = _as(make, p.legal)
    assert client.post(f"/api/v1/agreements/{aid}/events/submit", json={},
                       headers=legal).status_code == 200
    r = client.post(f"/api/v1/agreements/{aid}/events/approve", json={},
                    headers=_as(make, p.reviewer))
    assert r.json["data"]["state"] == "approved", r.json
    r = client.post(f"/api/v1/agreements/{aid}/events/send_for_signature", json={},
                    headers=legal)
    assert r.status_code == 200, r.json
    return r.json["data"]


def _everything(db, aid: int) -> tuple:
    """What a refused request must not change."""
    db.session.expire_all()
    a = db.session.get(Agreement, aid)
    signatures = db.session.execute(sa.select(
        Signature.id, Signature.state, Signature.version_id, Signature.signed_at,
        Signature.signer_name).where(Signature.agreement_id == aid).order_by(Signature.id)).all()
    return (a.state, a.version_id, a.revision, a.title, a.ended_on,
            tuple(tuple(s) for s in signatures),
            db.session.scalar(sa.select(sa.func.count(AuditEntry.id))),
            db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))),
            db.session.scalar(sa.select(sa.func.count(Review.id))))


def _sign_body(user, sent: dict, **extra) -> dict:
    return {"name": user.name, "title": "Signatory",
            "document_sha256": sent["signing_document_sha256"]} | extra


# --- organization guards ------------------------------------------------------------


def test_partner_legal_staff_cannot_run_the_districts_agreement(client, db, make, p):
    """A partner's legal staff see the agreement once submitted, but every legal action
    belongs to the drafting organization: 403 and nothing changes."""
    partner_legal = make.user("legal", org=p.partner, email="counsel@promise.example")
    theirs = _as(make, partner_legal)
    aid = _draft(client, make, p)
    client.post(f"/api/v1/agreements/{aid}/events/submit", json={}, headers=_as(make, p.legal))

    r = client.get(f"/api/v1/agreements/{aid}", headers=theirs)
    assert r.status_code == 200
    assert r.json["data"]["actions"] == ["comment"]
    before = _everything(db, aid)
    for event in ("withdraw",):
        r = client.post(f"/api/v1/agreements/{aid}/events/{event}",
                        json={"reason": "ours now"}, headers=theirs)
        assert r.status_code == 403, (event, r.json)
        assert "drafting organization" in r.json["error"]["message"]
    r = client.patch(f"/api/v1/agreements/{aid}", json={"title": "Taken over"}, headers=theirs)
    assert r.status_code == 403, r.json
    assert _everything(db, aid) == before

    # In force: the partner's legal staff can neither terminate nor renew it.
    client.post(f"/api/v1/agreements/{aid}/events/request_changes", json={},
                headers=_as(make, p.reviewer))
    assert run_to_execution(client, make, p, aid)["state"] == "active"
    before = _everything(db, aid)
    assert client.get(f"/api/v1/agreements/{aid}", headers=theirs).json["data"]["actions"] == []
    r = client.post(f"/api/v1/agreements/{aid}/events/terminate",
                    json={"reason": "ours now"}, headers=theirs)
    assert r.status_code == 403, r.json
    for kind in ("renewal", "amendment"):
        r = client.post(f"/api/v1/agreements/{aid}/successors", json={"kind": kind},
                        headers=theirs)
        assert r.status_code == 403, r.json
    assert _everything(db, aid) == before
    assert db.session.scalar(sa.select(sa.func.count(Agreement.id))) == 1


def test_reviewer_of_a_party_that_does_not_review_sees_no_decision(client, db, make, p):
    partner_reviewer = make.user("reviewer", org=p.partner, email="review@promise.example")
    theirs = _as(make, partner_reviewer)
    aid = _draft(client, make, p)  # by default only the district reviews
    client.post(f"/api/v1/agreements/{aid}/events/submit", json={}, headers=_as(make, p.legal))
    assert client.get(f"/api/v1/agreements/{aid}", headers=theirs).json["data"][
        "actions"] == ["comment"]
    before = _everything(db, aid)
    for event in ("approve", "request_changes"):
        r = client.post(f"/api/v1/agreements/{aid}/events/{event}", json={}, headers=theirs)
        assert r.status_code == 403, (event, r.json)
    assert _everything(db, aid) == before


def test_one_approval_per_organization_and_revision(client, db, make, p):
    aid = _draft(client, make, p, reviewers=["riverside", "promise"])
    client.post(f"/api/v1/agreements/{aid}/events/submit", json={}, headers=_as(make, p.legal))
    mine = _as(make, p.reviewer)
    r = client.post(f"/api/v1/agreements/{aid}/events/approve", json={}, headers=mine)
    assert (r.status_code, r.json["data"]["state"]) == (200, "in_review")
    assert r.json["data"]["actions"] == ["request_changes", "comment"]
    before = _everything(db, aid)
    # A colleague in the same office cannot approve the same revision a second time.
    colleague = make.user("reviewer", org=p.district, email="counsel@riverside.example")
    r = client.post(f"/api/v1/agreements/{aid}/events/approve", json={},
                    headers=_as(make, colleague))
    assert r.status_code == 409, r.json
    assert r.json["error"]["details"]["state"] == "in_review"
    assert _everything(db, aid) == before


def test_a_request_for_changes_starts_a_new_review_round(client, db, make, p):
    """Approvals given before changes were requested do not count once the draft (which
    may have been edited meanwhile) comes back for review."""
    from consent.web.agreements import awaiting_review

    partner_reviewer = make.user("reviewer", org=p.partner, email="review@promise.example")
    aid = _draft(client, make, p, reviewers=["riverside", "promise"])
    legal, district, partner = (_as(make, u) for u in (p.legal, p.reviewer, partner_reviewer))

    def post(event, headers, **body):
        r = client.post(f"/api/v1/agreements/{aid}/events/{event}", json=body, headers=headers)
        assert r.status_code == 200, (event, r.json)
        return r.json["data"]

    post("submit", legal)
    post("approve", district)
    assert post("request_changes", partner, comment="Clause 4")["state"] == "draft"
    r = client.patch(f"/api/v1/agreements/{aid}", json={"title": "Fixed clause 4"}, headers=legal)
    assert r.status_code == 200
    post("submit", legal)
    # The district must look again: its earlier approval is not counted.
    assert "approve" in client.get(f"/api/v1/agreements/{aid}", headers=district).json[
        "data"]["actions"]
    assert [a.id for a in db.session.scalars(awaiting_review(p.reviewer))] == [aid]
    assert post("approve", partner)["state"] == "in_review"
    assert post("approve", district)["state"] == "approved"
    assert db.session.scalars(awaiting_review(p.reviewer)).all() == []


def test_nobody_approves_their_own_draft(client, db, make, p):
    """A drafter who also holds the reviewer role still cannot decide on the draft."""
    both = make.user("legal", "reviewer", org=p.district, email="both@riverside.example")
    aid = client.post("/api/v1/agreements", json=agreement_payload(),
                      headers=_as(make, both)).json["data"]["id"]
    client.post(f"/api/v1/agreements/{aid}/events/submit", json={}, headers=_as(make, both))
    actions = client.get(f"/api/v1/agreements/{aid}", headers=_as(make, both)).json["data"][
        "actions"]
    assert "approve" not in actions and "request_changes" not in actions
    before = _everything(db, aid)
    for event in ("approve", "request_changes"):
        r = client.post(f"/api/v1/agreements/{aid}/events/{event}", json={},
                        headers=_as(make, both))
        assert r.status_code == 403, r.json
        assert "drafted" in r.json["error"]["message"]
    assert _everything(db, aid) == before
    # Someone else's approval still works.
    r = client.post(f"/api/v1/agreements/{aid}/events/approve", json={},
                    headers=_as(make, p.reviewer))
    assert r.json["data"]["state"] == "approved"


# --- signing --------------------------------------------------------------------------


def test_out_of_turn_signature_is_409_and_notifies_nobody(client, db, make, p):
    sent = _sent(client, make, p)
    aid = sent["id"]
    invited = db.session.scalars(sa.select(OutboxMessage.to_address).where(
        OutboxMessage.subject.contains("Please sign"))).all()
    assert invited == [p.district_signatory.email]  # group 1 only
    before = _everything(db, aid)
    for path, body in (("signatures", _sign_body(p.partner_signatory, sent)),
                       ("decline", {"reason": "Not yet"})):
        r = client.post(f"/api/v1/agreements/{aid}/{path}", json=body,
                        headers=_as(make, p.partner_signatory))
        assert r.status_code == 409, (path, r.json)
        assert r.json["error"]["details"]["state"] == "out_for_signature"
    assert _everything(db, aid) == before  # includes the outbox: nobody was notified

    # Once the first group has signed, the second group's signatories are invited.
    r = client.post(f"/api/v1/agreements/{aid}/signatures",
                    json=_sign_body(p.district_signatory, sent),
                    headers=_as(make, p.district_signatory))
    assert r.status_code == 200, r.json
    invited = db.session.scalars(sa.select(OutboxMessage.to_address).where(
        OutboxMessage.subject.contains("Please sign")).order_by(OutboxMessage.id)).all()
    assert invited == [p.district_signatory.email, p.partner_signatory.email]


def test_three_groups_sign_in_order_with_parallel_signers(client, db, make, p):
    """Group 1 (district), then group 2 with two partners in parallel, then group 3."""
    third = make.org("County Health Department", kind="agency", slug="county")
    county_signatory = make.user("signatory", org=third, email="director@county.example")
    other_signatory = make.user("signatory", org=p.other_partner,
                                email="chair@afterschool.example")
    sent = _sent(client, make, p, recipients=["promise", "afterschool", "county"],
                 signing_order={"riverside": 1, "promise": 2, "afterschool": 2, "county": 3})
    aid = sent["id"]

    def states():
        db.session.expire_all()
        return dict(db.session.execute(sa.select(Signature.organization_id, Signature.state)
                                       .where(Signature.agreement_id == aid)).all())

    def sign(user):
        return client.post(f"/api/v1/agreements/{aid}/signatures",
                           json=_sign_body(user, sent), headers=_as(make, user))

    order = [(p.district_signatory, p.district), (p.partner_signatory, p.partner),
             (other_signatory, p.other_partner), (county_signatory, third)]
    assert states() == {p.district.id: "invited", p.partner.id: "pending",
                        p.other_partner.id: "pending", third.id: "pending"}
    assert sign(county_signatory).status_code == 409
    assert sign(p.district_signatory).status_code == 200
    # The two partners of group 2 are invited together and sign in either order.
    assert states() == {p.district.id: "signed", p.partner.id: "invited",
                        p.other_partner.id: "invited", third.id: "pending"}
    assert sign(county_signatory).status_code == 409
    assert sign(other_signatory).status_code == 200
    assert states()[third.id] == "pending"  # group 2 is not complete yet
    assert sign(county_signatory).status_code == 409
    assert sign(p.partner_signatory).status_code == 200
    assert states()[third.id] == "invited"
    r = sign(county_signatory)
    assert r.status_code == 200 and r.json["data"]["state"] == "active", r.json
    signed = db.session.execute(sa.select(Signature.organization_id).where(
        Signature.agreement_id == aid).order_by(Signature.signed_at, Signature.id)).scalars()
    assert list(signed) == [org.id for _, org in order[:1]] + [
        p.other_partner.id, p.partner.id, third.id]


def test_a_signature_records_its_evidence(client, db, make, p):
    sent = _sent(client, make, p)
    aid = sent["id"]
    shown = client.get(f"/api/v1/agreements/{aid}/document.pdf",
                       headers=_as(make, p.district_signatory))
    assert shown.status_code == 200
    sha = hashlib.sha256(shown.data).hexdigest()
    assert sha == sent["signing_document_sha256"]
    before = utcnow()
    r = client.post(f"/api/v1/agreements/{aid}/signatures",
                    json={"name": "Dana Q. Superintendent", "title": "Superintendent",
                          "authority": "Delegation by board resolution 2026-14",
                          "document_sha256": sha},
                    headers={**_as(make, p.district_signatory),
                             "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"},
                    environ_base={"REMOTE_ADDR": "203.0.113.41"})
    assert r.status_code == 200, r.json
    after = utcnow()
    db.session.expire_all()
    sig = db.session.scalar(sa.select(Signature).where(
        Signature.agreement_id == aid, Signature.organization_id == p.district.id))
    assert sig.state == "signed"
    assert (sig.signer_id, sig.signer_name, sig.signer_title) == (
        p.district_signatory.id, "Dana Q. Superintendent", "Superintendent")
    assert sig.authority == "Delegation by board resolution 2026-14"
    assert isinstance(sig.signed_at, datetime) and before <= sig.signed_at <= after
    assert (sig.ip_address, sig.user_agent) == (
        "203.0.113.41", "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0")
    assert sig.document_sha256 == sha
    entry = db.session.scalar(sa.select(AuditEntry).where(
        AuditEntry.subject_type == "signature", AuditEntry.subject_id == sig.id,
        AuditEntry.event == "sign"))
    assert (entry.from_state, entry.to_state, entry.revision_hash) == ("invited", "signed", sha)
    assert (entry.ip_address, entry.actor_user_id) == ("203.0.113.41", p.district_signatory.id)
    assert entry.data["authority"] == "Delegation by board resolution 2026-14"


def test_a_signer_cannot_sign_twice(client, db, make, p):
    sent = _sent(client, make, p)
    aid = sent["id"]
    mine = _as(make, p.district_signatory)
    r = client.post(f"/api/v1/agreements/{aid}/signatures",
                    json=_sign_body(p.district_signatory, sent), headers=mine)
    assert r.status_code == 200
    before = _everything(db, aid)
    r = client.post(f"/api/v1/agreements/{aid}/signatures",
                    json=_sign_body(p.district_signatory, sent, name="Someone Else"),
                    headers=mine)
    assert r.status_code == 409, r.json
    assert "already signed" in r.json["error"]["message"]
    assert _everything(db, aid) == before


def test_a_signature_binds_the_document_shown(client, db, make, p):
    sent = _sent(client, make, p)
    aid = sent["id"]
    before = _everything(db, aid)
    r = client.post(f"/api/v1/agreements/{aid}/signatures",
                    json=_sign_body(p.district_signatory, sent, document_sha256="a" * 64),
                    headers=_as(make, p.district_signatory))
    assert (r.status_code, r.json["error"]["field"]) == (409, "document_sha256")
    assert _everything(db, aid) == before


def test_decline_needs_a_reason_and_records_it(client, db, make, p):
    sent = _sent(client, make, p)
    aid = sent["id"]
    mine = _as(make, p.district_signatory)
    before = _everything(db, aid)
    r = client.post(f"/api/v1/agreements/{aid}/decline", json={"reason": "   "}, headers=mine)
    assert r.status_code == 422, r.json
    assert _everything(db, aid) == before
    r = client.post(f"/api/v1/agreements/{aid}/decline",
                    json={"reason": "Clause 4 names the wrong school"}, headers=mine)
    assert (r.status_code, r.json["data"]["state"]) == (200, "declined")
    db.session.expire_all()
    sig = db.session.scalar(sa.select(Signature).where(
        Signature.agreement_id == aid, Signature.organization_id == p.district.id))
    assert (sig.state, sig.decline_reason) == ("declined", "Clause 4 names the wrong school")
    entry = db.session.scalar(sa.select(AuditEntry).where(
        AuditEntry.subject_type == "agreement", AuditEntry.subject_id == aid,
        AuditEntry.event == "decline"))
    assert entry.data == {"reason": "Clause 4 names the wrong school"}
    assert (entry.from_state, entry.to_state) == ("out_for_signature", "declined")


def test_withdraw_before_execution_voids_every_signature(client, db, make, p):
    sent = _sent(client, make, p)
    aid = sent["id"]
    client.post(f"/api/v1/agreements/{aid}/signatures",
                json=_sign_body(p.district_signatory, sent),
                headers=_as(make, p.district_signatory))
    r = client.post(f"/api/v1/agreements/{aid}/events/withdraw",
                    json={"reason": "The program was cancelled"}, headers=_as(make, p.legal))
    assert (r.status_code, r.json["data"]["state"]) == (200, "withdrawn")
    db.session.expire_all()
    assert set(db.session.scalars(sa.select(Signature.state).where(
        Signature.agreement_id == aid))) == {"voided"}
    assert db.session.get(Agreement, aid).end_reason == "The program was cancelled"
    before = _everything(db, aid)
    r = client.post(f"/api/v1/agreements/{aid}/signatures",
                    json=_sign_body(p.partner_signatory, sent),
                    headers=_as(make, p.partner_signatory))
    assert r.status_code == 409
    assert _everything(db, aid) == before


def test_an_executed_agreement_is_never_edited_or_withdrawn(client, db, make, p):
    sent = _sent(client, make, p)
    aid = sent["id"]
    for signer in (p.district_signatory, p.partner_signatory):
        client.post(f"/api/v1/agreements/{aid}/signatures", json=_sign_body(signer, sent),
                    headers=_as(make, signer))
    legal = _as(make, p.legal)
    before = _everything(db, aid)
    assert before[0] == "active"
    r = client.patch(f"/api/v1/agreements/{aid}", json={"title": "Changed later"}, headers=legal)
    assert r.status_code == 409, r.json
    for event in ("withdraw", "revise", "submit"):
        r = client.post(f"/api/v1/agreements/{aid}/events/{event}", json={"reason": "x"},
                        headers=legal)
        assert r.status_code == 409, (event, r.json)
        assert r.json["error"]["details"]["state"] == "active"
    assert _everything(db, aid) == before


# --- binding a machine to a loaded row ---------------------------------------------------


def test_binding_machines_to_loaded_rows_writes_nothing(client, db, make, p):
    sent = _sent(client, make, p)
    aid = sent["id"]
    table = Agreement.__table__
    for state in AGREEMENT.states:
        db.session.execute(sa.update(table).where(table.c.id == aid).values(state=state.value))
        db.session.commit()
        db.session.expire_all()
        agreement = db.session.get(Agreement, aid)
        version = agreement.version_id
        bound = [AGREEMENT.bind(agreement)] + [
            SIGNATURE.bind(sig) for sig in service._signatures(agreement)]
        assert all(m.model.state for m in bound)
        assert agreement.state == state.value
        assert not db.session.dirty, f"binding in {state} marked rows as changed"
        db.session.commit()
        db.session.expire_all()
        assert db.session.get(Agreement, aid).version_id == version


def test_scheduler_functions_activate_and_expire_on_their_dates(client, db, make, p):
    """Activation on the start date and expiry after the end date, as the scheduler
    calls them; each is a no-op before its date."""
    from consent.timeutil import start_of_day

    start = (utcnow() + timedelta(days=40)).date()
    aid = _draft(client, make, p, start_date=start.isoformat(),
                 end_date=(start + timedelta(days=9)).isoformat())
    assert run_to_execution(client, make, p, aid)["state"] == "executed"
    with client.application.app_context():
        db.session.expire_all()
        agreement = db.session.get(Agreement, aid)
        first_instant = start_of_day(agreement.start_date)
        after_end = start_of_day(agreement.end_date + timedelta(days=1))
        assert service.activate_due(first_instant - timedelta(seconds=1)) == 0
        assert service.activate_due(first_instant) == 1
        db.session.commit()
        assert db.session.get(Agreement, aid).state == "active"
        assert service.expire_due(after_end - timedelta(seconds=1)) == 0
        assert service.expire_due(after_end) == 1
        db.session.commit()
        assert db.session.get(Agreement, aid).state == "expired"
        assert service.activate_due(after_end) == service.expire_due(after_end) == 0
