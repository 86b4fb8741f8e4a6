"""Invisible control characters (NUL, text-direction overrides) are refused in every
form with a message, and nothing is stored (PostgreSQL's driver would refuse NUL with a
server error)."""

from __future__ import annotations

import sqlalchemy as sa

from consent.models import Agreement, Consent, User
from consent.untrusted_text import has_forbidden
from tests.api.helpers import make_partnership
from tests.conftest import PASSWORD
from tests.consents.test_consent_semantics import _open_agreement
from tests.web.helpers import grant_on_page

MESSAGE = "remove the invisible control characters"
BAD = ["evil\x00", "\u202eevil", "a\x07b", "x\x7f", "\x85"]


def test_the_refused_characters_are_controls_and_overrides_only():
    for text in BAD:
        assert has_forbidden(text), repr(text)
    for text in ["Línea 1\r\nLínea 2\tfin", "O'Brien – Nguyễn", "محمد", "李小龍", "emoji 😀"]:
        assert not has_forbidden(text), repr(text)


def test_a_revocation_reason_with_a_control_character_is_refused(db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    family = login(p.guardian_user)
    grant_on_page(family, p.student.id, agreement.id)
    consent = db.session.scalar(sa.select(Consent))
    for reason in BAD:
        r = family.post(f"/family/consents/{consent.id}/revoke",
                        data={"version": consent.version_id, "reason": reason})
        assert r.status_code == 422, reason
        db.session.expire_all()
        assert db.session.get(Consent, consent.id).state == "granted"


def test_a_new_password_of_nul_characters_is_refused(db, make, login):
    p = make_partnership(make)
    laptop = login(p.legal)
    hashed = p.legal.password_hash
    r = laptop.post("/auth/password", data={
        "current_password": PASSWORD, "new_password": "\x00" * 12, "confirm": "\x00" * 12})
    assert r.status_code == 422
    assert MESSAGE in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, p.legal.id).password_hash == hashed


def test_a_termination_reason_of_nul_is_refused(db, make, login):
    p = make_partnership(make)
    agreement = make.agreement(p.district, [p.partner], state="active", created_by=p.legal)
    db.session.commit()
    r = login(p.legal).post(f"/agreements/{agreement.id}/events/terminate", data={
        "version": agreement.version_id, "reason": "\x00"})
    assert r.status_code == 422, r.status_code
    assert MESSAGE in r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Agreement, agreement.id).state == "active"


def test_a_spanish_family_reads_the_refusal_in_spanish(db, make, login):
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    p.guardian_user.preferred_language = "es"
    db.session.commit()
    family = login(p.guardian_user)
    grant_on_page(family, p.student.id, agreement.id)
    consent = db.session.scalar(sa.select(Consent))
    r = family.post(f"/family/consents/{consent.id}/revoke",
                    data={"version": consent.version_id, "reason": "no\x00"})
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    assert "quite los caracteres de control invisibles" in page and MESSAGE not in page
