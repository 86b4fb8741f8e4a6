"""`accordant demo --no-serve` loads a working partnership on an empty database."""

from __future__ import annotations

import csv
from collections import Counter

import sqlalchemy as sa

from consent.demo.command import DEMO_PASSWORD, ROSTER_DIR
from consent.extensions import db
from consent.models import Agreement, Consent, Student, User
from consent.services.audit import verify_chain


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
        consent_states = Counter(db.session.scalars(sa.select(Consent.state)))
        assert consent_states["granted"] > 0 and consent_states["refused"] > 0
        assert verify_chain().ok
        # Every printed sign-in works with the printed password.
        for line in result.output.splitlines():
            if "@" in line and line.startswith("  "):
                email = line.split()[-1]
                user = db.session.scalar(sa.select(User).where(User.email == email))
                assert user is not None and user.check_password(DEMO_PASSWORD), email

    # Running it again does not load twice.
    result = runner.invoke(args=["demo", "--no-serve"])
    assert result.exit_code == 0
    assert "already holds data" in result.output
