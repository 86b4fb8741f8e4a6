"""The cached, incrementally updated rules always equal a compilation from scratch."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from consent.access.bundle import compile_rules
from consent.access.cache import rules_for
from consent.access.decisions import DENIED_REASON, decide, decide_current
from consent.access.facts import rules_version
from consent.models import Consent, Organization, RulesChange, Student
from consent.timeutil import utcnow
from tests.api.helpers import agreement_payload, bearer, make_partnership
from tests.api.test_roles import active_agreement, run_to_execution


def _grants(compiled, now):
    return [g.as_dict() for g in compiled.grants(now)]


def test_incremental_updates_match_full_compilation(client, db, make):
    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    family = bearer(make.user_token(p.guardian_user))
    other_user = make.user("guardian", email="ben.parent@family.example")
    make.link(p.other_student, make.guardian(other_user, given="Bao", family="Nguyễn"))
    other = bearer(make.user_token(other_user))
    recipient = db.session.scalar(sa.select(Organization).where(Organization.slug == "promise"))

    def check():
        now = utcnow()
        cached = rules_for(recipient, now)
        fresh = compile_rules(recipient, rules_version(recipient.id), now)
        assert cached.version == fresh.version
        assert _grants(cached, now) == _grants(fresh, now)
        for student in ("S-1001", "S-1002", "S-9999"):
            row = db.session.scalar(sa.select(Student).where(Student.sourced_id == student))
            for category in ("attendance", "quarterly_grades", "behavior"):
                for at in (now, now + timedelta(days=30)):
                    fast = decide_current(recipient, student, category, "academic_support", at)
                    slow = decide(recipient, row, student, category, "academic_support", at)
                    assert (fast.decision, fast.agreement, fast.consent) == (
                        slow.decision, slow.agreement, slow.consent), (student, category, at)
        return cached

    with client.application.app_context():
        pass
    with db.session.no_autoflush:
        first = check()
    assert first.grants(utcnow()) == []
    r = client.post(f"/api/v1/students/{p.student.id}/consents", headers=family, json={
        "agreement": aid, "recipient": "promise", "purposes": ["academic_support"],
        "categories": ["attendance", "quarterly_grades"]})
    assert r.status_code == 201
    granted = r.json["data"]
    second = check()
    assert second.version > first.version
    r = client.post(f"/api/v1/students/{p.other_student.id}/consents", headers=other, json={
        "agreement": aid, "recipient": "promise", "purposes": ["academic_support"],
        "categories": ["behavior"]})
    assert r.status_code == 201
    check()
    client.post(f"/api/v1/consents/{granted[0]['id']}/revoke", json={}, headers=family)
    third = check()
    assert [c for g in third.grants(utcnow()) for c in g.categories] == [
        "quarterly_grades", "behavior"] or sorted(
        c for g in third.grants(utcnow()) for c in g.categories) == ["behavior",
                                                                     "quarterly_grades"]
    # The changes since the first compilation were consents only.
    kinds = set(db.session.scalars(sa.select(RulesChange.subject_type).where(
        RulesChange.id > first.version)))
    assert kinds == {"consent"}


def test_a_grant_or_revocation_recompiles_only_that_students_grants(client, db, make,
                                                                    monkeypatch):
    import consent.access.cache as cache

    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    make.agreement(p.district, [p.other_partner], basis="school_official", state="active",
                   categories=("attendance",), executed_at=utcnow() - timedelta(hours=1))
    family = bearer(make.user_token(p.guardian_user))
    promise = bearer(make.client_token(p.partner))
    afterschool = bearer(make.client_token(p.other_partner))
    full = []

    def counting_compile(recipient, version, now, students=None):
        full.append(recipient.slug)
        return compile_rules(recipient, version, now, students)

    monkeypatch.setattr(cache, "compile_rules", counting_compile)
    assert client.get("/api/v1/rules/bundle", headers=promise).json["bundle"]["grants"] == []
    other = client.get("/api/v1/rules/bundle", headers=afterschool).json["bundle"]
    assert [g["students"] for g in other["grants"]] == [["S-1001", "S-1002"]]
    assert full == ["promise", "afterschool"]

    r = client.post(f"/api/v1/students/{p.student.id}/consents", headers=family, json={
        "agreement": aid, "recipient": "promise", "purposes": ["academic_support"],
        "categories": ["attendance"]})
    assert r.status_code == 201
    grants = client.get("/api/v1/rules/bundle", headers=promise).json["bundle"]["grants"]
    assert [(g["students"], list(g["categories"])) for g in grants] == [
        (["S-1001"], ["attendance"])]
    client.post(f"/api/v1/consents/{r.json['data'][0]['id']}/revoke", json={}, headers=family)
    assert client.get("/api/v1/rules/bundle", headers=promise).json["bundle"]["grants"] == []
    again = client.get("/api/v1/rules/bundle", headers=afterschool).json["bundle"]
    assert (again["version"], again["grants"]) == (other["version"], other["grants"])
    # Neither recipient was compiled again from scratch.
    assert full == ["promise", "afterschool"]

    # A change to an agreement does recompile that recipient (the counter sees it).
    legal = bearer(make.user_token(p.legal))
    r = client.post("/api/v1/agreements", json=agreement_payload(), headers=legal)
    assert r.status_code == 201
    run_to_execution(client, make, p, r.json["data"]["id"])
    client.get("/api/v1/rules/bundle", headers=promise)
    assert full == ["promise", "afterschool", "promise"]


def test_a_decision_about_an_instant_before_a_revocation_permits_as_the_ledger_does(
        client, db, make):
    """Rules updated for a revocation cover the instants after it; a decision about an
    earlier instant (after the rules were first compiled) answers from the consents."""
    p = make_partnership(make)
    aid = active_agreement(client, make, p)
    family = bearer(make.user_token(p.guardian_user))
    promise = bearer(make.client_token(p.partner))

    def ask(at):
        r = client.post("/api/v1/decisions", headers=promise, json={
            "recipient": "promise", "student": "S-1001", "category": "attendance",
            "purpose": "academic_support", "at": at.isoformat()})
        assert r.status_code == 200, r.json
        return r.json["data"]

    ask(utcnow())  # the rules are compiled (and cached) before the consent exists
    r = client.post(f"/api/v1/students/{p.student.id}/consents", headers=family, json={
        "agreement": aid, "recipient": "promise", "purposes": ["academic_support"],
        "categories": ["attendance"]})
    assert r.status_code == 201
    consent_id = r.json["data"][0]["id"]
    assert ask(utcnow())["decision"] == "permit"  # the rules are updated for the grant
    r = client.post(f"/api/v1/consents/{consent_id}/revoke", json={}, headers=family)
    assert r.status_code == 200, r.json
    consent = db.session.get(Consent, consent_id)
    db.session.refresh(consent)
    granted_at, ended_at = consent.granted_at, consent.ended_at
    assert granted_at < ended_at

    # In force from granted_at up to (not including) ended_at: permit inside, deny after.
    before = ask(ended_at - timedelta(microseconds=1))
    assert (before["decision"], before["consent"], before["basis"]) == (
        "permit", consent_id, "consent")
    assert ask(granted_at)["decision"] == "permit"
    assert ask(ended_at)["decision"] == "deny"
    assert ask(utcnow())["decision"] == "deny"


def test_a_past_instant_is_denied_in_the_same_words_whatever_the_reason(client, db, make):
    """Answers from the consents (an instant before the rules) must not tell a partner
    which student ids exist or why a student is not covered."""
    p = make_partnership(make)
    active_agreement(client, make, p)
    promise = bearer(make.client_token(p.partner))
    answers = []
    for student in ("S-1001", "S-1002", "S-NOBODY"):  # no consent, no consent, no such id
        for at in (utcnow() - timedelta(days=1), utcnow()):
            r = client.post("/api/v1/decisions", headers=promise, json={
                "recipient": "promise", "student": student, "category": "attendance",
                "purpose": "academic_support", "at": at.isoformat()})
            assert r.status_code == 200, r.json
            answers.append((r.json["data"]["decision"], r.json["data"]["reason"]))
    assert set(answers) == {("deny", DENIED_REASON)}
