"""Signature reminders, consent renewal requests, consent expiry and rights at 18."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from consent.extensions import db as app_db
from consent.models import AuditEntry, Consent, ConsentEvent, User
from consent.services import reminders
from consent.services.actors import actor_for
from consent.services.transitions import fire
from tests.scheduling.helpers import LA, days, grant, invite, la, notices, outbox, sent, sweep


@pytest.fixture
def app_config(app_config):
    app_config["DISTRICT_TIMEZONE"] = "America/Los_Angeles"
    return app_config


@pytest.fixture
def awaiting(make):
    """An agreement out for signature with the partner's signature invited."""
    district, partner = make.org(kind="district"), make.org()
    make.user("signatory", org=partner, email="sign@partner.example")
    make.user("signatory", org=partner, email="deputy@partner.example")
    agreement = make.agreement(district, [partner], state="out_for_signature")
    return agreement, partner


def _invited_on(db, signature) -> date:
    at = db.session.scalar(sa.select(AuditEntry.at).where(
        AuditEntry.subject_type == "signature", AuditEntry.subject_id == signature.id,
        AuditEntry.event == "invite"))
    return at.astimezone(LA).date()


def test_unsigned_signatories_get_three_reminders_three_days_apart_then_no_more(
        app, db, awaiting):
    agreement, partner = awaiting
    signature = invite(db, agreement, partner)
    invited_on = _invited_on(db, signature)
    for day in days(invited_on, invited_on + timedelta(days=30)):
        sweep(app, la(day, 9))
        sweep(app, la(day, 18))
    reminded = sent(db, "signature_pending")
    assert [n.due_on for n in reminded] == [invited_on + timedelta(days=k) for k in (3, 6, 9)]
    addresses = sorted(m.to_address for m in outbox(db))
    assert addresses == sorted(["deputy@partner.example", "sign@partner.example"] * 3)


def test_signing_stops_the_reminders_at_once(app, db, awaiting):
    agreement, partner = awaiting
    signature = invite(db, agreement, partner)
    invited_on = _invited_on(db, signature)
    for day in days(invited_on, invited_on + timedelta(days=3)):
        sweep(app, la(day, 9))
    assert len(sent(db, "signature_pending")) == 1
    # The second reminder is already planned (a scheduler planned it and stopped
    # before sending) when the signature comes in; it must not go.
    with app.app_context():
        assert reminders.plan(la(invited_on + timedelta(days=6), 9)) == 1
        app_db.session.commit()
    row = db.session.get(type(signature), signature.id)
    row.signer_name, row.signed_at, row.document_sha256 = "Pat Lee", datetime.now(UTC), "a" * 64
    signer = db.session.scalar(sa.select(User).where(User.email == "sign@partner.example"))
    row.signer_id = signer.id
    fire(row, "sign", actor_for(signer), facts={"own_organization": True})
    db.session.commit()
    for day in days(invited_on + timedelta(days=4), invited_on + timedelta(days=20)):
        sweep(app, la(day, 9))
    assert len(sent(db, "signature_pending")) == 1
    assert [n.status for n in notices(db, "signature_pending")] == ["sent", "cancelled"]
    assert len(outbox(db)) == 2


@pytest.fixture
def family(make):
    district, partner = make.org(kind="district"), make.org(name="Promise Tutoring")
    agreement = make.agreement(district, [partner], state="active", start=date(2027, 8, 1),
                               end=date(2029, 6, 30),
                               executed_at=datetime(2027, 7, 1, tzinfo=UTC))
    parent = make.user("guardian", email="parent@family.example", name="Maria Lopez")
    student = make.student(given="Ana", birth_date=date(2012, 2, 29))
    make.link(student, make.guardian(user=parent))
    make.link(student, make.guardian(email="other@family.example", given="Jo"))
    make.link(student, make.guardian(email="norights@family.example"), rights=False)
    return agreement, partner, student


