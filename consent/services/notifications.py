"""Emails go to the outbox in the caller's transaction; a job delivers them later.

Delivery claims each message with a conditional UPDATE, so two schedulers never
send the same message. A message that fails is retried with exponential backoff
(base doubling per attempt, capped); a message whose claim was never finished (the
process died while sending) can be claimed again once the claim is stale. When the
SMTP server cannot be reached at all, the whole batch is put back with backoff and
nothing is lost; a message the server refuses on its own does not stop the others.
A message the server refuses for good (a 5xx answer), or refuses
`OUTBOX_MAX_ATTEMPTS` times, is given up (`failed_at`) and logged as an error instead
of being retried forever; while the server cannot be reached nothing is given up.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import sqlalchemy as sa
from flask import current_app, render_template

from consent.extensions import db
from consent.models import OutboxMessage
from consent.timeutil import utcnow

logger = logging.getLogger(__name__)

# Errors about one message (the server answered, but refused it): try the others.
# Errors of one message, not of the server: it waits with backoff, the others still go.
# ValueError: a message that cannot even be built (a header with a line break).
MESSAGE_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused,
                  smtplib.SMTPDataError, smtplib.SMTPNotSupportedError, ValueError)


def enqueue_email(to: str, subject: str, template: str, *, urgent: bool = False,
                  **context) -> OutboxMessage:
    """Write one email to the outbox (flushes; sent only if the transaction commits).

    `urgent` mail (a sign-in link, which expires in minutes) goes out before everything
    else waiting, such as a thousand consent requests sent a minute earlier.
    Line breaks in the subject (from a title, say) become spaces: a header cannot hold
    them, and they must never start a header of their own.
    """
    subject = " ".join(subject.split())
    message = OutboxMessage(created_at=utcnow(), to_address=to, subject=subject,
                            urgent=urgent, body=render_template(template, **context))
    db.session.add(message)
    db.session.flush()
    return message


def backoff(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failure: base * 2^(attempts-1), capped."""
    config = current_app.config
    base = float(config.get("OUTBOX_RETRY_BASE_SECONDS", 60))
    cap = float(config.get("OUTBOX_RETRY_MAX_SECONDS", 6 * 3600))
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


def _attach_receipts(email: EmailMessage, message_id: int) -> None:
    from consent.services.receipts import attachments_for  # receipts imports this module

    for filename, pdf in attachments_for(message_id):
        email.add_attachment(pdf, maintype="application", subtype="pdf", filename=filename)


class SmtpSession:
    """One SMTP connection for a batch, opened on first use.

    `SMTP_TLS` picks the transport security: "starttls", "ssl" (implicit TLS, e.g.
    port 465) or "none". Certificates are verified against the system store, or
    against `SMTP_CA_FILE` when set.
    """

    def __init__(self, config):
        self.config, self.smtp = config, None

    def _tls_mode(self) -> str:
        mode = self.config.get("SMTP_TLS")
        if mode:
            return str(mode).lower()
        return "starttls" if self.config.get("SMTP_STARTTLS") else "none"

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.config.get("SMTP_CA_FILE") or None)

    def open(self) -> smtplib.SMTP:
        if self.smtp is not None:
            return self.smtp
        host, port = self.config["SMTP_HOST"], int(self.config["SMTP_PORT"])
        timeout = float(self.config.get("SMTP_TIMEOUT_SECONDS", 10))
        mode = self._tls_mode()
        if mode == "ssl":
            smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=self._context())
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
            if mode == "starttls":
                smtp.starttls(context=self._context())
        if self.config.get("SMTP_USERNAME"):
            smtp.login(self.config["SMTP_USERNAME"], self.config.get("SMTP_PASSWORD") or "")
        self.smtp = smtp
        return smtp

    def send(self, email: EmailMessage) -> None:
        self.open().send_message(email)

    def reset(self) -> None:
        """Drop a connection that failed, so the next message opens a new one."""
        if self.smtp is not None:
            try:
                self.smtp.close()
            finally:
                self.smtp = None

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self.smtp = None


def _write_file(email: EmailMessage, message_id: int) -> None:
    folder = Path(current_app.instance_path) / "mail"
    folder.mkdir(exist_ok=True)
    (folder / f"{message_id:08d}.eml").write_bytes(bytes(email))


