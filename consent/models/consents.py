"""Consents, the consent-form versions families see, and the append-only consent ledger."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from consent.extensions import db
from consent.models.base import TimestampMixin, UTCDateTime, state_check
from workflows import ConsentState


class ConsentForm(TimestampMixin, db.Model):
    """One version of the consent form text for an agreement, in one language."""

    __tablename__ = "consent_forms"
    __table_args__ = (sa.UniqueConstraint("agreement_id", "language", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    agreement_id: Mapped[int] = mapped_column(sa.ForeignKey("agreements.id"), index=True)
    language: Mapped[str] = mapped_column(sa.String(8))
    version: Mapped[int]
    title: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str] = mapped_column(sa.Text)


class Consent(TimestampMixin, db.Model):
    """Consent for one student, recipient, agreement, purpose and data category.

    Granular rows let a family revoke one category or purpose and leave the rest in
    force; a grant covering several categories writes several rows at once.
    """

    __tablename__ = "consents"
    __table_args__ = (
        state_check("state", ConsentState),
        sa.CheckConstraint("valid_through >= valid_from", name="validity_ordered"),
        sa.CheckConstraint(
            "(state <> 'granted') OR (granted_at IS NOT NULL)", name="granted_has_time"
        ),
        sa.Index("ix_consents_lookup", "student_id", "recipient_id", "category", "purpose"),
        # The rules compiler groups a recipient's granted consents by student and window
        # straight off this index, in its order, without sorting or reading the table
        # (`state` is a column too, so that SQLite counts the index as covering).
        sa.Index("ix_consents_grants", "recipient_id", "agreement_id", "student_id", "purpose",
                 "granted_at", "valid_from", "valid_through", "ended_at", "given_as",
                 "category", "state", sqlite_where=sa.text("state = 'granted'"),
                 postgresql_where=sa.text("state = 'granted'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(sa.ForeignKey("students.id"), index=True)
    agreement_id: Mapped[int] = mapped_column(sa.ForeignKey("agreements.id"), index=True)
    recipient_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"), index=True)
    purpose: Mapped[str] = mapped_column(sa.String(64))
    category: Mapped[str] = mapped_column(sa.String(64))
    state: Mapped[str] = mapped_column(sa.String(16), default=ConsentState.REQUESTED.value)
    valid_from: Mapped[date]
    valid_through: Mapped[date]
    granted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    given_by_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    given_as: Mapped[str | None] = mapped_column(sa.String(16))  # guardian | student | paper
    form_id: Mapped[int | None] = mapped_column(sa.ForeignKey("consent_forms.id"))
    version_id: Mapped[int] = mapped_column(default=1)

    student = relationship("Student")
    agreement = relationship("Agreement")
    recipient = relationship("Organization")
    form = relationship("ConsentForm")
    events: Mapped[list[ConsentEvent]] = relationship(
        back_populates="consent", order_by="ConsentEvent.id"
    )

    __mapper_args__ = {"version_id_col": version_id}


class ConsentEvent(db.Model):
    """One entry in the consent ledger. Rows are never updated or deleted."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    consent_id: Mapped[int] = mapped_column(sa.ForeignKey("consents.id"), index=True)
    event: Mapped[str] = mapped_column(sa.String(32))
    from_state: Mapped[str | None] = mapped_column(sa.String(16))
    to_state: Mapped[str] = mapped_column(sa.String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    acted_as: Mapped[str] = mapped_column(sa.String(16))  # guardian | student | staff | system
    channel: Mapped[str] = mapped_column(sa.String(16))  # web | api | paper | scheduler
    ip_address: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(400))
    form_id: Mapped[int | None] = mapped_column(sa.ForeignKey("consent_forms.id"))
    language: Mapped[str | None] = mapped_column(sa.String(8))
    reason: Mapped[str | None] = mapped_column(sa.Text)

    consent: Mapped[Consent] = relationship(back_populates="events")
    actor = relationship("User")


class GrantWindow(db.Model):
    """A student's granted consents under one agreement, as the rules compiler reads
    them: one row per purpose and window in force, with every category granted for
    exactly that window and the consent row behind each.

    Derived from `consents` (and the student's birth date, the district's zone and
    majority policy) by `consent.access.grant_windows`, in the transaction that
    changes them; never edited by hand. The window is the consent's own, before an
    agreement's dates cut it.
    """

    __tablename__ = "grant_windows"
    __table_args__ = (
        # The compiler reads a recipient's rows per agreement off this index alone.
        sa.Index("ix_grant_windows_read", "recipient_id", "agreement_id", "student_id",
                 "starts_at", "first_consent_id", "terms"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int] = mapped_column(sa.ForeignKey("organizations.id"))
    agreement_id: Mapped[int] = mapped_column(sa.ForeignKey("agreements.id"))
    student_id: Mapped[int] = mapped_column(sa.ForeignKey("students.id"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    first_consent_id: Mapped[int]
    # JSON [purpose, end instant, [categories], [consent id - first_consent_id, ...]]:
    # one text, so that the compiler decodes each distinct value once, not every row.
    terms: Mapped[str] = mapped_column(sa.String(1000))


class GrantWindowBasis(db.Model):
    """What the grant windows were computed with (zone, majority policy, format); one
    row. A different basis than the running app's means the rows are not to be used
    until rebuilt."""

    __tablename__ = "grant_window_basis"

    id: Mapped[int] = mapped_column(primary_key=True)
    basis: Mapped[str] = mapped_column(sa.String(200))
    built_at: Mapped[datetime] = mapped_column(UTCDateTime)
