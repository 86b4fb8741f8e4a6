"""Renewals and amendments pass coverage on without a gap or an overlap; termination
takes effect on its date; comments leave the state alone."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from consent.access.decisions import decide
from consent.models import Agreement, AuditEntry, Organization, Student
from consent.services import agreements as service
from consent.timeutil import end_of_day, iso, start_of_day, utcnow
from tests.api.helpers import bearer, make_partnership
from tests.api.test_roles import active_agreement, run_to_execution
from tests.factories import district_today


def _grant(client, make, p, aid, categories):
    family = bearer(make.user_token(p.guardian_user))
    r = client.post(f"/api/v1/students/{p.student.id}/consents", headers=family, json={
        "agreement": aid, "recipient": "promise", "purposes": ["academic_support"],
        "categories": categories})
    assert r.status_code == 201, r.json


def _decision(db, at, category="attendance"):
    db.session.expire_all()
    recipient = db.session.scalar(sa.select(Organization).where(Organization.slug == "promise"))
    student = db.session.scalar(sa.select(Student).where(Student.sourced_id == "S-1001"))
    return decide(recipient, student, "S-1001", category, "academic_support", at)


def test_amendment_takes_over_at_the_instant_it_is_executed(client, db, make):
    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    _grant(client, make, p, aid, ["attendance", "quarterly_grades"])
    legal = bearer(make.user_token(p.legal))

    r = client.post(f"/api/v1/agreements/{aid}/successors", json={"kind": "amendment"},
                    headers=legal)
    assert r.status_code == 201, r.json
    amendment = r.json["data"]
    assert amendment["predecessor"] == aid and amendment["successor_kind"] == "amendment"
    assert amendment["state"] == "draft"
    # A second successor while one is under way is refused.
    r = client.post(f"/api/v1/agreements/{aid}/successors", json={"kind": "renewal"},
                    headers=legal)
    assert r.status_code == 409
    # The amendment drops behavior and keeps the rest.
    r = client.patch(f"/api/v1/agreements/{amendment['id']}", headers=legal,
                     json={"categories": ["attendance", "quarterly_grades"]})
    assert r.status_code == 200, r.json
    done = run_to_execution(client, make, p, amendment["id"])
    assert done["state"] == "active"

    db.session.expire_all()
    old = db.session.get(Agreement, aid)
    new = db.session.get(Agreement, amendment["id"])
    assert old.state == "superseded"
    assert old.superseded_at == new.executed_at  # the successor starts today: at execution
    before = _decision(db, old.superseded_at - timedelta(microseconds=1))
    after = _decision(db, old.superseded_at)
    assert (before.decision, before.agreement) == ("permit", aid)
    # The family's consent carries over to the amendment; no instant is covered twice.
    assert (after.decision, after.agreement) == ("permit", amendment["id"])
    bundle = client.get("/api/v1/rules/bundle",
                        headers=bearer(make.client_token(p.partner))).json["bundle"]
    windows = sorted((g["valid_from"], g["valid_until"], g["agreement"]) for g in bundle["grants"])
    assert [w[2] for w in windows] == [amendment["id"]]


def test_renewal_starts_the_day_after_the_predecessor_ends(client, db, make):
    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    legal = bearer(make.user_token(p.legal))
    renewal = client.post(f"/api/v1/agreements/{aid}/successors", json={"kind": "renewal"},
                          headers=legal).json["data"]
    old = db.session.get(Agreement, aid)
    assert date.fromisoformat(renewal["start_date"]) == old.end_date + timedelta(days=1)
    assert (date.fromisoformat(renewal["end_date"]) - date.fromisoformat(renewal["start_date"])
            == old.end_date - old.start_date)
    executed = run_to_execution(client, make, p, renewal["id"])
    assert executed["state"] == "executed"  # its start date has not come yet
    with client.application.app_context():
        boundary = end_of_day(old.end_date)
        assert boundary == start_of_day(old.end_date + timedelta(days=1))
    # An exception-free world: the renewal covers nothing without consent, so check
    # the agreement windows directly at the boundary.
    from consent.access.facts import agreement_window

    db.session.expire_all()
    with client.application.app_context():
        first = agreement_window(db.session.get(Agreement, aid))
        second = agreement_window(db.session.get(Agreement, renewal["id"]))
    assert first.end == second.start == boundary


def test_termination_takes_effect_on_its_date(client, db, make):
    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    _grant(client, make, p, aid, ["attendance"])
    legal = bearer(make.user_token(p.legal))
    effective = district_today() + timedelta(days=10)
    r = client.post(f"/api/v1/agreements/{aid}/events/terminate", headers=legal,
                    json={"reason": "Program ended", "effective_on": effective.isoformat()})
    assert r.status_code == 200, r.json
    assert r.json["data"]["state"] == "active"
    assert r.json["data"]["ended_on"] == effective.isoformat()
    with client.application.app_context():
        cutoff = start_of_day(effective)
    assert _decision(db, cutoff - timedelta(seconds=1)).decision == "permit"
    assert _decision(db, cutoff).decision == "deny"
    # A second notice is refused; the scheduler terminates on the date.
    r = client.post(f"/api/v1/agreements/{aid}/events/terminate", headers=legal,
                    json={"reason": "again"})
    assert r.status_code == 409
    with client.application.app_context():
        assert service.terminate_due(cutoff - timedelta(seconds=1)) == 0
        assert service.terminate_due(cutoff) == 1
        from consent.extensions import db as app_db

        app_db.session.commit()
    db.session.expire_all()
    assert db.session.get(Agreement, aid).state == "terminated"


def test_terminate_without_reason_or_in_the_past_is_refused(client, db, make):
    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    legal = bearer(make.user_token(p.legal))
    r = client.post(f"/api/v1/agreements/{aid}/events/terminate", json={"reason": " "},
                    headers=legal)
    assert (r.status_code, r.json["error"]["field"]) == (422, "reason")
    r = client.post(f"/api/v1/agreements/{aid}/events/terminate", headers=legal, json={
        "reason": "x", "effective_on": (district_today() - timedelta(days=1)).isoformat()})
    assert (r.status_code, r.json["error"]["field"]) == (422, "effective_on")
    db.session.expire_all()
    assert db.session.get(Agreement, aid).ended_on is None


def test_an_effective_date_on_an_event_other_than_terminate_is_refused(client, db, make):
    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    legal = bearer(make.user_token(p.legal))
    before = db.session.get(Agreement, aid).state
    r = client.post(f"/api/v1/agreements/{aid}/events/comment", headers=legal, json={
        "comment": "noted", "effective_on": district_today().isoformat()})
    assert r.status_code == 422
    assert r.json["error"] == {"code": "invalid", "field": "effective_on",
                               "message": "effective_on applies only to terminate"}
    db.session.expire_all()
    assert db.session.get(Agreement, aid).state == before


def test_comments_are_recorded_without_changing_state(client, db, make):
    from tests.api.helpers import agreement_payload

    p = make_partnership(make)
    legal = bearer(make.user_token(p.legal))
    reviewer = bearer(make.user_token(p.reviewer))
    aid = client.post("/api/v1/agreements", json=agreement_payload(), headers=legal).json[
        "data"]["id"]
    r = client.post(f"/api/v1/agreements/{aid}/events/comment",
                    json={"comment": "Clause 2 needs the breach window."}, headers=reviewer)
    assert r.status_code == 200, r.json
    assert r.json["data"]["state"] == "draft"
    r = client.post(f"/api/v1/agreements/{aid}/events/comment", json={}, headers=reviewer)
    assert (r.status_code, r.json["error"]["field"]) == (422, "comment")


def test_audit_entries_carry_the_revision_hash(client, db, make):
    from consent.models import AuditEntry

    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    db.session.expire_all()
    agreement = db.session.get(Agreement, aid)
    entries = db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.subject_type == "agreement", AuditEntry.subject_id == aid,
        AuditEntry.from_state.is_not(None))).all()
    assert {e.event for e in entries} >= {"submit", "approve", "send_for_signature",
                                          "execute", "activate"}
    assert all(e.revision_hash == agreement.content_hash() for e in entries
               if e.event in ("submit", "approve", "send_for_signature"))


def test_termination_after_the_end_date_is_refused(client, db, make):
    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    end = db.session.get(Agreement, aid).end_date
    r = client.post(f"/api/v1/agreements/{aid}/events/terminate", headers=bearer(
        make.user_token(p.legal)), json={"reason": "x",
                                         "effective_on": (end + timedelta(days=1)).isoformat()})
    assert (r.status_code, r.json["error"]["field"]) == (422, "effective_on")


def test_signing_with_a_stale_version_is_refused(client, db, make):
    from tests.api.helpers import agreement_payload

    p = make_partnership(make)
    legal = bearer(make.user_token(p.legal))
    aid = client.post("/api/v1/agreements", json=agreement_payload(), headers=legal).json[
        "data"]["id"]
    client.post(f"/api/v1/agreements/{aid}/events/submit", json={}, headers=legal)
    client.post(f"/api/v1/agreements/{aid}/events/approve", json={},
                headers=bearer(make.user_token(p.reviewer)))
    sent = client.post(f"/api/v1/agreements/{aid}/events/send_for_signature", json={},
                       headers=legal).json["data"]
    body = {"name": "Dana", "title": "Superintendent",
            "document_sha256": sent["signing_document_sha256"]}
    d_sig = bearer(make.user_token(p.district_signatory))
    r = client.post(f"/api/v1/agreements/{aid}/signatures", json=body,
                    headers={**d_sig, "If-Match": '"1"'})
    assert r.status_code == 409 and r.json["error"]["field"] == "version"
    r = client.post(f"/api/v1/agreements/{aid}/signatures",
                    json={**body, "version": sent["version"]}, headers=d_sig)
    assert r.status_code == 200, r.json


def test_a_termination_at_once_does_not_take_back_what_was_permitted_before_it(client, db,
                                                                              make):
    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    _grant(client, make, p, aid, ["attendance"])
    enforcer = bearer(make.client_token(p.partner))
    before = utcnow()
    ask = {"recipient": "promise", "student": "S-1001", "category": "attendance",
           "purpose": "academic_support", "at": iso(before)}
    assert client.post("/api/v1/decisions", headers=enforcer, json=ask
                       ).json["data"]["decision"] == "permit"
    r = client.post(f"/api/v1/agreements/{aid}/events/terminate",
                    headers=bearer(make.user_token(p.legal)), json={"reason": "partner closed"})
    assert r.status_code == 200, r.json
    assert r.json["data"]["state"] == "terminated"
    db.session.expire_all()
    terminated_at = db.session.get(Agreement, aid).ended_at
    assert before < terminated_at <= utcnow()
    # The same question about the same earlier instant gets the same answer, from the
    # compiled rules and from the database alike; from the termination on, deny.
    assert client.post("/api/v1/decisions", headers=enforcer, json=ask
                       ).json["data"]["decision"] == "permit"
    assert _decision(db, before).decision == "permit"
    assert _decision(db, terminated_at - timedelta(microseconds=1)).decision == "permit"
    assert _decision(db, terminated_at).decision == "deny"
    now = client.post("/api/v1/decisions", headers=enforcer, json={**ask, "at": iso(utcnow())})
    assert now.json["data"]["decision"] == "deny"
    # The bundle keeps nothing that is still to come.
    bundle = client.get("/api/v1/rules/bundle", headers=enforcer).json["bundle"]
    assert [g["valid_until"] for g in bundle["grants"]] == []  # nothing left to come


def test_a_successor_cannot_start_before_its_predecessor(client, db, make):
    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    legal = bearer(make.user_token(p.legal))
    renewal = client.post(f"/api/v1/agreements/{aid}/successors", json={"kind": "renewal"},
                          headers=legal).json["data"]
    start = db.session.get(Agreement, aid).start_date
    r = client.patch(f"/api/v1/agreements/{renewal['id']}", headers=legal,
                     json={"start_date": (start - timedelta(days=1)).isoformat()})
    assert r.status_code == 422 and r.json["error"]["field"] == "start_date"
    assert f"starts on {start.isoformat()}; its renewal cannot start before it" in \
        r.json["error"]["message"]
    db.session.expire_all()
    assert db.session.get(Agreement, renewal["id"]).start_date > start


def test_an_agreement_signed_after_its_term_ended_is_expired_at_once(client, db, make):
    from tests.api.helpers import agreement_payload
    from tests.api.test_roles import run_to_execution

    p = make_partnership(make)
    legal = bearer(make.user_token(p.legal))
    past = district_today() - timedelta(days=400)  # a past agreement recorded now
    aid = client.post("/api/v1/agreements", headers=legal, json=agreement_payload(
        start_date=past.isoformat(),
        end_date=(past + timedelta(days=30)).isoformat())).json["data"]["id"]
    assert run_to_execution(client, make, p, aid)["state"] == "expired"
    events = [e.event for e in db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.subject_type == "agreement", AuditEntry.subject_id == aid)
        .order_by(AuditEntry.id))]
    assert events[-3:] == ["execute", "activate", "expire"]
