"""The consent register of an agreement: every student with a consent record, as data.

One row per student (ordered by family name, given name, id) with the student's
guardians and, per data category of the agreement, the newest decision and its date.
Reads only; the template sees plain data, never ORM rows.
"""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app, render_template

from consent.extensions import db
from consent.models import Agreement, Consent, Guardian, Organization, Student, StudentGuardian
from consent.services.documents import category_schedule
from consent.timeutil import utcnow

TEMPLATE = "documents/consent_register.html"
BATCH = 500


def register_snapshot(agreement: Agreement,
                      progress: Callable[[int, int], None] | None = None) -> dict:
    """The register as plain data; `progress(done, total)` is called after each batch.

    Keys: ``agreement_id``, ``revision``, ``title``, ``district``, ``recipients``
    (names), ``categories`` (``{"code", "name", "fields"}``), ``rows`` (each
    ``{"student", "school", "grade", "guardians": [str], "decisions": {code: {"state",
    "on"} | None}}``), ``counts`` (``{state: number of category decisions}``),
    ``timezone``, ``generated_at``.
    """
    zone_name = current_app.config["DISTRICT_TIMEZONE"]
    zone = ZoneInfo(zone_name)
    codes = list(agreement.categories or [])
    student_ids = list(db.session.scalars(
        sa.select(Consent.student_id).where(Consent.agreement_id == agreement.id).distinct()))
    students = db.session.execute(
        sa.select(Student.id, Student.given_name, Student.family_name, Student.grade,
                  Organization.name)
        .outerjoin(Organization, Organization.id == Student.school_id)
        .where(Student.id.in_(student_ids))
        .order_by(Student.family_name, Student.given_name, Student.id)).all() if student_ids \
        else []
    rows, counts, total = [], {}, len(students)
    for start in range(0, total, BATCH):
        batch = students[start:start + BATCH]
        ids = [s.id for s in batch]
        guardians: dict[int, list[str]] = {}
        for sid, given, family in db.session.execute(
                sa.select(StudentGuardian.student_id, Guardian.given_name, Guardian.family_name)
                .join(Guardian, Guardian.id == StudentGuardian.guardian_id)
                .where(StudentGuardian.student_id.in_(ids))
                .order_by(Guardian.family_name, Guardian.given_name, Guardian.id)):
            guardians.setdefault(sid, []).append(f"{given} {family}".strip())
        decisions: dict[int, dict] = {}
        for c in db.session.scalars(sa.select(Consent).where(
                Consent.agreement_id == agreement.id, Consent.student_id.in_(ids))
                .order_by(Consent.id)):
            at = c.ended_at or c.granted_at or c.created_at
            decisions.setdefault(c.student_id, {})[c.category] = {
                "state": c.state, "on": at.astimezone(zone).date().isoformat()}
        for s in batch:
            mine = decisions.get(s.id, {})
            row = {"student": f"{s.given_name} {s.family_name}".strip(), "school": s[4] or "",
                   "grade": s.grade or "", "guardians": guardians.get(s.id, []),
                   "decisions": {code: mine.get(code) for code in codes}}
            for decision in row["decisions"].values():
                state = decision["state"] if decision else "no answer"
                counts[state] = counts.get(state, 0) + 1
            rows.append(row)
        if progress:
            progress(min(start + BATCH, total), total)
    return {
        "agreement_id": agreement.id, "revision": agreement.revision, "title": agreement.title,
        "district": agreement.source_org.name,
        "recipients": [o.name for o in agreement.recipients],
        "categories": category_schedule(codes), "rows": rows, "counts": counts,
        "timezone": zone_name,
        "generated_at": utcnow().astimezone(zone).isoformat(timespec="seconds"),
    }


def render_register_html(snapshot: dict) -> str:
    """The print HTML of a register snapshot (autoescaped)."""
    return render_template(TEMPLATE, reg=snapshot)
