"""Agreements (MOUs / data-sharing agreements), their parties, reviews, signatures, PDFs."""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consent.extensions import db
from consent.models.base import TimestampMixin, UTCDateTime, state_check
from workflows import AgreementState, SignatureState


class LegalBasis(StrEnum):
    CONSENT = "consent"
    SCHOOL_OFFICIAL = "school_official"
    STUDIES = "studies"
    AUDIT_EVALUATION = "audit_evaluation"
    CHILD_WELFARE = "child_welfare"
    DIRECTORY_INFORMATION = "directory_information"


class Agreement(TimestampMixin, db.Model):
    __tablename__ = "agreements"
    __table_args__ = (
        state_check("state", AgreementState),
        sa.CheckConstraint(
            sa.column("legal_basis").in_([b.value for b in LegalBasis]), name="legal_basis_valid"
        ),
        sa.CheckConstraint("end_date >= start_date", name="term_ordered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(300))
    state: Mapped[str] = mapped_column(sa.String(32), default=AgreementState.DRAFT.value,
                                       index=True)
    revision: Mapped[int] = mapped_column(default=1)
    source_org_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"))
    legal_basis: Mapped[str] = mapped_column(sa.String(32))
    purposes: Mapped[list] = mapped_column(sa.JSON, default=list)
    categories: Mapped[list] = mapped_column(sa.JSON, default=list)  # data category codes
    # {"schools": [organization ids], "grades": ["09", ...]}; an empty list does not restrict.
    population: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    start_date: Mapped[date]
    end_date: Mapped[date]
    scope_description: Mapped[str] = mapped_column(sa.Text, default="")
    use_limitation: Mapped[str] = mapped_column(sa.Text, default="")
    no_reidentification: Mapped[bool] = mapped_column(default=False)
    security_requirements: Mapped[str] = mapped_column(sa.Text, default="")
    retention_days: Mapped[int | None]
    destruction_days: Mapped[int | None]
    breach_notification_hours: Mapped[int | None]
    renewal_notice_days: Mapped[int] = mapped_column(default=60)
    clauses: Mapped[list] = mapped_column(sa.JSON, default=list)  # [{"heading", "text"}]
    template_key: Mapped[str] = mapped_column(sa.String(64), default="mou")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    predecessor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("agreements.id"),
                                                       index=True)
    # "renewal" or "amendment" for a successor of `predecessor_id`.
    successor_kind: Mapped[str | None] = mapped_column(sa.String(16))
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # First local date on which the agreement is no longer in force because it was
    # terminated or superseded early; None when it runs to its end date.
    ended_on: Mapped[date | None]
    # A termination with immediate effect ends at the instant it was made, not at the
    # start of `ended_on`: what was permitted earlier that day stays permitted.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(sa.Text)
    # The instant a successor took over; coverage passes on exactly here.
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version_id: Mapped[int] = mapped_column(default=1)

    parties: Mapped[list[AgreementParty]] = relationship(
        back_populates="agreement", cascade="all, delete-orphan", order_by="AgreementParty.id"
    )
    source_org = relationship("Organization", foreign_keys=[source_org_id])
    created_by = relationship("User", foreign_keys=[created_by_id])
    predecessor: Mapped[Agreement | None] = relationship(remote_side=[id])

    __mapper_args__ = {"version_id_col": version_id}

    def content_hash(self) -> str:
        """SHA-256 of this revision's content and parties, for the audit trail."""
        content = {
            "revision": self.revision, "title": self.title, "legal_basis": self.legal_basis,
            "purposes": self.purposes, "categories": self.categories,
            "population": self.population, "start_date": self.start_date.isoformat(),
            "end_date": self.end_date.isoformat(), "scope": self.scope_description,
            "use_limitation": self.use_limitation, "no_reidentification": self.no_reidentification,
            "security": self.security_requirements, "retention_days": self.retention_days,
            "destruction_days": self.destruction_days,
            "breach_notification_hours": self.breach_notification_hours,
            "renewal_notice_days": self.renewal_notice_days, "clauses": self.clauses,
            "parties": sorted([p.organization_id, p.role, p.signing_group] for p in self.parties),
        }
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def recipients(self):
        return [p.organization for p in self.parties if p.role == PartyRole.RECIPIENT]

    @property
    def recipient_ids(self) -> set[int]:
        return {p.organization_id for p in self.parties if p.role == PartyRole.RECIPIENT}

    @property
    def party_org_ids(self) -> set[int]:
        """Every party's organization (the workflow's organization guards read this)."""
        return {p.organization_id for p in self.parties}

    @property
    def reviewing_org_ids(self) -> set[int]:
        """The parties whose reviewers must approve each revision."""
        return {p.organization_id for p in self.parties if p.review_required}

    def party_for(self, organization_id: int | None) -> AgreementParty | None:
        return next((p for p in self.parties if p.organization_id == organization_id), None)


class PartyRole(StrEnum):
    SOURCE = "source"
    RECIPIENT = "recipient"


class AgreementParty(db.Model):
    __tablename__ = "agreement_parties"
    __table_args__ = (sa.UniqueConstraint("agreement_id", "organization_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(
        sa.ForeignKey("agreements.id", ondelete="CASCADE"), index=True
    )
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    role: Mapped[str] = mapped_column(sa.String(16))
    signing_group: Mapped[int] = mapped_column(default=1)
    review_required: Mapped[bool] = mapped_column(default=False)

    agreement: Mapped[Agreement] = relationship(back_populates="parties")
    organization = relationship("Organization")


class Review(TimestampMixin, db.Model):
    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(
        sa.ForeignKey("agreements.id", ondelete="CASCADE"), index=True
    )
    revision: Mapped[int]
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"))
    reviewer_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"))
    decision: Mapped[str] = mapped_column(sa.String(32))  # approve | request_changes
    comment: Mapped[str] = mapped_column(sa.Text, default="")

    reviewer = relationship("User")


class Signature(TimestampMixin, db.Model):
    """One party's signature on one revision; it binds the hash of the document shown."""

    __tablename__ = "signatures"
    __table_args__ = (
        state_check("state", SignatureState),
        sa.UniqueConstraint("agreement_id", "revision", "organization_id"),
        sa.CheckConstraint(
            "(state <> 'signed') OR (signed_at IS NOT NULL AND document_sha256 IS NOT NULL)",
            name="signed_has_evidence",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(
        sa.ForeignKey("agreements.id", ondelete="CASCADE"), index=True
    )
    revision: Mapped[int]
    organization_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"))
    signing_group: Mapped[int] = mapped_column(default=1)
    state: Mapped[str] = mapped_column(sa.String(16), default=SignatureState.PENDING.value)
    signer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    signer_name: Mapped[str | None] = mapped_column(sa.String(200))
    signer_title: Mapped[str | None] = mapped_column(sa.String(200))
    authority: Mapped[str | None] = mapped_column(sa.Text)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ip_address: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(400))
    document_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    decline_reason: Mapped[str | None] = mapped_column(sa.Text)
    version_id: Mapped[int] = mapped_column(default=1)

    organization = relationship("Organization")
    signer = relationship("User")

    __mapper_args__ = {"version_id_col": version_id}


class AgreementDocument(TimestampMixin, db.Model):
    """A frozen PDF of one revision: the copy sent for signature, or the executed copy."""

    __tablename__ = "agreement_documents"
    __table_args__ = (sa.UniqueConstraint("agreement_id", "revision", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(
        sa.ForeignKey("agreements.id", ondelete="CASCADE"), index=True
    )
    revision: Mapped[int]
    kind: Mapped[str] = mapped_column(sa.String(16))  # for_signature | executed
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    content: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)
    renderer: Mapped[str] = mapped_column(sa.String(64))
