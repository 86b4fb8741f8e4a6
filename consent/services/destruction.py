"""Certificates of destruction: who may record one, when, and the audit entry with it.

After an agreement ends each recipient certifies that it destroyed the data it
received; the scheduler's destruction follow-up stops for a recipient once its
certificate is here (consent.services.reminders).
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from consent.errors import Conflict, Forbidden, ValidationFailed
from consent.extensions import db
from consent.models import Agreement, DestructionCertificate
from consent.services import audit
from consent.services.actors import Actor
from consent.timeutil import local_date, utcnow
from workflows import AgreementState

# The states in which an agreement is over for good and its data must be destroyed.
ENDED_STATES = frozenset({AgreementState.EXPIRED, AgreementState.TERMINATED,
                          AgreementState.SUPERSEDED})
# The recipient's people who may certify for it (its enforcer client token may too).
CERTIFYING_ROLES = ("staff", "legal", "signatory")


def certificates(agreement_id: int) -> list[DestructionCertificate]:
    """The certificates recorded for one agreement, oldest first."""
    return list(db.session.scalars(sa.select(DestructionCertificate).where(
        DestructionCertificate.agreement_id == agreement_id)
        .order_by(DestructionCertificate.id)))


def certified_recipient_ids(agreement_id: int) -> set[int]:
    """The recipients of an agreement that have certified destruction."""
    return set(db.session.scalars(sa.select(DestructionCertificate.recipient_id).where(
        DestructionCertificate.agreement_id == agreement_id)))


def may_certify(agreement: Agreement, actor: Actor) -> bool:
    """True when `actor` speaks for a recipient of `agreement` (state aside)."""
    return (actor.organization_id in agreement.recipient_ids
            and actor.has_any_role("client", *CERTIFYING_ROLES))


def record(agreement: Agreement, actor: Actor, *, destroyed_on: date, method: str,
           note: str = "") -> DestructionCertificate:
    """Record the actor's organization's certificate for an ended agreement (flushes).

    :raises Forbidden: the actor does not speak for a recipient of the agreement.
    :raises Conflict: the agreement has not ended, or this recipient already certified.
    :raises ValidationFailed: a date outside the agreement's start and today, or no method.
    """
    if not may_certify(agreement, actor):
        raise Forbidden("only a recipient's staff or its enforcer may certify destruction")
    if agreement.state not in ENDED_STATES:
        raise Conflict("the agreement has not ended; destruction is certified after it ends")
    method = (method or "").strip()
    if not method:
        raise ValidationFailed("say how the data was destroyed", field="method")
    now = utcnow()
    if destroyed_on > local_date(now):
        raise ValidationFailed("the date of destruction cannot be in the future",
                               field="destroyed_on")
    if destroyed_on < agreement.start_date:
        raise ValidationFailed("the date of destruction is before the agreement started",
                               field="destroyed_on")
    if actor.organization_id in certified_recipient_ids(agreement.id):
        raise Conflict("your organization has already certified destruction for this agreement")
    certificate = DestructionCertificate(
        agreement_id=agreement.id, recipient_id=actor.organization_id,
        certified_by_id=actor.id, certified_by_label=actor.label, destroyed_on=destroyed_on,
        method=method, note=(note or "").strip(), recorded_at=now, ip_address=actor.ip)
    try:
        with db.session.begin_nested():  # a racing second certificate meets the unique key
            db.session.add(certificate)
    except IntegrityError:
        raise Conflict("your organization has already certified destruction for this "
                       "agreement") from None
    audit.record("destruction_certified", "agreement", agreement.id, actor,
                 data={"certificate": certificate.id, "recipient": actor.organization_id,
                       "destroyed_on": destroyed_on.isoformat()})
    return certificate
