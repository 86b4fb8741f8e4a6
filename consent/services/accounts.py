"""Account changes that must end a person's existing sessions."""

from __future__ import annotations

import sqlalchemy as sa

from consent.extensions import db
from consent.models import ApiToken, User


def end_all_sessions(user: User) -> None:
    """Sign the user out everywhere: browser sessions, remember-me cookies and their
    personal API tokens (flushes; the caller commits)."""
    user.rotate_session_token()
    db.session.execute(sa.update(ApiToken).where(ApiToken.user_id == user.id)
                       .values(active=False))
    db.session.flush()


def change_password(user: User, new_password: str) -> None:
    """Set a new password and end every existing session of the user."""
    user.set_password(new_password)
    end_all_sessions(user)


def deactivate(user: User) -> None:
    """Switch the account off and end every session of the user."""
    user.active = False
    end_all_sessions(user)
