"""The clause library (one append-only row per saved version) and background document jobs."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from consent.extensions import db
from consent.models.base import TimestampMixin, UTCDateTime, state_check


class ClauseTemplate(TimestampMixin, db.Model):
    """One version of a library clause; saving an edit adds the next version.

    `body` is clause text that may use template expressions (``{{ district }}``); it is
    only ever rendered by `consent.services.clause_text`, in a sandbox.
    """

    __tablename__ = "clause_templates"
    __table_args__ = (
        sa.UniqueConstraint("key", "version"),
        sa.CheckConstraint("version >= 1", name="version_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(64), index=True)
    version: Mapped[int]
    heading: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str] = mapped_column(sa.Text)
    # A retired clause is left out of new drafts; its versions stay for the record.
    retired: Mapped[bool] = mapped_column(default=False)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))


class DocumentJobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class DocumentJob(TimestampMixin, db.Model):
    """A long document rendered in the background, with its progress and its result.

    A worker claims a queued row (compare-and-set on `state`), moves `progress` from 0
    to 100 as it goes, and ends it done (with the PDF and its SHA-256) or failed (with
    `error` in words for the person who asked). `deadline_at` is the time limit.
    """

    __tablename__ = "document_jobs"
    __table_args__ = (
        state_check("state", DocumentJobState),
        sa.CheckConstraint("progress >= 0 AND progress <= 100", name="progress_percent"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    agreement_id: Mapped[int] = mapped_column(sa.ForeignKey("agreements.id"), index=True)
    requested_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    state: Mapped[str] = mapped_column(sa.String(16), default=DocumentJobState.QUEUED.value,
                                       index=True)
    progress: Mapped[int] = mapped_column(default=0)
    stage: Mapped[str] = mapped_column(sa.String(200), default="Waiting for a worker")
    error: Mapped[str | None] = mapped_column(sa.Text)
    time_limit_seconds: Mapped[int]
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    filename: Mapped[str] = mapped_column(sa.String(200))
    content: Mapped[bytes | None] = mapped_column(sa.LargeBinary, deferred=True)
    sha256: Mapped[str | None] = mapped_column(sa.String(64))
    page_count: Mapped[int | None]
