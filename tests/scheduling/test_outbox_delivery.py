"""Outbox delivery over a real SMTP server (aiosmtpd, in-process) with a test clock:
retry with exponential backoff, one refused message not stopping the others, and
nothing lost while the server is down or after a crash mid-send."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from consent import jobs
from consent.extensions import db as app_db
from consent.models import OutboxMessage
from consent.services import notifications
from tests.scheduling.helpers import outbox, sweep

T0 = datetime(2027, 10, 4, 16, 0, tzinfo=UTC)


class Inbox:
    """An aiosmtpd handler that keeps what it receives and refuses some recipients, for
    now (451, the default) or for good (550)."""

    def __init__(self, refuse=(), code=451):
        self.refuse, self.received, self.lock = set(refuse), [], threading.Lock()
        self.code = code

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return f"{self.code} mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.received.append((tuple(envelope.rcpt_tos), envelope.content.decode()))
        return "250 Message accepted"

    def to(self) -> list[str]:
        with self.lock:
            return sorted(r for rcpts, _ in self.received for r in rcpts)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp(app):
    """Start a server on demand: smtp(handler, **controller options) -> controller."""
    started = []

    def start(handler, port=None, **options):
        controller = Controller(handler, hostname="127.0.0.1", port=port or _free_port(),
                                **options)
        controller.start()
        started.append(controller)
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port)
        return controller

    yield start
    for controller in started:
        controller.stop()


def _queue(app, *addresses):
    with app.test_request_context():
        for address in addresses:
            notifications.enqueue_email(
                address, f"Please sign ({address})", "notify/signature_request.txt",
                user=SimpleNamespace(name="Nguyễn O'Brien"),
                agreement=SimpleNamespace(title="Data MOU", id=7, revision=2))
        app_db.session.commit()


def _deliver(app, now):
    sweep(app, now, [jobs.deliver_email])


def _rows(db) -> dict[str, OutboxMessage]:
    return {m.to_address: m for m in outbox(db)}


def test_nothing_is_lost_while_the_server_is_down_and_retries_back_off(app, db, smtp):
    port = _free_port()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port)  # nobody listens yet
    _queue(app, "a@family.example", "b@family.example", "c@family.example")
    _deliver(app, T0)
    rows = _rows(db)
    assert {m.attempts for m in rows.values()} == {1}
    assert {m.next_attempt_at for m in rows.values()} == {T0 + timedelta(seconds=60)}
    assert all(m.sent_at is None and m.last_error for m in rows.values())
    # Still down: each failure doubles the wait (60 s, 120 s, 240 s, ...).
    _deliver(app, T0 + timedelta(seconds=60))
    _deliver(app, T0 + timedelta(seconds=180))
    rows = _rows(db)
    assert {m.attempts for m in rows.values()} == {3}
    assert {m.next_attempt_at for m in rows.values()} == {T0 + timedelta(seconds=420)}
    inbox = Inbox()
    smtp(inbox, port=port)  # the server is back
    _deliver(app, T0 + timedelta(seconds=419))  # still backing off: nothing tried
    assert inbox.to() == []
    _deliver(app, T0 + timedelta(seconds=420))
    _deliver(app, T0 + timedelta(seconds=480))
    assert inbox.to() == ["a@family.example", "b@family.example", "c@family.example"]
    rows = _rows(db)
    assert {m.sent_at for m in rows.values()} == {T0 + timedelta(seconds=420)}
    parsed = email.message_from_string(inbox.received[0][1], policy=email.policy.default)
    assert "Nguyễn O'Brien" in parsed.get_content()


def test_one_refused_message_does_not_stop_the_others(app, db, smtp):
    inbox = Inbox(refuse={"gone@family.example"})
    smtp(inbox)
    _queue(app, "a@family.example", "gone@family.example", "c@family.example")
    _deliver(app, T0)
    assert inbox.to() == ["a@family.example", "c@family.example"]
    gone = _rows(db)["gone@family.example"]
    assert gone.sent_at is None and gone.attempts == 1 and "451" in gone.last_error
    assert gone.next_attempt_at == T0 + timedelta(seconds=60)
    _deliver(app, T0 + timedelta(seconds=60))
    gone = _rows(db)["gone@family.example"]
    assert gone.attempts == 2 and gone.next_attempt_at == T0 + timedelta(seconds=180)
    inbox.refuse.clear()
    _deliver(app, T0 + timedelta(seconds=180))
    assert inbox.to() == ["a@family.example", "c@family.example", "gone@family.example"]


def test_backoff_is_capped(app):
    with app.app_context():
        app.config.update(OUTBOX_RETRY_BASE_SECONDS=60, OUTBOX_RETRY_MAX_SECONDS=3600)
        assert [notifications.backoff(n).total_seconds() for n in (1, 2, 6, 7, 30)] == [
            60, 120, 1920, 3600, 3600]


class Crash(BaseException):
    """Stands in for the process dying between the claim and the send."""


def test_a_message_claimed_by_a_process_that_died_is_sent_after_the_claim_goes_stale(
        app, db, smtp, monkeypatch):
    inbox = Inbox()
    smtp(inbox)
    _queue(app, "a@family.example")

    def die(self, email):
        raise Crash

    monkeypatch.setattr(notifications.SmtpSession, "send", die)
    with pytest.raises(Crash):
        _deliver(app, T0)
    monkeypatch.undo()
    assert _rows(db)["a@family.example"].claimed_at == T0
    _deliver(app, T0 + timedelta(minutes=5))  # the claim is still fresh: leave it
    assert inbox.to() == []
    _deliver(app, T0 + timedelta(minutes=11))
    _deliver(app, T0 + timedelta(minutes=12))
    assert inbox.to() == ["a@family.example"]


def test_two_delivery_jobs_at_once_send_each_message_once(app, db, smtp):
    inbox = Inbox()
    smtp(inbox)
    addresses = [f"p{i}@family.example" for i in range(20)]
    _queue(app, *addresses)
    barrier = threading.Barrier(2)
    errors = []

    def worker():
        try:
            with app.app_context():
                barrier.wait(timeout=30)
                notifications.deliver_outbox(T0)
                app_db.session.remove()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert inbox.to() == sorted(addresses)


def test_a_rolled_back_transaction_leaves_no_email(app, db):
    with app.test_request_context():
        notifications.enqueue_email("a@family.example", "x", "notify/signature_request.txt",
                                    user=SimpleNamespace(name="A"),
                                    agreement=SimpleNamespace(title="T", id=1, revision=1))
        app_db.session.rollback()
    assert outbox(db) == []


def _self_signed(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "smtp-cert.pem", tmp_path / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_starttls_with_a_verified_certificate_and_login(app, db, smtp, tmp_path):
    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    logins = []

    def authenticate(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        ok = (auth_data.login, auth_data.password) == (b"mailer", b"s3cret")
        return AuthResult(success=ok)

    inbox = Inbox()
    smtp(inbox, tls_context=server_tls, require_starttls=True, authenticator=authenticate,
         auth_required=True)
    app.config.update(SMTP_TLS="starttls", SMTP_CA_FILE=str(cert), SMTP_USERNAME="mailer",
                      SMTP_PASSWORD="s3cret")
    _queue(app, "a@family.example")
    _deliver(app, T0)
    assert inbox.to() == ["a@family.example"]
    assert logins == [(b"mailer", b"s3cret")]
    # A wrong password is an outage for every message, not a lost one.
    app.config.update(SMTP_PASSWORD="wrong")
    _queue(app, "b@family.example")
    _deliver(app, T0)
    row = db.session.scalar(sa.select(OutboxMessage).where(
        OutboxMessage.to_address == "b@family.example"))
    assert row.sent_at is None and row.attempts == 1 and row.next_attempt_at is not None
