"""Compile a recipient's rules bundle: every grant in force now or later."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from consent.access.facts import (
    agreement_window,
    agreements_for_recipient,
    consent_window,
    covers_population,
    is_exception,
    lineage_ids,
    rules_version,
)
from consent.extensions import db
from consent.models import Consent, DataCategory, LegalBasis, Organization, Student
from consent.timeutil import iso
from workflows import ConsentState

FORMAT = "accordant.rules-bundle.v1"


def compile_bundle(recipient: Organization, now: datetime) -> dict:
    """The bundle for `recipient` as plain data (unsigned)."""
    fields = {c.code: list(c.fields) for c in db.session.scalars(sa.select(DataCategory))}
    grants = []
    for agreement in agreements_for_recipient(recipient.id):
        window = agreement_window(agreement)
        if window is None or window.end <= now:
            continue
        categories = {code: fields.get(code, []) for code in sorted(agreement.categories)}
        common = {"agreement": agreement.id, "basis": agreement.legal_basis,
                  "exception": is_exception(agreement.legal_basis)}
        if agreement.legal_basis == LegalBasis.CONSENT:
            grants += _consent_grants(agreement, recipient, window, now, fields, common)
            continue
        students = db.session.scalars(sa.select(Student).order_by(Student.sourced_id)).all()
        ids = [s.sourced_id for s in students if covers_population(agreement, s) and not (
            agreement.legal_basis == LegalBasis.DIRECTORY_INFORMATION and s.directory_opt_out)]
        grants.append({**common, "students": ids, "purposes": sorted(agreement.purposes),
                       "categories": categories, "consents": [],
                       "valid_from": iso(window.start), "valid_until": iso(window.end)})
    ttl = timedelta(seconds=current_app.config["RULES_BUNDLE_TTL_SECONDS"])
    return {"format": FORMAT, "recipient": recipient.slug, "version": rules_version(recipient.id),
            "issued_at": iso(now), "not_after": iso(now + ttl),
            "grants": sorted(grants, key=_grant_key)}


def _consent_grants(agreement, recipient, window, now, fields, common) -> list[dict]:
    rows = db.session.execute(
        sa.select(Consent, Student).join(Student, Consent.student_id == Student.id).where(
            Consent.agreement_id.in_(lineage_ids(agreement)),
            Consent.recipient_id == recipient.id,
            Consent.state == ConsentState.GRANTED)).all()
    grouped: dict[tuple, dict] = defaultdict(lambda: {"categories": {}, "consents": []})
    for consent, student in rows:
        own = consent_window(consent, student)
        if own is None:
            continue
        effective = own & window
        if effective.empty or effective.end <= now:
            continue
        key = (student.sourced_id, consent.purpose, iso(effective.start), iso(effective.end))
        grouped[key]["categories"][consent.category] = fields.get(consent.category, [])
        grouped[key]["consents"].append(consent.id)
    return [{**common, "students": [student], "purposes": [purpose],
             "categories": dict(sorted(g["categories"].items())), "consents": sorted(g["consents"]),
             "valid_from": start, "valid_until": end}
            for (student, purpose, start, end), g in grouped.items()]


def _grant_key(grant: dict):
    return (grant["agreement"], grant["students"][:1], grant["purposes"], grant["valid_from"])
