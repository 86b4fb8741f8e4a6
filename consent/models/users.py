"""People who sign in, their roles, and API clients."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from consent.extensions import db
from consent.models.base import TimestampMixin, UTCDateTime


class RoleName(StrEnum):
    ADMIN = "admin"
    LEGAL = "legal"
    REVIEWER = "reviewer"
    SIGNATORY = "signatory"
    STAFF = "staff"
    GUARDIAN = "guardian"
    STUDENT = "student"


user_roles = sa.Table(
    "user_roles",
    db.metadata,
    sa.Column("user_id", sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("role_id", sa.ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
)


class Role(db.Model):
    __tablename__ = "roles"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(32), unique=True)


def new_token() -> str:
    """A random URL-safe token."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 of an API token: tokens are long and random, so no slow hash is needed."""
    return hashlib.sha256(token.encode()).hexdigest()


class User(UserMixin, TimestampMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)  # stored lower-case
    name: Mapped[str] = mapped_column(sa.String(200))
    password_hash: Mapped[str | None] = mapped_column(sa.String(256))
    organization_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organizations.id"))
    title: Mapped[str | None] = mapped_column(sa.String(200))
    active: Mapped[bool] = mapped_column(default=True)
    # Flask-Login identifies sessions by this token, not the id: rotating it ends
    # every session and remember-me cookie of the user.
    session_token: Mapped[str] = mapped_column(sa.String(64), unique=True, default=new_token)
    preferred_language: Mapped[str] = mapped_column(sa.String(8), default="en")

    organization = relationship("Organization")
    roles: Mapped[list[Role]] = relationship(secondary=user_roles, lazy="selectin")

    def get_id(self) -> str:
        return self.session_token

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def role_names(self) -> set[str]:
        return {r.name for r in self.roles}

    def has_role(self, role: str) -> bool:
        return role in self.role_names

    def has_any_role(self, *roles: str) -> bool:
        return bool(self.role_names.intersection(roles))

    def set_password(self, password: str) -> None:
        """Hash and store `password`, ending every other session of this user."""
        self.password_hash = generate_password_hash(password)
        self.rotate_session_token()

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    def rotate_session_token(self) -> None:
        self.session_token = new_token()

    def __repr__(self):
        return f"<User {self.id}>"


class ApiToken(TimestampMixin, db.Model):
    """A bearer token: either a person's (acts as that user) or an enforcer client's.

    Client tokens are scoped to one organization and may only read that
    organization's rules and decisions and report its disclosures.
    """

    __tablename__ = "api_tokens"
    __table_args__ = (
        sa.CheckConstraint(
            "(user_id IS NULL) <> (organization_id IS NULL)", name="user_xor_organization"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    organization_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organizations.id"))
    active: Mapped[bool] = mapped_column(default=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User | None] = relationship()
    organization = relationship("Organization")


class SignInFailure(db.Model):
    """One failed sign-in, kept for the throttle window.

    `account_key` is the SHA-256 of the normalised email, so an address that has no
    account is throttled like one that has (no enumeration) and is not stored in clear.
    """

    __tablename__ = "sign_in_failures"
    __table_args__ = (sa.Index("ix_sign_in_failures_account_at", "account_key", "at"),
                      sa.Index("ix_sign_in_failures_ip_at", "ip_address", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    account_key: Mapped[str] = mapped_column(sa.String(64))
    ip_address: Mapped[str | None] = mapped_column(sa.String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
