"""Date-driven consent changes the scheduler makes: expiry and the lapse at majority.

The rules already stop a consent at the end of its valid-through date and (under
the `lapse` policy) at the student's 18th birthday plus the grace period, computed
by `consent.access.facts`; these sweeps only record the state change in the ledger
afterwards, so the family's pages and the audit trail say what happened.
Flushes; the job commits.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from consent.access.facts import majority_instant
from consent.extensions import db
from consent.models import Consent, ConsentEvent, RulesChange, Student
from consent.services.actors import SYSTEM
from consent.services.transitions import fire, lock
from consent.timeutil import end_of_day, local_date
from workflows import ConsentState

logger = logging.getLogger(__name__)


def _record(consent: Consent, event: str, now: datetime, reason: str) -> None:
    db.session.add(ConsentEvent(
        consent_id=consent.id, event=event, from_state=ConsentState.GRANTED.value,
        to_state=consent.state, at=now, actor_user_id=None, acted_as="system",
        channel="scheduler", reason=reason))
    db.session.add(RulesChange(at=now, recipient_id=consent.recipient_id,
                               subject_type="consent", subject_id=consent.id,
                               reason="consent_expired" if event == "expire" else
                               "consent_lapsed"))


def expire_due(now: datetime) -> int:
    """Granted consents whose valid-through day has ended become expired. Returns how many."""
    today = local_date(now)
    ids = db.session.scalars(sa.select(Consent.id).where(
        Consent.state == ConsentState.GRANTED.value, Consent.valid_through < today)
        .order_by(Consent.id)).all()
    done = 0
    for consent_id in ids:
        consent = lock(Consent, consent_id)
        if consent.state != ConsentState.GRANTED.value:  # another process got there first
            continue
        fire(consent, "expire", SYSTEM, locked=True)
        consent.ended_at = end_of_day(consent.valid_through)
        _record(consent, "expire", now, f"valid through {consent.valid_through.isoformat()}")
        done += 1
    db.session.flush()
    return done


def lapse_at_majority(now: datetime) -> int:
    """Under the `lapse` policy, a guardian's granted consents lapse once the student
    is 18 (plus the grace days). Returns how many lapsed."""
    if current_app.config.get("MAJORITY_POLICY", "lapse") != "lapse":
        return 0
    grace = timedelta(days=int(current_app.config.get("MAJORITY_GRACE_DAYS", 0)))
    today = local_date(now)
    # Anyone 18 by today was born on or before this date (a day of slack for 29 February).
    latest_birth = date_years_before(today, 18) + timedelta(days=1)
    rows = db.session.execute(sa.select(Consent.id, Student.birth_date).join(
        Student, Student.id == Consent.student_id).where(
        Consent.state == ConsentState.GRANTED.value, Consent.given_as == "guardian",
        Student.birth_date <= latest_birth).order_by(Consent.id)).all()
    done = 0
    for consent_id, birth_date in rows:
        adult_at = majority_instant(birth_date)
        if adult_at is None or adult_at + grace > now:
            continue
        consent = lock(Consent, consent_id)
        if consent.state != ConsentState.GRANTED.value:
            continue
        fire(consent, "lapse", SYSTEM, locked=True, data={"reason": "majority"})
        consent.ended_at = adult_at + grace
        _record(consent, "lapse", now, "the student turned 18")
        done += 1
    db.session.flush()
    return done


def date_years_before(day, years: int):
    """The same calendar date `years` earlier (28 February for a missing 29th)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)
