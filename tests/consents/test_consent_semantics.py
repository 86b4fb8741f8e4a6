"""The consent semantics of design.md, each pinned: never broader than the agreement, any
guardian's revocation wins, no rights no action, the age-of-majority handover, "valid
through" in the district's zone, and the append-only ledger."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import current_app

from consent.access.decisions import decide as decide_access
from consent.errors import Forbidden, ValidationFailed
from consent.models import Consent, ConsentEvent, OutboxMessage
from consent.services import consents as service
from consent.services.actors import actor_for
from consent.services.consent_forms import issue_forms
from consent.services.majority import hand_over_at_majority
from consent.timeutil import district_zone, end_of_day, start_of_day, utcnow
from tests.api.helpers import make_partnership
from tests.factories import district_today
from tests.web.helpers import post_decision

PURPOSE = "academic_support"


def _open_agreement(db, make, p, **fields):
    """An executed, active consent-based agreement covering the family's school, with forms."""
    agreement = make.agreement(p.district, [p.partner], state="active",
                               executed_at=utcnow() - timedelta(days=1),
                               categories=("attendance", "quarterly_grades", "behavior"),
                               start=district_today() - timedelta(days=1), **fields)
    issue_forms(agreement)
    db.session.commit()
    return agreement


def _grant(db, user, student, agreement, categories=("attendance",), **kw):
    rows = service.decide(student, user, actor_for(user), agreement_id=agreement.id,
                          recipient_slug="promise", purposes=[PURPOSE],
                          categories=list(categories), **kw)
    db.session.commit()
    return rows


def _permit(p, student, category, at) -> bool:
    return decide_access(p.partner, student, student.sourced_id, category, PURPOSE,
                         at).decision == "permit"


def _birthday_in(days: int) -> date:
    """A birth date whose 18th birthday falls `days` from today in the district."""
    day = district_today() + timedelta(days=days)
    try:
        return day.replace(year=day.year - 18)
    except ValueError:
        return date(day.year - 18, 2, 28)


# -- never broader than the agreement ---------------------------------------------------------

@pytest.mark.parametrize("change, field", [
    ({"categories": ["contact"]}, "categories[0]"),
    ({"purposes": ["marketing"]}, "purposes[0]"),
    ({"recipient_slug": "afterschool"}, "recipient"),
    ({"valid_through": "past_end"}, "valid_through"),
])
def test_a_consent_is_never_broader_than_its_agreement(db, make, change, field):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    args = dict(agreement_id=agreement.id, recipient_slug="promise", purposes=[PURPOSE],
                categories=["attendance"])
    if change.get("valid_through") == "past_end":
        change = {"valid_through": agreement.end_date + timedelta(days=1)}
    args.update(change)
    with pytest.raises(ValidationFailed) as caught:
        service.decide(p.student, p.guardian_user, actor_for(p.guardian_user), **args)
    assert caught.value.field == field
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Consent.id))) == 0
    # Within bounds, the consent runs to the agreement's end date and not a day longer.
    granted = _grant(db, p.guardian_user, p.student, agreement)
    assert granted[0].valid_through == agreement.end_date


# -- several guardians ------------------------------------------------------------------------

def test_a_revocation_by_any_guardian_wins(db, make):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    second_user = make.user("guardian", email="jo@family.example", name="Jo O'Brien")
    make.link(p.student, make.guardian(second_user, given="Jo", family="O'Brien"))
    consent = _grant(db, p.guardian_user, p.student, agreement)[0]
    assert _permit(p, p.student, "attendance", utcnow())

    service.revoke(consent, second_user, actor_for(second_user), "we changed our minds")
    db.session.commit()
    db.session.expire_all()
    consent = db.session.get(Consent, consent.id)
    assert consent.state == "revoked"
    assert not _permit(p, p.student, "attendance", utcnow())
    assert consent.events[-1].actor_user_id == second_user.id
    # The first guardian cannot undo the revocation by revoking or re-reading it.
    with pytest.raises(Exception):  # noqa: B017 - InvalidTransition: nothing to revoke
        service.revoke(consent, p.guardian_user, actor_for(p.guardian_user))
    db.session.rollback()
    assert db.session.get(Consent, consent.id).state == "revoked"


def test_a_guardian_without_educational_rights_can_neither_grant_nor_revoke(db, make):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    consent = _grant(db, p.guardian_user, p.student, agreement)[0]
    no_rights = make.user("guardian", email="ray@family.example")
    make.link(p.student, make.guardian(no_rights, given="Ray", family="O'Brien"), rights=False)
    events = db.session.scalar(sa.select(sa.func.count(ConsentEvent.id)))

    with pytest.raises(Forbidden, match="educational rights"):
        service.decide(p.student, no_rights, actor_for(no_rights), agreement_id=agreement.id,
                       recipient_slug="promise", purposes=[PURPOSE], categories=["behavior"])
    db.session.rollback()
    with pytest.raises(Forbidden, match="educational rights"):
        service.revoke(db.session.get(Consent, consent.id), no_rights, actor_for(no_rights))
    db.session.rollback()
    assert db.session.get(Consent, consent.id).state == "granted"
    assert db.session.scalar(sa.select(sa.func.count(ConsentEvent.id))) == events


