"""Plain-dict views of records for API responses."""

from __future__ import annotations

import sqlalchemy as sa

from consent.extensions import db
from consent.models import Agreement, Consent, Organization, Signature, Student
from consent.timeutil import iso


def _slugs(ids) -> list[str]:
    if not ids:
        return []
    rows = db.session.execute(sa.select(Organization.id, Organization.slug).where(
        Organization.id.in_(ids))).all()
    by_id = dict(rows)
    return [by_id[i] for i in ids if i in by_id]


def agreement_dict(a: Agreement, *, actions: list[str] | None = None) -> dict:
    from consent.services.agreements import executed_document, signing_document

    signing = signing_document(a)
    executed = executed_document(a)
    signatures = db.session.scalars(sa.select(Signature).where(
        Signature.agreement_id == a.id, Signature.revision == a.revision)
        .order_by(Signature.signing_group, Signature.id)).all()
    population = a.population or {}
    return {
        "id": a.id, "title": a.title, "state": a.state, "revision": a.revision,
        "version": a.version_id, "legal_basis": a.legal_basis,
        "source": a.source_org.slug,
        "recipients": sorted(o.slug for o in a.recipients),
        "purposes": list(a.purposes), "categories": list(a.categories),
        "population": {"schools": _slugs(population.get("schools", [])),
                       "grades": list(population.get("grades", []))},
        "start_date": a.start_date.isoformat(), "end_date": a.end_date.isoformat(),
        "scope_description": a.scope_description, "use_limitation": a.use_limitation,
        "no_reidentification": a.no_reidentification,
        "security_requirements": a.security_requirements, "retention_days": a.retention_days,
        "destruction_days": a.destruction_days,
        "breach_notification_hours": a.breach_notification_hours,
        "renewal_notice_days": a.renewal_notice_days, "clauses": list(a.clauses),
        "predecessor": a.predecessor_id, "successor_kind": a.successor_kind,
        "superseded_at": iso(a.superseded_at), "executed_at": iso(a.executed_at),
        "ended_on": a.ended_on.isoformat() if a.ended_on else None, "end_reason": a.end_reason,
        "signing_document_sha256": signing.sha256 if signing else None,
        "executed_document_sha256": executed.sha256 if executed else None,
        "signatures": [signature_dict(s) for s in signatures],
        **({"actions": actions} if actions is not None else {}),
    }


def signature_dict(s: Signature) -> dict:
    return {"organization": s.organization.slug, "signing_group": s.signing_group,
            "state": s.state, "signer_name": s.signer_name, "signer_title": s.signer_title,
            "authority": s.authority, "signed_at": iso(s.signed_at),
            "document_sha256": s.document_sha256}


def student_dict(s: Student) -> dict:
    return {"id": s.id, "sourced_id": s.sourced_id, "given_name": s.given_name,
            "family_name": s.family_name, "grade": s.grade,
            "birth_date": s.birth_date.isoformat() if s.birth_date else None,
            "school": s.school.slug if s.school else None}


def consent_dict(c: Consent) -> dict:
    return {"id": c.id, "student": c.student.sourced_id, "agreement": c.agreement_id,
            "recipient": c.recipient.slug, "purpose": c.purpose, "category": c.category,
            "state": c.state, "version": c.version_id, "valid_from": c.valid_from.isoformat(),
            "valid_through": c.valid_through.isoformat(), "granted_at": iso(c.granted_at),
            "ended_at": iso(c.ended_at), "given_as": c.given_as}
