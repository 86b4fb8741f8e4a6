"""Program staff pages: consent status for the students their organization serves.

The organization filter is part of the SQL query; nothing is filtered in Python.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, render_template, request
from flask_login import current_user

from consent.auth.access import roles_accepted
from consent.auth.permissions import is_district_user
from consent.extensions import db
from consent.models import Consent, DataCategory, Organization, Student, User
from consent.timeutil import local_date, utcnow

bp = Blueprint("staff", __name__, url_prefix="/staff")
PAGE_SIZE = 200
MAX_PAGE = 1_000_000


def consent_status_query(user: User):
    """The newest consent per (student, agreement, recipient, purpose, category) that
    `user` may see: their own organization's as recipient, or all for district staff."""
    scope = sa.true()
    if not (user.has_role("admin") or is_district_user(user)):
        scope = (Consent.recipient_id == user.organization_id) if user.organization_id \
            else sa.false()
    latest = sa.select(sa.func.max(Consent.id)).where(scope).group_by(
        Consent.student_id, Consent.agreement_id, Consent.recipient_id, Consent.purpose,
        Consent.category)
    return (sa.select(Consent, Student, Organization)
            .join(Student, Consent.student_id == Student.id)
            .join(Organization, Consent.recipient_id == Organization.id)
            .where(scope, Consent.id.in_(latest))
            .order_by(Student.family_name, Student.given_name, Student.id, Organization.name,
                      Consent.purpose, Consent.category))


@bp.get("/")
@roles_accepted("staff", "admin")
def index():
    """Consent state per student, recipient, purpose and category."""
    user = current_user._get_current_object()
    # Far past the last page is an empty page, not an offset the database cannot hold.
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), MAX_PAGE)
    rows = db.session.execute(consent_status_query(user).limit(PAGE_SIZE + 1)
                              .offset((page - 1) * PAGE_SIZE)).all()
    has_next = len(rows) > PAGE_SIZE
    # Group consecutive rows by student for display (the query already ordered them).
    groups: list[tuple[Student, list]] = []
    for consent, student, recipient in rows[:PAGE_SIZE]:
        if not groups or groups[-1][0].id != student.id:
            groups.append((student, []))
        groups[-1][1].append((consent, recipient))
    organization = db.session.get(Organization, user.organization_id) \
        if user.organization_id else None
    return render_template(
        "staff/index.html", groups=groups, page=page, has_next=has_next,
        organization=organization, sees_all=user.has_role("admin") or is_district_user(user),
        category_names=dict(db.session.execute(
            sa.select(DataCategory.code, DataCategory.name)).all()),
        today=local_date(utcnow()))
