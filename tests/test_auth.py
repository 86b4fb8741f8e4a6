"""Sign-in, the `next` redirect, and ending every session of a user."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from consent import create_app
from consent.extensions import db as _db
from consent.models import AuditEntry, User
from consent.services import accounts
from tests.conftest import PASSWORD


def _sign_in(client, user, remember=False, next_url=None):
    url = "/auth/login" + (f"?next={next_url}" if next_url else "")
    data = {"email": user.email.upper(), "password": PASSWORD}
    if remember:
        data["remember"] = "y"
    return client.post(url, data=data)


def test_wrong_password_is_refused(client, make):
    user = make.user("legal")
    r = client.post("/auth/login", data={"email": user.email, "password": "nope"})
    assert r.status_code == 401
    assert client.get("/agreements/").status_code == 302


@pytest.mark.parametrize("data, field, message", [
    ({"email": "", "password": "x"}, "email", "This field is required."),
    ({"email": "legal@example.org", "password": ""}, "password", "This field is required."),
    ({"email": "legal@example.org", "password": "a long\x00 secret"}, "password",
     "remove the invisible control characters"),
])
def test_a_sign_in_form_that_fails_its_checks_says_why_next_to_the_field(
        client, make, data, field, message):
    user = make.user("legal", email="legal@example.org")
    r = client.post("/auth/login", data=data)
    assert r.status_code == 422
    page = r.get_data(as_text=True)
    error = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', page)
    assert error is not None and message in error.group(1), page
    assert client.get("/agreements/").status_code == 302  # not signed in
    assert user.email == "legal@example.org"


def test_passwords_are_stored_with_a_slow_salted_hash(make):
    user = make.user("legal")
    assert user.password_hash.startswith(("scrypt:", "pbkdf2:"))
    assert PASSWORD not in user.password_hash


@pytest.mark.parametrize(("target", "lands"), [
    ("/auth/password", "/auth/password"),
    ("https://evil.example/x", "/"),
    ("//evil.example/x", "/"),
    ("/\\evil.example", "/"),
    ("javascript:alert(1)", "/"),
])
def test_next_only_leads_to_this_site(client, make, target, lands):
    user = make.user("legal")
    r = _sign_in(client, user, next_url=target)
    assert r.status_code == 302
    assert r.headers["Location"] == lands


def test_logout_ends_every_session_and_remember_cookie(app, make):
    user = make.user("legal")
    phone, laptop = app.test_client(), app.test_client()
    assert _sign_in(phone, user, remember=True).status_code == 302
    assert _sign_in(laptop, user).status_code == 302
    remember = phone.get_cookie("remember_token")
    assert remember is not None
    assert laptop.get("/auth/password").status_code == 200

    phone.post("/auth/logout")
    assert laptop.get("/auth/password").status_code == 302
    # Replaying the old remember-me cookie in a fresh browser does not sign in either.
    thief = app.test_client()
    thief.set_cookie("remember_token", remember.value)
    assert thief.get("/auth/password").status_code == 302


def test_password_change_ends_other_sessions(app, db, make):
    user = make.user("guardian")
    mine, other = app.test_client(), app.test_client()
    token = make.user_token(user)
    _sign_in(mine, user)
    _sign_in(other, user)
    r = mine.post("/auth/password", data={"current_password": PASSWORD,
                                          "new_password": "a much longer new secret",
                                          "confirm": "a much longer new secret"})
    assert r.status_code == 302
    assert mine.get("/auth/password").status_code == 200
    assert other.get("/auth/password").status_code == 302
    r = app.test_client().get("/api/v1/students", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401  # personal API tokens end too
    db.session.expire_all()
    assert db.session.get(User, user.id).check_password("a much longer new secret")


def test_deactivated_user_loses_sessions_and_tokens(app, db, client, make):
    user = make.user("legal")
    browser = app.test_client()
    _sign_in(browser, user)
    token = make.user_token(user)
    accounts.deactivate(db.session.get(User, user.id))
    db.session.commit()
    assert browser.get("/auth/password").status_code == 302
    r = client.get("/api/v1/agreements", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert _sign_in(app.test_client(), user).status_code == 401


def test_csrf_is_required_on_forms(app_config, schema_ready, make):
    app_config["WTF_CSRF_ENABLED"] = True
    app = create_app(app_config)
    user = make.user("legal")
    client = app.test_client()
    r = client.post("/auth/login", data={"email": user.email, "password": PASSWORD})
    assert r.status_code == 400
    page = client.get("/auth/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    r = client.post("/auth/login", data={"email": user.email, "password": PASSWORD,
                                         "csrf_token": token})
    assert r.status_code == 302
    assert client.post("/auth/logout").status_code == 400
    assert client.get("/auth/password").status_code == 200  # still signed in
    with app.app_context():
        _db.engine.dispose()


def test_secret_key_is_required_outside_development(monkeypatch, tmp_path):
    monkeypatch.delenv("ACCORDANT_SECRET_KEY", raising=False)
    monkeypatch.delenv("ACCORDANT_DEVELOPMENT_MODE", raising=False)
    with pytest.raises(RuntimeError, match="ACCORDANT_SECRET_KEY"):
        create_app({"INSTANCE_PATH": str(tmp_path)})
    app = create_app({"INSTANCE_PATH": str(tmp_path), "DEVELOPMENT_MODE": True})
    assert app.config["SECRET_KEY"]


def test_password_form_errors_are_422_and_change_nothing(app, db, make):
    user = make.user("guardian")
    browser = app.test_client()
    _sign_in(browser, user)
    for data in ({"current_password": "wrong", "new_password": "a much longer new secret",
                  "confirm": "a much longer new secret"},
                 {"current_password": PASSWORD, "new_password": "short", "confirm": "short"},
                 {"current_password": PASSWORD, "new_password": "a much longer new secret",
                  "confirm": "something else entirely"}):
        assert browser.post("/auth/password", data=data).status_code == 422
    db.session.expire_all()
    assert db.session.get(User, user.id).check_password(PASSWORD)


def test_an_account_without_a_password_sets_a_first_one_and_then_must_give_it(app, db, make):
    """A family account opened by an emailed sign-in link has no password to give."""
    user = make.user("guardian")
    user.password_hash = None
    db.session.commit()
    browser = app.test_client()
    with browser.session_transaction() as session:  # signed in, as the link does
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
    page = browser.get("/auth/password")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Set a password" in text and "current_password" not in text
    r = browser.post("/auth/password", data={"new_password": "a first long secret",
                                             "confirm": "a first long secret"})
    assert r.status_code == 302, r.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, user.id).check_password("a first long secret")
    assert "password_changed" in set(db.session.scalars(sa.select(AuditEntry.event)))

    # From now on the password must be given to change it.
    text = browser.get("/auth/password").get_data(as_text=True)
    assert "current_password" in text and "Change your password" in text
    r = browser.post("/auth/password", data={"new_password": "a second long secret",
                                             "confirm": "a second long secret"})
    assert r.status_code == 422
    db.session.expire_all()
    assert db.session.get(User, user.id).check_password("a first long secret")
