"""Column types and mixins shared by the models."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from consent.timeutil import utcnow


class UTCDateTime(sa.types.TypeDecorator):
    """Stores aware datetimes as UTC and always returns aware UTC values.

    SQLite hands back naive values even for `DateTime(timezone=True)`; PostgreSQL
    hands back aware ones. This type makes both behave the same.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)


def state_check(name: str, states) -> sa.CheckConstraint:
    """A CHECK constraint keeping a state column within its machine's states."""
    return sa.CheckConstraint(sa.column(name).in_([s.value for s in states]), name=f"{name}_valid")
