"""Consent requests: staff ask the families of a set of students (by agreement, school or
grade) to answer, by email, and then follow who has answered.

A request is sent once per agreement, student and guardian (sending again skips them). The
answer is read from the consents given for the student under the agreement since the
request: nothing about it is stored twice.

A service: it flushes and never commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import sqlalchemy as sa

from consent.access.facts import lineage_ids
from consent.auth.permissions import is_adult
from consent.extensions import db
from consent.links import external_url
from consent.models import (
    Agreement,
    Consent,
    ConsentRequest,
    Guardian,
    LegalBasis,
    Student,
    StudentGuardian,
)
from consent.services import audit
from consent.services.actors import Actor
from consent.services.notifications import enqueue_email
from consent.timeutil import local_date, utcnow

logger = logging.getLogger(__name__)
OPEN_AGREEMENT_STATES = {"executed", "active"}  # as in consent.services.consents
# The email in the guardian's language (their account's), with the same facts in each.
REQUEST_EMAILS = {
    "en": ("A request to share your child's school records", "notify/consent_request.txt"),
    "es": ("Una solicitud para compartir los registros escolares de su hijo o hija",
           "notify/consent_request_es.txt"),
}


def guardian_language(guardian: Guardian) -> str:
    """The language a guardian reads: their account's, else English (no account, no choice)."""
    language = guardian.user.preferred_language if guardian.user is not None else "en"
    return language if language in REQUEST_EMAILS else "en"


@dataclass
class SendReport:
    """How many requests went out, and why the others did not."""

    sent: int = 0
    already_sent: int = 0
    no_email: int = 0
    student_is_adult: list[int] = field(default_factory=list)


def requestable(agreement: Agreement) -> bool:
    """Only executed consent-based agreements that have not ended can be asked about."""
    return agreement.legal_basis == LegalBasis.CONSENT \
        and agreement.state in OPEN_AGREEMENT_STATES \
        and agreement.end_date >= local_date(utcnow())


def target_students(agreement: Agreement, school_id: int | None = None,
                    grade: str | None = None):
    """A select of the agreement's students, narrowed to one school and/or grade."""
    population = agreement.population or {}
    query = sa.select(Student)
    if population.get("schools"):
        query = query.where(Student.school_id.in_(population["schools"]))
    if population.get("grades"):
        query = query.where(Student.grade.in_(population["grades"]))
    if school_id is not None:
        query = query.where(Student.school_id == school_id)
    if grade:
        query = query.where(Student.grade == grade)
    return query.order_by(Student.family_name, Student.given_name, Student.id)


def send_consent_requests(agreement: Agreement, sender_id: int | None, actor: Actor, *,
                          school_id: int | None = None, grade: str | None = None) -> SendReport:
    """Email every guardian with educational rights of the chosen students (flushes)."""
    now, today = utcnow(), local_date(utcnow())
    report = SendReport()
    students = db.session.scalars(target_students(agreement, school_id, grade)).all()
    asked = set(db.session.execute(sa.select(ConsentRequest.student_id,
                                             ConsentRequest.guardian_id).where(
        ConsentRequest.agreement_id == agreement.id)).all())
    recipients = ", ".join(sorted(o.name for o in agreement.recipients))
    for student in students:
        if is_adult(student, today):
            report.student_is_adult.append(student.id)  # they decide; guardians are not asked
            continue
        guardians = db.session.scalars(sa.select(Guardian).join(
            StudentGuardian, StudentGuardian.guardian_id == Guardian.id).where(
            StudentGuardian.student_id == student.id,
            StudentGuardian.has_educational_rights.is_(True)).order_by(Guardian.id)).all()
        for guardian in guardians:
            if (student.id, guardian.id) in asked:
                report.already_sent += 1
                continue
            if not guardian.email:
                report.no_email += 1
                continue
            subject, template = REQUEST_EMAILS[guardian_language(guardian)]
            message = enqueue_email(
                guardian.email, subject, template, guardian=guardian, student=student,
                agreement=agreement, recipients=recipients,
                link=external_url("family.student", student_id=student.id))
            db.session.add(ConsentRequest(agreement_id=agreement.id, student_id=student.id,
                                          guardian_id=guardian.id, sent_at=now,
                                          sent_by_user_id=sender_id,
                                          outbox_message_id=message.id))
            report.sent += 1
    audit.record("consent_requests_sent", "agreement", agreement.id, actor, data={
        "school_id": school_id, "grade": grade, "sent": report.sent,
        "already_sent": report.already_sent, "no_email": report.no_email,
        "student_is_adult": len(report.student_is_adult)})
    db.session.flush()
    return report


@dataclass(frozen=True)
class RequestStatus:
    student: Student
    guardian: Guardian
    sent_at: object
    answer: str  # waiting | granted | refused | revoked | ... (the newest answer since)


def request_statuses(agreement: Agreement) -> list[RequestStatus]:
    """Every request sent under the agreement with the family's answer since (if any)."""
    requests = db.session.scalars(sa.select(ConsentRequest).where(
        ConsentRequest.agreement_id == agreement.id).order_by(ConsentRequest.id)).all()
    newest: dict[int, Consent] = {}
    for consent in db.session.scalars(sa.select(Consent).where(
            Consent.agreement_id.in_(lineage_ids(agreement)),
            Consent.student_id.in_({r.student_id for r in requests}) if requests
            else sa.false()).order_by(Consent.id)):
        newest[consent.student_id] = consent
    rows = []
    for request in requests:
        consent = newest.get(request.student_id)
        answered = consent is not None and consent.created_at >= request.sent_at
        rows.append(RequestStatus(request.student, request.guardian, request.sent_at,
                                  consent.state if answered else "waiting"))
    return rows
