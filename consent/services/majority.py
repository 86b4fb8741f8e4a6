"""Age of majority: from the 18th birthday in the district's zone the student holds the rights.

`hand_over_at_majority` is the one use case. A scheduled job calls it (daily is enough; running
it twice changes nothing): it tells each student who has come of age, once, and under the
`lapse` policy (ACCORDANT_MAJORITY_POLICY, the default) ends every consent a guardian gave for
them once the grace period (ACCORDANT_MAJORITY_GRACE_DAYS) is over. Decisions and bundles
already stop honouring those consents at that same instant (`consent.access.facts`); this
service writes the lapse into the ledger so that the family pages and exports show it.

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
from consent.models import AuditEntry, Consent, ConsentEvent, RulesChange, Student
from consent.services import audit
from consent.services.actors import SYSTEM, Actor
from consent.services.notifications import enqueue_email
from consent.services.transitions import fire
from consent.timeutil import local_date, utcnow
from workflows import ConsentState

logger = logging.getLogger(__name__)
C = ConsentState
NOTICE_EVENT = "student_came_of_age"
OPEN_STATES = (C.REQUESTED.value, C.GRANTED.value)


@dataclass
class MajorityReport:
    """What one run did: students told, and consents lapsed (by id)."""

    notified: list[int] = field(default_factory=list)
    unreachable: list[int] = field(default_factory=list)  # came of age, no address on file
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
    """Notify students who have turned 18 and lapse guardians' consents per the policy.

    Idempotent: a student is told once (an audit entry marks it), and a consent lapses once.
    """
    now = now or utcnow()
    policy, grace = majority_policy()
    report = MajorityReport()
    notified = sa.select(AuditEntry.subject_id).where(
        AuditEntry.subject_type == "student", AuditEntry.event == NOTICE_EVENT)
    open_guardian_consent = sa.select(Consent.student_id).where(
        Consent.given_as == "guardian", Consent.state.in_(OPEN_STATES))
    students = db.session.scalars(sa.select(Student).where(
        Student.birth_date.is_not(None),
        Student.birth_date <= _birth_cutoff(local_date(now)) + timedelta(days=1),
        sa.or_(Student.id.not_in(notified), Student.id.in_(open_guardian_consent)))
        .order_by(Student.id)).all()
    already = set(db.session.scalars(notified.where(
        AuditEntry.subject_id.in_([s.id for s in students])))) if students else set()
    for student in students:
        adult_at = majority_instant(student.birth_date)
        if adult_at is None or adult_at > now:
            continue
        lapse_at = adult_at + grace if policy == "lapse" else None
        if student.id not in already:
            _notify(student, policy, lapse_at, actor, report)
        if lapse_at is not None and now >= lapse_at:
            report.lapsed.extend(_lapse_guardian_consents(student, lapse_at, actor))
    db.session.flush()
    logger.info("majority handover: %d told, %d without address, %d consents lapsed",
                len(report.notified), len(report.unreachable), len(report.lapsed))
    return report


def _notify(student: Student, policy: str, lapse_at: datetime | None, actor: Actor,
            report: MajorityReport) -> None:
    address = student.user.email if student.user is not None else None
    if address:
        lapse_day = local_date(lapse_at) if lapse_at else None
        enqueue_email(address, "You now decide what your school shares about you",
                      "notify/majority.txt", student=student, policy=policy,
                      lapse_day=lapse_day)
        report.notified.append(student.id)
    else:
        report.unreachable.append(student.id)
    audit.record(NOTICE_EVENT, "student", student.id, actor,
                 data={"policy": policy, "emailed": bool(address)})


def _lapse_guardian_consents(student: Student, lapse_at: datetime, actor: Actor) -> list[int]:
    consents = db.session.scalars(sa.select(Consent).where(
        Consent.student_id == student.id, Consent.given_as == "guardian",
        Consent.state.in_(OPEN_STATES)).order_by(Consent.id)).all()
    lapsed = []
    for consent in consents:
        before = consent.state
        consent = fire(consent, "lapse", actor, data={"reason": "student_came_of_age"})
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
