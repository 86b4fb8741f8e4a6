"""Families with consents, in bulk, for consent register tests and benchmarks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from consent.extensions import db
from consent.models import Consent, Guardian, Student, StudentGuardian

NAME_CYCLE = ("Nguyễn", "Wójcik", "الزهراء", "王", "O'Brien", "<b>Bold</b> & Co")


def add_families(agreement, school, count: int, *, first: int = 0) -> list[dict]:
    """`count` students, each with one guardian and a decision per category (committed).

    Returns, per student, what the register must show: name, guardian and states.
    """
    recipient = agreement.recipients[0]
    purpose = agreement.purposes[0]
    expected = []
    granted_at = datetime(2026, 10, 5, 18, 30, tzinfo=UTC)
    for i in range(first, first + count):
        family = NAME_CYCLE[i % len(NAME_CYCLE)]
        student = Student(sourced_id=f"reg-s-{i}", given_name=f"Pupil{i:05d}", family_name=family,
                          birth_date=date(2012, 1, 1) + timedelta(days=i % 300), grade="07",
                          school_id=school.id)
        guardian = Guardian(sourced_id=f"reg-g-{i}", given_name=f"Parent{i:05d}",
                            family_name=family, email=f"reg{i}@example.org")
        db.session.add_all([student, guardian])
        db.session.flush()
        db.session.add(StudentGuardian(student_id=student.id, guardian_id=guardian.id))
        states = {}
        for j, category in enumerate(agreement.categories):
            state = "refused" if (i + j) % 3 == 0 else "granted"
            states[category] = state
            db.session.add(Consent(
                student_id=student.id, agreement_id=agreement.id, recipient_id=recipient.id,
                purpose=purpose, category=category, state=state, valid_from=agreement.start_date,
                valid_through=agreement.end_date,
                granted_at=granted_at if state == "granted" else None,
                ended_at=granted_at if state == "refused" else None, given_as="guardian"))
        expected.append({"student": f"Pupil{i:05d} {family}", "guardian": f"Parent{i:05d}",
                         "states": states})
    db.session.commit()
    return expected