# -- age of majority --------------------------------------------------------------------------

def test_from_the_18th_birthday_in_the_district_only_the_student_acts(db, make):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    p.student.birth_date = _birthday_in(1)  # 18 tomorrow: the guardian may still act
    db.session.commit()
    _grant(db, p.guardian_user, p.student, agreement)
    p.student.birth_date = _birthday_in(0)  # 18 today in the district's zone
    db.session.commit()
    with pytest.raises(Forbidden, match="is 18"):
        _grant(db, p.guardian_user, p.student, agreement, categories=("behavior",))
    db.session.rollback()
    student_user = make.user("student", email="ana@student.example")
    p.student.user_id = student_user.id
    db.session.commit()
    rows = _grant(db, student_user, p.student, agreement, categories=("behavior",))
    assert rows[0].given_as == "student"


def _adult_soon(db, make, days=10):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    student_user = make.user("student", email="ana@student.example", name="Ana O'Brien")
    p.student.birth_date = _birthday_in(days)
    p.student.user_id = student_user.id
    db.session.commit()
    consent = _grant(db, p.guardian_user, p.student, agreement)[0]
    adult_at = start_of_day(p.student.birth_date.replace(year=p.student.birth_date.year + 18))
    return p, consent, adult_at


def _outbox(db):
    return db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()


def test_at_majority_a_guardians_consent_lapses(db, make):
    # The student and the guardians are told by the scheduler's `majority` notice, sent
    # exactly once (tests/scheduling/test_family_and_signature_notices.py).
    p, consent, adult_at = _adult_soon(db, make)
    # Midnight of the birthday in UTC is not the district's midnight: nothing happens yet.
    utc_midnight = datetime.combine(adult_at.astimezone(district_zone()).date(),
                                    datetime.min.time(), tzinfo=adult_at.tzinfo)
    assert utc_midnight != adult_at
    early = min(utc_midnight, adult_at - timedelta(microseconds=1))
    report = hand_over_at_majority(early)
    db.session.commit()
    assert report.lapsed == []
    assert _permit(p, p.student, "attendance", adult_at - timedelta(microseconds=1))

    report = hand_over_at_majority(adult_at)
    db.session.commit()
    assert report.lapsed == [consent.id]
    db.session.expire_all()
    consent = db.session.get(Consent, consent.id)
    assert consent.state == "lapsed" and consent.ended_at == adult_at
    assert consent.events[-1].event == "lapse" and consent.events[-1].acted_as == "system"
    assert not _permit(p, p.student, "attendance", adult_at)
    # Running again lapses nothing more.
    again = hand_over_at_majority(adult_at + timedelta(days=1))
    db.session.commit()
    assert again.lapsed == []


def test_a_grace_period_keeps_the_guardians_consent_for_that_many_days(db, make):
    current_app.config["MAJORITY_GRACE_DAYS"] = 5
    p, consent, adult_at = _adult_soon(db, make)
    ends = adult_at + timedelta(days=5)
    report = hand_over_at_majority(adult_at + timedelta(days=4))
    db.session.commit()
    assert report.lapsed == []
    assert db.session.get(Consent, consent.id).state == "granted"
    assert _permit(p, p.student, "attendance", ends - timedelta(microseconds=1))
    assert not _permit(p, p.student, "attendance", ends)
    report = hand_over_at_majority(ends)
    db.session.commit()
    assert report.lapsed == [consent.id]
    db.session.expire_all()
    assert db.session.get(Consent, consent.id).ended_at == ends


def test_under_the_continue_policy_the_consent_stays(db, make):
    current_app.config["MAJORITY_POLICY"] = "continue"
    p, consent, adult_at = _adult_soon(db, make)
    report = hand_over_at_majority(adult_at + timedelta(days=30))
    db.session.commit()
    assert report.lapsed == []
    assert db.session.get(Consent, consent.id).state == "granted"
    assert _permit(p, p.student, "attendance", adult_at + timedelta(days=30))


def test_a_student_given_consent_does_not_lapse(db, make):
    p, guardian_consent, _ = _adult_soon(db, make, days=1)
    p.student.birth_date = _birthday_in(0)  # the birthday is today: now the student acts
    db.session.commit()
    own = _grant(db, p.student.user, p.student, guardian_consent.agreement,
                 categories=("behavior",))[0]
    report = hand_over_at_majority(utcnow())
    db.session.commit()
    assert report.lapsed == [guardian_consent.id]
    assert db.session.get(Consent, own.id).state == "granted"


# -- dates ------------------------------------------------------------------------------------

