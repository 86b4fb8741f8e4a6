"""Certificates of destruction: a recipient certifies it destroyed an ended agreement's data.

One per (agreement, recipient organization), append-only like the other ledgers
(consent.models); consent.services.destruction checks who may record one and when.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consent.extensions import db
from consent.models.base import UTCDateTime


class DestructionCertificate(db.Model):
    """A recipient's certificate that it destroyed the data shared under an agreement."""

    __tablename__ = "destruction_certificates"
    __table_args__ = (sa.UniqueConstraint("agreement_id", "recipient_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(sa.ForeignKey("agreements.id"), index=True)
    recipient_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"))
    # Exactly one of these names who certified: a person, or an enforcer client's token.
    certified_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    certified_by_label: Mapped[str] = mapped_column(sa.String(300))
    destroyed_on: Mapped[date]
    method: Mapped[str] = mapped_column(sa.Text)
    note: Mapped[str] = mapped_column(sa.Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ip_address: Mapped[str | None] = mapped_column(sa.String(64))

    agreement = relationship("Agreement")
    recipient = relationship("Organization")
    certified_by = relationship("User")
