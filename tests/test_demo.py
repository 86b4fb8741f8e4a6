"""`accordant demo --no-serve` loads a working partnership on an empty database."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import timedelta

import sqlalchemy as sa

from consent.demo.command import DEMO_PASSWORD, ROSTER_DIR
from consent.extensions import db
from consent.models import (
    Agreement,
    Consent,
    Organization,
    RoleName,
    Student,
    StudentGuardian,
    User,
)
from consent.services.audit import verify_chain
from consent.timeutil import local_date, utcnow


def test_demo_loads_roster_agreements_and_consents(fresh_app):
    runner = fresh_app.test_cli_runner()
    result = runner.invoke(args=["demo", "--no-serve"])
    assert result.exit_code == 0, result.output
    assert DEMO_PASSWORD in result.output

    with open(ROSTER_DIR / "users.csv", encoding="utf-8-sig", newline="") as f:
        roster_students = sum(1 for row in csv.DictReader(f)
                              if row["role"] == "student" and row["status"] == "active")
    with fresh_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Student.id))) == roster_students
        states = Counter(db.session.scalars(sa.select(Agreement.state)))
        for state in ("draft", "in_review", "out_for_signature", "active", "expired"):
            assert states[state] >= 1, states
        today = local_date(utcnow())
        active_ends = [a.end_date for a in db.session.scalars(
            sa.select(Agreement).where(Agreement.state == "active"))]
        assert any(today <= end <= today + timedelta(days=60) for end in active_ends)
        assert any(end > today + timedelta(days=60) for end in active_ends)
        # The partnership: the district and its three partners.
        kinds = dict(db.session.execute(sa.select(Organization.slug, Organization.kind).where(
            Organization.kind != "school")).all())
        assert sorted(kinds.values()) == ["agency", "district", "nonprofit", "nonprofit"]
        names = set(db.session.scalars(sa.select(Organization.name)))
        assert {"Northside Promise Neighborhood", "Riverside After-School Alliance",
                "State Department of Children and Family Services"} <= names
        # The family cases the roster ships with made it into the database.
        children = Counter(db.session.scalars(sa.select(StudentGuardian.guardian_id)))
        guardians = Counter(db.session.scalars(sa.select(StudentGuardian.student_id)))
        assert max(children.values()) >= 2 and max(guardians.values()) >= 2
        family_names = set(db.session.scalars(sa.select(Student.family_name)))
        assert {"O'Brien", "Nguyễn", "العلي"} <= family_names
        # Seniors turning 18 soon, counted from the day the demo runs (not a fixed date).
        eighteenths = {(s.given_name, s.family_name,
                        s.birth_date.replace(year=s.birth_date.year + 18))
                       for s in db.session.scalars(sa.select(Student))
                       if s.birth_date and (s.birth_date.month, s.birth_date.day) != (2, 29)}
        for given, family, days in (("José", "Núñez", 0), ("Łucja", "Wójcik", 7),
                                    ("Mateo", "Peña", 30), ("Sofia", "D'Amico", -45)):
            assert (given, family, today + timedelta(days=days)) in eighteenths, given
        consent_states = Counter(db.session.scalars(sa.select(Consent.state)))
        assert consent_states["granted"] > 0 and consent_states["refused"] > 0
        assert verify_chain().ok
        # Every printed sign-in works with the printed password, one for every role.
        roles = set()
        for line in result.output.splitlines():
            if "@" in line and line.startswith("  "):
                email = line.split()[-1]
                user = db.session.scalar(sa.select(User).where(User.email == email))
                assert user is not None and user.check_password(DEMO_PASSWORD), email
                roles |= user.role_names
        assert roles == {r.value for r in RoleName}

    # Running it again does not load twice.
    result = runner.invoke(args=["demo", "--no-serve"])
    assert result.exit_code == 0
    assert "already holds data" in result.output
