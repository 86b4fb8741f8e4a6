"""A controllable clock and a runner that calls the scheduler's jobs at chosen instants."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from consent import jobs
from consent.models import (
    Consent,
    OutboxMessage,
    ScheduledNotice,
    Signature,
)
from consent.scheduler import run_job

LA = ZoneInfo("America/Los_Angeles")
DAILY = (jobs.advance_agreements, jobs.expire_consents, jobs.hand_rights_at_majority,
         jobs.send_due_reminders)


def la(day: date, hour: int = 9, minute: int = 0) -> datetime:
    """The UTC instant of a Los Angeles wall-clock time (worked out by zoneinfo)."""
    return datetime.combine(day, time(hour, minute), tzinfo=LA).astimezone(UTC)


def sweep(app, now: datetime, funcs=DAILY) -> None:
    """Run the jobs once at `now`, each through the scheduler's own runner."""
    for func in funcs:
        assert run_job(app, func, now=now), f"{func.__name__} failed"


def days(first: date, last: date):
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def notices(db, kind=None) -> list[ScheduledNotice]:
    db.session.expire_all()
    query = sa.select(ScheduledNotice).order_by(ScheduledNotice.due_on, ScheduledNotice.id)
    if kind:
        query = query.where(ScheduledNotice.kind == kind)
    return list(db.session.scalars(query))


def sent(db, kind=None) -> list[ScheduledNotice]:
    return [n for n in notices(db, kind) if n.status == "sent"]


def outbox(db) -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)))


def grant(db, student, agreement, recipient, *, valid_from, valid_through, granted_at,
          given_as="guardian", category="attendance", purpose="academic_support") -> Consent:
    """A granted consent row, as the consent service would leave it."""
    consent = Consent(student_id=student.id, agreement_id=agreement.id,
                      recipient_id=recipient.id, purpose=purpose, category=category,
                      state="granted", valid_from=valid_from, valid_through=valid_through,
                      granted_at=granted_at, given_as=given_as)
    db.session.add(consent)
    db.session.commit()
    return consent


def invite(db, agreement, org) -> Signature:
    """An invited signature for `org` on the agreement's current revision (audited)."""
    from consent.services.actors import SYSTEM
    from consent.services.transitions import fire

    signature = Signature(agreement_id=agreement.id, revision=agreement.revision,
                          organization_id=org.id, signing_group=1)
    db.session.add(signature)
    db.session.flush()
    fire(signature, "invite", SYSTEM)
    db.session.commit()
    return signature
