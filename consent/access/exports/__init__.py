"""The rules in formats existing engines read: OPA bundles, Cedar, FHIR R4 Consent.

Every export is a pure function of compiled rules bundles (`compile_bundles`), so an
export can never grant what the bundle does not, nor miss what it grants. No Flask
request handling here: the API views in `consent.api.rules` serve these.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import sqlalchemy as sa

from consent.access.bundle import bundle_document
from consent.access.signing import canonical_json
from consent.extensions import db
from consent.models import Agreement, AgreementParty, Organization, PartyRole
from workflows.agreement import EXECUTED_STATES

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def export_recipients() -> list[Organization]:
    """Every organization named as recipient by some executed agreement, by slug."""
    return list(db.session.scalars(
        sa.select(Organization).where(Organization.id.in_(
            sa.select(AgreementParty.organization_id).join(Agreement).where(
                AgreementParty.role == PartyRole.RECIPIENT,
                Agreement.state.in_([s.value for s in EXECUTED_STATES]))))
        .order_by(Organization.slug)))


def compile_bundles(recipients: list[Organization], now: datetime) -> list[dict]:
    """The unsigned rules bundle of each recipient, as of `now`."""
    from consent.access.cache import rules_for_all

    return [bundle_document(rules, now) for rules in rules_for_all(recipients, now)]


def parse_instant(text: str) -> datetime:
    """An instant as the bundle writes it (ISO 8601 with Z)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def epoch_us(at: datetime) -> int:
    """Whole microseconds since 1970-01-01T00:00:00Z: exact for every stored instant."""
    delta = at - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def revision(bundles: list[dict], *parts: bytes) -> str:
    """A revision naming the newest rules version and a digest of the exported grants.

    Grants also change without a new version (a window ending drops its grant), so
    the digest is part of it; `issued_at` and `not_after` are not, so identical
    rules always give an identical revision.
    """
    digest = hashlib.sha256(canonical_json(
        [[b["recipient"], b["version"], b["grants"]] for b in bundles]))
    for part in parts:
        digest.update(part)
    newest = max((b["version"] for b in bundles), default=0)
    return f"{newest}-{digest.hexdigest()[:20]}"