def test_valid_through_means_the_end_of_that_day_in_the_district(db, make):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    through = district_today() + timedelta(days=3)
    _grant(db, p.guardian_user, p.student, agreement, valid_through=through)
    last_instant = end_of_day(through) - timedelta(microseconds=1)
    assert end_of_day(through) == start_of_day(through + timedelta(days=1))
    assert end_of_day(through).astimezone(district_zone()).hour == 0
    assert _permit(p, p.student, "attendance", last_instant)
    assert not _permit(p, p.student, "attendance", end_of_day(through))


# -- the ledger -------------------------------------------------------------------------------

def test_the_ledger_records_actor_time_ip_form_version_and_language(db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    p.guardian_user.preferred_language = "es"
    db.session.commit()
    family = login(p.guardian_user)
    before = utcnow()
    r = post_decision(family, f"/family/students/{p.student.id}/consents", {
        "agreement": agreement.id, "recipient": "promise", "form_version": 1,
        "purposes": [PURPOSE], "categories": ["attendance"], "decision": "grant"},
        environ_base={"REMOTE_ADDR": "203.0.113.7", "HTTP_USER_AGENT": "Phone/1.0"})
    assert r.status_code == 302, r.get_data(as_text=True)
    db.session.expire_all()
    [event] = db.session.scalars(sa.select(ConsentEvent)).all()
    assert event.actor_user_id == p.guardian_user.id and event.acted_as == "guardian"
    assert before <= event.at <= utcnow()
    assert (event.ip_address, event.user_agent) == ("203.0.113.7", "Phone/1.0")
    assert event.language == "es" and event.form_id is not None
    assert event.consent.form.language == "es" and event.consent.form.version == 1

    # Append-only: no update or delete of a ledger row goes through.
    event.reason = "edited"
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.flush()
    db.session.rollback()
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.delete(db.session.get(ConsentEvent, event.id))
        db.session.flush()
    db.session.rollback()
    # A revocation adds a row and leaves the grant's row as it was.
    consent = db.session.get(Consent, event.consent_id)
    service.revoke(consent, p.guardian_user, actor_for(p.guardian_user))
    db.session.commit()
    rows = db.session.scalars(sa.select(ConsentEvent).order_by(ConsentEvent.id)).all()
    assert [(e.event, e.from_state, e.to_state) for e in rows] == [
        ("grant", "requested", "granted"), ("revoke", "granted", "revoked")]
    assert rows[0].ip_address == "203.0.113.7" and rows[0].reason is None


def test_a_later_answer_replaces_a_refusal_so_one_answer_is_current(app, db, make):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    with app.test_request_context():
        first = _grant(db, p.guardian_user, p.student, agreement, decision="refuse")
        second = _grant(db, p.guardian_user, p.student, agreement, decision="refuse")
        third = _grant(db, p.guardian_user, p.student, agreement,
                       categories=("attendance", "behavior"))
        first, second, third = ([c.id for c in rows] for rows in (first, second, third))
    ids = first + second + third
    db.session.expire_all()
    states = {c.id: c.state for c in db.session.scalars(
        sa.select(Consent).where(Consent.id.in_(ids)))}
    assert states == {first[0]: "superseded", second[0]: "superseded",
                      third[0]: "granted", third[1]: "granted"}
    events = db.session.execute(sa.select(ConsentEvent.consent_id, ConsentEvent.event,
                                          ConsentEvent.from_state, ConsentEvent.to_state)
                                .where(ConsentEvent.event == "supersede")
                                .order_by(ConsentEvent.id)).all()
    assert events == [(first[0], "supersede", "refused", "superseded"),
                      (second[0], "supersede", "refused", "superseded")]
    current = db.session.execute(sa.select(Consent.category, Consent.state).where(
        Consent.student_id == p.student.id, Consent.state.in_(["granted", "refused"]))
        .order_by(Consent.category)).all()
    assert current == [("attendance", "granted"), ("behavior", "granted")]


def test_from_18_a_guardian_no_longer_sees_the_students_answers(app, db, make, login, client):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    p.student.birth_date = _birthday_in(-1)  # turned 18 yesterday
    student_user = make.user("student", email="ana@student.example", name="Ana O'Brien")
    p.student.user_id = student_user.id
    db.session.commit()
    with app.test_request_context():
        _grant(db, student_user, p.student, agreement)  # her own decision
    own = login(student_user).get(f"/family/students/{p.student.id}").get_data(as_text=True)
    assert "Your answers" in own and 'data-consent="' in own
    r = login(p.guardian_user).get(f"/family/students/{p.student.id}")
    page = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "is 18 or older and now decides about their own school records" in page
    for private in ('data-consent="', "Your answers", "Who received what", "History"):
        assert private not in page, private
    r = client.get(f"/api/v1/students/{p.student.id}",
                   headers={"Authorization": f"Bearer {make.user_token(p.guardian_user)}"})
    assert r.status_code == 403 and "consents" not in r.get_data(as_text=True).split(
        '"message"')[0]
    assert client.get(f"/api/v1/students/{p.student.id}", headers={
        "Authorization": f"Bearer {make.user_token(student_user)}"}).status_code == 200
