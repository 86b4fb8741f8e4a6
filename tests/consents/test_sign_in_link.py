"""Families sign in with an emailed one-time link: single use, short expiry, hashed token,
and the request form never tells whether an address has an account."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import sqlalchemy as sa

from consent.models import OutboxMessage, SignInLink
from consent.timeutil import utcnow
from tests.api.helpers import make_partnership


def _link_from(message) -> str:
    body = message.get_payload(decode=True).decode() if not message.is_multipart() else \
        message.get_payload(0).get_payload(decode=True).decode()
    return re.search(r"http://localhost(/auth/link/[A-Za-z0-9_-]+)", body).group(1)


def test_a_guardian_signs_in_once_with_the_emailed_link(app, db, make, mailbox):
    deliver, messages = mailbox
    p = make_partnership(make)
    visitor = app.test_client()
    r = visitor.post("/auth/link", data={"email": "  MARIA@Family.Example "})
    assert r.status_code == 200 and "Check your email" in r.get_data(as_text=True)
    assert deliver() == 1
    [message] = messages
    assert message["To"] == p.guardian_user.email
    path = _link_from(message)
    token = path.rsplit("/", 1)[1]
    stored = db.session.scalars(sa.select(SignInLink)).one()
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in stored.token_hash
    assert timedelta(minutes=14) < stored.expires_at - stored.created_at <= timedelta(minutes=15)

    # Opening the link (a mail scanner would) does not use it up.
    assert visitor.get(path).status_code == 200
    assert visitor.get("/family/").status_code == 302
    r = visitor.post(path)
    assert r.status_code == 302 and r.headers["Location"].endswith("/family/")
    assert "Ana" in visitor.get("/family/").get_data(as_text=True)
    # Once only, even from another browser.
    assert app.test_client().post(path).status_code == 410


def test_the_answer_is_the_same_for_any_address(app, db, make):
    p = make_partnership(make)
    pages = {}
    for email in ("maria@family.example", "nobody@nowhere.example", p.legal.email):
        r = app.test_client().post("/auth/link", data={"email": email})
        pages[email] = (r.status_code, r.get_data(as_text=True))
    assert len(set(pages.values())) == 1
    # Only the family account got a message; staff sign in with their password.
    assert [m.to_address for m in db.session.scalars(sa.select(OutboxMessage))] == [
        "maria@family.example"]


def test_an_expired_or_unknown_link_does_not_sign_in(app, db, make, mailbox):
    deliver, messages = mailbox
    make_partnership(make)
    visitor = app.test_client()
    visitor.post("/auth/link", data={"email": "maria@family.example"})
    deliver()
    path = _link_from(messages[0])
    link = db.session.scalars(sa.select(SignInLink)).one()
    link.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert visitor.post(path).status_code == 410
    assert visitor.post("/auth/link/not-a-real-token").status_code == 410
    assert visitor.get("/family/").status_code == 302
    db.session.expire_all()
    assert db.session.scalars(sa.select(SignInLink)).one().used_at is None


def test_the_form_cannot_flood_a_familys_inbox(app, db, make):
    make_partnership(make)
    pages = set()
    for _ in range(5):
        r = app.test_client().post("/auth/link", data={"email": "maria@family.example"})
        pages.add((r.status_code, r.get_data(as_text=True)))
    assert len(pages) == 1  # the fourth and fifth answers look like the first
    assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 3
    # Once the earlier links have run out, a new one may be sent.
    for link in db.session.scalars(sa.select(SignInLink)):
        link.created_at -= timedelta(minutes=16)
    db.session.commit()
    app.test_client().post("/auth/link", data={"email": "maria@family.example"})
    assert db.session.scalar(sa.select(sa.func.count(OutboxMessage.id))) == 4
