"""A decision made on a page that something newer has overtaken gets 409 and changes
nothing: the same form posted twice, a grant posted after another guardian revoked,
and two posts of one page at the same moment."""

from __future__ import annotations

import sqlalchemy as sa

from consent.errors import Conflict
from consent.extensions import db as _db
from consent.models import Consent, ConsentEvent, OutboxMessage, Student, User
from consent.services import consents as service
from consent.services.actors import actor_for
from tests.agreements.test_concurrency import _race
from tests.api.helpers import bearer, make_partnership
from tests.consents.test_consent_semantics import _open_agreement
from tests.web.helpers import ledger_seen_on

GRANT = {"recipient": "promise", "form_version": 1, "purposes": ["academic_support"],
         "categories": ["attendance"], "decision": "grant"}


def _rows(db, student_id):
    db.session.expire_all()
    return db.session.execute(sa.select(Consent.id, Consent.category, Consent.state).where(
        Consent.student_id == student_id).order_by(Consent.id)).all()


def _counts(db):
    db.session.expire_all()
    return (db.session.scalar(sa.select(sa.func.count()).select_from(ConsentEvent)),
            db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)))


def _page_form(client, student_id, agreement_id):
    page = client.get(f"/family/students/{student_id}").get_data(as_text=True)
    return {**GRANT, "agreement": agreement_id,
            "ledger_seen": ledger_seen_on(page, agreement_id, "promise")}


def test_the_same_grant_form_posted_twice_is_stored_once(db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    family = login(p.guardian_user)
    form = _page_form(family, p.student.id, agreement.id)
    assert form["ledger_seen"] == "0"  # nothing recorded for this partner yet
    url = f"/family/students/{p.student.id}/consents"
    assert family.post(url, data=form).status_code == 302
    [(first_id, _, state)] = _rows(db, p.student.id)
    assert state == "granted"
    before = _counts(db)
    again = family.post(url, data=form)  # the back button, or a second click
    assert again.status_code == 409
    page = again.get_data(as_text=True)
    assert "another decision for this partner was recorded" in page
    assert _rows(db, p.student.id) == [(first_id, "attendance", "granted")]
    assert _counts(db) == before  # no ledger entry, no second receipt
    # The page shown with the 409 carries the newest entry, so a decision made on it counts.
    newest = db.session.scalar(sa.select(sa.func.max(ConsentEvent.id)))
    assert ledger_seen_on(page, agreement.id, "promise") == str(newest)


def test_a_grant_from_a_page_older_than_another_guardians_revocation_is_refused(db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    second_user = make.user("guardian", email="joe@family.example", name="Joe O'Brien")
    make.link(p.student, make.guardian(second_user, given="Joe", family="O'Brien"))
    _db.session.commit()
    maria, joe = login(p.guardian_user), login(second_user)
    url = f"/family/students/{p.student.id}/consents"
    assert maria.post(url, data=_page_form(maria, p.student.id, agreement.id)).status_code == 302
    [(consent_id, _, _)] = _rows(db, p.student.id)
    stale = _page_form(maria, p.student.id, agreement.id)  # Maria's page, left open
    page = joe.get(f"/family/students/{p.student.id}").get_data(as_text=True)
    version = page.split(f'action="/family/consents/{consent_id}/revoke"', 1)[1]
    version = version.split('name="version" value="', 1)[1].split('"', 1)[0]
    assert joe.post(f"/family/consents/{consent_id}/revoke",
                    data={"version": version}).status_code == 302
    before = _counts(db)
    r = maria.post(url, data=stale)
    assert r.status_code == 409
    assert _rows(db, p.student.id) == [(consent_id, "attendance", "revoked")]
    assert _counts(db) == before


def test_the_decision_form_needs_the_ledger_state(db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    family = login(p.guardian_user)
    url = f"/family/students/{p.student.id}/consents"
    for seen in ({}, {"ledger_seen": ""}, {"ledger_seen": "abc"}):
        r = family.post(url, data={**GRANT, "agreement": agreement.id, **seen})
        assert r.status_code == 422
        assert "This page is out of date." in r.get_data(as_text=True)
    assert _rows(db, p.student.id) == []


def test_the_api_refuses_a_decision_older_than_ledger_seen(client, db, make):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    family = bearer(make.user_token(p.guardian_user))
    child = client.get(f"/api/v1/students/{p.student.id}", headers=family).get_json()
    [option] = [o for o in child["data"]["agreements"] if o["agreement"] == agreement.id]
    assert option["ledger_seen"] == {"promise": 0}
    body = {**GRANT, "agreement": agreement.id, "ledger_seen": 0}
    url = f"/api/v1/students/{p.student.id}/consents"
    assert client.post(url, headers=family, json=body).status_code == 201
    r = client.post(url, headers=family, json=body)
    assert r.status_code == 409
    error = r.get_json()["error"]
    assert error["field"] == "ledger_seen"
    newest = db.session.scalar(sa.select(sa.func.max(ConsentEvent.id)))
    assert error["details"] == {"ledger_seen": newest}
    assert len(_rows(db, p.student.id)) == 1
    child = client.get(f"/api/v1/students/{p.student.id}", headers=family).get_json()
    [option] = [o for o in child["data"]["agreements"] if o["agreement"] == agreement.id]
    assert option["ledger_seen"] == {"promise": newest}
    body["ledger_seen"] = 2**31
    r = client.post(url, headers=family, json=body)
    assert r.status_code == 422 and r.get_json()["error"]["field"] == "ledger_seen"


def test_one_page_posted_twice_at_the_same_moment_is_stored_once(app, db, make):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    student_id, user_id, agreement_id = p.student.id, p.guardian_user.id, agreement.id
    partner_id = p.partner.id  # the threads must not touch this session's objects

    def post():
        def prepare():
            student, user = _db.session.get(Student, student_id), _db.session.get(User, user_id)
            seen = service.ledger_position(student_id, partner_id, [agreement_id])

            def go():
                with app.test_request_context():
                    service.decide(student, user, actor_for(user), agreement_id=agreement_id,
                                   recipient_slug="promise", purposes=["academic_support"],
                                   categories=["attendance"], ledger_seen=seen)
            return go
        return prepare

    for _ in range(5):
        outcomes = _race(app, post(), post())
        winners = [o for o in outcomes if o == "ok"]
        assert len(winners) == 1, outcomes
        [loser] = [o for o in outcomes if o != "ok"]
        assert isinstance(loser, Conflict), repr(loser)
        rows = _rows(db, student_id)
        assert [state for _, _, state in rows].count("granted") == 1


def test_a_form_version_or_ledger_position_no_page_showed_is_wrong_not_stale(client, db, make):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    family = bearer(make.user_token(p.guardian_user))
    url = f"/api/v1/students/{p.student.id}/consents"
    before = _counts(db)
    for wrong, field in (({"form_version": 2}, "form_version"),
                         ({"form_version": 2**31 - 1}, "form_version"),
                         ({"form_version": 2**63}, "form_version"),
                         ({"ledger_seen": 1}, "ledger_seen"),
                         ({"ledger_seen": 2**31 - 1}, "ledger_seen")):
        body = {**GRANT, "agreement": agreement.id, "ledger_seen": 0, **wrong}
        r = client.post(url, headers=family, json=body)
        assert (r.status_code, r.get_json()["error"]["field"]) == (422, field), (wrong, r.json)
    assert _counts(db) == before and _rows(db, p.student.id) == []
    r = client.post(url, headers=family, json={**GRANT, "agreement": agreement.id,
                                               "ledger_seen": 0})
    assert r.status_code == 201
