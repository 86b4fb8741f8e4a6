"""Emails go to the outbox in the caller's transaction; a job delivers them later."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from pathlib import Path

import sqlalchemy as sa
from flask import current_app, render_template

from consent.extensions import db
from consent.models import OutboxMessage
from consent.timeutil import utcnow

logger = logging.getLogger(__name__)


def enqueue_email(to: str, subject: str, template: str, **context) -> OutboxMessage:
    """Write one email to the outbox (flushes; sent only if the transaction commits)."""
    message = OutboxMessage(created_at=utcnow(), to_address=to, subject=subject,
                            body=render_template(template, **context))
    db.session.add(message)
    db.session.flush()
    return message


def _transmit(email: EmailMessage, message_id: int) -> None:
    config = current_app.config
    if config["MAIL_TRANSPORT"] == "file":
        folder = Path(current_app.instance_path) / "mail"
        folder.mkdir(exist_ok=True)
        (folder / f"{message_id:08d}.eml").write_bytes(bytes(email))
        return
    with smtplib.SMTP(config["SMTP_HOST"], config["SMTP_PORT"], timeout=10) as smtp:
        if config["SMTP_STARTTLS"]:
            smtp.starttls()
        if config["SMTP_USERNAME"]:
            smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
        smtp.send_message(email)


def _attach_receipts(email: EmailMessage, message_id: int) -> None:
    from consent.services.receipts import attachments_for  # receipts imports this module

    for filename, pdf in attachments_for(message_id):
        email.add_attachment(pdf, maintype="application", subtype="pdf", filename=filename)


def deliver_outbox(now=None, limit: int = 100) -> int:
    """Send unsent messages over SMTP; each is claimed first so it goes out once.

    Returns how many were sent. A failing message records its error and stays
    queued; the others still go.
    """
    now = now or utcnow()
    config = current_app.config
    ids = db.session.scalars(sa.select(OutboxMessage.id).where(
        OutboxMessage.sent_at.is_(None), OutboxMessage.claimed_at.is_(None))
        .order_by(OutboxMessage.id).limit(limit)).all()
    sent = 0
    for message_id in ids:
        claimed = db.session.execute(sa.update(OutboxMessage).where(
            OutboxMessage.id == message_id, OutboxMessage.claimed_at.is_(None))
            .values(claimed_at=now)).rowcount
        db.session.commit()
        if not claimed:
            continue
        message = db.session.get(OutboxMessage, message_id)
        email = EmailMessage()
        email["From"], email["To"], email["Subject"] = (
            config["MAIL_SENDER"], message.to_address, message.subject)
        email.set_content(message.body)
        _attach_receipts(email, message.id)
        try:
            _transmit(email, message.id)
        except (OSError, smtplib.SMTPException) as exc:
            message.claimed_at, message.attempts = None, message.attempts + 1
            message.last_error = str(exc)[:500]
            logger.warning("email %s not sent: %s", message.id, exc)
        else:
            message.sent_at, message.attempts = utcnow(), message.attempts + 1
            sent += 1
        db.session.commit()
    return sent
