"""Rows that serve families: one-time sign-in links and consent receipts."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consent.extensions import db
from consent.models.base import UTCDateTime


class SignInLink(db.Model):
    """An emailed one-time sign-in link. Only the SHA-256 of its token is stored."""

    __tablename__ = "sign_in_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user = relationship("User")


class ConsentReceipt(db.Model):
    """The PDF receipt of one consent decision, as emailed to the person who made it."""

    __tablename__ = "consent_receipts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    student_id: Mapped[int] = mapped_column(sa.ForeignKey("students.id"), index=True)
    event: Mapped[str] = mapped_column(sa.String(16))  # grant | refuse | revoke
    language: Mapped[str] = mapped_column(sa.String(8))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sha256: Mapped[str] = mapped_column(sa.String(64))
    pdf: Mapped[bytes] = mapped_column(sa.LargeBinary)
    outbox_message_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("outbox_messages.id"), index=True)
