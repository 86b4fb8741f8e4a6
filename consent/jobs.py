"""Scheduled jobs: fixed scans over the database that are safe to run twice.

Each job takes `now`, does its work through services, and is committed by the
runner in `consent.scheduler`. Jobs that handle many independent rows commit each
row on its own, so one failure or a crash loses nothing already done.
"""

from __future__ import annotations

import logging
from datetime import datetime

from consent.extensions import db
from consent.services import agreements, consent_sweeps, majority, notifications, reminders

logger = logging.getLogger(__name__)


def advance_agreements(now: datetime) -> None:
    """Activate agreements whose start date has come; expire those whose end date passed."""
    activated = agreements.activate_due(now)
    terminated = agreements.terminate_due(now)
    expired = agreements.expire_due(now)
    if activated or terminated or expired:
        logger.info("agreements: %s activated, %s terminated, %s expired", activated,
                    terminated, expired)


def expire_consents(now: datetime) -> None:
    """Record consents past their valid-through date as expired."""
    expired = consent_sweeps.expire_due(now)
    if expired:
        logger.info("consents: %s expired", expired)


def hand_rights_at_majority(now: datetime) -> None:
    """At 18 a guardian's consents lapse (per policy); the student and family are told
    by the `majority` notice that `send_due_reminders` sends."""
    lapsed = majority.hand_over_at_majority(now).lapsed
    if lapsed:
        logger.info("consents: %s lapsed at majority", len(lapsed))


def send_due_reminders(now: datetime) -> int:
    """Plan every due reminder and notice, then send each pending one exactly once.

    Planning commits first, so a second scheduler sees the rows; then each notice is
    claimed and its emails written in one transaction of its own.
    """
    planned = reminders.plan(now)
    db.session.commit()
    sent, last = 0, 0
    while batch := reminders.due_notice_ids(now, after=last):
        for notice_id in batch:
            last = notice_id
            try:
                if reminders.send(notice_id, now):
                    sent += 1
                db.session.commit()
            except Exception:
                db.session.rollback()
                logger.exception("notice %s not sent; it stays pending", notice_id)
    if planned or sent:
        logger.info("reminders: %s planned, %s sent", planned, sent)
    return sent


def deliver_email(now: datetime) -> None:
    """Send queued emails over SMTP."""
    sent = notifications.deliver_outbox(now)
    if sent:
        logger.info("email: %s sent", sent)
