"""Sign-in, sign-out and password change for the web UI."""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Blueprint, Flask, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user

from consent.auth import throttle
from consent.auth.access import Unauthenticated, check_request_access, public, signed_in
from consent.errors import TooManyAttempts
from consent.extensions import db, login_manager
from consent.models import User
from consent.services import accounts, audit
from consent.services.actors import actor_for
from consent.timeutil import utcnow
from consent.web.forms import ChangePasswordForm, LoginForm

bp = Blueprint("auth", __name__, url_prefix="/auth")


@login_manager.user_loader
def load_user(session_token: str) -> User | None:
    user = db.session.scalar(sa.select(User).where(User.session_token == session_token))
    return user if user is not None and user.active else None


def safe_next(target: str | None) -> str:
    """Only ever follow `next` to a path on this site."""
    if not target:
        return url_for("web.home")
    parts = urlsplit(target)
    # "//evil.example" and "/\\evil.example" are host references in browsers.
    if parts.scheme or parts.netloc or not target.startswith("/") \
            or target.startswith(("//", "/\\")):
        return url_for("web.home")
    return target


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    """Sign in with email and password."""
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        now = utcnow()
        try:
            throttle.check(email, request.remote_addr, now)
        except TooManyAttempts as exc:
            flash(f"{exc.message[0].upper()}{exc.message[1:]}.", "error")
            return render_template("auth/login.html", form=form), 429, {
                "Retry-After": str(exc.retry_after)}
        user = db.session.scalar(sa.select(User).where(User.email == email))
        if user is None or not user.active or not user.check_password(form.password.data):
            throttle.record_failure(email, request.remote_addr, now)
            db.session.commit()
            flash("That email and password do not match an active account.", "error")
            return render_template("auth/login.html", form=form), 401
        throttle.clear(email)
        login_user(user, remember=form.remember.data)
        audit.record("sign_in", "user", user.id, actor_for(user))
        db.session.commit()
        return redirect(safe_next(request.args.get("next")))
    # A form that failed its checks says why, next to the field.
    return render_template("auth/login.html", form=form), 422 if form.errors else 200


@bp.post("/logout")
@signed_in
def logout():
    """Sign out everywhere: rotating the token ends every session and remember-me cookie."""
    user = db.session.get(User, current_user.id)
    user.rotate_session_token()
    audit.record("sign_out", "user", user.id, actor_for(user))
    db.session.commit()
    logout_user()
    flash("You have been signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/password", methods=["GET", "POST"])
@signed_in
def change_password():
    """Change one's password (or set a first one, for a family account opened by an
    emailed sign-in link: it has none to give); every other session of the user ends."""
    user = db.session.get(User, current_user.id)
    first = not user.password_hash
    form = ChangePasswordForm()
    if first:
        del form.current_password
    if form.validate_on_submit():
        if not first and not user.check_password(form.current_password.data):
            form.current_password.errors.append("This is not your current password.")
        else:
            accounts.change_password(user, form.new_password.data)
            audit.record("password_changed", "user", user.id, actor_for(user))
            db.session.commit()
            login_user(user)  # keep this browser signed in under the new token
            flash("Your password was changed and your other sessions were ended.", "success")
            return redirect(url_for("web.home"))
    status = 422 if form.errors or (not first and form.current_password.errors) else 200
    return render_template("auth/password.html", form=form, first=first), status


def init_app(app: Flask) -> None:
    """Loaders, the access hook and the sign-in redirect."""
    from consent.access.facts import forget_rules_versions

    login_manager.login_view = "auth.login"
    app.before_request(check_request_access)
    app.teardown_request(forget_rules_versions)

    @app.errorhandler(Unauthenticated)
    def unauthenticated(exc: Unauthenticated):
        from consent.errors import error_body, wants_json

        if wants_json():
            return error_body(exc.code, exc.message), 401
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))

    app.register_blueprint(bp)
