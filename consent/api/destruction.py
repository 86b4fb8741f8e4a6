"""Certificates of destruction over the API: a recipient records one, parties list them."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import g

from consent.api import bp
from consent.api import schemas as s
from consent.api.spec import operation
from consent.api.validation import json_body
from consent.auth.permissions import STAFF_ROLES, can_see_agreement
from consent.errors import NotFound
from consent.extensions import db
from consent.models import Agreement, AgreementParty, DestructionCertificate
from consent.services import destruction
from consent.services.actors import actor_for, client_actor
from consent.timeutil import iso

CERTIFICATE = {
    "type": "object", "additionalProperties": False, "required": ["destroyed_on", "method"],
    "properties": {
        "destroyed_on": {**s.DATE, "description": "The day the data was destroyed"},
        "method": {"type": "string", "minLength": 1, "maxLength": 2000,
                   "pattern": "\\S", "description": "How the data was destroyed"},
        "note": {"type": "string", "maxLength": 5000},
    },
}


def certificate_dict(c: DestructionCertificate) -> dict:
    return {"id": c.id, "agreement": c.agreement_id, "recipient": c.recipient.slug,
            "recipient_name": c.recipient.name, "certified_by": c.certified_by_label,
            "destroyed_on": c.destroyed_on.isoformat(), "method": c.method, "note": c.note,
            "recorded_at": iso(c.recorded_at)}


def _visible(agreement_id: int) -> Agreement:
    """The agreement, or 404 when the caller may not see it (a client sees the
    agreements naming its organization, once submitted, as partner staff do)."""
    principal = g.principal
    if principal.is_client:
        seen = db.session.scalar(sa.select(Agreement.id).join(AgreementParty).where(
            Agreement.id == agreement_id, Agreement.state != "draft",
            AgreementParty.organization_id == principal.organization_id))
    else:
        seen = agreement_id if can_see_agreement(principal.user, agreement_id) else None
    if seen is None:
        raise NotFound("no such agreement")
    return db.session.get(Agreement, agreement_id)


def _actor():
    principal = g.principal
    if principal.is_client:
        return client_actor(principal.token_id, principal.organization_id)
    return actor_for(principal.user, "api")


@operation(bp, "/agreements/<int:agreement_id>/destruction-certificates", "GET",
           summary="The certificates of destruction recorded for an agreement",
           tag="agreements", roles=STAFF_ROLES, clients=True)
def list_destruction_certificates(agreement_id: int):
    agreement = _visible(agreement_id)
    return {"data": [certificate_dict(c) for c in destruction.certificates(agreement.id)]}


@operation(bp, "/agreements/<int:agreement_id>/destruction-certificates", "POST",
           summary="Certify, for your organization as a recipient, that the data of an "
                   "ended agreement was destroyed",
           tag="agreements", roles=destruction.CERTIFYING_ROLES, clients=True, body=CERTIFICATE,
           responses={201: {"description": "Recorded"}})
def record_destruction_certificate(agreement_id: int):
    agreement = _visible(agreement_id)
    payload = json_body(CERTIFICATE)
    certificate = destruction.record(
        agreement, _actor(), destroyed_on=date.fromisoformat(payload["destroyed_on"]),
        method=payload["method"], note=payload.get("note", ""))
    db.session.commit()
    return {"data": certificate_dict(certificate)}, 201
