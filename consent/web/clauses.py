"""The clause library pages: legal staff list, add, edit, retire and preview clauses.

Each save is one service call and one commit (a new version plus its audit entry).
"""

from __future__ import annotations

import logging

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy.exc import IntegrityError

from consent.auth.access import roles_accepted
from consent.errors import Conflict, ValidationFailed
from consent.extensions import db
from consent.services import clause_library
from consent.services.actors import actor_for
from consent.services.clause_text import CONTEXT_NAMES, ClauseError, render_clause
from consent.web.forms import ClauseTemplateForm

logger = logging.getLogger(__name__)

bp = Blueprint("clauses", __name__, url_prefix="/clauses")


def _preview(body: str) -> Markup | None:
    """The clause rendered with sample facts, or None when it cannot be rendered."""
    try:
        return render_clause(body, CONTEXT_NAMES)
    except ClauseError:
        return None


def _page(form, clause, status: int = 200, preview: Markup | None = None):
    return render_template("clauses/form.html", form=form, clause=clause, preview=preview,
                           sample=CONTEXT_NAMES), status


def _save(form, clause):
    """Validate and save the form (new clause when `clause` is None); a page or a redirect."""
    if not form.validate_on_submit():
        return _page(form, clause, 422 if form.errors else 200)
    if request.form.get("action") == "preview":
        return _page(form, clause, preview=_preview(form.body.data))
    actor = actor_for(current_user._get_current_object())
    try:
        if clause is None:
            row = clause_library.add_clause(form.heading.data, form.body.data, actor)
        else:
            row = clause_library.save_clause(clause.key, form.heading.data, form.body.data,
                                             actor, form.version.data,
                                             retired=bool(form.retired.data))
        db.session.commit()
    except (ValidationFailed, Conflict) as exc:
        db.session.rollback()
        target = getattr(form, exc.field or "", None)
        if target is not None and exc.field != "version":
            target.errors = [*target.errors, exc.message]
        else:
            flash(exc.message, "error")
        return _page(form, clause, exc.status)
    except IntegrityError:
        # Two people saved the same version at the same moment; the other one won.
        db.session.rollback()
        flash("Someone saved this clause at the same time; reload to see their version.",
              "error")
        return _page(form, clause, 409)
    logger.info("clause %s saved as version %s", row.key, row.version)
    flash(f"Saved “{row.heading}” as version {row.version}. New drafts use it from now on.",
          "success")
    return redirect(url_for(".index"))


@bp.get("/")
@roles_accepted("legal")
def index():
    """Every clause in the library with its current version."""
    return render_template("clauses/index.html",
                           clauses=clause_library.library(include_retired=True))


@bp.route("/new", methods=["GET", "POST"])
@roles_accepted("legal")
def new():
    """Add a clause to the library."""
    return _save(ClauseTemplateForm(), None)


@bp.route("/<key>/edit", methods=["GET", "POST"])
@roles_accepted("legal")
def edit(key: str):
    """Edit a clause; saving makes its next version."""
    clause = clause_library.current(key)
    if request.method == "GET":
        form = ClauseTemplateForm(data={"heading": clause.heading, "body": clause.body,
                                        "retired": clause.retired, "version": clause.version})
        return _page(form, clause, preview=_preview(clause.body))
    return _save(ClauseTemplateForm(), clause)


@bp.get("/<key>/history")
@roles_accepted("legal")
def history(key: str):
    """Every saved version of a clause, newest first."""
    return render_template("clauses/history.html", clause=clause_library.current(key),
                           versions=clause_library.history(key))
