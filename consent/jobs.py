"""Scheduled jobs: fixed scans over the database that are safe to run twice.

Each job takes `now`, does its work through services, and is committed by the
runner in `consent.scheduler`.
"""

from __future__ import annotations

import logging
from datetime import datetime

from consent.services import agreements, notifications

logger = logging.getLogger(__name__)


def advance_agreements(now: datetime) -> None:
    """Activate agreements whose start date has come; expire those whose end date passed."""
    activated = agreements.activate_due(now)
    terminated = agreements.terminate_due(now)
    expired = agreements.expire_due(now)
    if activated or terminated or expired:
        logger.info("agreements: %s activated, %s terminated, %s expired", activated,
                    terminated, expired)


def deliver_email(now: datetime) -> None:
    """Send queued emails over SMTP."""
    sent = notifications.deliver_outbox(now)
    if sent:
        logger.info("email: %s sent", sent)
