"""Age of majority: from the 18th birthday in the district's zone the student holds the rights.

`hand_over_at_majority` is the one use case, called by the scheduler's
`hand_rights_at_majority` job (daily is enough; running it twice changes nothing): under the
`lapse` policy (ACCORDANT_MAJORITY_POLICY, the default) it ends every consent a guardian gave
for a student who has come of age, once the grace period (ACCORDANT_MAJORITY_GRACE_DAYS) is
over. Decisions and bundles already stop honouring those consents at that same instant
(`consent.access.facts`); this service writes the lapse into the ledger so that the family
pages and exports show it. The student and the guardians are told by the scheduler's
`majority` notice (`consent.services.reminders`), sent exactly once.

A service: it flushes and never commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from consent.access.facts import AGE_OF_MAJORITY, majority_instant
from consent.extensions import db
from consent.models import Consent, ConsentEvent, RulesChange, Student
from consent.services.actors import SYSTEM, Actor
from consent.services.transitions import fire, lock
from consent.timeutil import local_date, utcnow
from workflows import ConsentState

logger = logging.getLogger(__name__)
C = ConsentState
OPEN_STATES = (C.REQUESTED.value, C.GRANTED.value)


@dataclass
class MajorityReport:
    """What one run did: the consents lapsed (by id)."""

    lapsed: list[int] = field(default_factory=list)


def majority_policy() -> tuple[str, timedelta]:
    """The configured policy (`lapse` or `continue`) and the grace period under `lapse`."""
    policy = current_app.config.get("MAJORITY_POLICY", "lapse")
    if policy not in ("lapse", "continue"):
        raise ValueError(f"ACCORDANT_MAJORITY_POLICY must be lapse or continue, not {policy!r}")
    return policy, timedelta(days=int(current_app.config.get("MAJORITY_GRACE_DAYS", 0)))


def _birth_cutoff(today: date) -> date:
    """Born on or before this date means 18 or older by `today` (a day's slack for 29 Feb)."""
    try:
        return today.replace(year=today.year - AGE_OF_MAJORITY)
    except ValueError:
        return date(today.year - AGE_OF_MAJORITY, 2, 28)


def hand_over_at_majority(now: datetime | None = None,
                          actor: Actor = SYSTEM) -> MajorityReport:
    """Lapse guardians' consents for students who have come of age, per the policy.

    Idempotent: a consent lapses once.
    """
    now = now or utcnow()
    policy, grace = majority_policy()
    report = MajorityReport()
    if policy != "lapse":
        return report
    open_guardian_consent = sa.select(Consent.student_id).where(
        Consent.given_as == "guardian", Consent.state.in_(OPEN_STATES))
    students = db.session.scalars(sa.select(Student).where(
        Student.birth_date.is_not(None),
        Student.birth_date <= _birth_cutoff(local_date(now)) + timedelta(days=1),
        Student.id.in_(open_guardian_consent)).order_by(Student.id)).all()
    for student in students:
        adult_at = majority_instant(student.birth_date)
        if adult_at is not None and now >= adult_at + grace:
            report.lapsed.extend(_lapse_guardian_consents(student, adult_at + grace, actor))
    db.session.flush()
    if report.lapsed:
        logger.info("majority handover: %d consents lapsed", len(report.lapsed))
    return report


def _lapse_guardian_consents(student: Student, lapse_at: datetime, actor: Actor) -> list[int]:
    ids = db.session.scalars(sa.select(Consent.id).where(
        Consent.student_id == student.id, Consent.given_as == "guardian",
        Consent.state.in_(OPEN_STATES)).order_by(Consent.id)).all()
    lapsed = []
    for consent_id in ids:
        consent = lock(Consent, consent_id)
        if consent.state not in OPEN_STATES:  # a second scheduler got there first
            continue
        before = consent.state
        consent = fire(consent, "lapse", actor, locked=True,
                       data={"reason": "student_came_of_age"})
        # Sharing ended at the handover instant, not when this job happened to run.
        consent.ended_at = lapse_at
        db.session.add(ConsentEvent(
            consent_id=consent.id, event="lapse", from_state=before, to_state=consent.state,
            at=utcnow(), actor_user_id=actor.id, acted_as="system", channel=actor.channel,
            reason="the student turned 18 and now holds the rights"))
        db.session.add(RulesChange(at=utcnow(), recipient_id=consent.recipient_id,
                                   subject_type="consent", subject_id=consent.id,
                                   reason="consent_lapsed"))
        lapsed.append(consent.id)
    return lapsed
