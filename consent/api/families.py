"""Family endpoints: a guardian's or student's view of their children and consents."""

from __future__ import annotations

from datetime import date

from flask import g

from consent.access.facts import lineage_ids
from consent.api import bp
from consent.api import schemas as s
from consent.api.serializers import consent_dict, student_dict
from consent.api.spec import operation
from consent.api.validation import json_body, version_from
from consent.auth.permissions import family_student, family_students, is_adult
from consent.errors import Forbidden, NotFound
from consent.extensions import db
from consent.services import consents as service
from consent.services import receipts
from consent.services.actors import actor_for
from consent.timeutil import local_date, utcnow

FAMILY = ("guardian", "student")


def _own_student(student_id: int):
    """The student if linked to the caller; 404 otherwise, so nothing leaks."""
    student = family_student(g.principal.user, student_id)
    if student is None:
        raise NotFound("no such student")
    return student


@operation(bp, "/students", "GET", summary="Your children (or yourself, as a student)",
           tag="families", roles=FAMILY)
def list_family_students():
    rows = db.session.scalars(family_students(g.principal.user)).all()
    return {"data": [student_dict(st) for st in rows]}


@operation(bp, "/students/<int:student_id>", "GET",
           summary="A child's sharing: agreements open for consent and every consent",
           tag="families", roles=FAMILY)
def get_family_student(student_id: int):
    student = _own_student(student_id)
    now = utcnow()
    today = local_date(now)
    if student.user_id != g.principal.user.id and is_adult(student, today):
        # From 18 the records are the student's, not their guardians'.
        raise Forbidden("this student is 18 or older and decides about their own records; "
                        "their consents are theirs to see")
    options = [{"agreement": a.id, "title": a.title,
                "recipients": sorted(o.slug for o in a.recipients),
                "purposes": list(a.purposes), "categories": list(a.categories),
                "end_date": a.end_date.isoformat(),
                # Send back with a decision to have it refused if another came first.
                "ledger_seen": {o.slug: service.ledger_position(student.id, o.id, lineage_ids(a))
                                for o in a.recipients}}
               for a in service.consentable_agreements(student, today)]
    # A grant whose agreement (and any successor) is over shares nothing any more.
    consents = service.student_consents(student)
    ended = service.ended_with_agreements(consents, now)
    consents = [{**consent_dict(c), "ended_with_agreement": c.id in ended} for c in consents]
    return {"data": {**student_dict(student), "agreements": options, "consents": consents}}


@operation(bp, "/students/<int:student_id>/consents", "POST",
           summary="Grant or refuse consent to one recipient for purposes and categories",
           tag="families", roles=FAMILY, body=s.CONSENT_DECISION,
           responses={201: {"description": "Created"}})
def decide_consent(student_id: int):
    student = _own_student(student_id)
    payload = json_body(s.CONSENT_DECISION)
    user = g.principal.user
    created = service.decide(
        student, user, actor_for(user, "api"), agreement_id=payload["agreement"],
        recipient_slug=payload["recipient"], purposes=payload["purposes"],
        categories=payload["categories"], decision=payload.get("decision", "grant"),
        valid_through=date.fromisoformat(payload["valid_through"])
        if "valid_through" in payload else None,
        language=payload.get("language", user.preferred_language),
        form_version=payload.get("form_version"), ledger_seen=payload.get("ledger_seen"))
    receipts.send_receipt(user, student, created, payload.get("decision", "grant"))
    db.session.commit()
    return {"data": [consent_dict(c) for c in created]}, 201


@operation(bp, "/consents/<int:consent_id>/revoke", "POST",
           summary="Revoke a consent; sharing stops at once", tag="families", roles=FAMILY,
           body=s.CONSENT_REVOKE)
def revoke_consent(consent_id: int):
    payload = json_body(s.CONSENT_REVOKE)
    user = g.principal.user
    consent = service.get_consent_for(user, consent_id, family_students(user))
    consent = service.revoke(consent, user, actor_for(user, "api"), payload.get("reason"),
                             version_from(payload))
    receipts.send_receipt(user, consent.student, [consent], "revoke")
    db.session.commit()
    return {"data": consent_dict(consent)}
