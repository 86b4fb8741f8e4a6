"""Building blocks shared by API tests: a small partnership and bearer-token clients."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tests.factories import district_today


@dataclass
class Partnership:
    district: object
    school: object
    partner: object
    other_partner: object
    legal: object
    reviewer: object
    district_signatory: object
    partner_signatory: object
    guardian_user: object
    guardian: object
    student: object
    other_student: object


def make_partnership(make) -> Partnership:
    """A district, one school, two partners, one user per role, one family."""
    make.categories()
    district = make.org("Riverside Unified School District", kind="district", slug="riverside")
    school = make.org("Riverside High School", kind="school", slug="riverside-high",
                      parent=district)
    partner = make.org("Northside Promise Neighborhood", kind="nonprofit", slug="promise")
    other = make.org("After-School Alliance", kind="nonprofit", slug="afterschool")
    legal = make.user("legal", org=district, email="legal@riverside.example")
    reviewer = make.user("reviewer", org=district, email="reviewer@riverside.example")
    d_sig = make.user("signatory", org=district, email="superintendent@riverside.example",
                      name="Dana Superintendent", title="Superintendent")
    p_sig = make.user("signatory", org=partner, email="director@promise.example",
                      name="Pat Director", title="Executive Director")
    g_user = make.user("guardian", email="maria@family.example", name="Maria O'Brien")
    student = make.student("Ana", "O'Brien", school=school, grade="10", sourced_id="S-1001",
                           birth_date=district_today() - timedelta(days=365 * 15))
    other_student = make.student("Ben", "Nguyễn", school=school, grade="10",
                                 sourced_id="S-1002")
    guardian = make.guardian(g_user, given="Maria", family="O'Brien")
    make.link(student, guardian)
    return Partnership(district, school, partner, other, legal, reviewer, d_sig, p_sig, g_user,
                       guardian, student, other_student)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def agreement_payload(**overrides) -> dict:
    today = district_today()
    payload = {
        "title": "Promise Neighborhood data-sharing MOU",
        "legal_basis": "consent",
        "recipients": ["promise"],
        "purposes": ["academic_support"],
        "categories": ["attendance", "quarterly_grades", "behavior"],
        "population": {"schools": ["riverside-high"], "grades": []},
        "start_date": today.isoformat(),
        "end_date": (today + timedelta(days=300)).isoformat(),
    }
    payload.update(overrides)
    return payload
