"""The disclosure log: what enforcers report they released, one row per student.

A report (one POST from an enforcer) is stored once per idempotency key and
recipient; each record of it becomes one `Disclosure`. Both are append-only: this
is the district's record of disclosures (FERPA 34 CFR 99.32 for the exception-based
ones) and families read it. No business rules here: consent.api.disclosures checks
each record against the access rules before anything is stored.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consent.extensions import db
from consent.models.agreements import LegalBasis
from consent.models.base import UTCDateTime


class DisclosureReport(db.Model):
    """One report from an enforcer; a retry with the same key finds this row."""

    __tablename__ = "disclosure_reports"
    __table_args__ = (sa.UniqueConstraint("recipient_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"))
    idempotency_key: Mapped[str] = mapped_column(sa.String(128))
    # SHA-256 of the canonical request body: the same key with another body is refused.
    request_sha256: Mapped[str] = mapped_column(sa.String(64))
    purpose: Mapped[str] = mapped_column(sa.String(64))
    released_at: Mapped[datetime] = mapped_column(UTCDateTime)
    bundle_version: Mapped[int]
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Token ids stay readable here even if the token is later withdrawn, so no FK.
    reported_by_token_id: Mapped[int]
    reported_by_label: Mapped[str] = mapped_column(sa.String(300))

    recipient = relationship("Organization")
    disclosures: Mapped[list[Disclosure]] = relationship(
        back_populates="report", order_by="Disclosure.position")


class Disclosure(db.Model):
    """Records of one student released to one recipient, for one purpose, at one instant."""

    __tablename__ = "disclosures"
    __table_args__ = (
        sa.UniqueConstraint("report_id", "position"),
        sa.CheckConstraint(sa.column("basis").in_([b.value for b in LegalBasis]),
                           name="basis_valid"),
        sa.CheckConstraint("row_count IS NULL OR row_count >= 0", name="row_count_positive"),
        sa.Index("ix_disclosures_student_released", "student_id", "released_at"),
        sa.Index("ix_disclosures_released", "released_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(sa.ForeignKey("disclosure_reports.id"))
    position: Mapped[int]  # index of the record in its report
    recipient_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    student_id: Mapped[int] = mapped_column(sa.ForeignKey("students.id"))
    categories: Mapped[list] = mapped_column(sa.JSON)  # data category codes
    fields: Mapped[list] = mapped_column(sa.JSON)  # export field names released
    purpose: Mapped[str] = mapped_column(sa.String(64))
    released_at: Mapped[datetime] = mapped_column(UTCDateTime)
    row_count: Mapped[int | None]
    agreement_id: Mapped[int] = mapped_column(sa.ForeignKey("agreements.id"), index=True)
    # The consents it rests on (one per category), empty for any other basis.
    consent_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    basis: Mapped[str] = mapped_column(sa.String(32))
    # Disclosed without consent under a FERPA exception: the 99.32 record lists these.
    exception: Mapped[bool]
    bundle_version: Mapped[int]
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reported_by_token_id: Mapped[int]

    report: Mapped[DisclosureReport] = relationship(back_populates="disclosures")
    recipient = relationship("Organization")
    student = relationship("Student")
    agreement = relationship("Agreement")
