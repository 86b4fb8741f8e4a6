"""Staff pages to send consent requests to families and follow the answers.

District staff (the agreement's source organization) and administrators only: the families
and their addresses belong to the district.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms import IntegerField, StringField
from wtforms.validators import DataRequired, Length, Optional

from consent.auth.access import roles_accepted
from consent.auth.permissions import is_district_user
from consent.extensions import db
from consent.models import Agreement, LegalBasis, Organization, OrgKind, User
from consent.roster.oneroster import GRADES
from consent.services.actors import actor_for
from consent.services.consent_requests import (
    request_statuses,
    requestable,
    send_consent_requests,
)
from consent.web.forms import CleanTextForm

bp = Blueprint("consent_requests", __name__, url_prefix="/staff/requests")
ROLES = ("staff", "legal", "admin")


class SendRequestsForm(CleanTextForm):
    agreement = IntegerField("Agreement", validators=[DataRequired()])
    school = IntegerField("School (optional)", validators=[Optional()])
    grade = StringField("Grade (optional)", validators=[Optional(), Length(max=8)])


def _district_user() -> User:
    """The signed-in user, who must be district staff (or an administrator): requests go
    to the district's families. Partner staff get 404, as for registers."""
    user = current_user._get_current_object()
    if not (user.has_role("admin") or is_district_user(user)):
        abort(404)
    return user


def _agreements(user: User) -> list[Agreement]:
    """Consent-based agreements open for answers whose source is the user's organization."""
    query = sa.select(Agreement).where(Agreement.legal_basis == LegalBasis.CONSENT)
    if not user.has_role("admin"):
        query = query.where(Agreement.source_org_id == (user.organization_id or -1))
    return [a for a in db.session.scalars(query.order_by(Agreement.id)) if requestable(a)]


def _own_agreement(user: User, agreement_id: int | None) -> Agreement:
    """:raises 404: not an open consent agreement of the user's organization."""
    agreement = next((a for a in _agreements(user) if a.id == agreement_id), None)
    if agreement is None:
        abort(404)
    return agreement


def _audience_problem(agreement: Agreement, school_id: int | None,
                      grade: str | None) -> str | None:
    """Why the school or grade chosen names no students the agreement could cover."""
    if school_id is not None:
        school = db.session.get(Organization, school_id)
        if school is None or school.kind != OrgKind.SCHOOL or \
                school.parent_id != agreement.source_org_id:
            return "School (optional): not a school of this agreement's district."
    if grade is not None and grade not in GRADES:
        return f"Grade (optional): {grade!r} is not a grade; use one of {', '.join(GRADES)}."
    return None


@bp.get("")
@roles_accepted(*ROLES)
def index():
    """Choose an agreement and who to ask; see the answers to requests already sent."""
    user = _district_user()
    agreements = _agreements(user)
    chosen = request.args.get("agreement", type=int)
    agreement = _own_agreement(user, chosen) if chosen else None
    statuses = request_statuses(agreement) if agreement else []
    counts: dict[str, int] = {}
    for row in statuses:
        counts[row.answer] = counts.get(row.answer, 0) + 1
    schools = db.session.scalars(sa.select(Organization).where(
        Organization.kind == OrgKind.SCHOOL).order_by(Organization.name)).all()
    return render_template("staff/requests.html", form=SendRequestsForm(), agreements=agreements,
                           agreement=agreement, statuses=statuses, counts=counts,
                           schools=schools)


@bp.post("")
@roles_accepted(*ROLES)
def send():
    """Send requests to the guardians of the chosen students (once per guardian)."""
    user = _district_user()
    form = SendRequestsForm()
    if not form.validate():
        for name, errors in form.errors.items():
            label = form[name].label.text if name in form else name
            flash(f"{label}: {' '.join(errors)}", "error")
        return redirect(url_for(".index", agreement=form.agreement.data or None))
    agreement = _own_agreement(user, form.agreement.data)
    grade = (form.grade.data or "").strip() or None
    problem = _audience_problem(agreement, form.school.data, grade)
    if problem:  # asking nobody must not look like asking everybody already asked
        flash(problem, "error")
        return redirect(url_for(".index", agreement=agreement.id))
    report = send_consent_requests(agreement, user.id, actor_for(user),
                                   school_id=form.school.data, grade=grade)
    db.session.commit()
    flash(f"{report.sent} request(s) sent; {report.already_sent} already sent before; "
          f"{report.no_email} guardian(s) without an email address; "
          f"{len(report.student_is_adult)} student(s) are 18 and decide for themselves.",
          "success")
    return redirect(url_for(".index", agreement=agreement.id))
