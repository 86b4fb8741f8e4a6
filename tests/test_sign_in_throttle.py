"""Failed sign-ins are throttled per account and per address, on the web and the API,
without telling whether an account exists."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from consent.auth import throttle
from consent.models import SignInFailure
from consent.timeutil import utcnow
from tests.conftest import PASSWORD

LIMIT = 10  # the default SIGN_IN_MAX_FAILURES


def _web(client, email, password):
    return client.post("/auth/login", data={"email": email, "password": password})


def _api(client, email, password):
    return client.post("/api/v1/auth/tokens", json={"email": email, "password": password})


def test_web_refuses_even_the_right_password_after_too_many_failures(client, make, db):
    user = make.user("legal")
    for _ in range(LIMIT):
        assert _web(client, user.email, "wrong password").status_code == 401
    r = _web(client, user.email, PASSWORD)
    assert r.status_code == 429
    assert "too many failed sign-ins" in r.get_data(as_text=True).lower()
    assert 1 <= int(r.headers["Retry-After"]) <= 900
    assert client.get("/agreements/").status_code == 302  # still signed out
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SignInFailure)) == LIMIT


def test_api_answers_429_naming_the_field_and_shares_the_count_with_the_web(client, make):
    user = make.user("legal")
    for _ in range(LIMIT - 1):
        assert _web(client, user.email.upper(), "wrong").status_code == 401
    assert _api(client, user.email, "wrong").status_code == 401
    r = _api(client, user.email, PASSWORD)
    assert r.status_code == 429
    assert r.get_json()["error"]["code"] == "too_many_attempts"
    assert r.get_json()["error"]["field"] == "email"
    assert r.headers["Retry-After"] == str(r.get_json()["error"]["details"]["retry_after"])


def test_unknown_addresses_are_throttled_like_real_ones(client):
    for _ in range(LIMIT):
        assert _api(client, "nobody@nowhere.example", "x").status_code == 401
    assert _api(client, "nobody@nowhere.example", "x").status_code == 429


def test_a_success_clears_the_count_and_other_accounts_are_untouched(client, make):
    user, other = make.user("legal"), make.user("reviewer")
    for _ in range(LIMIT - 1):
        _web(client, user.email, "wrong")
    assert _web(client, user.email, PASSWORD).status_code == 302
    for _ in range(LIMIT - 1):  # counting starts again from zero
        assert _api(client, user.email, "wrong").status_code == 401
    assert _api(client, user.email, PASSWORD).status_code == 201
    assert _api(client, other.email, PASSWORD).status_code == 201


def test_the_wait_ends_when_the_oldest_counted_failure_leaves_the_window(app, make, db):
    user = make.user("legal")
    window = timedelta(seconds=app.config["SIGN_IN_WINDOW_SECONDS"])
    base = utcnow() - window + timedelta(seconds=120)
    # One failure a second, the first leaving the window in 120 s.
    db.session.add_all(SignInFailure(account_key=throttle.account_key(user.email),
                                     ip_address="192.0.2.1", at=base + timedelta(seconds=i))
                       for i in range(LIMIT))
    db.session.commit()
    r = _api(app.test_client(), user.email, PASSWORD)
    assert r.status_code == 429
    assert 118 <= int(r.headers["Retry-After"]) <= 121
    # Moving every failure 121 s further back takes the oldest out of the window.
    for failure in db.session.scalars(sa.select(SignInFailure)):
        failure.at -= timedelta(seconds=121)
    db.session.commit()
    assert _api(app.test_client(), user.email, PASSWORD).status_code == 201


def test_one_address_is_limited_across_accounts(app, client, make):
    app.config["SIGN_IN_MAX_FAILURES_PER_ADDRESS"] = 3
    user = make.user("legal")
    for n in range(3):
        assert _api(client, f"guess{n}@example.org", "x").status_code == 401
    assert _api(client, user.email, PASSWORD).status_code == 429
