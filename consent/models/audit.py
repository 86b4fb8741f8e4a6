"""The hash-chained, append-only audit log and the rules change counter."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from consent.extensions import db
from consent.models.base import UTCDateTime


class AuditEntry(db.Model):
    """One audited event. Each entry's hash covers its content and the previous hash,
    so editing or deleting any entry breaks every later link."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(sa.String(200))
    ip_address: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(400))
    subject_type: Mapped[str] = mapped_column(sa.String(32))
    subject_id: Mapped[int | None]
    event: Mapped[str] = mapped_column(sa.String(64))
    from_state: Mapped[str | None] = mapped_column(sa.String(32))
    to_state: Mapped[str | None] = mapped_column(sa.String(32))
    revision_hash: Mapped[str | None] = mapped_column(sa.String(64))
    data: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(sa.String(64))
    entry_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)

    __table_args__ = (sa.Index("ix_audit_subject", "subject_type", "subject_id"),)


class RulesChange(db.Model):
    """Each change that can alter access rules; its id is the rules version."""

    __tablename__ = "rules_changes"
    # Every decision asks for the newest change of its recipient: (recipient_id, id)
    # answers that from the end of one index range instead of reading all its rows.
    __table_args__ = (sa.Index("ix_rules_changes_recipient_version", "recipient_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    recipient_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organizations.id"))
    subject_type: Mapped[str] = mapped_column(sa.String(32))
    subject_id: Mapped[int]
    reason: Mapped[str] = mapped_column(sa.String(64))


class OutboxMessage(db.Model):
    """An email written in the same transaction as the event that caused it."""

    __tablename__ = "outbox_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    to_address: Mapped[str] = mapped_column(sa.String(254))
    subject: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str] = mapped_column(sa.Text)
    # Sent ahead of the queue (sign-in links expire in minutes).
    urgent: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    # After a failed attempt: not before this instant (exponential backoff).
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    # Given up: refused for good (a 5xx answer, a message that cannot be built) or refused
    # OUTBOX_MAX_ATTEMPTS times by a server that answered. Never tried again.
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
