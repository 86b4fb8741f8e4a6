"""Date-driven consent changes the scheduler makes: expiry (the lapse at majority is
`consent.services.majority`).

The rules already stop a consent at the end of its valid-through date and (under
the `lapse` policy) at the student's 18th birthday plus the grace period, computed
by `consent.access.facts`; these sweeps only record the state change in the ledger
afterwards, so the family's pages and the audit trail say what happened.
Flushes; the job commits.
"""

from __future__ import annotations

import logging
from datetime import datetime

import sqlalchemy as sa

from consent.extensions import db
from consent.models import Consent, ConsentEvent, RulesChange
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
                               reason="consent_expired"))


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
