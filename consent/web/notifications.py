"""The notification centre page: a person's reminders and notices, marked read here."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user

from consent.auth.access import signed_in
from consent.extensions import db
from consent.services import inbox
from consent.timeutil import utcnow

bp = Blueprint("notifications", __name__, url_prefix="/notifications")


@bp.get("/")
@signed_in
def index():
    """The signed-in person's notifications, newest first (only unread with ?unread=1)."""
    unread_only = request.args.get("unread") == "1"
    rows = inbox.for_user(current_user, unread_only=unread_only)
    return render_template("notifications/index.html", notifications=rows,
                           unread_only=unread_only, unread=inbox.unread_count(current_user))


@bp.post("/<int:notification_id>/read")
@signed_in
def read(notification_id: int):
    """Mark one notification read; someone else's is not found."""
    inbox.mark_read(current_user, notification_id, utcnow())
    db.session.commit()
    return redirect(url_for(".index"))


@bp.post("/read")
@signed_in
def read_all():
    """Mark every notification read."""
    inbox.mark_all_read(current_user, utcnow())
    db.session.commit()
    return redirect(url_for(".index"))
