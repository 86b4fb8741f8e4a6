"""Agreement endpoints: draft, edit, lifecycle events, signatures, PDFs."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import Response, g

from consent.api import bp
from consent.api import schemas as s
from consent.api.serializers import agreement_dict
from consent.api.spec import operation
from consent.api.validation import json_body, version_from
from consent.auth.permissions import can_see_agreement, visible_agreements
from consent.errors import NotFound, ValidationFailed
from consent.extensions import db
from consent.models import Agreement
from consent.services import agreements as service
from consent.services.actors import actor_for
from consent.timeutil import local_date, utcnow
from workflows import AGREEMENT, AGREEMENT_REQUEST_EVENTS, AgreementState

STAFF = ("admin", "legal", "reviewer", "signatory", "staff")


def _visible(agreement_id: int):
    """The agreement, or 404 when it does not exist or the caller may not see it."""
    if not can_see_agreement(g.principal.user, agreement_id):
        raise NotFound("no such agreement")
    return service.get_agreement(agreement_id)


def actions_for(agreement, actor) -> list[str]:
    """Request events the actor may fire now, plus signing when it is their turn,
    commenting while the agreement is open, and renewing or amending it while in force."""
    facts = {"checklist_missing": service.checklist_missing(agreement),
             "reviews_complete": True}
    events = [e for e in AGREEMENT.available(agreement, actor, facts)
              if e in AGREEMENT_REQUEST_EVENTS]
    if agreement.ended_on is not None and "terminate" in events:
        events.remove("terminate")  # termination is already noticed; the service refuses
    if "approve" in events and service.has_approved(agreement, actor.organization_id):
        events.remove("approve")  # one approval per organization and revision
    if service.can_sign_now(agreement, actor):
        events += ["sign", "decline"]
    if actor.has_any_role("legal", "reviewer") and agreement.state in service.OPEN_STATES:
        events.append("comment")
    in_force = (agreement.state in (AgreementState.EXECUTED, AgreementState.ACTIVE)
                and agreement.ended_on is None)
    if in_force and actor.has_any_role("legal") and (
            actor.organization_id == agreement.source_org_id):
        # The service refuses a second successor while one is still open.
        successor_open = db.session.scalar(sa.select(Agreement.id).where(
            Agreement.predecessor_id == agreement.id,
            Agreement.state.in_(service.OPEN_STATES)).limit(1))
        if successor_open is None:
            events += ["renew", "amend"]
    return events


@operation(bp, "/agreements", "GET", summary="List the agreements you may see", tag="agreements",
           roles=STAFF)
def list_agreements():
    rows = db.session.scalars(visible_agreements(g.principal.user).order_by(
        sa.text("id"))).all()
    return {"data": [agreement_dict(a) for a in rows]}


@operation(bp, "/agreements", "POST", summary="Draft an agreement from a template",
           tag="agreements", roles=("legal",), body=s.AGREEMENT_CREATE,
           responses={201: {"description": "Created"}})
def create_agreement():
    payload = json_body(s.AGREEMENT_CREATE)
    actor = actor_for(g.principal.user, "api")
    agreement = service.create_draft(payload, actor)
    db.session.commit()
    return {"data": agreement_dict(agreement, actions=actions_for(agreement, actor))}, 201


@operation(bp, "/agreements/<int:agreement_id>", "GET", summary="Read one agreement",
           tag="agreements", roles=STAFF)
def get_agreement(agreement_id: int):
    agreement = _visible(agreement_id)
    actor = actor_for(g.principal.user, "api")
    return {"data": agreement_dict(agreement, actions=actions_for(agreement, actor))}


@operation(bp, "/agreements/<int:agreement_id>", "PATCH",
           summary="Edit content (after approval this starts a new revision)",
           tag="agreements", roles=("legal",), body=s.AGREEMENT_UPDATE)
def update_agreement(agreement_id: int):
    agreement = _visible(agreement_id)
    payload = json_body(s.AGREEMENT_UPDATE)
    actor = actor_for(g.principal.user, "api")
    agreement = service.update_content(agreement, payload, actor, version_from(payload))
    db.session.commit()
    return {"data": agreement_dict(agreement, actions=actions_for(agreement, actor))}


@operation(bp, "/agreements/<int:agreement_id>/events/<event>", "POST",
           summary="Fire a lifecycle event: submit, approve, request_changes, "
                   "send_for_signature, revise, withdraw, terminate, or comment",
           tag="agreements", roles=("legal", "reviewer"), body=s.AGREEMENT_EVENT)
def agreement_event(agreement_id: int, event: str):
    agreement = _visible(agreement_id)
    payload = json_body(s.AGREEMENT_EVENT)
    if "effective_on" in payload and event != "terminate":
        raise ValidationFailed("effective_on applies only to terminate", field="effective_on")
    actor = actor_for(g.principal.user, "api")
    service.run_event(agreement, event, actor, version_from(payload),
                      comment=payload.get("comment", ""), reason=payload.get("reason", ""),
                      effective_on=date.fromisoformat(payload["effective_on"])
                      if "effective_on" in payload else local_date(utcnow()))
    db.session.commit()
    agreement = service.get_agreement(agreement_id)
    return {"data": agreement_dict(agreement, actions=actions_for(agreement, actor))}


@operation(bp, "/agreements/<int:agreement_id>/successors", "POST",
           summary="Draft a renewal or an amendment, prefilled from this agreement",
           tag="agreements", roles=("legal",), body=s.SUCCESSOR,
           responses={201: {"description": "The new draft"}})
def create_successor(agreement_id: int):
    agreement = _visible(agreement_id)
    payload = json_body(s.SUCCESSOR)
    actor = actor_for(g.principal.user, "api")
    successor = service.start_successor(agreement, payload["kind"], actor,
                                        version_from(payload))
    db.session.commit()
    return {"data": agreement_dict(successor, actions=actions_for(successor, actor))}, 201


@operation(bp, "/agreements/<int:agreement_id>/signatures", "POST",
           summary="Sign for your organization (binds the SHA-256 of the document shown)",
           tag="agreements", roles=("signatory",), body=s.SIGNATURE)
def sign_agreement(agreement_id: int):
    agreement = _visible(agreement_id)
    payload = json_body(s.SIGNATURE)
    actor = actor_for(g.principal.user, "api")
    service.sign(agreement, actor, name=payload["name"], title=payload["title"],
                 authority=payload.get("authority", ""),
                 document_sha256=payload["document_sha256"],
                 expected_version=version_from(payload))
    db.session.commit()
    agreement = service.get_agreement(agreement_id)
    return {"data": agreement_dict(agreement, actions=actions_for(agreement, actor))}


@operation(bp, "/agreements/<int:agreement_id>/decline", "POST",
           summary="Decline to sign, with a reason", tag="agreements", roles=("signatory",),
           body=s.DECLINE)
def decline_agreement(agreement_id: int):
    agreement = _visible(agreement_id)
    payload = json_body(s.DECLINE)
    actor = actor_for(g.principal.user, "api")
    service.decline(agreement, actor, payload["reason"], version_from(payload))
    db.session.commit()
    agreement = service.get_agreement(agreement_id)
    return {"data": agreement_dict(agreement, actions=actions_for(agreement, actor))}


@operation(bp, "/agreements/<int:agreement_id>/document.pdf", "GET",
           summary="The executed PDF (or, before execution, the copy sent for signature)",
           tag="agreements", roles=STAFF,
           responses={200: {"description": "PDF", "content": {"application/pdf": {}}}})
def agreement_pdf(agreement_id: int):
    agreement = _visible(agreement_id)
    return pdf_response(agreement)


def pdf_response(agreement) -> Response:
    """The newest frozen PDF of the agreement, with its hash in a header."""
    document = service.executed_document(agreement) or service.signing_document(agreement)
    if document is None:
        raise NotFound("no PDF has been issued for this agreement yet")
    name = f"agreement-{agreement.id}-r{document.revision}-{document.kind}.pdf"
    return Response(document.content, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Document-SHA256": document.sha256, "Cache-Control": "private, no-store"})
