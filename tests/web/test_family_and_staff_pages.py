"""Family consent pages and the staff consent status page."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from consent.models import Consent, ConsentForm
from consent.services.consent_forms import issue_forms
from consent.services.consents import ended_with_agreement
from consent.timeutil import local_date, utcnow
from tests.api.helpers import bearer, make_partnership
from tests.web.helpers import grant_on_page, post_decision


def _open_agreement(db, make, p, recipients=None):
    """An active consent-based agreement covering the family's school, with its form."""
    agreement = make.agreement(p.district, recipients or [p.partner], state="active",
                               categories=("attendance", "quarterly_grades", "behavior"),
                               title="Promise MOU")
    issue_forms(agreement)
    db.session.commit()
    return agreement


def _consents(db, student_id):
    db.session.expire_all()
    return db.session.scalars(sa.select(Consent).where(Consent.student_id == student_id)
                              .order_by(Consent.id)).all()


def test_refusing_with_nothing_ticked_refuses_everything_asked(db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    family = login(p.guardian_user)
    r = post_decision(family, f"/family/students/{p.student.id}/consents", {
        "agreement": agreement.id, "recipient": "promise", "form_version": 1,
        "decision": "refuse"})
    assert r.status_code == 302, r.get_data(as_text=True)
    rows = _consents(db, p.student.id)
    assert sorted((c.category, c.state) for c in rows) == [
        ("attendance", "refused"), ("behavior", "refused"), ("quarterly_grades", "refused")]


def test_granting_nothing_shows_the_error_by_the_checkboxes(db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    r = post_decision(login(p.guardian_user), f"/family/students/{p.student.id}/consents", {
        "agreement": agreement.id, "recipient": "promise", "form_version": 1,
        "purposes": ["academic_support"], "decision": "grant"})
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert f'id="c-{agreement.id}-promise-categories-error"' in page
    assert "choose at least one" in page
    assert _consents(db, p.student.id) == []


def test_an_outdated_consent_form_gets_409(db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    issue_forms(agreement)  # the district publishes version 2 while the family reads v1
    db.session.commit()
    r = post_decision(login(p.guardian_user), f"/family/students/{p.student.id}/consents", {
        "agreement": agreement.id, "recipient": "promise", "form_version": 1,
        "purposes": ["academic_support"], "categories": ["attendance"], "decision": "grant"})
    assert r.status_code == 409
    page = r.get_data(as_text=True)
    assert "updated after you opened it" in page
    assert 'name="form_version" value="2"' in page  # the page now shows version 2
    assert _consents(db, p.student.id) == []


def test_revoking_with_a_stale_page_gets_409(db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    family = login(p.guardian_user)
    grant_on_page(family, p.student.id, agreement.id)
    (consent,) = _consents(db, p.student.id)
    r = family.post(f"/family/consents/{consent.id}/revoke",
                    data={"version": consent.version_id + 5})
    assert r.status_code == 409
    assert _consents(db, p.student.id)[0].state == "granted"


def test_guardian_without_educational_rights_sees_no_consent_form(db, make, login):
    p = make_partnership(make)
    _open_agreement(db, make, p)
    other = make.user("guardian", email="step@family.example")
    make.link(p.student, make.guardian(other), rights=False)
    page = login(other).get(f"/family/students/{p.student.id}").get_data(as_text=True)
    assert "do not hold educational rights" in page
    assert 'name="decision"' not in page


def test_consent_form_text_is_in_the_users_language(db, make, login):
    p = make_partnership(make)
    _open_agreement(db, make, p)
    p.guardian_user.preferred_language = "es"
    db.session.commit()
    page = login(p.guardian_user).get(f"/family/students/{p.student.id}").get_data(as_text=True)
    spanish = db.session.scalar(sa.select(ConsentForm).where(ConsentForm.language == "es"))
    assert 'lang="es"' in page
    assert spanish.title in page


def _grant(db, student, agreement, recipient, category):
    today = local_date(utcnow())
    db.session.add(Consent(student_id=student.id, agreement_id=agreement.id,
                           recipient_id=recipient.id, purpose="academic_support",
                           category=category, state="granted", granted_at=utcnow(),
                           valid_from=today, valid_through=agreement.end_date))
    db.session.commit()


def test_staff_see_consents_for_their_own_organization_only(db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p, recipients=[p.partner, p.other_partner])
    _grant(db, p.student, agreement, p.partner, "attendance")
    _grant(db, p.other_student, agreement, p.other_partner, "behavior")

    partner_staff = make.user("staff", org=p.partner)
    page = login(partner_staff).get("/staff/").get_data(as_text=True)
    assert "Ana O&#39;Brien" in page and "Attendance" in page
    assert "Ben" not in page and "Behavior" not in page

    district_staff = make.user("staff", org=p.district)
    page = login(district_staff).get("/staff/").get_data(as_text=True)
    assert "Ana O&#39;Brien" in page and "Ben Nguyễn" in page

    orphan = make.user("staff")  # no organization: sees nothing
    page = login(orphan).get("/staff/").get_data(as_text=True)
    assert "Ana" not in page and "No consents" in page


def test_staff_page_shows_the_newest_state_per_item(db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    family = login(p.guardian_user)
    grant_on_page(family, p.student.id, agreement.id)
    (consent,) = _consents(db, p.student.id)
    family.post(f"/family/consents/{consent.id}/revoke", data={"version": consent.version_id})
    grant_on_page(family, p.student.id, agreement.id)
    newest = _consents(db, p.student.id)[-1]
    page = login(make.user("staff", org=p.partner)).get("/staff/").get_data(as_text=True)
    assert f'data-consent="{newest.id}"' in page
    assert f'data-consent="{consent.id}"' not in page


def test_a_consent_form_without_a_yes_or_no_is_refused_with_a_message(db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    family = login(p.guardian_user)
    base = {"agreement": agreement.id, "recipient": "promise", "form_version": 1,
            "purposes": ["academic_support"], "categories": ["attendance"]}
    for extra in ({}, {"decision": "maybe"}, {"decision": ""}):
        r = post_decision(family, f"/family/students/{p.student.id}/consents", {**base, **extra})
        assert r.status_code == 422
        assert "Choose Yes or No to answer." in r.get_data(as_text=True)
        assert _consents(db, p.student.id) == []


def test_revoking_needs_the_version_the_page_showed(db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    family = login(p.guardian_user)
    grant_on_page(family, p.student.id, agreement.id)
    (consent,) = _consents(db, p.student.id)
    for data in ({"version": "abc"}, {"version": ""}, {}):
        r = family.post(f"/family/consents/{consent.id}/revoke", data=data)
        assert r.status_code == 422
        assert "This page is out of date. Reload it and try again." in r.get_data(as_text=True)
        assert [(c.state, c.version_id) for c in _consents(db, p.student.id)] == [
            ("granted", consent.version_id)]


def test_a_consent_under_a_terminated_agreement_shows_as_ended_without_revoke(
        client, db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    agreement.executed_at = utcnow()
    db.session.commit()
    family = login(p.guardian_user)
    grant_on_page(family, p.student.id, agreement.id)
    (consent,) = _consents(db, p.student.id)
    revoke = f'action="/family/consents/{consent.id}/revoke"'
    page = family.get(f"/family/students/{p.student.id}").get_data(as_text=True)
    assert revoke in page and "Ended with the agreement" not in page
    api_view = client.get(f"/api/v1/students/{p.student.id}",
                          headers=bearer(make.user_token(p.guardian_user))).get_json()
    assert [c["ended_with_agreement"] for c in api_view["data"]["consents"]] == [False]
    r = client.post(f"/api/v1/agreements/{agreement.id}/events/terminate",
                    json={"reason": "program closed"},
                    headers=bearer(make.user_token(p.legal)))
    assert r.status_code == 200, r.get_json()
    page = family.get(f"/family/students/{p.student.id}").get_data(as_text=True)
    row = page.split(f'data-consent="{consent.id}"', 1)[1].split("</tr>", 1)[0]
    assert "Ended with the agreement" in row
    assert revoke not in page
    api_view = client.get(f"/api/v1/students/{p.student.id}",
                          headers=bearer(make.user_token(p.guardian_user))).get_json()
    assert [(c["state"], c["ended_with_agreement"]) for c in api_view["data"]["consents"]] == [
        ("granted", True)]


def test_a_termination_still_to_come_or_a_successor_on_its_way_keeps_the_consent_live(
        db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    agreement.executed_at = utcnow()
    db.session.commit()
    grant_on_page(login(p.guardian_user), p.student.id, agreement.id)
    (consent,) = _consents(db, p.student.id)
    now, today = utcnow(), local_date(utcnow())
    agreement.state, agreement.ended_on = "terminated", today + timedelta(days=10)
    db.session.commit()
    assert not ended_with_agreement(consent, now)
    assert ended_with_agreement(consent, now + timedelta(days=11))
    successor = make.agreement(p.district, [p.partner], state="draft")
    successor.predecessor_id = agreement.id
    db.session.commit()
    assert not ended_with_agreement(consent, now + timedelta(days=11))


def test_a_page_far_past_the_last_is_empty_not_an_error(db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    _grant(db, p.student, agreement, p.partner, "attendance")
    staff = login(make.user("staff", org=p.partner))
    for page in ("99999999999999999999", "1000001", "-5"):
        response = staff.get(f"/staff/?page={page}")
        assert response.status_code == 200, page
        shown = "Ana O&#39;Brien" in response.get_data(as_text=True)
        assert shown == (page == "-5"), page  # below 1 is the first page


def test_a_family_form_with_unreadable_values_says_so_and_echoes_nothing_back(db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    family = login(p.guardian_user)
    url = f"/family/students/{p.student.id}/consents"
    base = {"agreement": agreement.id, "recipient": "promise", "form_version": 1,
            "purposes": ["academic_support"], "categories": ["attendance"], "decision": "grant"}
    huge = "x" * 100_000
    for change, message in [
        ({"form_version": "x"}, "This page is out of date. Reload it and try again."),
        ({"categories": ["attendance", huge]}, "Choose among the options shown."),
        ({"purposes": [huge[:300]]}, "Choose among the options shown."),
    ]:
        response = post_decision(family, url, {**base, **change})
        page = response.get_data(as_text=True)
        assert response.status_code == 422, change
        assert message in page, change
        assert "xxxxxxxxxx" not in page, change
    assert db.session.scalar(sa.select(sa.func.count(Consent.id))) == 0
