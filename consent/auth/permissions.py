"""Object-level rules: who may see or act on which agreement, student or consent.

List views use the query scopes here, so filtering happens in SQL.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from consent.access.facts import AGE_OF_MAJORITY
from consent.extensions import db
from consent.models import (
    Agreement,
    AgreementParty,
    Guardian,
    Organization,
    OrgKind,
    Student,
    StudentGuardian,
    User,
)

STAFF_ROLES = ("admin", "legal", "reviewer", "signatory", "staff")


def reads_every_recipient(principal) -> bool:
    """District staff and the district's own client tokens (its export jobs) read every
    recipient's rules; partner staff and partner tokens only their own organization's."""
    if principal.is_client:
        return principal.client_organization.kind == OrgKind.DISTRICT
    return is_district_user(principal.user)


def is_district_user(user: User) -> bool:
    """District staff see every agreement; partner staff see their own."""
    org = db.session.get(Organization, user.organization_id) if user.organization_id else None
    return org is not None and org.kind == OrgKind.DISTRICT


REGISTER_ROLES = ("admin", "legal", "staff")


def may_make_registers(user: User) -> bool:
    """Consent registers list every family: the district's legal and staff people, and
    administrators."""
    return user.has_role("admin") or (user.has_any_role(*REGISTER_ROLES)
                                      and is_district_user(user))


def visible_agreements(user: User):
    """A select of the agreements `user` may see."""
    query = sa.select(Agreement)
    if user.has_role("admin") or (user.has_any_role(*STAFF_ROLES) and is_district_user(user)):
        return query
    if user.has_any_role(*STAFF_ROLES) and user.organization_id:
        # Partners see agreements naming them once the district has submitted them;
        # drafts stay with the district's legal office.
        parties = sa.select(AgreementParty.agreement_id).where(
            AgreementParty.organization_id == user.organization_id)
        return query.where(Agreement.id.in_(parties), Agreement.state != "draft")
    return query.where(sa.false())


def can_see_agreement(user: User, agreement_id: int) -> bool:
    return db.session.scalar(
        visible_agreements(user).with_only_columns(Agreement.id).where(
            Agreement.id == agreement_id)) is not None


def guardian_of(user: User) -> Guardian | None:
    return db.session.scalar(sa.select(Guardian).where(Guardian.user_id == user.id))


def age_on(birth_date: date | None, day: date) -> int | None:
    """Whole years of age on `day` (a 29 February birthday turns over on 1 March)."""
    if birth_date is None:
        return None
    years = day.year - birth_date.year
    if (day.month, day.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def is_adult(student: Student, today: date) -> bool:
    age = age_on(student.birth_date, today)
    return age is not None and age >= AGE_OF_MAJORITY


def family_students(user: User):
    """A select of the students a guardian or student user is linked to."""
    if user.has_role("student"):
        own = sa.select(Student).where(Student.user_id == user.id)
        if not user.has_role("guardian"):
            return own
    guardian_ids = sa.select(Guardian.id).where(Guardian.user_id == user.id)
    linked = sa.select(StudentGuardian.student_id).where(
        StudentGuardian.guardian_id.in_(guardian_ids))
    return sa.select(Student).where(
        sa.or_(Student.id.in_(linked), Student.user_id == user.id)).order_by(Student.given_name)


def family_student(user: User, student_id: int) -> Student | None:
    """The student if `user` is linked to them as guardian or is the student; else None."""
    return db.session.scalar(family_students(user).where(Student.id == student_id))


def consent_authority(user: User, student: Student, today: date) -> tuple[bool, str, str | None]:
    """Whether `user` may grant or revoke consent for `student` today.

    Returns (allowed, acting_as, reason). Before 18 a guardian with educational
    rights acts; from the 18th birthday in the district's zone only the student.
    """
    adult = is_adult(student, today)
    if student.user_id == user.id:
        if adult:
            return True, "student", None
        return False, "student", "a student may act for themself from their 18th birthday"
    guardian = guardian_of(user)
    link = guardian and db.session.get(StudentGuardian, (student.id, guardian.id))
    if not link:
        return False, "guardian", "you are not linked to this student"
    if adult:
        return False, "guardian", "this student is 18 and now decides for themself"
    if not link.has_educational_rights:
        return False, "guardian", "you do not hold educational rights for this student"
    return True, "guardian", None