def test_families_are_asked_to_renew_30_days_before_valid_through_once(app, db, family):
    agreement, partner, student = family
    for category in ("attendance", "quarterly_grades"):
        grant(db, student, agreement, partner, valid_from=date(2027, 9, 1),
              valid_through=date(2028, 6, 30), category=category,
              granted_at=datetime(2027, 9, 1, 17, tzinfo=UTC))
    for day in days(date(2028, 5, 25), date(2028, 6, 5)):
        sweep(app, la(day, 9))
    [request] = sent(db, "consent_renewal")
    assert request.due_on == date(2028, 5, 31)  # 30 June minus 30 days
    mail = outbox(db)
    # One email per guardian with rights (both consents in it), none to the other.
    assert sorted(m.to_address for m in mail) == ["other@family.example",
                                                  "parent@family.example"]
    assert all("attendance" in m.body and "quarterly grades" in m.body for m in mail)


def test_consents_expire_after_the_end_of_their_valid_through_day(app, db, family):
    agreement, partner, student = family
    consent = grant(db, student, agreement, partner, valid_from=date(2027, 9, 1),
                    valid_through=date(2028, 2, 29),
                    granted_at=datetime(2027, 9, 1, 17, tzinfo=UTC))
    sweep(app, la(date(2028, 2, 29), 23, 59))
    db.session.expire_all()
    assert db.session.get(Consent, consent.id).state == "granted"
    sweep(app, la(date(2028, 3, 1), 0, 0))
    sweep(app, la(date(2028, 3, 1), 0, 15))
    db.session.expire_all()
    row = db.session.get(Consent, consent.id)
    assert row.state == "expired"
    assert row.ended_at == la(date(2028, 3, 1), 0, 0)
    events = db.session.scalars(sa.select(ConsentEvent).where(
        ConsentEvent.consent_id == consent.id)).all()
    assert [(e.event, e.channel) for e in events] == [("expire", "scheduler")]


def test_rights_pass_at_18_on_1_march_for_a_29_february_birthday(app, db, make, family):
    agreement, partner, student = family
    student_user = make.user("student", email="ana@student.example")
    row = db.session.get(type(student), student.id)
    row.user_id = student_user.id
    db.session.commit()
    consent = grant(db, student, agreement, partner, valid_from=date(2029, 1, 1),
                    valid_through=date(2029, 6, 30),
                    granted_at=datetime(2029, 1, 5, 17, tzinfo=UTC))
    # Born 29 February 2012: 18 on 1 March 2030 (2030 has no 29 February).
    agreement_row = db.session.get(type(agreement), agreement.id)
    agreement_row.end_date = date(2030, 6, 30)
    db.session.get(Consent, consent.id).valid_through = date(2030, 6, 30)
    db.session.commit()
    sweep(app, la(date(2030, 2, 28), 23, 59))
    db.session.expire_all()
    assert db.session.get(Consent, consent.id).state == "granted"
    assert sent(db, "majority") == []
    sweep(app, la(date(2030, 3, 1), 0, 0))
    db.session.expire_all()
    assert db.session.get(Consent, consent.id).state == "lapsed"
    assert db.session.get(Consent, consent.id).ended_at == la(date(2030, 3, 1), 0, 0)
    for day in days(date(2030, 3, 1), date(2030, 3, 10)):
        sweep(app, la(day, 9))
    [notice] = sent(db, "majority")
    assert notice.due_on == date(2030, 3, 1) and notice.sent_at == la(date(2030, 3, 1))
    told = sorted(m.to_address for m in outbox(db) if m.subject.startswith("Rights pass"))
    assert told == ["ana@student.example", "norights@family.example", "other@family.example",
                    "parent@family.example"]


def test_continue_policy_tells_the_student_but_keeps_consents(app, db, make, family):
    app.config["MAJORITY_POLICY"] = "continue"
    agreement, partner, student = family
    consent = grant(db, student, agreement, partner, valid_from=date(2029, 1, 1),
                    valid_through=date(2029, 6, 30),
                    granted_at=datetime(2029, 1, 5, 17, tzinfo=UTC))
    db.session.get(type(agreement), agreement.id).end_date = date(2030, 6, 30)
    db.session.get(Consent, consent.id).valid_through = date(2030, 6, 30)
    db.session.commit()
    sweep(app, la(date(2030, 3, 1), 9))
    db.session.expire_all()
    assert db.session.get(Consent, consent.id).state == "granted"
    assert len(sent(db, "majority")) == 1
    assert len(notices(db, "majority")) == 1
