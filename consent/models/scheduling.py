"""Scheduled notices (reminders sent once each), in-app notifications, calendar feeds.

No sending happens here: `consent.services.reminders` plans and claims notices and
writes outbox rows; the outbox delivers them.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from consent.extensions import db
from consent.models.agreements import Agreement
from consent.models.base import TimestampMixin, UTCDateTime
from consent.models.consents import Consent
from consent.models.students import Student


class NoticeKind(StrEnum):
    AGREEMENT_ENDING = "agreement_ending"
    SIGNATURE_PENDING = "signature_pending"
    CONSENT_RENEWAL = "consent_renewal"
    DESTRUCTION_FOLLOWUP = "destruction_followup"
    MAJORITY = "majority"


class NoticeStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    # A later notice of the same kind for the same subject was also due (downtime).
    SKIPPED = "skipped"
    # The reason for it went away before it was sent (signed, renewed, terminated).
    CANCELLED = "cancelled"


class ScheduledNotice(db.Model):
    """One reminder or notice: at most one per (kind, subject, local due date).

    The unique key makes planning idempotent; the conditional UPDATE of `status`
    from pending makes sending happen once, whatever number of schedulers run.
    """

    __tablename__ = "scheduled_notices"
    __table_args__ = (
        sa.UniqueConstraint("kind", "subject_type", "subject_id", "due_on"),
        sa.CheckConstraint(sa.column("status").in_([s.value for s in NoticeStatus]),
                           name="status_valid"),
        sa.CheckConstraint("(status <> 'sent') OR (sent_at IS NOT NULL)", name="sent_has_time"),
        sa.Index("ix_scheduled_notices_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    subject_type: Mapped[str] = mapped_column(sa.String(16))
    subject_id: Mapped[int]
    due_on: Mapped[date]  # the district's local date
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the local hour on due_on, in UTC
    status: Mapped[str] = mapped_column(sa.String(16), default=NoticeStatus.PENDING.value)
    planned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Seconds between due_at and sent_at: a scheduler that was down sends late, once.
    lateness_seconds: Mapped[int | None]
    recipients: Mapped[int] = mapped_column(default=0)
    note: Mapped[str | None] = mapped_column(sa.String(300))


class ReminderSetting(db.Model):
    """Per-agreement reminder days before the end date (default: the configured list)."""

    __tablename__ = "reminder_settings"

    agreement_id: Mapped[int] = mapped_column(
        sa.ForeignKey("agreements.id", ondelete="CASCADE"), primary_key=True)
    end_reminder_days: Mapped[list] = mapped_column(sa.JSON, default=list)


class Notification(TimestampMixin, db.Model):
    """A message in one person's in-app notification centre."""

    __tablename__ = "notifications"
    __table_args__ = (sa.Index("ix_notifications_user_unread", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(32))
    title: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str] = mapped_column(sa.Text, default="")
    link: Mapped[str | None] = mapped_column(sa.String(300))
    notice_id: Mapped[int | None] = mapped_column(sa.ForeignKey("scheduled_notices.id"))
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class CalendarFeed(TimestampMixin, db.Model):
    """The private token behind an organization's calendar feed URL (stored hashed)."""

    __tablename__ = "calendar_feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        sa.ForeignKey("organizations.id", ondelete="CASCADE"), unique=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)


# Indexes the daily sweep reads through (see bench/sweep.py). They are declared here,
# beside the scans that need them, rather than on the models they index.
sa.Index("ix_agreements_state_end_date", Agreement.state, Agreement.end_date)
sa.Index("ix_consents_state_valid_through", Consent.state, Consent.valid_through)
sa.Index("ix_students_birth_date", Student.birth_date)
