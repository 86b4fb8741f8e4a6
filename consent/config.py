"""Configuration: defaults, then ACCORDANT_* environment variables, then overrides."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask

DEV_SECRET_KEY = "accordant-development-only-secret"


class DefaultConfig:
    """Settings every deployment starts from."""

    SQLALCHEMY_DATABASE_URI = "sqlite:///accordant.sqlite"  # relative: in the instance folder
    SQLALCHEMY_ENGINE_OPTIONS: dict = {}
    DISTRICT_TIMEZONE = "America/Los_Angeles"
    # Demo and development may use a fixed secret; anything else must supply one.
    DEVELOPMENT_MODE = False
    SECRET_KEY: str | None = None
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    SESSION_PROTECTION = "strong"
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
    RULES_BUNDLE_TTL_SECONDS = 3600
    # What a guardian's consent does at the student's 18th birthday (design.md).
    MAJORITY_POLICY = "lapse"
    MAJORITY_GRACE_DAYS = 0
    REMINDER_LOCAL_HOUR = 9
    # The site's public address, for links in emails and feeds (see consent.links).
    PUBLIC_URL: str | None = None
    MAIL_SENDER = "Accordant <no-reply@accordant.local>"
    # "smtp" sends; "file" writes each message to instance/mail/ (demo, development).
    MAIL_TRANSPORT = "smtp"
    SMTP_HOST = "localhost"
    SMTP_PORT = 25
    SMTP_STARTTLS = False
    SMTP_USERNAME: str | None = None
    SMTP_PASSWORD: str | None = None
    MAX_CONTENT_LENGTH = 20 * 1024 * 1024
    # Failed sign-ins allowed per account, and per client address, within the window.
    SIGN_IN_MAX_FAILURES = 10
    SIGN_IN_MAX_FAILURES_PER_ADDRESS = 100
    SIGN_IN_WINDOW_SECONDS = 900


def normalise_db_url(url: str) -> str:
    """Point PostgreSQL URLs at psycopg 3 (`postgres://` and bare `postgresql://`)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def load_config(app: Flask, overrides: Mapping[str, Any] | None = None) -> None:
    """Apply defaults, `ACCORDANT_*` env vars, `DATABASE_URL`, then `overrides`.

    :raises RuntimeError: no secret key outside development, an unknown time zone, or a
        majority policy or grace period that is not one.
    """
    app.config.from_object(DefaultConfig)
    app.config.from_prefixed_env("ACCORDANT")
    if os.environ.get("DATABASE_URL"):
        app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    if overrides:
        app.config.update(overrides)
    app.config["SQLALCHEMY_DATABASE_URI"] = normalise_db_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if not app.config.get("SECRET_KEY"):
        if not (app.config.get("DEVELOPMENT_MODE") or app.config.get("TESTING")):
            raise RuntimeError(
                "ACCORDANT_SECRET_KEY is not set. Set it to a long random value "
                "(development and demo use ACCORDANT_DEVELOPMENT_MODE=1)."
            )
        app.config["SECRET_KEY"] = DEV_SECRET_KEY
    try:
        ZoneInfo(app.config["DISTRICT_TIMEZONE"])
    except (ZoneInfoNotFoundError, ValueError) as exc:
        zone = app.config["DISTRICT_TIMEZONE"]
        raise RuntimeError(f"unknown DISTRICT_TIMEZONE {zone!r}") from exc
    _check_majority(app.config)


MAX_GRACE_DAYS = 3650


def _check_majority(config) -> None:
    """A mistyped policy must not quietly keep guardians' consents past the 18th birthday."""
    policy = config["MAJORITY_POLICY"]
    if policy not in ("lapse", "continue"):
        raise RuntimeError(f"ACCORDANT_MAJORITY_POLICY must be lapse or continue, not {policy!r}")
    grace = config["MAJORITY_GRACE_DAYS"]
    if isinstance(grace, bool) or not isinstance(grace, int) or not 0 <= grace <= MAX_GRACE_DAYS:
        raise RuntimeError(f"ACCORDANT_MAJORITY_GRACE_DAYS must be a whole number of days from "
                           f"0 to {MAX_GRACE_DAYS}, not {grace!r}")
