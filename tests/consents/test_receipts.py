"""After a grant, refusal or revocation the family gets a receipt PDF by email (real SMTP),
in their language, read back here with pypdf."""

from __future__ import annotations

import io
import re
from email.header import decode_header, make_header

import sqlalchemy as sa
from pypdf import PdfReader

from consent.models import Consent, ConsentReceipt
from documents import sha256_hex
from tests.api.helpers import bearer, make_partnership
from tests.consents.test_consent_semantics import _open_agreement
from tests.web.helpers import post_decision


def _pdf_text(data: bytes) -> str:
    return " ".join((page.extract_text() or "") for page in PdfReader(io.BytesIO(data)).pages)


def _attachments(message) -> list[tuple[str, bytes]]:
    return [(part.get_filename(), part.get_payload(decode=True)) for part in message.walk()
            if part.get_content_type() == "application/pdf"]


def test_a_grant_and_a_revocation_each_email_a_receipt_pdf(app, db, make, login, mailbox):
    deliver, messages = mailbox
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p, title="Promise MOU")
    family = login(p.guardian_user)
    r = post_decision(family, f"/family/students/{p.student.id}/consents", {
        "agreement": agreement.id, "recipient": "promise", "form_version": 1,
        "purposes": ["academic_support"], "categories": ["attendance", "behavior"],
        "decision": "grant"})
    assert r.status_code == 302, r.get_data(as_text=True)
    assert deliver() == 1
    [message] = messages
    assert message["To"] == "maria@family.example"
    assert message["Subject"] == "Receipt: you gave consent"
    [(filename, pdf)] = _attachments(message)
    stored = db.session.scalars(sa.select(ConsentReceipt)).one()
    assert filename == f"consent-receipt-{stored.id}.pdf" and sha256_hex(pdf) == stored.sha256
    text = " ".join(_pdf_text(pdf).split())
    assert "Consent receipt" in text and "Maria O'Brien" in text and "Ana O'Brien" in text
    assert "gave consent" in text and "Northside Promise Neighborhood" in text
    assert "Attendance" in text and "Behavior" in text and "Promise MOU" in text
    assert agreement.end_date.isoformat() in text and "version 1, language en" in text
    body = next(part.get_payload(decode=True).decode() for part in message.walk()
                if part.get_content_type() == "text/plain")
    zone = app.config["DISTRICT_TIMEZONE"]
    assert re.search(rf"you gave consent on \d{{4}}-\d\d-\d\d \d\d:\d\d \({zone}\)\.", body)

    consent = db.session.scalars(sa.select(Consent).where(Consent.category == "behavior")).one()
    r = family.post(f"/family/consents/{consent.id}/revoke", data={"version": consent.version_id})
    assert r.status_code == 302, r.get_data(as_text=True)
    assert deliver() == 1
    revoked = " ".join(_pdf_text(_attachments(messages[1])[0][1]).split())
    assert "revoked consent" in revoked and "Behavior" in revoked and "Attendance" not in revoked


def test_the_receipt_is_in_spanish_for_a_spanish_speaking_family(app, client, db, make,
                                                                   mailbox):
    deliver, messages = mailbox
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    p.guardian_user.preferred_language = "es"
    db.session.commit()
    r = client.post(f"/api/v1/students/{p.student.id}/consents",
                    headers=bearer(make.user_token(p.guardian_user)), json={
                        "agreement": agreement.id, "recipient": "promise",
                        "purposes": ["academic_support"], "categories": ["attendance"],
                        "decision": "refuse"})
    assert r.status_code == 201, r.json
    assert deliver() == 1
    [message] = messages
    assert str(make_header(decode_header(message["Subject"]))) == "Recibo: usted negó su permiso"
    text = " ".join(_pdf_text(_attachments(message)[0][1]).split())
    assert "Recibo de permiso" in text and "negó su permiso" in text and "negado" in text
    assert "idioma es" in text
    assert "Página 1 de 1" in text and "Page 1" not in text
    assert "Asistencia" in text and "apoyo académico" in text.lower()
    assert "Attendance" not in text


def test_a_refused_decision_sends_nothing(db, make, login, mailbox):
    deliver, messages = mailbox
    p = make_partnership(make)
    agreement = _open_agreement(db, make, p)
    r = post_decision(login(p.guardian_user), f"/family/students/{p.student.id}/consents", {
        "agreement": agreement.id, "recipient": "promise", "form_version": 1,
        "purposes": ["academic_support"], "categories": ["contact"], "decision": "grant"})
    assert r.status_code == 422
    assert deliver() == 0 and messages == []
    assert db.session.scalar(sa.select(sa.func.count(ConsentReceipt.id))) == 0
