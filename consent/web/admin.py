"""Administration pages: people, their roles, and switching accounts off and on.

The POST forms carry only a CSRF token, which CSRFProtect checks for every request.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy.orm import selectinload

from consent.auth.access import roles_accepted
from consent.errors import NotFound
from consent.extensions import db
from consent.models import User
from consent.services import accounts, audit
from consent.services.actors import actor_for

logger = logging.getLogger(__name__)

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _target(user_id: int) -> User:
    """:raises NotFound: no such user."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    return user


@bp.get("/")
@roles_accepted("admin")
def index():
    """The administration start page is the user list."""
    return redirect(url_for(".users"))


@bp.get("/users")
@roles_accepted("admin")
def users():
    """Every user with roles, organization and whether the account is active."""
    rows = db.session.scalars(sa.select(User).options(selectinload(User.organization))
                              .order_by(User.active.desc(), User.email)).all()
    return render_template("admin/users.html", users=rows)


@bp.post("/users/<int:user_id>/deactivate")
@roles_accepted("admin")
def deactivate(user_id: int):
    """Switch an account off; rotating the token ends all its sessions at once."""
    user = _target(user_id)
    admin = current_user._get_current_object()
    if user.id == admin.id:
        flash("You cannot deactivate your own account.", "error")
        return redirect(url_for(".users"))
    if user.active:
        accounts.deactivate(user)
        audit.record("user_deactivated", "user", user.id, actor_for(admin))
        db.session.commit()
        logger.info("user %s deactivated by %s", user.id, admin.id)
    flash(f"{user.name} was deactivated and signed out everywhere.", "success")
    return redirect(url_for(".users"))


@bp.post("/users/<int:user_id>/reactivate")
@roles_accepted("admin")
def reactivate(user_id: int):
    """Switch an account back on (the person signs in again)."""
    user = _target(user_id)
    if not user.active:
        user.active = True
        audit.record("user_reactivated", "user", user.id,
                     actor_for(current_user._get_current_object()))
        db.session.commit()
    flash(f"{user.name} can sign in again.", "success")
    return redirect(url_for(".users"))
