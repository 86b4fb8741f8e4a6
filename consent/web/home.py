"""The landing page after sign-in and the health check."""

import sqlalchemy as sa
from flask import Blueprint, jsonify, redirect, render_template, url_for
from flask_login import current_user

from consent.auth.access import public, reads_only
from consent.extensions import db

bp = Blueprint("web", __name__)


@bp.get("/")
@public
def home():
    """Send visitors to sign in, and people to the pages their roles use."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login"))
    return render_template("home.html")


@bp.get("/healthz")
@public
@reads_only
def healthz():
    """200 when the database answers."""
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        return jsonify({"status": "unavailable", "database": "error"}), 503
    return jsonify({"status": "ok", "database": "ok"})
