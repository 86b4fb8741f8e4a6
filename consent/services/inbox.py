"""A person's in-app notification centre: list and mark read. Flushes; callers commit.

Notifications are written by `consent.services.reminders` in the same transaction
as the emails of the notice that caused them.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from consent.errors import NotFound
from consent.extensions import db
from consent.models import Notification, User

PAGE = 100


def for_user(user: User, *, unread_only: bool = False, limit: int = PAGE) -> list[Notification]:
    """The user's notifications, newest first."""
    query = sa.select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return list(db.session.scalars(query.order_by(Notification.id.desc()).limit(limit)))


def unread_count(user: User) -> int:
    return db.session.scalar(sa.select(sa.func.count(Notification.id)).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)))


def mark_read(user: User, notification_id: int, now: datetime) -> Notification:
    """Mark one of the user's notifications read (again is harmless).

    :raises NotFound: no such notification, or it is someone else's.
    """
    row = db.session.scalar(sa.select(Notification).where(
        Notification.id == notification_id, Notification.user_id == user.id))
    if row is None:
        raise NotFound("no such notification")
    if row.read_at is None:
        row.read_at = now
    db.session.flush()
    return row


def mark_all_read(user: User, now: datetime) -> int:
    """Mark every unread notification of the user read. Returns how many."""
    changed = db.session.execute(sa.update(Notification).where(
        Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=now).execution_options(synchronize_session=False)).rowcount
    db.session.flush()
    return changed
