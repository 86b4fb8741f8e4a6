"""The clause library legal staff edit, one append-only row per saved version."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from consent.extensions import db
from consent.models.base import TimestampMixin


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
