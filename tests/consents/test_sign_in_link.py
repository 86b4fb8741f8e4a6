"""Families sign in with an emailed one-time link: single use, short expiry, hashed token,
and the request form never tells whether an address has an account."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from consent.models import AuditEntry, Guardian, OutboxMessage, SignInLink, User
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


def _emailed_link(app, make, mailbox):
    """(visitor, path): Maria asks for a link, and the path it carries."""
    deliver, messages = mailbox
    make_partnership(make)
    visitor = app.test_client()
    visitor.post("/auth/link", data={"email": "maria@family.example"})
    deliver()
    return visitor, _link_from(messages[0])


def test_an_expired_or_unknown_link_does_not_sign_in(app, db, make, mailbox):
    visitor, path = _emailed_link(app, make, mailbox)
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


def test_a_roster_guardian_without_an_account_signs_in_with_the_roster_address(
        app, db, make, mailbox):
    deliver, messages = mailbox
    p = make_partnership(make)
    # As a roster import leaves it: a guardian record with an address and a child, and
    # no account.
    roster_guardian = make.guardian(None, given="Rosa", family="Núñez",
                                    email="rosa.nunez@family.example")
    make.link(p.other_student, roster_guardian)
    db.session.commit()
    assert db.session.scalar(sa.select(User).where(User.email == "rosa.nunez@family.example")
                             ) is None
    visitor = app.test_client()
    r = visitor.post("/auth/link", data={"email": "Rosa.Nunez@family.example"})
    assert r.status_code == 200
    assert deliver() == 1
    [message] = messages
    assert message["To"] == "rosa.nunez@family.example"
    assert visitor.post(_link_from(message)).status_code == 302
    page = visitor.get("/family/").get_data(as_text=True)
    assert "Ben" in page and "Ana" not in page  # her child only
    db.session.expire_all()
    user = db.session.scalar(sa.select(User).where(User.email == "rosa.nunez@family.example"))
    assert (user.name, user.role_names, user.password_hash) == ("Rosa Núñez", {"guardian"}, None)
    assert db.session.get(Guardian, roster_guardian.id).user_id == user.id
    assert db.session.scalars(sa.select(AuditEntry.event).where(
        AuditEntry.subject_type == "user", AuditEntry.subject_id == user.id)).all() == [
        "user_created", "guardian_account_linked", "sign_in"]


def test_no_account_is_opened_for_an_unclear_or_childless_roster_address(app, db, make):
    p = make_partnership(make)
    childless = make.guardian(None, email="nochild@family.example")
    for _ in range(2):  # two records, one address: which person is meant is unclear
        make.link(p.other_student, make.guardian(None, email="shared@family.example"))
    staff_parent = make.guardian(None, email=p.legal.email)  # a staff member's address
    make.link(p.other_student, staff_parent)
    db.session.commit()
    users_before = db.session.scalar(sa.select(sa.func.count(User.id)))
    for email in ("nochild@family.example", "shared@family.example", p.legal.email):
        assert app.test_client().post("/auth/link", data={"email": email}).status_code == 200
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == users_before
    assert db.session.get(Guardian, childless.id).user_id is None
    assert db.session.get(Guardian, staff_parent.id).user_id is None
    assert db.session.scalars(sa.select(OutboxMessage)).all() == []


def test_the_emailed_link_is_built_on_the_public_address_not_the_requests_host(
        app, db, make):
    make_partnership(make)
    app.config["PUBLIC_URL"] = "https://accordant.riverside.example/"
    r = app.test_client().post("/auth/link", data={"email": "maria@family.example"},
                               headers={"Host": "evil.example"})
    assert r.status_code == 200
    (message,) = db.session.scalars(sa.select(OutboxMessage)).all()
    assert "evil.example" not in message.body
    assert re.search(r"https://accordant\.riverside\.example/auth/link/[A-Za-z0-9_-]+",
                     message.body), message.body


def test_outside_development_a_link_needs_the_public_address(app, db, make):
    make_partnership(make)
    app.testing = False
    try:
        r = app.test_client().post("/auth/link", data={"email": "maria@family.example"})
    finally:
        app.testing = True
    assert r.status_code == 500
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0


def test_the_production_server_does_not_start_without_the_public_address(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORDANT_")}
    env.update(ACCORDANT_SECRET_KEY="a-long-random-production-secret",
               ACCORDANT_INSTANCE_PATH=str(tmp_path))
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "ACCORDANT_PUBLIC_URL is not set" in done.stderr
    env["ACCORDANT_PUBLIC_URL"] = "https://accordant.riverside.example"
    done = subprocess.run([sys.executable, "-c", "import wsgi"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_used_or_unknown_link_says_so_when_opened(app, db, make, mailbox):
    visitor, path = _emailed_link(app, make, mailbox)
    assert visitor.get(path).status_code == 200  # usable: the page with the button
    assert visitor.post(path).status_code == 302
    for opened in (path, "/auth/link/not-a-token"):
        r = app.test_client().get(opened)
        assert r.status_code == 410 and 'action="' not in r.get_data(as_text=True)
