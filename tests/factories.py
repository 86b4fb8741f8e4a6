"""Row factories for tests. Each call commits, like a finished request would."""

from __future__ import annotations

import itertools
import os
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from consent.models import (
    Agreement,
    AgreementParty,
    ApiToken,
    DataCategory,
    Guardian,
    Organization,
    Role,
    Student,
    StudentGuardian,
    User,
    hash_token,
    new_token,
)

# The zone tests run in; set ACCORDANT_TEST_ZONE to try date boundaries elsewhere.
DISTRICT_ZONE = os.environ.get("ACCORDANT_TEST_ZONE", "America/Los_Angeles")


def district_today() -> date:
    """Today in the district: agreement dates are local dates, and near midnight UTC
    the machine's date is already tomorrow."""
    return datetime.now(ZoneInfo(DISTRICT_ZONE)).date()


DEFAULT_CATEGORIES = {
    "demographics": ["student_id", "birth_date", "gender", "ethnicity", "home_language"],
    "contact": ["address", "phone", "guardian_email"],
    "success_indicators": ["chronic_absence_flag", "on_track_flag"],
    "quarterly_grades": ["course_code", "term", "mark"],
    "attendance": ["date", "status"],
    "behavior": ["incident_date", "incident_type", "action_taken"],
}


class Factory:
    def __init__(self, db, password):
        self.db, self.password = db, password
        self._n = itertools.count(1)

    def _save(self, row):
        self.db.session.add(row)
        self.db.session.commit()
        return row

    def org(self, name=None, kind="nonprofit", slug=None, parent=None):
        n = next(self._n)
        name = name or f"Organization {n}"
        slug = slug or f"org-{n}"
        return self._save(Organization(name=name, slug=slug, kind=kind,
                                       parent_id=parent.id if parent else None))

    def role(self, name):
        role = self.db.session.scalar(sa.select(Role).where(Role.name == name))
        return role or self._save(Role(name=name))

    def user(self, *roles, org=None, email=None, name=None, title=None):
        n = next(self._n)
        user = User(email=(email or f"user{n}@example.org").lower(), name=name or f"User {n}",
                    organization_id=org.id if org else None, title=title)
        user.set_password(self.password)
        user.roles = [self.role(r) for r in roles]
        return self._save(user)

    def categories(self):
        existing = {c.code for c in self.db.session.scalars(sa.select(DataCategory))}
        for code, fields in DEFAULT_CATEGORIES.items():
            if code not in existing:
                self.db.session.add(DataCategory(code=code, name=code.replace("_", " ").title(),
                                                 fields=fields, is_directory=False))
        self.db.session.commit()

    def student(self, given="Ana", family="Lopez", birth_date=None, grade="09", school=None,
                sourced_id=None):
        n = next(self._n)
        return self._save(Student(
            sourced_id=sourced_id or f"stu-{n}", given_name=given, family_name=family,
            birth_date=birth_date or (district_today() - timedelta(days=365 * 14)), grade=grade,
            school_id=school.id if school else None))

    def guardian(self, user=None, given="Maria", family="Lopez", email=None):
        n = next(self._n)
        return self._save(Guardian(
            sourced_id=f"gdn-{n}", given_name=given, family_name=family,
            email=(email or (user.email if user else f"g{n}@example.org")).lower(),
            user_id=user.id if user else None))

    def link(self, student, guardian, rights=True):
        return self._save(StudentGuardian(student_id=student.id, guardian_id=guardian.id,
                                          has_educational_rights=rights))

    def agreement(self, source, recipients, *, basis="consent", state="draft", created_by=None,
                  purposes=("academic_support",), categories=("attendance", "quarterly_grades"),
                  start=None, end=None, population=None, executed_at=None, **fields):
        start = start or district_today()
        end = end or (start + timedelta(days=365))
        agreement = Agreement(
            title=fields.pop("title", "Data-sharing agreement"), state=state,
            source_org_id=source.id, legal_basis=basis, purposes=list(purposes),
            categories=list(categories), population=population or {"schools": [], "grades": []},
            start_date=start, end_date=end, created_by_id=created_by.id if created_by else None,
            executed_at=executed_at, scope_description="Students served by the program",
            use_limitation="Only for the stated purposes.", no_reidentification=True,
            destruction_days=30, retention_days=365,
            security_requirements=fields.pop("security_requirements",
                                             "Encrypted at rest and in transit."),
            breach_notification_hours=fields.pop("breach_notification_hours", 72), **fields)
        agreement.parties = [AgreementParty(organization_id=source.id, role="source",
                                            signing_group=1, review_required=True)]
        agreement.parties += [AgreementParty(organization_id=r.id, role="recipient",
                                             signing_group=2) for r in recipients]
        return self._save(agreement)

    def client_token(self, org, name="enforcer"):
        token = new_token()
        self._save(ApiToken(name=name, token_hash=hash_token(token), organization_id=org.id))
        return token

    def user_token(self, user, name="personal"):
        token = new_token()
        self._save(ApiToken(name=name, token_hash=hash_token(token), user_id=user.id))
        return token
