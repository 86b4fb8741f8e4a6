"""Rows that serve families: one-time sign-in links and consent receipts."""

from __future__ import annotations

from datetime import date, datetime

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


class ConsentRequest(db.Model):
    """A request for consent sent to one guardian for one student under one agreement.

    Whether it was answered is not stored: it is read from the consents given since.
    """

    __tablename__ = "consent_requests"
    __table_args__ = (sa.UniqueConstraint("agreement_id", "student_id", "guardian_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(sa.ForeignKey("agreements.id"), index=True)
    student_id: Mapped[int] = mapped_column(sa.ForeignKey("students.id"), index=True)
    guardian_id: Mapped[int] = mapped_column(sa.ForeignKey("guardians.id"))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    outbox_message_id: Mapped[int | None] = mapped_column(sa.ForeignKey("outbox_messages.id"))

    student = relationship("Student")
    guardian = relationship("Guardian")


class PaperConsentScan(db.Model):
    """The scanned paper form behind a consent recorded by staff.

    Served only to people of `organization_id` (the organization whose staff recorded it).
    """

    __tablename__ = "paper_consent_scans"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    student_id: Mapped[int] = mapped_column(sa.ForeignKey("students.id"), index=True)
    uploaded_by_user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    content_type: Mapped[str] = mapped_column(sa.String(32))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)
    # The consent rows the form gave (one per purpose and category).
    consent_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    signed_by: Mapped[str] = mapped_column(sa.String(200))
    signed_on: Mapped[date]