def _email(message: OutboxMessage) -> EmailMessage:
    email = EmailMessage()
    email["From"] = current_app.config["MAIL_SENDER"]
    email["To"], email["Subject"] = message.to_address, message.subject
    # A stable Message-ID lets the receiving side spot a duplicate should a message
    # be sent again after a crash between the server's acceptance and our commit.
    email["Message-ID"] = make_msgid(idstring=f"outbox-{message.id}", domain="accordant.local")
    email.set_content(message.body)
    _attach_receipts(email, message.id)
    return email


def _claimable(now: datetime):
    stale = now - timedelta(seconds=int(current_app.config.get("OUTBOX_CLAIM_TIMEOUT_SECONDS",
                                                                600)))
    return sa.and_(OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None),
                   sa.or_(OutboxMessage.claimed_at.is_(None), OutboxMessage.claimed_at < stale),
                   sa.or_(OutboxMessage.next_attempt_at.is_(None),
                          OutboxMessage.next_attempt_at <= now))


def deliver_outbox(now: datetime | None = None, limit: int = 100) -> int:
    """Send due messages; each is claimed first so it goes out once. Returns how many
    were sent. Commits per message (it is called only by the delivery job)."""
    now = now or utcnow()
    config = current_app.config
    ids = db.session.scalars(sa.select(OutboxMessage.id).where(_claimable(now))
                             .order_by(OutboxMessage.urgent.desc(), OutboxMessage.id)
                             .limit(limit)).all()
    session = SmtpSession(config)
    sent = 0
    try:
        for position, message_id in enumerate(ids):
            claimed = db.session.execute(
                sa.update(OutboxMessage).where(OutboxMessage.id == message_id, _claimable(now))
                .values(claimed_at=now).execution_options(synchronize_session=False)).rowcount
            db.session.commit()
            if not claimed:
                continue
            message = db.session.get(OutboxMessage, message_id)
            db.session.refresh(message)
            try:
                if config["MAIL_TRANSPORT"] == "file":
                    _write_file(_email(message), message.id)
                else:
                    session.send(_email(message))
            except MESSAGE_ERRORS as exc:
                # Refused by the server that answered: given up if that will not change.
                # (An unreachable server never makes a message given up: see below.)
                limit = int(config.get("OUTBOX_MAX_ATTEMPTS", 12))
                _failed(message, now, exc, give_up=_refused_for_good(exc)
                        or message.attempts + 1 >= limit)
                if message.failed_at is None:
                    logger.warning("email %s refused: %s", message.id, exc)
            except (OSError, smtplib.SMTPException) as exc:
                # The server is down or dropped us: put back this one and the rest of
                # the batch, with backoff, and stop trying for now.
                session.reset()
                _failed(message, now, exc)
                _defer(ids[position + 1:], now, exc)
                logger.warning("SMTP unavailable (%s); %s messages wait", exc,
                               len(ids) - position)
                db.session.commit()
                break
            else:
                message.sent_at, message.attempts = now, message.attempts + 1
                message.next_attempt_at, message.last_error = None, None
                sent += 1
            db.session.commit()
    finally:
        session.close()
    return sent


def _failed(message: OutboxMessage, now: datetime, exc: Exception,
            give_up: bool = False) -> None:
    message.claimed_at, message.attempts = None, message.attempts + 1
    message.last_error = str(exc)[:500] or type(exc).__name__
    if give_up:
        message.failed_at, message.next_attempt_at = now, None
        logger.error("email %s to %s given up after %s attempts: %s", message.id,
                     message.to_address, message.attempts, message.last_error)
    else:
        message.next_attempt_at = now + backoff(message.attempts)


def _refused_for_good(exc: Exception) -> bool:
    """A refusal that sending again will not change: a 5xx answer (every recipient's, for
    refused recipients), an extension the server lacks, or a message that cannot be built."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPSenderRefused | smtplib.SMTPDataError):
        return exc.smtp_code >= 500
    return isinstance(exc, smtplib.SMTPNotSupportedError | ValueError)


def _defer(ids, now: datetime, exc: Exception) -> None:
    for message in db.session.scalars(sa.select(OutboxMessage).where(
            OutboxMessage.id.in_(list(ids)), _claimable(now))):
        _failed(message, now, exc)
