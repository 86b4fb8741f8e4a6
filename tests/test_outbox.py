"""Emails in the outbox go out over real SMTP once, and survive a server outage."""

from __future__ import annotations

import socket
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message

from consent.models import OutboxMessage
from consent.services import notifications
from consent.services.sign_in_links import send_sign_in_link
from consent.timeutil import utcnow


class Collect(Message):
    def __init__(self):
        super().__init__()
        self.messages = []

    def handle_message(self, message):
        self.messages.append(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server(app):
    handler = Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller, handler
    controller.stop()


def test_outbox_is_sent_once_and_kept_while_server_is_down(app, db, smtp_server):
    controller, handler = smtp_server
    with app.test_request_context():
        notifications.enqueue_email(
            "maria@family.example", "Please sign", "notify/signature_request.txt",
            user=SimpleNamespace(name="Nguyễn O'Brien"),
            agreement=SimpleNamespace(title="Data MOU", id=7, revision=2))
        db.session.commit()

    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=_free_port())  # nobody listens
    with app.app_context():
        assert notifications.deliver_outbox() == 0
    db.session.expire_all()
    row = db.session.scalar(sa.select(OutboxMessage))
    assert row.sent_at is None and row.attempts == 1 and row.last_error

    app.config.update(SMTP_PORT=controller.port)
    later = utcnow() + timedelta(minutes=2)  # past the first retry's backoff
    with app.app_context():
        assert notifications.deliver_outbox(later) == 1
        assert notifications.deliver_outbox(later) == 0  # nothing goes twice
    deadline = time.monotonic() + 5
    while not handler.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(handler.messages) == 1
    message = handler.messages[0]
    assert message["To"] == "maria@family.example"
    assert "Nguyễn O'Brien" in message.get_payload(decode=True).decode()


def test_a_sign_in_link_goes_out_ahead_of_bulk_mail_waiting(app, db, make, smtp_server):
    controller, handler = smtp_server
    family = make.user("guardian", email="maria@family.example", name="Maria O'Brien")
    with app.test_request_context():
        for i in range(12):  # a batch of consent requests sent a moment earlier
            notifications.enqueue_email(
                f"family{i}@example.org", "Please sign", "notify/signature_request.txt",
                user=SimpleNamespace(name="A Family"),
                agreement=SimpleNamespace(title="Data MOU", id=7, revision=2))
        assert send_sign_in_link(family.email)
        db.session.commit()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port)
    with app.app_context():
        assert notifications.deliver_outbox(limit=5) == 5
    deadline = time.monotonic() + 5
    while len(handler.messages) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    recipients = [m["To"] for m in handler.messages]
    assert recipients[0] == "maria@family.example"
    assert recipients[1:] == [f"family{i}@example.org" for i in range(4)]  # then in order


class Refusing(Collect):
    """Refuses gone@ for good (550) and busy@ for now (451)."""

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("gone@"):
            return "550 5.1.1 no such mailbox"
        if address.startswith("busy@"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def refusing_smtp(app):
    handler = Refusing()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port, OUTBOX_MAX_ATTEMPTS=3)
    yield handler
    controller.stop()


def _enqueue(app, db, *addresses):
    with app.test_request_context():
        for address in addresses:
            notifications.enqueue_email(
                address, "Please sign", "notify/signature_request.txt",
                user=SimpleNamespace(name="Pat"),
                agreement=SimpleNamespace(title="Data MOU", id=7, revision=2))
        db.session.commit()


def _rows(db):
    db.session.expire_all()
    return {row.to_address: row for row in db.session.scalars(sa.select(OutboxMessage))}


def test_mail_refused_for_good_is_given_up_at_once_and_the_rest_still_goes(
        app, db, refusing_smtp):
    _enqueue(app, db, "gone@family.example", "maria@family.example")
    with app.app_context():
        assert notifications.deliver_outbox() == 1
    rows = _rows(db)
    gone = rows["gone@family.example"]
    assert gone.failed_at is not None and gone.attempts == 1 and gone.sent_at is None
    assert "550" in gone.last_error and gone.next_attempt_at is None
    assert rows["maria@family.example"].sent_at is not None
    with app.app_context():  # a day later: never tried again
        assert notifications.deliver_outbox(utcnow() + timedelta(days=1)) == 0
    assert _rows(db)["gone@family.example"].attempts == 1


def test_mail_refused_for_now_is_retried_then_given_up_after_the_attempt_limit(
        app, db, refusing_smtp):
    _enqueue(app, db, "busy@family.example")
    at = utcnow()
    for attempt in (1, 2, 3):
        with app.app_context():
            assert notifications.deliver_outbox(at) == 0
        row = _rows(db)["busy@family.example"]
        assert row.attempts == attempt and "451" in row.last_error
        assert (row.failed_at is None) == (attempt < 3)
        at += timedelta(days=1)  # past any backoff
    with app.app_context():
        assert notifications.deliver_outbox(at) == 0
    assert _rows(db)["busy@family.example"].attempts == 3


def test_an_unreachable_server_never_makes_mail_given_up(app, db):
    _enqueue(app, db, "maria@family.example")
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=_free_port(), OUTBOX_MAX_ATTEMPTS=2)
    at = utcnow()
    for _ in range(4):
        with app.app_context():
            assert notifications.deliver_outbox(at) == 0
        at += timedelta(days=1)
    row = _rows(db)["maria@family.example"]
    assert row.attempts == 4 and row.failed_at is None and row.next_attempt_at is not None
