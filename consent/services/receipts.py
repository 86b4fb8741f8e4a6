"""Consent receipts: a PDF of each grant, refusal or revocation, emailed to whoever made it.

The PDF is built from a plain-data snapshot through `templates/documents/receipt_<lang>.html`
and `documents.html_to_pdf` (the asset-only renderer), stored with its SHA-256, and attached
to an outbox email, so it goes out only if the decision commits.

A service: it flushes and never commits.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import render_template

from consent.extensions import db
from consent.i18n import purpose_label, translate
from consent.models import Consent, ConsentEvent, ConsentReceipt, DataCategory, Student, User
from consent.services.notifications import enqueue_email
from consent.timeutil import district_zone, utcnow
from documents import html_to_pdf, sha256_hex

logger = logging.getLogger(__name__)
LANGUAGES = ("en", "es")
SUBJECTS = {
    "en": {"grant": "Receipt: you gave consent", "refuse": "Receipt: you refused consent",
           "revoke": "Receipt: you revoked consent"},
    "es": {"grant": "Recibo: usted dio su permiso", "refuse": "Recibo: usted negó su permiso",
           "revoke": "Recibo: usted retiró su permiso"},
}


def receipt_language(user: User) -> str:
    """The user's language if a receipt exists in it, else English."""
    return user.preferred_language if user.preferred_language in LANGUAGES else "en"


def receipt_snapshot(user: User, student: Student, consents: list[Consent], event: str,
                     language: str) -> dict:
    """Plain data for the receipt template (no ORM objects reach the template)."""
    zone = district_zone()
    names = {code: translate(name, language) for code, name in
             db.session.execute(sa.select(DataCategory.code, DataCategory.name))}
    first = consents[0]
    # Queried, not taken from `first.events`: that collection may predate this decision.
    last_event = db.session.scalar(sa.select(ConsentEvent).where(
        ConsentEvent.consent_id == first.id).order_by(ConsentEvent.id.desc()).limit(1))
    acted_at = (last_event.at if last_event else utcnow()).astimezone(zone)
    return {
        "language": language,
        "event": event,
        "district": first.agreement.source_org.name,
        "student": student.display_name,
        "student_ref": student.sourced_id,
        "recipient": first.recipient.name,
        "agreement": {"id": first.agreement.id, "title": first.agreement.title},
        "items": [{"consent": c.id, "purpose": c.purpose.replace("_", " ") if language == "en"
                   else purpose_label(c.purpose, language),
                   "category": names.get(c.category, c.category),
                   "valid_through": c.valid_through.isoformat(), "state": c.state}
                  for c in consents],
        "by": user.name, "by_email": user.email,
        "acted_as": last_event.acted_as if last_event else None,
        "at": acted_at.strftime("%Y-%m-%d %H:%M"), "zone": zone.key,
        "form": {"version": first.form.version, "language": first.form.language}
        if first.form else None,
        "ip": last_event.ip_address if last_event else None,
    }


def render_receipt_html(snapshot: dict) -> str:
    """The print HTML for a receipt snapshot (autoescaped)."""
    return render_template(f"documents/receipt_{snapshot['language']}.html", doc=snapshot)


def send_receipt(user: User, student: Student, consents: list[Consent],
                 event: str) -> ConsentReceipt | None:
    """Render the receipt PDF for `consents` and queue it by email to `user` (flushes).

    Returns None when the user has no email address to send it to.
    """
    if not consents or not user.email:
        return None
    language = receipt_language(user)
    snapshot = receipt_snapshot(user, student, consents, event, language)
    pdf = html_to_pdf(render_receipt_html(snapshot))
    message = enqueue_email(user.email, SUBJECTS[language][event],
                            f"notify/receipt_{language}.txt", doc=snapshot)
    receipt = ConsentReceipt(user_id=user.id, student_id=student.id, event=event,
                             language=language, created_at=utcnow(), sha256=sha256_hex(pdf),
                             pdf=pdf, outbox_message_id=message.id)
    db.session.add(receipt)
    db.session.flush()
    logger.info("consent receipt %s queued as email %s", receipt.id, message.id)
    return receipt


def attachments_for(message_id: int) -> list[tuple[str, bytes]]:
    """(filename, PDF bytes) of the receipts to attach to outbox message `message_id`."""
    rows = db.session.execute(sa.select(ConsentReceipt.id, ConsentReceipt.pdf).where(
        ConsentReceipt.outbox_message_id == message_id).order_by(ConsentReceipt.id)).all()
    return [(f"consent-receipt-{rid}.pdf", pdf) for rid, pdf in rows]
