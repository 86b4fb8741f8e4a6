"""The thin slice driven through the HTML pages, asserting the database after each step."""

from __future__ import annotations

import sqlalchemy as sa

from consent.models import Agreement, AgreementDocument, Consent, ConsentEvent, Review, Signature
from consent.services.actors import actor_for
from tests.api.helpers import make_partnership
from tests.web.helpers import actions_on, agreement_form, location_id, post_decision


def _agreement(db, aid) -> Agreement:
    db.session.expire_all()
    return db.session.get(Agreement, aid)


def _signature_states(db, aid) -> list[tuple[str, str]]:
    db.session.expire_all()
    rows = db.session.scalars(sa.select(Signature).where(Signature.agreement_id == aid)
                              .order_by(Signature.signing_group, Signature.id)).all()
    return [(s.organization.slug, s.state) for s in rows]


def test_agreement_to_consent_through_the_pages(db, make, login):
    p = make_partnership(make)
    legal = login(p.legal)

    # The "new" page is prefilled from the template.
    r = legal.get("/agreements/new")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "does not disclose it to any other party" in page  # template's use limitation
    assert 'value="Governing law"' in page

    r = legal.post("/agreements/new", data=agreement_form())
    assert r.status_code == 302, r.get_data(as_text=True)
    aid = location_id(r)
    a = _agreement(db, aid)
    assert (a.state, a.revision, a.legal_basis) == ("draft", 1, "consent")
    assert a.recipient_ids == {p.partner.id}
    assert a.purposes == ["academic_support"]
    assert a.categories == ["attendance", "quarterly_grades", "behavior"]
    assert a.population == {"schools": [p.school.id], "grades": []}
    assert a.clauses == [{"heading": "Governing law", "text": "The laws of the district's state."}]
    assert a.created_by_id == p.legal.id

    r = legal.get(f"/agreements/{aid}")
    assert r.status_code == 200
    assert actions_on(r.get_data(as_text=True)) == {"submit", "withdraw", "comment"}

    r = legal.post(f"/agreements/{aid}/events/submit", data={"version": a.version_id})
    assert r.status_code == 302, r.get_data(as_text=True)
    a = _agreement(db, aid)
    assert a.state == "in_review"

    reviewer = login(p.reviewer)
    r = reviewer.get(f"/agreements/{aid}")
    assert actions_on(r.get_data(as_text=True)) == {"approve", "request_changes", "comment"}
    r = reviewer.post(f"/agreements/{aid}/events/approve",
                      data={"version": a.version_id, "comment": "Looks right."})
    assert r.status_code == 302, r.get_data(as_text=True)
    a = _agreement(db, aid)
    assert a.state == "approved"
    review = db.session.scalar(sa.select(Review).where(Review.agreement_id == aid))
    assert (review.decision, review.comment, review.reviewer_id) == (
        "approve", "Looks right.", p.reviewer.id)

    r = legal.post(f"/agreements/{aid}/events/send_for_signature",
                   data={"version": a.version_id})
    assert r.status_code == 302, r.get_data(as_text=True)
    a = _agreement(db, aid)
    assert a.state == "out_for_signature"
    assert _signature_states(db, aid) == [("riverside", "invited"), ("promise", "pending")]
    doc = db.session.scalar(sa.select(AgreementDocument).where(
        AgreementDocument.agreement_id == aid, AgreementDocument.kind == "for_signature"))
    assert doc is not None and len(doc.sha256) == 64

    # The partner tries first: 409 with a message, and nothing changes.
    partner = login(p.partner_signatory)
    sign = {"name": "Pat Director", "title": "Executive Director", "authority": "Bylaws 4.2",
            "document_sha256": doc.sha256, "version": a.version_id}
    r = partner.post(f"/agreements/{aid}/sign", data=sign)
    assert r.status_code == 409
    assert "not your organization" in r.get_data(as_text=True)
    assert _signature_states(db, aid) == [("riverside", "invited"), ("promise", "pending")]
    assert _agreement(db, aid).state == "out_for_signature"

    district = login(p.district_signatory)
    r = district.get(f"/agreements/{aid}/sign")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert doc.sha256 in page
    assert f'href="/agreements/{aid}/document.pdf"' in page
    assert 'value="Dana Superintendent"' in page
    r = district.post(f"/agreements/{aid}/sign", data={
        "name": "Dana Superintendent", "title": "Superintendent",
        "authority": "Board resolution 2026-14", "document_sha256": doc.sha256,
        "version": a.version_id})
    assert r.status_code == 302, r.get_data(as_text=True)
    assert _signature_states(db, aid) == [("riverside", "signed"), ("promise", "invited")]
    signed = db.session.scalar(sa.select(Signature).where(
        Signature.agreement_id == aid, Signature.organization_id == p.district.id))
    assert (signed.signer_name, signed.authority, signed.document_sha256) == (
        "Dana Superintendent", "Board resolution 2026-14", doc.sha256)

    r = partner.get(f"/agreements/{aid}")
    assert actions_on(r.get_data(as_text=True)) == {"sign", "decline"}
    r = partner.post(f"/agreements/{aid}/sign", data=sign)
    assert r.status_code == 302, r.get_data(as_text=True)
    a = _agreement(db, aid)
    assert a.state == "active"  # it starts today, so it is in force at once
    assert a.executed_at is not None
    assert _signature_states(db, aid) == [("riverside", "signed"), ("promise", "signed")]

    r = legal.get(f"/agreements/{aid}/document.pdf")
    assert r.status_code == 200
    assert r.mimetype == "application/pdf"
    assert r.data.startswith(b"%PDF")
    page = legal.get(f"/agreements/{aid}").get_data(as_text=True)
    assert "Pat Director" in page and "Dana Superintendent" in page

    # The guardian grants consent for two of the three categories.
    family = login(p.guardian_user)
    r = family.get("/family/")
    assert r.status_code == 200
    assert f'href="/family/students/{p.student.id}"' in r.get_data(as_text=True)
    assert "Ben" not in r.get_data(as_text=True)
    r = family.get(f"/family/students/{p.student.id}")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "Northside Promise Neighborhood" in page
    assert "Quarterly Grades" in page  # the DataCategory name, not the code
    assert 'lang="en"' in page
    assert "asks your permission" in page  # the consent form text
    r = post_decision(family, f"/family/students/{p.student.id}/consents", {
        "agreement": aid, "recipient": "promise", "form_version": 1,
        "purposes": ["academic_support"], "categories": ["attendance", "quarterly_grades"],
        "decision": "grant"})
    assert r.status_code == 302, r.get_data(as_text=True)
    db.session.expire_all()
    consents = db.session.scalars(sa.select(Consent).where(
        Consent.student_id == p.student.id).order_by(Consent.category)).all()
    assert [(c.category, c.purpose, c.state) for c in consents] == [
        ("attendance", "academic_support", "granted"),
        ("quarterly_grades", "academic_support", "granted")]
    assert {c.given_by_user_id for c in consents} == {p.guardian_user.id}
    assert {c.valid_through for c in consents} == {a.end_date}

    page = family.get(f"/family/students/{p.student.id}").get_data(as_text=True)
    assert page.count('data-state="granted"') == 2
    assert a.end_date.isoformat() in page

    attendance = consents[0]
    r = family.post(f"/family/consents/{attendance.id}/revoke",
                    data={"version": attendance.version_id})
    assert r.status_code == 302, r.get_data(as_text=True)
    db.session.expire_all()
    states = dict(db.session.execute(sa.select(Consent.category, Consent.state).where(
        Consent.student_id == p.student.id)).all())
    assert states == {"attendance": "revoked", "quarterly_grades": "granted"}
    events = db.session.scalars(sa.select(ConsentEvent.event).order_by(ConsentEvent.id)).all()
    assert events == ["grant", "grant", "revoke"]

    page = family.get(f"/family/students/{p.student.id}").get_data(as_text=True)
    assert page.count('data-state="granted"') == 1
    assert page.count('data-state="revoked"') == 1
    assert "Revoke:" in page and "Maria O&#39;Brien" in page  # the history says who


def test_detail_buttons_match_the_users_allowed_actions(db, make, login):
    p = make_partnership(make)
    legal = login(p.legal)
    aid = location_id(legal.post("/agreements/new", data=agreement_form()))
    a = db.session.get(Agreement, aid)

    page = legal.get(f"/agreements/{aid}").get_data(as_text=True)
    from consent.api.agreements import actions_for

    assert actions_on(page) == set(actions_for(a, actor_for(p.legal))) == {"submit", "withdraw",
                                                                        "comment"}
    assert "Approve" not in page
    # On a draft the reviewer may only comment.
    page = login(p.reviewer).get(f"/agreements/{aid}").get_data(as_text=True)
    assert actions_on(page) == {"comment"}
