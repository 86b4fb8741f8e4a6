"""The web forms refuse exactly what the JSON API refuses: both are held to one schema."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from consent.models import Agreement, AgreementDocument, Signature
from tests.api.helpers import make_partnership
from tests.web.helpers import agreement_form, location_id


def _count(db, model) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.mark.parametrize(("change", "field"), [
    ({"title": "Invoice \u202egnp.exe"}, "title"),  # right-to-left override
    ({"title": "Tab\there \x07bell"}, "title"),
    ({"title": "Inject\r\nBcc: attacker@evil.example"}, "title"),  # a mail header
    ({"breach_notification_hours": "10000"}, "breach_notification_hours"),
    ({"grades": "13, 99"}, "grades"),
])
def test_new_agreement_form_refuses_what_the_api_refuses(db, make, login, change, field):
    p = make_partnership(make)
    r = login(p.legal).post("/agreements/new", data=agreement_form(**change))
    assert r.status_code == 422, r.get_data(as_text=True)
    assert f'id="{field}-error"' in r.get_data(as_text=True)
    assert _count(db, Agreement) == 0


def test_edit_form_refuses_what_the_api_refuses(db, make, login):
    p = make_partnership(make)
    legal = login(p.legal)
    aid = location_id(legal.post("/agreements/new", data=agreement_form()))
    version = db.session.get(Agreement, aid).version_id
    r = legal.post(f"/agreements/{aid}/edit", data=agreement_form(
        title="Renamed \u202eevil", version=version))
    assert r.status_code == 422
    db.session.expire_all()
    agreement = db.session.get(Agreement, aid)
    assert (agreement.title, agreement.version_id) == (
        "Promise Neighborhood data-sharing MOU", version)


def _out_for_signature(db, make, login):
    """A partnership whose agreement is out for signature, and its document."""
    p = make_partnership(make)
    legal = login(p.legal)
    aid = location_id(legal.post("/agreements/new", data=agreement_form()))
    legal.post(f"/agreements/{aid}/events/submit",
               data={"version": db.session.get(Agreement, aid).version_id})
    db.session.expire_all()
    login(p.reviewer).post(f"/agreements/{aid}/events/approve",
                           data={"version": db.session.get(Agreement, aid).version_id})
    db.session.expire_all()
    legal.post(f"/agreements/{aid}/events/send_for_signature",
               data={"version": db.session.get(Agreement, aid).version_id})
    db.session.expire_all()
    agreement = db.session.get(Agreement, aid)
    assert agreement.state == "out_for_signature"
    document = db.session.scalar(sa.select(AgreementDocument).where(
        AgreementDocument.agreement_id == aid, AgreementDocument.kind == "for_signature"))
    return p, agreement, document


def test_sign_form_refuses_a_disguised_signer_name(db, make, login):
    p, agreement, document = _out_for_signature(db, make, login)
    aid = agreement.id
    r = login(p.district_signatory).post(f"/agreements/{aid}/sign", data={
        "name": "Evil\u202eDir", "title": "Superintendent", "authority": "",
        "document_sha256": document.sha256, "version": agreement.version_id})
    assert r.status_code == 422
    assert 'id="name-error"' in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalars(sa.select(Signature.state).where(
        Signature.agreement_id == aid)).all().count("signed") == 0


def test_the_form_offers_and_states_the_apis_own_limits(db, make, login):
    p = make_partnership(make)
    legal = login(p.legal)
    page = legal.get("/agreements/new").get_data(as_text=True)
    assert 'id="breach_notification_hours"' in page and 'max="8760"' in page
    assert 'max="3650"' in page  # renewal notice days
    r = legal.post("/agreements/new", data=agreement_form(breach_notification_hours="9000"))
    assert r.status_code == 422
    error = r.get_data(as_text=True).split('id="breach_notification_hours-error">', 1)[1]
    assert error.startswith("Number must be between 0 and 8760.")


@pytest.mark.parametrize("hidden", [{"document_sha256": "xyz"}, {"document_sha256": ""},
                                    {"version": "abc"}])
def test_an_edited_hidden_field_on_the_sign_form_says_to_reload(db, make, login, hidden):
    p, agreement, document = _out_for_signature(db, make, login)
    signatory = login(p.district_signatory)
    r = signatory.post(f"/agreements/{agreement.id}/sign", data={
        "name": "Dana Director", "title": "Superintendent", "authority": "",
        "document_sha256": document.sha256, "version": agreement.version_id, **hidden})
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "This page is out of date. Reload it and try again." in page
    assert document.sha256 in page  # the form offers the current document's hash again
    db.session.expire_all()
    assert "signed" not in db.session.scalars(sa.select(Signature.state).where(
        Signature.agreement_id == agreement.id)).all()
