"""Sign-in throttling, shared by every worker because it lives in the database.

After too many failed sign-ins for one account (or from one address) within a window,
further attempts are refused until the window has moved on, before any password is
checked. Unknown addresses are counted exactly like known ones, so the answer never
tells whether an account exists.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from consent.errors import TooManyAttempts
from consent.extensions import db
from consent.models import SignInFailure


def account_key(email: str) -> str:
    """The stored key for an email address (normalised, hashed)."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def _window() -> timedelta:
    return timedelta(seconds=current_app.config["SIGN_IN_WINDOW_SECONDS"])


def _retry_after(column, value, limit: int, now: datetime) -> int | None:
    """Seconds until fewer than `limit` failures remain in the window, or None if under it."""
    recent = db.session.scalars(
        sa.select(SignInFailure.at).where(column == value, SignInFailure.at > now - _window())
        .order_by(SignInFailure.at.desc()).limit(limit)).all()
    if len(recent) < limit:
        return None
    # The limit-th most recent failure leaves the window first among those that count.
    return max(1, math.ceil((recent[-1] + _window() - now).total_seconds()))


def check(email: str, ip: str | None, now: datetime) -> None:
    """Raise TooManyAttempts if this account or address must wait."""
    config = current_app.config
    waits = [_retry_after(SignInFailure.account_key, account_key(email),
                          config["SIGN_IN_MAX_FAILURES"], now)]
    if ip:
        waits.append(_retry_after(SignInFailure.ip_address, ip,
                                  config["SIGN_IN_MAX_FAILURES_PER_ADDRESS"], now))
    wait = max((w for w in waits if w is not None), default=None)
    if wait is not None:
        minutes = math.ceil(wait / 60)
        raise TooManyAttempts(f"too many failed sign-ins; try again in {minutes} minute"
                              f"{'' if minutes == 1 else 's'}", retry_after=wait, field="email")


def record_failure(email: str, ip: str | None, now: datetime) -> None:
    """Count one failed attempt and forget this account's failures older than the window."""
    key = account_key(email)
    db.session.execute(sa.delete(SignInFailure).where(
        SignInFailure.account_key == key, SignInFailure.at <= now - _window()))
    db.session.add(SignInFailure(account_key=key, ip_address=ip, at=now))
    db.session.flush()


def clear(email: str) -> None:
    """A successful sign-in forgets the account's failures (not the address's)."""
    db.session.execute(sa.delete(SignInFailure).where(
        SignInFailure.account_key == account_key(email)))
    db.session.flush()
