"""Sign in by an emailed one-time link (families only; see consent.services.sign_in_links).

Opening the link shows a button; only pressing it (a POST) signs in. Mail scanners that
fetch every link in a message therefore cannot use it up.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_login import login_user
from wtforms import EmailField
from wtforms.validators import DataRequired, Length

from consent.auth.access import public
from consent.extensions import db
from consent.i18n import LANGUAGES, visitor_language
from consent.services import audit
from consent.services.actors import actor_for
from consent.services.sign_in_links import (
    send_sign_in_link,
    sign_in_link_usable,
    use_sign_in_link,
)
from consent.web.forms import CleanTextForm, LanguageForm

bp = Blueprint("sign_in_link", __name__, url_prefix="/auth/link")
TOKEN_MAX = 100


class LinkRequestForm(CleanTextForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])


class LinkUseForm(CleanTextForm):
    """Only the CSRF token."""


@bp.route("", methods=["GET", "POST"])
@public
def request_link():
    """Ask for a link; the answer is the same for every address."""
    form = LinkRequestForm()
    if form.validate_on_submit():
        send_sign_in_link(form.email.data, visitor_language())
        db.session.commit()
        return render_template("auth/link_sent.html")
    status = 422 if form.is_submitted() else 200
    return render_template("auth/link_request.html", form=form), status


@bp.post("/language")
@public
def set_language():
    """The sign-in pages' language switch, for someone not signed in (kept in the
    session; a signed-in family member's language is their account's)."""
    form = LanguageForm()
    if form.validate():
        session["language"] = form.language.data
    target = request.form.get("next") or ""
    if target not in (url_for("auth.login"), url_for(".request_link")):
        target = url_for("auth.login")  # only the sign-in pages, nothing else is followed
    return redirect(target)


@bp.get("/<token>")
@public
def confirm(token: str):
    """The page an emailed link opens: one button that signs in (in the language of
    the email, which links with ?lang=)."""
    if request.args.get("lang") in LANGUAGES:
        session["language"] = request.args["lang"]
    token = token[:TOKEN_MAX]
    if not sign_in_link_usable(token):  # used, expired or unknown: say so before a click
        return render_template("auth/link_invalid.html"), 410
    return render_template("auth/link_confirm.html", form=LinkUseForm(), token=token)


@bp.post("/<token>")
@public
def use(token: str):
    """Sign in with the link, once."""
    form = LinkUseForm()
    user = use_sign_in_link(token[:TOKEN_MAX]) if form.validate_on_submit() else None
    if user is None:
        db.session.rollback()
        return render_template("auth/link_invalid.html"), 410
    login_user(user)
    audit.record("sign_in", "user", user.id, actor_for(user), data={"method": "email_link"})
    db.session.commit()
    return redirect(url_for("family.index"))
