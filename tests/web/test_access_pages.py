"""Who sees which page, and what the pages refuse: roles, other families, CSRF, stale
pages, deactivated accounts, and markup typed into fields."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from consent.models import Agreement, AuditEntry, Consent, User
from consent.timeutil import local_date, utcnow
from tests.api.helpers import make_partnership
from tests.web.helpers import actions_on, agreement_form, csrf_token_from, location_id


def _fresh(db, model, row_id):
    db.session.expire_all()
    return db.session.get(model, row_id)


def test_guardian_gets_404_for_another_familys_child(db, make, login):
    p = make_partnership(make)
    other_parent = make.user("guardian", email="binh@family.example", name="Binh Nguyễn")
    make.link(p.other_student, make.guardian(other_parent, given="Binh", family="Nguyễn"))
    family = login(p.guardian_user)

    r = family.get(f"/family/students/{p.other_student.id}")
    assert r.status_code == 404
    body = r.get_data(as_text=True)
    assert "Ben" not in body and "Nguy" not in body and "S-1002" not in body
    # A student id that does not exist answers the same way.
    assert family.get("/family/students/99999").status_code == 404
    # The list shows only their own child.
    listing = family.get("/family/").get_data(as_text=True)
    assert "Ana" in listing and "Ben" not in listing
    # And they cannot revoke another family's consent either.
    agreement = make.agreement(p.district, [p.partner], state="active")
    consent = Consent(student_id=p.other_student.id, agreement_id=agreement.id,
                      recipient_id=p.partner.id, purpose="academic_support",
                      category="attendance", state="granted", granted_at=utcnow(),
                      valid_from=local_date(utcnow()), valid_through=agreement.end_date)
    db.session.add(consent)
    db.session.commit()
    assert family.post(f"/family/consents/{consent.id}/revoke").status_code == 404
    assert _fresh(db, Consent, consent.id).state == "granted"


@pytest.mark.parametrize("method", ["get", "post"])
def test_reviewer_cannot_open_the_new_agreement_page(make, login, method):
    p = make_partnership(make)
    r = getattr(login(p.reviewer), method)("/agreements/new")
    assert r.status_code == 403


def test_family_and_anonymous_users_do_not_reach_staff_pages(make, login, client):
    p = make_partnership(make)
    family = login(p.guardian_user)
    for path in ("/agreements/", "/staff/", "/admin/users"):
        assert family.get(path).status_code == 403
    r = client.get("/agreements/")
    assert r.status_code == 302 and "/auth/login" in r.headers["Location"]


def test_agreement_of_other_partners_is_404(make, login):
    p = make_partnership(make)
    agreement = make.agreement(p.district, [p.partner], created_by=p.legal, state="in_review")
    outsider = make.user("signatory", org=p.other_partner)
    c = login(outsider)
    assert c.get(f"/agreements/{agreement.id}").status_code == 404
    assert c.get(f"/agreements/{agreement.id}/document.pdf").status_code == 404
    assert c.get(f"/agreements/{agreement.id}/sign").status_code == 404
    assert str(agreement.title) not in c.get("/agreements/").get_data(as_text=True)
    # The partner named in it does see it, once it has left the district's drafts.
    assert login(p.partner_signatory).get(f"/agreements/{agreement.id}").status_code == 200
    draft = make.agreement(p.district, [p.partner], created_by=p.legal, title="Internal draft")
    assert login(p.partner_signatory).get(f"/agreements/{draft.id}").status_code == 404


def test_post_without_csrf_token_is_refused(app_config, request):
    app_config["WTF_CSRF_ENABLED"] = True
    make, db, app = (request.getfixturevalue(name) for name in ("make", "db", "app"))
    p = make_partnership(make)
    agreement = make.agreement(p.district, [p.partner], created_by=p.legal)

    browser = app.test_client()
    token = csrf_token_from(browser.get("/auth/login").get_data(as_text=True))
    r = browser.post("/auth/login", data={"email": p.legal.email,
                                          "password": "correct horse battery staple"})
    assert r.status_code == 400  # even signing in needs the token
    r = browser.post("/auth/login", data={"email": p.legal.email, "csrf_token": token,
                                          "password": "correct horse battery staple"})
    assert r.status_code == 302

    path = f"/agreements/{agreement.id}/events/submit"
    r = browser.post(path, data={"version": agreement.version_id})
    assert r.status_code == 400
    assert _fresh(db, Agreement, agreement.id).state == "draft"

    page = browser.get(f"/agreements/{agreement.id}").get_data(as_text=True)
    r = browser.post(path, data={"version": agreement.version_id,
                                 "csrf_token": csrf_token_from(page)})
    assert r.status_code == 302
    assert _fresh(db, Agreement, agreement.id).state == "in_review"


def test_admin_deactivation_ends_the_users_sessions(app, db, make, login):
    p = make_partnership(make)
    admin = make.user("admin", org=p.district, email="admin@riverside.example")
    legal = login(p.legal)
    remembered = app.test_client()
    r = remembered.post("/auth/login", data={"email": p.legal.email, "remember": "y",
                                             "password": "correct horse battery staple"})
    assert r.status_code == 302
    assert legal.get("/agreements/").status_code == 200
    old_token = p.legal.session_token

    admin_client = login(admin)
    page = admin_client.get("/admin/users").get_data(as_text=True)
    assert p.legal.email in page and "Deactivate" in page
    r = admin_client.post(f"/admin/users/{p.legal.id}/deactivate")
    assert r.status_code == 302

    user = _fresh(db, User, p.legal.id)
    assert user.active is False
    assert user.session_token != old_token
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.event == "user_deactivated"))
    assert (entry.subject_type, entry.subject_id, entry.actor_user_id) == (
        "user", p.legal.id, admin.id)

    r = legal.get("/agreements/")
    assert r.status_code == 302 and "/auth/login" in r.headers["Location"]
    # A remember-me cookie does not bring the session back either.
    remembered.delete_cookie("session")
    r = remembered.get("/agreements/")
    assert r.status_code == 302 and "/auth/login" in r.headers["Location"]
    # Nor can they sign in again until reactivated.
    again = app.test_client()
    r = again.post("/auth/login", data={"email": p.legal.email,
                                        "password": "correct horse battery staple"})
    assert r.status_code == 401

    assert admin_client.post(f"/admin/users/{p.legal.id}/reactivate").status_code == 302
    assert _fresh(db, User, p.legal.id).active is True
    assert login(p.legal).get("/agreements/").status_code == 200


def test_admin_cannot_deactivate_themself(db, make, login):
    admin = make.user("admin")
    c = login(admin)
    c.post(f"/admin/users/{admin.id}/deactivate")
    assert _fresh(db, User, admin.id).active is True
    assert c.get("/admin/users").status_code == 200


def test_markup_in_the_title_is_shown_escaped(make, login):
    p = make_partnership(make)
    legal = login(p.legal)
    r = legal.post("/agreements/new", data=agreement_form(
        title="<script>alert(1)</script>", scope_description='<img src=x onerror="alert(2)">'))
    assert r.status_code == 302, r.get_data(as_text=True)
    aid = location_id(r)
    for path in (f"/agreements/{aid}", "/agreements/", f"/agreements/{aid}/edit"):
        page = legal.get(path).get_data(as_text=True)
        assert "<script>alert(1)" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "<img src=x" not in page


def test_a_stale_page_gets_409_and_nothing_changes(db, make, login):
    p = make_partnership(make)
    legal = login(p.legal)
    aid = location_id(legal.post("/agreements/new", data=agreement_form()))
    stale = _fresh(db, Agreement, aid).version_id
    r = legal.post(f"/agreements/{aid}/edit", data=agreement_form(
        title="Renamed", version=stale))
    assert r.status_code == 302
    assert _fresh(db, Agreement, aid).title == "Renamed"

    r = legal.post(f"/agreements/{aid}/events/submit", data={"version": stale})
    assert r.status_code == 409
    assert "reload" in r.get_data(as_text=True)
    assert _fresh(db, Agreement, aid).state == "draft"
    r = legal.post(f"/agreements/{aid}/edit", data=agreement_form(title="Again", version=stale))
    assert r.status_code == 409
    assert _fresh(db, Agreement, aid).title == "Renamed"


def test_form_errors_are_shown_next_to_the_field(db, make, login):
    p = make_partnership(make)
    legal = login(p.legal)
    today = local_date(utcnow())
    r = legal.post("/agreements/new", data=agreement_form(
        end_date=(today - timedelta(days=1)).isoformat()))
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert 'id="end_date-error"' in page and "the end date is before the start date" in page
    r = legal.post("/agreements/new", data=agreement_form(purposes="Not A Code"))
    assert r.status_code == 422
    assert 'id="purposes-error"' in r.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Agreement.id))) == 0


def test_editing_after_approval_starts_a_new_revision(db, make, login):
    p = make_partnership(make)
    agreement = make.agreement(p.district, [p.partner], state="approved", created_by=p.legal)
    legal = login(p.legal)
    page = legal.get(f"/agreements/{agreement.id}/edit").get_data(as_text=True)
    assert "starts revision 2" in page
    form = agreement_form(title="Amended MOU", version=agreement.version_id)
    del form["template"], form["recipients"]
    r = legal.post(f"/agreements/{agreement.id}/edit", data=form)
    assert r.status_code == 302, r.get_data(as_text=True)
    a = _fresh(db, Agreement, agreement.id)
    assert (a.title, a.state, a.revision) == ("Amended MOU", "draft", 2)


def test_reviewer_home_lists_agreements_awaiting_review(make, login):
    p = make_partnership(make)
    waiting = make.agreement(p.district, [p.partner], state="in_review", created_by=p.legal,
                             title="Waiting for review")
    make.agreement(p.district, [p.partner], state="draft", created_by=p.legal,
                   title="Still a draft")
    page = login(p.reviewer).get("/").get_data(as_text=True)
    assert f'href="/agreements/{waiting.id}"' in page
    assert "Still a draft" not in page
    assert 'href="/agreements/new"' not in page
    legal_home = login(p.legal).get("/").get_data(as_text=True)
    assert 'href="/agreements/new"' in legal_home


def test_signatory_declines_with_a_reason(db, make, login):
    p = make_partnership(make)
    legal = login(p.legal)
    aid = location_id(legal.post("/agreements/new", data=agreement_form()))
    a = _fresh(db, Agreement, aid)
    legal.post(f"/agreements/{aid}/events/submit", data={"version": a.version_id})
    a = _fresh(db, Agreement, aid)
    login(p.reviewer).post(f"/agreements/{aid}/events/approve", data={"version": a.version_id})
    a = _fresh(db, Agreement, aid)
    r = legal.post(f"/agreements/{aid}/events/send_for_signature",
                   data={"version": a.version_id})
    assert r.status_code == 302, r.get_data(as_text=True)
    a = _fresh(db, Agreement, aid)
    district = login(p.district_signatory)
    r = district.post(f"/agreements/{aid}/decline", data={"version": a.version_id, "reason": ""})
    assert r.status_code == 422
    r = district.post(f"/agreements/{aid}/decline",
                      data={"version": a.version_id, "reason": "Term is too long."})
    assert r.status_code == 302
    a = _fresh(db, Agreement, aid)
    assert a.state == "declined"
    assert actions_on(legal.get(f"/agreements/{aid}").get_data(as_text=True)) == set()


def test_an_impossible_date_on_the_agreement_form_is_named(make, login):
    p = make_partnership(make)
    page = login(p.legal).post("/agreements/new", data={
        "title": "Dates", "legal_basis": "consent", "recipients": ["promise"],
        "purposes": "academic_support", "categories": ["attendance"],
        "start_date": "2027-02-30", "end_date": "2027-06-30"})
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    start_error = re.search(r'id="start_date-error">([^<]*)<', html)
    assert start_error and "Not a valid date value" in start_error.group(1)
    assert 'id="end_date-error"' not in html
